import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMariadb, startPostgres, type RunningServer } from './servers.js';
// Kafka transport (issue 15): the stack is started by the first Kafka test file (test/harness/kafka.ts), stopped here.
import { kafkaDown } from '../../scripts/kafka-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Superuser URL of the test PostgreSQL server, without a database. */
    pgUrl: string;
    /** Root URL of the test MariaDB server, without a database. */
    mysqlUrl: string;
    /** A file that exists once a test of this run started the Kafka stack: teardown stops it then. */
    kafkaStartedMarker: string;
  }
}

const started: RunningServer[] = [];
const kafkaMarkerDir = mkdtempSync(join(tmpdir(), 'tandem-kafka-run-'));
const kafkaMarker = join(kafkaMarkerDir, 'started');

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
  project.provide('kafkaStartedMarker', kafkaMarker);
}

export async function teardown(): Promise<void> {
  // Connect first: its connectors would otherwise retry against the servers stopped below.
  if (existsSync(kafkaMarker)) await kafkaDown();
  await Promise.all(started.map((s) => s.stop()));
  rmSync(kafkaMarkerDir, { recursive: true, force: true });
}
