import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, withDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { shopMysql, shopPostgres } from '../harness/fixtures.js';
import { writeConfig } from '../harness/config.js';
import { startMariadb, type RunningServer } from '../harness/servers.js';

interface Report {
  ok: boolean;
  checks: Array<{ id: string; status: string; side: string; title: string; detail: string; fix?: string }>;
}

async function check(config: Record<string, unknown>) {
  const result = await runTandem(['check', '--json', '--config', writeConfig(config)]);
  return { ...result, report: result.stdout ? (JSON.parse(result.stdout) as Report) : undefined };
}
const failures = (r: Report | undefined) => (r?.checks ?? []).filter((c) => c.status === 'fail');

describe('tandem check, MariaDB', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  let oldDb: MysqlTestDatabase;
  let newMy: MysqlTestDatabase;
  let newPg: PgTestDatabase;

  beforeAll(async () => {
    [oldDb, newMy, newPg] = await Promise.all([createMysqlDatabase(mysqlUrl, 'old'), createMysqlDatabase(mysqlUrl, 'new'), createPgDatabase(pgUrl, 'new')]);
    for (const sql of shopMysql) {
      await oldDb.admin.query(sql);
      await newMy.admin.query(sql);
    }
    for (const sql of shopPostgres) await newPg.admin.query(sql);
  });
  afterAll(async () => {
    await Promise.all([oldDb?.drop(), newMy?.drop(), newPg?.drop()]);
  });

  it('passes on a correct MariaDB → MariaDB pair', async () => {
    const { code, report, stderr } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } });
    expect(failures(report), stderr).toEqual([]);
    expect(code).toBe(0);
    const ids = report?.checks.filter((c) => c.side === 'old').map((c) => c.id) ?? [];
    for (const id of ['mysql.log_bin', 'mysql.binlog_format', 'mysql.binlog_row_image', 'mysql.server_id', 'mysql.gtid', 'mysql.replication_privileges', 'mysql.binlog_retention']) {
      expect(ids).toContain(id);
    }
  });

  it('passes on a correct MariaDB → PostgreSQL pair', async () => {
    const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newPg.url } });
    expect(failures(report)).toEqual([]);
    expect(code).toBe(0);
  });

  it('fails on a table without a primary key, naming it', async () => {
    await oldDb.admin.query(`CREATE TABLE visits (at datetime, path text)`);
    await newMy.admin.query(`CREATE TABLE visits (at datetime, path text)`);
    try {
      const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } });
      expect(code).toBe(1);
      expect(failures(report).filter((c) => c.id === 'mysql.primary_key').map((c) => c.title)).toContain('table visits has no primary key');
    } finally {
      await oldDb.admin.query(`DROP TABLE visits`);
      await newMy.admin.query(`DROP TABLE visits`);
    }
  });

  it('fails for a user without REPLICATION SLAVE / CLIENT, with the GRANT to run', async () => {
    const user = uniqueName('noslave');
    await oldDb.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-${user}'`);
    await oldDb.admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON ${oldDb.name}.* TO '${user}'@'%'`);
    try {
      const url = withDatabase(mysqlUrl, oldDb.name, { name: user, password: `pw-${user}` });
      const { code, report } = await check({ migration: 'shop', old: { url }, new: { url: newMy.url } });
      expect(code).toBe(1);
      const priv = failures(report).find((c) => c.id === 'mysql.replication_privileges' && c.side === 'old');
      expect(priv?.detail).toContain('REPLICATION SLAVE');
      expect(priv?.fix).toBe(`GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${user}'@'%';`);
      // Nothing else is reported missing: the grants above are enough for reading and writing the tables.
      expect(failures(report).filter((c) => c.side === 'old').map((c) => c.id)).toEqual(['mysql.replication_privileges']);
    } finally {
      await oldDb.admin.query(`DROP USER '${user}'@'%'`);
    }
  });

  describe('on a server with binlog_format=STATEMENT', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startMariadb({ settings: { 'binlog-format': 'STATEMENT' } });
    });
    afterAll(async () => server?.stop());

    it('fails, naming binlog_format and the setting to change', async () => {
      const db = await createMysqlDatabase(server.url, 'stmt');
      try {
        for (const sql of shopMysql) await db.admin.query(sql);
        const { code, report } = await check({ migration: 'shop', old: { url: db.url }, new: { url: newMy.url } });
        expect(code).toBe(1);
        const fmt = failures(report).find((c) => c.id === 'mysql.binlog_format');
        expect(fmt?.detail).toContain('binlog_format = STATEMENT');
        expect(fmt?.fix).toContain(`SET GLOBAL binlog_format = 'ROW'`);
      } finally {
        await db.drop();
      }
    });
  });
});
