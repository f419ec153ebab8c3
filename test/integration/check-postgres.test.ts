import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, withDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { shopMysql, shopPostgres, shopTables } from '../harness/fixtures.js';
import { writeConfig } from '../harness/config.js';
import { startPostgres, type RunningServer } from '../harness/servers.js';

interface Report {
  ok: boolean;
  tables: string[];
  checks: Array<{ id: string; status: string; side: string; title: string; detail: string; fix?: string }>;
}

async function check(config: Record<string, unknown>, extra: string[] = []) {
  const file = writeConfig(config);
  const result = await runTandem(['check', '--json', '--config', file, ...extra]);
  const report = result.stdout ? (JSON.parse(result.stdout) as Report) : undefined;
  return { ...result, report };
}

const failures = (r: Report | undefined) => (r?.checks ?? []).filter((c) => c.status === 'fail');

describe('tandem check, PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  let oldDb: PgTestDatabase;
  let newPg: PgTestDatabase;
  let newMy: MysqlTestDatabase;

  beforeAll(async () => {
    [oldDb, newPg, newMy] = await Promise.all([createPgDatabase(pgUrl, 'old'), createPgDatabase(pgUrl, 'new'), createMysqlDatabase(mysqlUrl, 'new')]);
    for (const sql of shopPostgres) {
      await oldDb.admin.query(sql);
      await newPg.admin.query(sql);
    }
    for (const sql of shopMysql) await newMy.admin.query(sql);
  });
  afterAll(async () => {
    await Promise.all([oldDb?.drop(), newPg?.drop(), newMy?.drop()]);
  });

  it('passes on a correct PostgreSQL → PostgreSQL pair', async () => {
    const { code, report, stderr } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newPg.url } });
    expect(failures(report), stderr).toEqual([]);
    expect(code).toBe(0);
    expect(report?.tables.sort()).toEqual([...shopTables].sort());
    const ids = report?.checks.map((c) => `${c.side}:${c.id}`) ?? [];
    for (const side of ['old', 'new']) {
      for (const id of ['postgres.wal_level', 'postgres.replication_slots', 'postgres.wal_senders', 'postgres.replication_role', 'postgres.publication', 'postgres.session_replication_role']) {
        expect(ids).toContain(`${side}:${id}`);
      }
    }
  });

  it('passes on a correct PostgreSQL → MariaDB pair, and prints a readable report', async () => {
    const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } });
    expect(failures(report)).toEqual([]);
    expect(code).toBe(0);
    const human = await runTandem(['check', '--config', writeConfig({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } })]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/PASS\s+wal_level is logical/);
    expect(human.stdout).toMatch(/Ready: 0 failed/);
  });

  it('fails on a table without a primary key, naming it, and passes once it is excluded', async () => {
    await oldDb.admin.query(`CREATE TABLE audit_log (at timestamptz, line text)`);
    await newPg.admin.query(`CREATE TABLE audit_log (at timestamptz, line text)`);
    try {
      const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newPg.url } });
      expect(code).toBe(1);
      const pk = failures(report).filter((c) => c.id === 'postgres.primary_key');
      expect(pk.map((c) => c.title)).toContain('table audit_log has no primary key');
      expect(pk[0]?.fix).toContain('exclude: [audit_log]');
      const excluded = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newPg.url }, exclude: ['audit_log'] });
      expect(failures(excluded.report)).toEqual([]);
      expect(excluded.code).toBe(0);
    } finally {
      await oldDb.admin.query(`DROP TABLE audit_log`);
      await newPg.admin.query(`DROP TABLE audit_log`);
    }
  });

  it('fails on a column type that does not map to MariaDB, naming the column', async () => {
    await oldDb.admin.query(`CREATE TABLE shipments (id bigint PRIMARY KEY, transit interval)`);
    await newMy.admin.query(`CREATE TABLE shipments (id bigint PRIMARY KEY, transit varchar(64))`);
    try {
      const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } });
      expect(code).toBe(1);
      const bad = failures(report).find((c) => c.id === 'schema.type_mapping');
      expect(bad?.title).toBe('column shipments.transit does not map');
      expect(bad?.detail).toContain('interval');
    } finally {
      await oldDb.admin.query(`DROP TABLE shipments`);
      await newMy.admin.query(`DROP TABLE shipments`);
    }
  });

  it('fails for a user without the REPLICATION attribute, with the GRANT to run', async () => {
    const role = uniqueName('norepl');
    await oldDb.admin.query(`CREATE ROLE ${role} LOGIN`);
    await oldDb.admin.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    try {
      const { code, report } = await check({ migration: 'shop', old: { url: withDatabase(pgUrl, oldDb.name, { name: role }) }, new: { url: newPg.url } });
      expect(code).toBe(1);
      const repl = failures(report).find((c) => c.id === 'postgres.replication_role' && c.side === 'old');
      expect(repl?.fix).toBe(`ALTER ROLE "${role}" WITH REPLICATION;`);
    } finally {
      await oldDb.admin.query(`DROP OWNED BY ${role}`);
      await oldDb.admin.query(`DROP ROLE ${role}`);
    }
  });

  it('passes for a least-privilege role given exactly the documented grants', async () => {
    const role = uniqueName('tandem_user');
    const db = await createPgDatabase(pgUrl, 'least');
    try {
      await db.admin.query(`CREATE ROLE ${role} LOGIN REPLICATION`);
      for (const sql of shopPostgres) await db.admin.query(sql);
      // The documented minimum: read and write the tables, own them (for the publication), keep state, quiet triggers.
      for (const t of shopTables) await db.admin.query(`ALTER TABLE ${t} OWNER TO ${role}`);
      await db.admin.query(`GRANT CREATE ON DATABASE ${db.name} TO ${role}`);
      await db.admin.query(`GRANT SET ON PARAMETER session_replication_role TO ${role}`);
      const url = withDatabase(pgUrl, db.name, { name: role });
      const { code, report } = await check({ migration: 'least', old: { url }, new: { url: newPg.url } });
      expect(failures(report)).toEqual([]);
      expect(code).toBe(0);
    } finally {
      await db.drop();
      const c = new pg.Client({ connectionString: `${pgUrl}/postgres` });
      await c.connect();
      await c.query(`REVOKE SET ON PARAMETER session_replication_role FROM ${role}`);
      await c.query(`DROP ROLE ${role}`);
      await c.end();
    }
  });

  describe('on a server with wal_level=replica', () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startPostgres({ settings: { wal_level: 'replica' } });
    });
    afterAll(async () => server?.stop());

    it('fails, naming wal_level and the setting to change', async () => {
      const db = await createPgDatabase(server.url, 'replica');
      try {
        for (const sql of shopPostgres) await db.admin.query(sql);
        const { code, report } = await check({ migration: 'shop', old: { url: db.url }, new: { url: newPg.url } });
        expect(code).toBe(1);
        const wal = failures(report).find((c) => c.id === 'postgres.wal_level');
        expect(wal?.detail).toContain('wal_level = replica');
        expect(wal?.fix).toContain('ALTER SYSTEM SET wal_level = logical');
      } finally {
        await db.drop();
      }
    });
  });
});
