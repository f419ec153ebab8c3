import { beforeAll, describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, uniqueName, withDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { shopMysql, shopPostgres } from '../harness/fixtures.js';
import { failures, runCheck as check } from '../harness/check.js';
import { startMariadb, type RunningServer } from '../harness/servers.js';
import { suiteResources } from '../harness/tandem-process.js';

describe('tandem check, MariaDB', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  let oldDb: MysqlTestDatabase;
  let newMy: MysqlTestDatabase;
  let newPg: PgTestDatabase;
  const { dbs } = suiteResources();

  beforeAll(async () => {
    [oldDb, newMy, newPg] = await Promise.all([createMysqlDatabase(mysqlUrl, 'old'), createMysqlDatabase(mysqlUrl, 'new'), createPgDatabase(pgUrl, 'new')]);
    dbs.push(oldDb, newMy, newPg);
    for (const sql of shopMysql) {
      await oldDb.admin.query(sql);
      await newMy.admin.query(sql);
    }
    for (const sql of shopPostgres) await newPg.admin.query(sql);
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

  it('fails on a column named __proto__, whose value no row object can hold, with the rename', async () => {
    await oldDb.admin.query('CREATE TABLE notes (id int PRIMARY KEY, `__proto__` text)');
    await newMy.admin.query('CREATE TABLE notes (id int PRIMARY KEY, `__proto__` text)');
    try {
      const { code, report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: newMy.url } });
      expect(code).toBe(1);
      const failed = failures(report).filter((c) => c.id === 'mysql.column_name');
      expect(failed.map((c) => c.title)).toContain('table notes has a column Tandem cannot carry');
      expect(failed[0]?.fix).toContain('ALTER TABLE `notes` RENAME COLUMN `__proto__` TO');
    } finally {
      await oldDb.admin.query(`DROP TABLE notes`);
      await newMy.admin.query(`DROP TABLE notes`);
    }
  });

  it('fails for a user without REPLICATION SLAVE / CLIENT or RELOAD (the backfill snapshot), with the GRANTs to run', async () => {
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
      // Nothing else is reported missing: the grants above are enough for reading and writing the tables (fencing
      // needs a privilege of its own, tested below).
      expect(failures(report).filter((c) => c.side === 'old').map((c) => c.id)).toEqual(['mysql.replication_privileges', 'mysql.snapshot_privilege', 'mysql.fence']);
      const reload = failures(report).find((c) => c.id === 'mysql.snapshot_privilege');
      expect(reload?.detail).toContain('lacks RELOAD');
      expect(reload?.fix).toBe(`GRANT RELOAD ON *.* TO '${user}'@'%';`);
      await oldDb.admin.query(reload?.fix as string);
      const after = await check({ migration: 'shop', old: { url }, new: { url: newMy.url } });
      expect(after.report?.checks.find((c) => c.id === 'mysql.snapshot_privilege' && c.side === 'old')?.status).toBe('pass');
    } finally {
      await oldDb.admin.query(`DROP USER '${user}'@'%'`);
    }
  });

  describe('on a server with binlog_format=STATEMENT', () => {
    const { servers } = suiteResources();
    let server: RunningServer;
    beforeAll(async () => {
      server = await startMariadb({ settings: { 'binlog-format': 'STATEMENT' } });
      servers.push(server);
    });

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

    it('warns about lazy flushing as the shadow (innodb_flush_log_at_trx_commit, sync_binlog) and as a source (sync_binlog), and passes after the SET GLOBALs it gives', async () => {
      const db = await createMysqlDatabase(server.url, 'lazy');
      const item = (r: Awaited<ReturnType<typeof check>>['report'], id: string) => r?.checks.find((c) => c.id === id && c.side === 'new');
      try {
        for (const sql of shopMysql) await db.admin.query(sql);
        // This test server flushes lazily (innodb_flush_log_at_trx_commit = 2, sync_binlog = 0), as the test servers do.
        const { report } = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: db.url } });
        const shadow = item(report, 'mysql.durable_commits');
        expect(shadow?.status).toBe('warn');
        expect(shadow?.detail).toContain('innodb_flush_log_at_trx_commit = 2');
        expect(shadow?.fix).toContain('SET GLOBAL innodb_flush_log_at_trx_commit = 1; SET GLOBAL sync_binlog = 1;');
        // new feeds the reverse stream after cutover: a binary log that can lose committed transactions is named too.
        const source = item(report, 'mysql.binlog_durable');
        expect(source?.status).toBe('warn');
        expect(source?.detail).toContain('sync_binlog = 0');
        expect(source?.fix).toContain('SET GLOBAL sync_binlog = 1');

        await db.admin.query('SET GLOBAL innodb_flush_log_at_trx_commit = 1');
        // InnoDB at 1 leaves a commit's durability to the binary log, which is still not synced.
        const half = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: db.url } });
        expect(item(half.report, 'mysql.durable_commits')?.detail).toContain('durability to the binary log');
        expect(item(half.report, 'mysql.durable_commits')?.fix).toMatch(/^SET GLOBAL sync_binlog = 1;/);

        await db.admin.query('SET GLOBAL sync_binlog = 1');
        const fixed = await check({ migration: 'shop', old: { url: oldDb.url }, new: { url: db.url } });
        expect(item(fixed.report, 'mysql.durable_commits')?.status).toBe('pass');
        expect(item(fixed.report, 'mysql.binlog_durable')?.status).toBe('pass');
      } finally {
        await db.admin.query('SET GLOBAL innodb_flush_log_at_trx_commit = 2');
        await db.admin.query('SET GLOBAL sync_binlog = 0');
        await db.drop();
      }
    });
  });

  // read_only and accounts are server-wide: on a server of its own.
  describe('fencing, on a server of its own', () => {
    const { servers, dbs: ownDbs } = suiteResources();
    let server: RunningServer;
    let shop: MysqlTestDatabase;
    const tandem = uniqueName('tandem');
    const password = 'Tandem-Pw-7';
    const item = (report: Awaited<ReturnType<typeof check>>['report'], id: string) => report?.checks.find((c) => c.id === id && c.side === 'old');
    const asTandem = () => withDatabase(server.url, shop.name, { name: tandem, password });
    beforeAll(async () => {
      server = await startMariadb();
      servers.push(server);
      shop = await createMysqlDatabase(server.url, 'shop');
      ownDbs.push(shop);
      for (const sql of shopMysql) await shop.admin.query(sql);
      await shop.admin.query(`CREATE USER ${mysql.escape(tandem)}@'%' IDENTIFIED BY ${mysql.escape(password)}`);
      await shop.admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON ${mysql.escapeId(shop.name)}.* TO ${mysql.escape(tandem)}@'%'`);
      await shop.admin.query(`GRANT REPLICATION SLAVE, BINLOG MONITOR, RELOAD ON *.* TO ${mysql.escape(tandem)}@'%'`);
    });

    it("fails when Tandem's account cannot set read_only nor write through it, and passes after the GRANT it gives; warns until it may end sessions", async () => {
      const { report } = await check({ migration: 'shop', old: { url: asTandem() }, new: { url: newMy.url } });
      const fence = item(report, 'mysql.fence');
      expect(fence?.status).toBe('fail');
      expect(fence?.detail).toContain('cannot set read_only (needs READ_ONLY ADMIN)');
      expect(fence?.detail).toContain('could not apply changes while read_only is on');
      expect(fence?.fix).toBe(`GRANT READ_ONLY ADMIN ON *.* TO '${tandem}'@'%';`);
      const end = item(report, 'mysql.fence_end_sessions');
      expect(end?.status).toBe('warn');
      // Without SELECT on the mysql schema, it says it cannot tell who else writes through.
      expect(item(report, 'mysql.fence_bypass')).toMatchObject({ status: 'warn', title: 'cannot tell which accounts write through the fence' });
      await shop.admin.query(fence?.fix as string);
      await shop.admin.query(end?.fix as string);
      const after = await check({ migration: 'shop', old: { url: asTandem() }, new: { url: newMy.url } });
      expect(item(after.report, 'mysql.fence')?.status).toBe('pass');
      expect(item(after.report, 'mysql.fence_end_sessions')?.status).toBe('pass');
      expect(failures(after.report).filter((c) => c.side === 'old')).toEqual([]);
    });

    it('warns that read_only is server-wide, naming the other databases a fence makes read-only', async () => {
      const alone = await check({ migration: 'shop', old: { url: shop.url }, new: { url: newMy.url } });
      expect(item(alone.report, 'mysql.fence_server_wide')?.status).toBe('pass');
      const billing = await createMysqlDatabase(server.url, 'billing');
      ownDbs.push(billing);
      const { report } = await check({ migration: 'shop', old: { url: shop.url }, new: { url: newMy.url } });
      const wide = item(report, 'mysql.fence_server_wide');
      expect(wide?.status).toBe('warn');
      expect(wide?.detail).toContain(billing.name);
      expect(wide?.detail).not.toContain(shop.name);
    });

    it('warns, naming them, about other accounts holding READ ONLY ADMIN (ALL ON *.* included), which write through the fence; passes once revoked', async () => {
      const admin = uniqueName('dba');
      await shop.admin.query(`CREATE USER ${mysql.escape(admin)}@'%' IDENTIFIED BY 'Dba-Pw-1'`);
      await shop.admin.query(`GRANT ALL PRIVILEGES ON *.* TO ${mysql.escape(admin)}@'%'`);
      // Tandem is root here: every other account with the privilege is named, Tandem's (granted above) among them.
      const { report } = await check({ migration: 'shop', old: { url: shop.url }, new: { url: newMy.url } });
      const bypass = item(report, 'mysql.fence_bypass');
      expect(bypass?.status).toBe('warn');
      expect(bypass?.detail).toContain(`'${admin}'@'%'`);
      expect(bypass?.detail).toContain(`'${tandem}'@'%'`);
      expect(bypass?.detail).not.toContain(`'root'@'localhost'`);
      expect(bypass?.fix).toContain(`REVOKE READ_ONLY ADMIN ON *.* FROM '${admin}'@'%';`);
      for (const statement of (bypass?.fix ?? '').match(/REVOKE [^;]+;/g) ?? []) await shop.admin.query(statement);
      const after = await check({ migration: 'shop', old: { url: shop.url }, new: { url: newMy.url } });
      expect(item(after.report, 'mysql.fence_bypass')?.status).toBe('pass');
    });
  });
});
