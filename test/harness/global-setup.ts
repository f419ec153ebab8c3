import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startMariadb, startPostgres, type RunningServer } from './servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the test PostgreSQL server, without a database. */
    pgUrl: string;
    /** Root URL of the test MariaDB server, without a database. */
    mysqlUrl: string;
  }
}

const started: RunningServer[] = [];

/**
 * Starts one throwaway PostgreSQL (wal_level=logical) and one MariaDB (binlog ROW/FULL, GTID) for the whole run.
 * TANDEM_TEST_PG_URL / TANDEM_TEST_MYSQL_URL point the tests at existing servers instead (superuser URLs).
 */
export async function setup(project: TestProject): Promise<void> {
  const [pgUrl, mysqlUrl] = await Promise.all([
    process.env.TANDEM_TEST_PG_URL ?? startPostgres().then((s) => (started.push(s), s.url)),
    process.env.TANDEM_TEST_MYSQL_URL ?? startMariadb().then((s) => (started.push(s), s.url)),
  ]);
  project.provide('pgUrl', pgUrl.replace(/\/$/, ''));
  project.provide('mysqlUrl', mysqlUrl.replace(/\/$/, ''));
}

export async function teardown(): Promise<void> {
  await Promise.all(started.map((s) => s.stop()));
}
