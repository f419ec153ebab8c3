/**
 * Values the shadow would store altered are refused, naming table and column, in the backfill and in the stream
 * alike; nothing is stored rounded. Generated columns are left for the shadow to compute. A repair that cannot
 * make a row equal says why instead of blaming changes in flight. Both databases are read directly.
 */
import { describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { exitWithin, startTandem, suiteResources, waitForShadowing, waitUntil } from '../harness/tandem-process.js';

describe('values the shadow cannot hold as they are', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();

  it('PostgreSQL numeric → MariaDB decimal(65,30): 39 fractional digits are refused, in backfill and in stream, never rounded', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'dec_src'), await createMysqlDatabase(mysqlUrl, 'dec_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE amounts (id int PRIMARY KEY, n numeric); CREATE TABLE later (id int PRIMARY KEY, n numeric)`);
    await dst.admin.query(`CREATE TABLE amounts (id int PRIMARY KEY, n decimal(65,30)) CHARACTER SET utf8mb4`);
    await dst.admin.query(`CREATE TABLE later (id int PRIMARY KEY, n decimal(65,30)) CHARACTER SET utf8mb4`);
    const long = '0.1234567890123456789012345678901234567890';
    await src.admin.query(`INSERT INTO amounts VALUES (1, 1.5), (2, ${long})`);
    const p = startTandem(['run', '--config', writeConfig({ migration: uniqueName('dec'), old: { url: src.url }, new: { url: dst.url } })]);
    procs.push(p);
    expect(await exitWithin(p, 60_000), p.output().slice(-2000)).toBe(4);
    expect(p.output()).toContain('TANDEM_VALUE_UNSUPPORTED');
    expect(p.output()).toContain('amounts.n');
    expect(p.output()).toContain('39 fractional digit(s) and the column keeps 30');
    // MariaDB keeps at most 30 fractional digits: the fix does not pretend a wider column exists.
    expect(p.output()).toContain('no decimal column on this shadow keeps 39 fractional digits');
    expect(await mysqlRows(dst.admin, `SELECT n FROM amounts WHERE id = 2`)).toEqual([]);

    // In the stream: rows before the bad one arrive, the bad one stops replication, nothing is rounded.
    await src.admin.query(`UPDATE amounts SET n = 0.5 WHERE id = 2`);
    const config = writeConfig({ migration: uniqueName('dec2'), old: { url: src.url }, new: { url: dst.url }, tables: ['later'] });
    const q = startTandem(['run', '--config', config]);
    procs.push(q);
    await waitForShadowing(config);
    await src.admin.query(`INSERT INTO later VALUES (1, 2.25)`);
    await src.admin.query(`INSERT INTO later VALUES (2, ${long})`);
    expect(await exitWithin(q, 60_000), q.output().slice(-2000)).toBe(4);
    expect(q.output()).toContain('later.n');
    expect(await mysqlRows(dst.admin, `SELECT id, n FROM later ORDER BY id`)).toEqual([['1', '2.250000000000000000000000000000']]);
  });

  it('fractional seconds a narrower timestamp would round are refused, naming the column (PostgreSQL → PostgreSQL)', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'ts_src'), await createPgDatabase(pgUrl, 'ts_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE events (id int PRIMARY KEY, at timestamp(6))`);
    await dst.admin.query(`CREATE TABLE events (id int PRIMARY KEY, at timestamp(3))`);
    await src.admin.query(`INSERT INTO events VALUES (1, '2024-01-01 10:00:00.123'), (2, '2024-01-01 10:00:00.123456')`);
    const p = startTandem(['run', '--config', writeConfig({ migration: uniqueName('ts'), old: { url: src.url }, new: { url: dst.url } })]);
    procs.push(p);
    expect(await exitWithin(p, 60_000), p.output().slice(-2000)).toBe(4);
    expect(p.output()).toContain('events.at');
    expect(p.output()).toContain('6 fractional-second digit(s) and the column keeps 3');
    expect(await pgRows(dst.admin, `SELECT count(*)::text FROM events`)).toEqual([['0']]);
  });

  it('MariaDB TINYINT(1) holding 2 into a PostgreSQL boolean stops naming the column; 0 and 1 arrive as false and true', async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'bool_src'), await createPgDatabase(pgUrl, 'bool_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE flags (id int PRIMARY KEY, on_sale tinyint(1))`);
    await dst.admin.query(`CREATE TABLE flags (id int PRIMARY KEY, on_sale boolean)`);
    await src.admin.query(`INSERT INTO flags VALUES (1, 0), (2, 1)`);
    const config = writeConfig({ migration: uniqueName('bool'), old: { url: src.url }, new: { url: dst.url } });
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    await waitForShadowing(config);
    await src.admin.query(`INSERT INTO flags VALUES (3, 2)`);
    expect(await exitWithin(p, 60_000), p.output().slice(-2000)).toBe(4);
    expect(p.output()).toContain('flags.on_sale');
    expect(p.output()).toContain('a boolean column holds only true and false');
    expect(await pgRows(dst.admin, `SELECT id::text, on_sale::text FROM flags ORDER BY id`)).toEqual([
      ['1', 'false'],
      ['2', 'true'],
    ]);
  });

  it('generated columns: the shadow computes its own (backfill and stream); a plain shadow column fails tandem check', async () => {
    const [src, dst, plain] = [await createPgDatabase(pgUrl, 'gen_src'), await createPgDatabase(pgUrl, 'gen_dst'), await createPgDatabase(pgUrl, 'gen_plain')];
    dbs.push(src, dst, plain);
    const ddl = `CREATE TABLE lines (id int PRIMARY KEY, qty int, price numeric(10,2), total numeric(12,2) GENERATED ALWAYS AS (qty * price) STORED)`;
    await src.admin.query(ddl);
    await dst.admin.query(ddl);
    await plain.admin.query(`CREATE TABLE lines (id int PRIMARY KEY, qty int, price numeric(10,2), total numeric(12,2))`);
    await src.admin.query(`INSERT INTO lines (id, qty, price) SELECT g, g, 1.5 FROM generate_series(1, 100) g`);
    const config = writeConfig({ migration: uniqueName('gen'), old: { url: src.url }, new: { url: dst.url } });
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    await waitForShadowing(config);
    await src.admin.query(`INSERT INTO lines (id, qty, price) VALUES (1000, 3, 2.5)`);
    await src.admin.query(`UPDATE lines SET qty = qty + 1 WHERE id <= 10`);
    const rows = `SELECT id::text, qty::text, price::text, total::text FROM lines ORDER BY id`;
    await waitUntil('the shadow to equal the source', async () => JSON.stringify(await pgRows(dst.admin, rows)) === JSON.stringify(await pgRows(src.admin, rows)), 60_000, 300);
    expect((await pgRows(dst.admin, `SELECT total::text FROM lines WHERE id = 1000`))[0]).toEqual(['7.50']);
    expect((await runTandem(['verify', '--config', config])).code).toBe(0);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);

    const check = await runTandem(['check', '--json', '--config', writeConfig({ migration: uniqueName('genp'), old: { url: src.url }, new: { url: plain.url } })]);
    expect(check.code).toBe(1);
    const item = (JSON.parse(check.stdout) as { checks: Array<{ id: string; status: string; title: string; fix?: string }> }).checks.find((c) => c.id === 'schema.generated_column');
    expect(item).toMatchObject({ status: 'fail', title: expect.stringContaining('lines.total') });
    expect(item?.fix).toContain('GENERATED ALWAYS AS');
  });

  it('generated columns from MariaDB: a MariaDB shadow computes its own VIRTUAL and PERSISTENT columns', async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'mgen_src'), await createMysqlDatabase(mysqlUrl, 'mgen_dst')];
    dbs.push(src, dst);
    const ddl = `CREATE TABLE order_lines (id int PRIMARY KEY, qty int, price decimal(10,2), total decimal(12,2) AS (qty * price) PERSISTENT, label varchar(40) AS (CONCAT('x', qty)) VIRTUAL)`;
    await src.admin.query(ddl);
    await dst.admin.query(ddl);
    await src.admin.query(`INSERT INTO order_lines (id, qty, price) VALUES (1, 2, 1.5), (2, 3, 2.5)`);
    const config = writeConfig({ migration: uniqueName('mgen'), old: { url: src.url }, new: { url: dst.url } });
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    await waitForShadowing(config);
    await src.admin.query(`INSERT INTO order_lines (id, qty, price) VALUES (3, 4, 1.25)`);
    await src.admin.query(`UPDATE order_lines SET qty = 10 WHERE id = 1`);
    const rows = `SELECT id, qty, price, total, label FROM order_lines ORDER BY id`;
    await waitUntil('the shadow to equal the source', async () => JSON.stringify(await mysqlRows(dst.admin, rows)) === JSON.stringify(await mysqlRows(src.admin, rows)), 60_000, 300);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('a repair that cannot make a row equal says the shadow cannot hold it, and why, instead of "changed meanwhile"', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'hold_src'), await createMysqlDatabase(mysqlUrl, 'hold_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE tags (name text PRIMARY KEY, n int)`);
    // A case-folding key on the shadow: 'a' and 'A' are one row there.
    await dst.admin.query(`CREATE TABLE tags (name varchar(100) PRIMARY KEY, n int) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    await src.admin.query(`INSERT INTO tags VALUES ('a', 1), ('b', 2)`);
    const config = writeConfig({ migration: uniqueName('hold'), old: { url: src.url }, new: { url: dst.url } });
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    await waitForShadowing(config);
    await src.admin.query(`INSERT INTO tags VALUES ('A', 3)`);
    await waitUntil('the row to be applied', async () => (await mysqlRows(dst.admin, `SELECT n FROM tags WHERE name = 'a'`))[0]?.[0] === '3', 30_000);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const r = await runTandem(['repair', '--table', 'tags', '--all', '--yes', '--config', config]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain('cannot hold them as they are');
    expect(r.stdout).not.toContain('changed again on the active side');
    expect(r.stdout).toMatch(/fix: change the column on new/);
  });
});
