import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createPgDatabase, runTandem, type PgTestDatabase } from '../harness/db.js';
import { shopPostgres } from '../harness/fixtures.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources } from '../harness/tandem-process.js';

describe('configuration errors and secrets at the CLI', () => {
  const pgUrl = inject('pgUrl');
  const { dbs } = suiteResources();
  let db: PgTestDatabase;
  beforeAll(async () => {
    db = await createPgDatabase(pgUrl, 'cfg');
    dbs.push(db);
    for (const sql of shopPostgres) await db.admin.query(sql);
  });

  it('rejects a misspelled key with exit 2, naming the key and the expected ones', async () => {
    const file = writeConfig({ migration: 'shop', old: { url: db.url }, new: { url: db.url }, cutover: { maxLagg: '5s' } });
    const r = await runTandem(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('cutover.maxLagg: unknown key (did you mean "maxLag"?)');
    expect(r.stdout).toBe('');
  });

  it('rejects a bad value with the key, the value and the expected form', async () => {
    const file = writeConfig({ migration: 'shop', old: { url: db.url }, new: { url: 'oracle://x' }, cutover: { maxLag: 'soon' } });
    const r = await runTandem(['check', '--config', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('new.url: "oracle://x"');
    expect(r.stderr).toContain('cutover.maxLag: "soon" — expected a duration such as 500ms, 5s, 2m or 1h');
  });

  it('finds the config through TANDEM_CONFIG and takes TANDEM_* overrides', async () => {
    const file = writeConfig({ migration: 'shop', old: { url: db.url }, new: { url: 'postgres://nobody@127.0.0.1:1/none' } });
    const r = await runTandem(['check', '--json'], { env: { TANDEM_CONFIG: file, TANDEM_NEW_URL: db.url } });
    expect(r.code).toBe(0);
    const bad = await runTandem(['check'], { env: { TANDEM_CONFIG: file, TANDEM_NEW_URLL: db.url } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('TANDEM_NEW_URLL (did you mean TANDEM_NEW_URL?)');
  });

  it('says where the missing config file should be', async () => {
    const r = await runTandem(['check', '--config', '/nonexistent/tandem.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no configuration file at /nonexistent/tandem.yaml');
  });

  it('never prints a password from a URL: reports, JSON, errors', async () => {
    const password = 'Planted-S3cret-pw';
    const withPw = db.url.replace('postgres@', `postgres:${password}@`);
    const unreachable = `postgres://postgres:${password}@127.0.0.1:1/none`;
    const runs = [
      await runTandem(['check', '--config', writeConfig({ migration: 'shop', old: { url: withPw }, new: { url: withPw } })]),
      await runTandem(['check', '--json', '--config', writeConfig({ migration: 'shop', old: { url: withPw }, new: { url: unreachable } })]),
      await runTandem(['check', '--config', writeConfig({ migration: 'shop', old: { url: withPw }, new: { url: withPw }, bogus: 1 })]),
      await runTandem(['check', '--config', writeConfig({ migration: 'Bad Name', old: { url: `mysql://root:${password}@127.0.0.1:1/x` }, new: { url: withPw } })]),
      await runTandem(['verify', '--json', '--config', writeConfig({ migration: 'shop', old: { url: unreachable }, new: { url: withPw } })]),
      await runTandem(['repair', '--table', 't', '--all', '--dry-run', '--config', writeConfig({ migration: 'shop', old: { url: unreachable }, new: { url: withPw } })]),
    ];
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2, 2, 4, 4]);
    for (const r of runs) {
      expect(r.stdout + r.stderr).not.toContain(password);
      expect(r.stdout + r.stderr).not.toContain(encodeURIComponent(password));
    }
    expect(runs[1]?.stdout).toContain('cannot connect to new');
    expect(runs[4]?.stderr).toContain('cannot connect to PostgreSQL at postgres://postgres:***@127.0.0.1:1/none');
  });
});
