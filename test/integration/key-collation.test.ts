import { describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { checkItems as runCheck } from '../harness/check.js';
import { mysqlRows } from '../harness/compare.js';
import { startTandem, suiteResources, waitForShadowing, waitUntil } from '../harness/tandem-process.js';

async function check(config: string) {
  const r = await runCheck(config);
  return { ...r, keys: r.checks.filter((c) => c.id === 'schema.key_collation') };
}

/**
 * Text keys that differ only by letter case or trailing spaces: PostgreSQL keeps them apart, a MariaDB column under
 * a `_ci` or PAD SPACE collation makes them one key, so a shadow would collapse their rows into one.
 */
describe('keys under collations that merge values', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();

  it("PostgreSQL → MariaDB: tandem schema --apply gives text keys an exact collation; tandem run keeps a, A and 'a ' apart", { timeout: 300_000 }, async () => {
    const source = await createPgDatabase(pgUrl, 'coll_src');
    const shadow = await createMysqlDatabase(mysqlUrl, 'coll_dst');
    dbs.push(source, shadow);
    await source.admin.query(`CREATE TABLE tkey (k text PRIMARY KEY, v integer)`);
    await source.admin.query(`CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, name text)`);
    await source.admin.query(`INSERT INTO tkey VALUES ('a', 1), ('A', 2), ('a ', 3)`);
    await source.admin.query(`INSERT INTO users VALUES (1, 'ann@example.com', 'x'), (2, 'ANN@example.com', 'y')`);
    const config = writeConfig({ migration: 'coll', old: { url: source.url }, new: { url: shadow.url } });

    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('`k` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL');
    expect(applied.stdout).toContain('`email` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL');
    expect(applied.stdout).toMatch(/-- warning: column k: utf8mb4_nopad_bin \(exact, no padding\)/);
    const collations = await mysqlRows(shadow.admin, `SELECT table_name, column_name, collation_name FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name IN ('k', 'email', 'name') ORDER BY 1, 2`);
    expect(collations).toEqual([
      ['tkey', 'k', 'utf8mb4_nopad_bin'],
      ['users', 'email', 'utf8mb4_nopad_bin'],
      ['users', 'name', 'utf8mb4_general_ci'],
    ]);

    const checked = await check(config);
    expect(checked.failures, checked.stderr).toEqual([]);
    expect(checked.keys).toEqual([]);

    const tandem = startTandem(['run', '--config', config]);
    procs.push(tandem);
    // Streamed as well as backfilled: trailing-space and case variants arriving after the copy.
    await waitForShadowing(config);
    expect(await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM tkey`)).toEqual([['3']]);
    await source.admin.query(`INSERT INTO tkey VALUES ('b', 4), ('B', 5), ('b  ', 6)`);
    await source.admin.query(`UPDATE tkey SET v = 20 WHERE k = 'A'`);
    await source.admin.query(`INSERT INTO users VALUES (3, 'ann@example.com ', 'z')`);
    const rows = () => mysqlRows(shadow.admin, `SELECT CONCAT('[', k, ']'), v FROM tkey ORDER BY CAST(k AS BINARY)`);
    await waitUntil('the streamed rows on the shadow', async () => (await rows()).length === 6 && (await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM users`))[0]?.[0] === '3', 90_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; tandem: ${tandem.output().slice(-2000)}`);
    });
    expect(await rows()).toEqual([
      ['[A]', '20'],
      ['[B]', '5'],
      ['[a]', '1'],
      ['[a ]', '3'],
      ['[b]', '4'],
      ['[b  ]', '6'],
    ]);
    expect(await mysqlRows(shadow.admin, `SELECT id, CONCAT('[', email, ']') FROM users ORDER BY id`)).toEqual([
      ['1', '[ann@example.com]'],
      ['2', '[ANN@example.com]'],
      ['3', '[ann@example.com ]'],
    ]);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  });

  it('PostgreSQL → MariaDB: an existing shadow whose key and unique index are utf8mb4_general_ci fails tandem check, and its ALTER fixes it', async () => {
    const source = await createPgDatabase(pgUrl, 'coll_old');
    const shadow = await createMysqlDatabase(mysqlUrl, 'coll_new');
    dbs.push(source, shadow);
    await source.admin.query(`CREATE TABLE tkey (k text PRIMARY KEY, code varchar(20) UNIQUE, v integer)`);
    await shadow.admin.query(`CREATE TABLE tkey (k varchar(255) COLLATE utf8mb4_general_ci PRIMARY KEY, code varchar(20) COLLATE utf8mb4_general_ci UNIQUE, v int) DEFAULT CHARSET=utf8mb4`);
    const config = writeConfig({ migration: 'coll2', old: { url: source.url }, new: { url: shadow.url } });

    const { code, keys } = await check(config);
    expect(code).toBe(1);
    expect(keys.map((k) => [k.status, k.side, k.title])).toEqual([
      ['fail', 'new', 'table tkey: key column k on new would merge values that old keeps apart: utf8mb4_general_ci: case-insensitive, PAD SPACE'],
      ['fail', 'new', 'table tkey: key column code on new would merge values that old keeps apart: utf8mb4_general_ci: case-insensitive, PAD SPACE'],
    ]);
    expect(keys[0]?.detail).toContain('one value of the primary key (k)');
    expect(keys[1]?.detail).toContain('one value of unique index code (code)');
    expect(keys[0]?.fix).toBe('make the column on new compare exactly: ALTER TABLE `tkey` MODIFY `k` varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL;');
    const human = await runTandem(['check', '--config', config]);
    expect(human.stdout).toMatch(/FAIL {2}table tkey: key column k on new would merge values that old keeps apart: utf8mb4_general_ci/);

    // Each fix is a statement to run as it is.
    for (const k of keys) await shadow.admin.query(String(k.fix).replace(/^make the column on new compare exactly: /, ''));
    const fixed = await check(config);
    expect(fixed.keys).toEqual([]);
    expect(fixed.failures).toEqual([]);
    expect(fixed.code).toBe(0);
  });

  it('MariaDB (case-insensitive) → PostgreSQL: reported for the reverse direction; tandem schema --apply adds the index that makes new refuse such values', async () => {
    const old = await createMysqlDatabase(mysqlUrl, 'coll_rev_old');
    const neu = await createPgDatabase(pgUrl, 'coll_rev_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE TABLE accounts (id int PRIMARY KEY, email varchar(100) NOT NULL, UNIQUE KEY email (email)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`);
    await old.admin.query(`CREATE TABLE codes (code varchar(10) COLLATE utf8mb4_nopad_bin PRIMARY KEY, n int) DEFAULT CHARSET=utf8mb4`);
    await neu.admin.query(`CREATE TABLE accounts (id integer PRIMARY KEY, email varchar(100) NOT NULL UNIQUE)`);
    await neu.admin.query(`CREATE TABLE codes (code varchar(10) PRIMARY KEY, n integer)`);
    const config = writeConfig({ migration: 'collrev', old: { url: old.url }, new: { url: neu.url } });

    const { code, keys } = await check(config);
    expect(code).toBe(1);
    expect(keys.map((k) => [k.status, k.side, k.title])).toEqual([
      ['fail', 'old', 'table accounts: key column email on old would merge values that new keeps apart (after cutover): utf8mb4_general_ci: case-insensitive, PAD SPACE'],
    ]);
    expect(keys[0]?.detail).toContain('changes written on new after cutover would merge rows when they flow back to old');
    const fix = keys[0]?.fix ?? '';
    expect(fix).toContain("either make the column on old compare exactly: ALTER TABLE `accounts` MODIFY `email` varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL; (this also changes how the application's queries compare on old)");
    expect(fix).toContain('or make new refuse such values: CREATE UNIQUE INDEX "accounts_email_fold" ON "accounts" (lower(rtrim("email")));');

    // The fix on new's side: case and trailing-space variants are refused there now; accents remain, as a warning.
    await neu.admin.query(fix.slice(fix.indexOf('CREATE UNIQUE INDEX')));
    await neu.admin.query(`INSERT INTO accounts VALUES (1, 'ann@example.com')`);
    await expect(neu.admin.query(`INSERT INTO accounts VALUES (2, 'ANN@example.com ')`)).rejects.toThrow(/accounts_email_fold/);
    const after = await check(config);
    expect(after.code).toBe(0);
    expect(after.keys.map((k) => [k.status, k.side])).toEqual([['warn', 'old']]);
    expect(after.keys[0]?.detail).toContain("accents (or other differences the collation ignores) ('e' and 'é')");

    // tandem schema --apply creates that index itself for tables it creates.
    await neu.admin.query(`DROP TABLE accounts, codes`);
    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('CREATE UNIQUE INDEX "accounts_email_fold" ON "accounts" ((lower(rtrim("email"))));');
    expect(applied.stdout).not.toContain('codes_pkey_fold');
    const again = await check(config);
    expect(again.failures, again.stderr).toEqual([]);
    expect(again.keys.map((k) => [k.status, k.side, k.title.split(':')[0]])).toEqual([['warn', 'old', 'table accounts']]);
  });
});
