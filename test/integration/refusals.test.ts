/**
 * Bad input that must end in a clear refusal, never in a retry loop or a leaked secret: a password written with
 * characters a URL cannot carry, and wrong passwords on either engine (exit 4 at once, with the fix).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { startPostgres, type RunningServer } from '../harness/servers.js';
import { suiteResources } from '../harness/tandem-process.js';

describe('refusals', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs } = suiteResources();
  let locked: RunningServer;
  const PASSWORD = 'Right-Pw-5517';
  beforeAll(async () => {
    locked = await startPostgres({ password: PASSWORD });
  });
  afterAll(async () => locked?.stop());

  it('a password with raw @ / # % is refused by every command at load (exit 2), masked whole, with the fix', async () => {
    const bad = 'postgres://postgres:S3cr@t%/#Zq@127.0.0.1:5432/db';
    const config = writeConfig({ migration: 'rawat', old: { url: bad }, new: { url: `${pgUrl}/postgres` } });
    for (const args of [['check'], ['status'], ['run'], ['verify'], ['schema'], ['backfill', '--yes']]) {
      const r = await runTandem([...args, '--config', config]);
      const out = r.stdout + r.stderr;
      expect(r.code, `${args[0]}: ${out}`).toBe(2);
      expect(out).toContain('old.url: postgres://postgres:***@127.0.0.1:5432/db');
      expect(out).toContain('percent-encode special characters in the password');
      for (const piece of ['S3cr', 't%', '#Zq', 'Zq@']) expect(out, `${args[0]} leaks ${piece}`).not.toContain(piece);
    }
  });

  it('a wrong PostgreSQL password stops tandem run at once (exit 4, TANDEM_AUTH_FAILED) instead of retrying forever', async () => {
    const admin = new (await import('pg')).default.Client({ connectionString: `${locked.url}/postgres` });
    await admin.connect();
    await admin.query('CREATE DATABASE shop');
    await admin.end();
    const wrong = locked.url.replace(encodeURIComponent(PASSWORD), 'Wrong-Pw-0000');
    const config = writeConfig({ migration: uniqueName('authpg'), old: { url: `${wrong}/shop` }, new: { url: `${pgUrl}/postgres` } });
    const t0 = Date.now();
    const r = await runTandem(['run', '--config', config], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(4);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.stderr).toContain('TANDEM_AUTH_FAILED');
    expect(r.stderr).toMatch(/fix: check the user and password in the URL/);
    expect(r.stderr).not.toContain('Wrong-Pw-0000');
    // The right password gets through (the server really checks it).
    const ok = await runTandem(['check', '--json', '--config', writeConfig({ migration: 'authok', old: { url: `${locked.url}/shop` }, new: { url: `${pgUrl}/postgres` } })]);
    expect(ok.stdout).toContain('"connect"');
    expect(ok.stdout).not.toContain('refused the login');
  });

  it('a wrong MariaDB password stops tandem run at once (exit 4, TANDEM_AUTH_FAILED)', async () => {
    const db = await createMysqlDatabase(mysqlUrl, 'auth');
    dbs.push(db);
    const user = uniqueName('u');
    await db.admin.query(`CREATE USER ${mysql.escape(user)}@'%' IDENTIFIED BY 'Right-Pw-9'`);
    try {
      const u = new URL(db.url);
      u.username = user;
      u.password = 'Wrong-Pw-1111';
      const shadow = await createPgDatabase(pgUrl, 'authdst');
      dbs.push(shadow);
      const config = writeConfig({ migration: uniqueName('authmy'), old: { url: u.toString() }, new: { url: shadow.url } });
      const t0 = Date.now();
      const r = await runTandem(['run', '--config', config], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(4);
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(r.stderr).toContain('TANDEM_AUTH_FAILED');
      expect(r.stderr).not.toContain('Wrong-Pw-1111');
    } finally {
      await db.admin.query(`DROP USER ${mysql.escape(user)}@'%'`);
    }
  });
});
