import { beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, withDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { shopMysql, shopPostgres, shopTables } from '../harness/fixtures.js';
import { writeConfig } from '../harness/config.js';
import { failures, runCheck as check } from '../harness/check.js';
import { startPostgres, type RunningServer } from '../harness/servers.js';
import { suiteResources } from '../harness/tandem-process.js';

describe('tandem check, PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  let oldDb: PgTestDatabase;
  let newPg: PgTestDatabase;
  let newMy: MysqlTestDatabase;
  const { dbs } = suiteResources();

  beforeAll(async () => {
    [oldDb, newPg, newMy] = await Promise.all([createPgDatabase(pgUrl, 'old'), createPgDatabase(pgUrl, 'new'), createMysqlDatabase(mysqlUrl, 'new')]);
    dbs.push(oldDb, newPg, newMy);
    for (const sql of shopPostgres) {
      await oldDb.admin.query(sql);
      await newPg.admin.query(sql);
    }
    for (const sql of shopMysql) await newMy.admin.query(sql);
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
    // Columns that map with a limit are one warning per table, each column's limit kept for --json.
    const limits = report?.checks.filter((c) => c.id === 'schema.type_mapping' && c.status === 'warn') ?? [];
    expect(limits.length).toBeGreaterThan(0);
    expect(limits.length).toBeLessThanOrEqual(shopTables.length);
    for (const l of limits) expect(l.columns?.length, l.title).toBeGreaterThan(0);
    expect(human.stdout.match(/map with a limit/g)).toHaveLength(limits.length);
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
    const { servers } = suiteResources();
    let server: RunningServer;
    beforeAll(async () => {
      server = await startPostgres({ settings: { wal_level: 'replica' } });
      servers.push(server);
    });

    it('fails, naming wal_level and the setting to change', async () => {
      const db = await createPgDatabase(server.url, 'replica');
      try {
        for (const sql of shopPostgres) await db.admin.query(sql);
        const { code, report } = await check({ migration: 'shop', old: { url: db.url }, new: { url: newPg.url } });
        expect(code).toBe(1);
        const wal = failures(report).find((c) => c.id === 'postgres.wal_level');
        expect(wal?.detail).toContain('wal_level = replica');
        expect(wal?.fix).toContain('ALTER SYSTEM SET wal_level = logical');
        // tandem run without a check first: the same setting named, not an internal error to retry.
        const run = await runTandem(['run', '--config', writeConfig({ migration: uniqueName('replica'), old: { url: db.url }, new: { url: newPg.url } })], { timeoutMs: 60_000 });
        expect(run.code, run.stderr).toBe(4);
        expect(run.stderr).toContain('wal_level');
        expect(run.stderr).toContain('ALTER SYSTEM SET wal_level = logical');
        expect(run.stderr).toContain('TANDEM_SOURCE_MISCONFIGURED');
      } finally {
        await db.drop();
      }
    });
  });

  describe('fencing, on a server of its own (roles are server-wide)', () => {
    const { servers, dbs: ownDbs } = suiteResources();
    let server: RunningServer;
    let db: PgTestDatabase;
    const owner = uniqueName('shop_owner');
    const tandem = uniqueName('tandem_fence');
    const item = (report: Awaited<ReturnType<typeof check>>['report'], id: string) => report?.checks.find((c) => c.id === id && c.side === 'old');
    beforeAll(async () => {
      server = await startPostgres();
      servers.push(server);
      db = await createPgDatabase(server.url, 'fence');
      ownDbs.push(db);
      for (const sql of shopPostgres) await db.admin.query(sql);
      await db.admin.query(`CREATE ROLE ${owner} NOLOGIN`);
      for (const t of shopTables) await db.admin.query(`ALTER TABLE ${t} OWNER TO ${owner}`);
      await db.admin.query(`CREATE ROLE ${tandem} LOGIN REPLICATION`);
      await db.admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO ${tandem}`);
      await db.admin.query(`GRANT CREATE ON DATABASE ${db.name} TO ${tandem}`);
    });

    it("fails when Tandem's user does not own the tables (TRIGGER alone would put up a fence it cannot take down), and passes after the GRANT it gives", async () => {
      await db.admin.query(`GRANT TRIGGER ON orders TO ${tandem}`);
      const url = withDatabase(server.url, db.name, { name: tandem });
      const { report } = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      const fence = item(report, 'postgres.fence');
      expect(fence?.status).toBe('fail');
      for (const t of shopTables) expect(fence?.detail).toContain(`${t} (owner ${owner})`);
      expect(fence?.detail).toContain('TRIGGER privilege on orders would put a fence up that it could not take down');
      expect(fence?.fix).toContain(`GRANT "${owner}" TO "${tandem}";`);
      expect(fence?.fix).toContain(`ALTER TABLE "orders" OWNER TO "${tandem}";`);
      await db.admin.query(`GRANT "${owner}" TO "${tandem}"`);
      const after = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      expect(item(after.report, 'postgres.fence')?.status).toBe('pass');
    });

    it('warns, naming them, about superusers and roles that may SET session_replication_role (they write through the fence); passes once they are gone', async () => {
      const url = db.url;
      const before = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      expect(item(before.report, 'postgres.fence_bypass')?.status).toBe('pass');
      const dba = uniqueName('dba');
      const etl = uniqueName('etl');
      await db.admin.query(`CREATE ROLE ${dba} LOGIN SUPERUSER`);
      await db.admin.query(`CREATE ROLE ${etl} LOGIN`);
      await db.admin.query(`GRANT SET ON PARAMETER session_replication_role TO ${etl}`);
      const { report } = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      const bypass = item(report, 'postgres.fence_bypass');
      expect(bypass?.status).toBe('warn');
      expect(bypass?.detail).toContain(`${dba} (superuser)`);
      expect(bypass?.detail).toContain(`${etl} (SET on session_replication_role)`);
      // Tandem's own user (the superuser here) is not named.
      expect(bypass?.detail).not.toMatch(/\bpostgres \(superuser\)/);
      expect(bypass?.fix).toContain(`ALTER ROLE "${dba}" NOSUPERUSER;`);
      expect(bypass?.fix).toContain(`REVOKE SET ON PARAMETER session_replication_role FROM "${etl}";`);
      for (const statement of (bypass?.fix ?? '').match(/(ALTER ROLE|REVOKE SET) [^;]+;/g) ?? []) await db.admin.query(statement);
      const { report: after } = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      expect(item(after, 'postgres.fence_bypass')?.status).toBe('pass');
    });

    it('warns when Tandem cannot end sessions that hold a fence off, and passes with pg_signal_backend', async () => {
      const url = withDatabase(server.url, db.name, { name: tandem });
      const { report } = await check({ migration: 'shop', old: { url }, new: { url: newPg.url } });
      const end = item(report, 'postgres.fence_end_sessions');
      expect(end?.status).toBe('warn');
      expect(end?.fix).toBe(`GRANT pg_signal_backend TO "${tandem}";`);
      await db.admin.query(end?.fix as string);
      expect(item((await check({ migration: 'shop', old: { url }, new: { url: newPg.url } })).report, 'postgres.fence_end_sessions')?.status).toBe('pass');
    });
  });
});
