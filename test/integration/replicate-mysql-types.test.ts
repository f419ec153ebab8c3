import { execFileSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { connectMysql, createMysqlDatabase, createPgDatabase, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { runCheck } from '../harness/check.js';
import { suiteResources, waitUntil, waitForShadowing } from '../harness/tandem-process.js';
import { canonicalJsonText, mysqlRows, NULL_TEXT as NULL, pgRows, waitForSameRows } from '../harness/compare.js';
import { startMariadb } from '../harness/servers.js';

/**
 * MariaDB → PostgreSQL value fidelity: a value of every mapped type, in backfill and in stream, read back from both
 * databases directly and compared (H10 time zones and DST, H11 decimal/bigint extremes, H12 unsigned 64-bit keys,
 * H13 zero dates under both policies). Tandem runs with TZ=Asia/Kolkata; the MariaDB writer session uses
 * America/New_York; the servers run in UTC.
 */
const MAX_U64 = '18446744073709551615';

const sourceDdl = `CREATE TABLE t (
  id bigint unsigned PRIMARY KEY,
  b tinyint(1), ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, miu mediumint unsigned,
  i int, iu int unsigned, bi bigint, biu bigint unsigned, dmax decimal(65,30), dsmall decimal(10,2),
  f float, d double,
  ch char(10), vc varchar(100), tx text, mtx mediumtext, lt varchar(50) CHARACTER SET latin1 COLLATE latin1_swedish_ci,
  bn binary(4), vb varbinary(10), bl blob,
  dt date, dtm datetime(6), dt0 datetime, ts timestamp(6) NULL DEFAULT NULL, tm time(6), yr year,
  js json, en enum('a','b c'), st set('x','y','z'), bt bit(10))`;
const pgDdl = `CREATE TABLE t (
  id numeric(20) PRIMARY KEY,
  b boolean, ti smallint, tiu smallint, si smallint, siu integer, mi integer, miu integer,
  i integer, iu bigint, bi bigint, biu numeric(20), dmax numeric(65,30), dsmall numeric(10,2),
  f real, d double precision,
  ch text, vc text, tx text, mtx text, lt text,
  bn bytea, vb bytea, bl bytea,
  dt date, dtm timestamp(6), dt0 timestamp(0), ts timestamptz(6), tm time(6), yr smallint,
  js jsonb, en text, st text, bt bit(10))`;

/** Column order of the comparisons; `f`/`d` are compared by value, `js` semantically. */
const columns = ['id', 'b', 'ti', 'tiu', 'si', 'siu', 'mi', 'miu', 'i', 'iu', 'bi', 'biu', 'dmax', 'dsmall', 'f', 'd', 'ch', 'vc', 'tx', 'mtx', 'lt', 'bn', 'vb', 'bl', 'dt', 'dtm', 'dt0', 'ts', 'tm', 'yr', 'js', 'en', 'st', 'bt'];
const mysqlSelect = `SELECT CAST(id AS CHAR), b, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, dmax, dsmall, CAST(f AS DOUBLE), d, ch, vc, tx, mtx, lt,
  LOWER(HEX(bn)), LOWER(HEX(vb)), LOWER(HEX(bl)), dt, DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(dt0, '%Y-%m-%d %H:%i:%s'),
  DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), TIME_FORMAT(tm, '%H:%i:%s.%f'), CAST(yr AS UNSIGNED), CONCAT(js), en, st, LPAD(BIN(bt), 10, '0') FROM t`;
const pgSelect = `SELECT id::text, CASE WHEN b THEN '1' WHEN NOT b THEN '0' END, ti::text, tiu::text, si::text, siu::text, mi::text, miu::text, i::text, iu::text,
  bi::text, biu::text, dmax::text, dsmall::text, f::float8::text, d::text, ch, vc, tx, mtx, lt,
  encode(bn, 'hex'), encode(vb, 'hex'), encode(bl, 'hex'), dt::text, to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(dt0, 'YYYY-MM-DD HH24:MI:SS'),
  to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(date '2000-01-01' + tm, 'HH24:MI:SS.US'), yr::text, js::text, en, st, bt::text FROM t`;

/** Rows in comparison form: `f`/`d` by value, `js` with keys sorted (jsonb reorders keys and drops white space). */
function normalize(rows: string[][]): string[][] {
  return rows.map((r) =>
    columns.map((c, i) => {
      const v = r[i] ?? NULL;
      return v === NULL ? v : c === 'f' ? String(Math.fround(Number(v))) : c === 'd' ? String(Number(v)) : c === 'js' ? canonicalJsonText(v) : v;
    }),
  );
}

/** A source connection as the application's: its own session time zone, values read back as text. */
const appConn = (url: string, timeZone = 'America/New_York') => connectMysql(url, { timeZone });

/**
 * Rows with every type's awkward values. `k` offsets the ids so backfill and stream rows differ. TIMESTAMP and
 * DATETIME literals are interpreted in the writer's session zone (America/New_York): around 2024-03-10 02:00 (spring
 * forward, 02:00–03:00 does not exist) and 2024-11-03 02:00 (fall back, 01:00–02:00 happens twice).
 */
function rowsSql(k: number): string {
  const id = (n: number) => String(k + n);
  return `INSERT INTO t VALUES
  (${id(1)}, 1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, ${MAX_U64},
   '99999999999999999999999999999999999.999999999999999999999999999999', -99999999.99, 3.4028234e38, 1.7976931348623157e308,
   'fixed', 'café 😀 𝄞', 'text with ''quotes'' and \\\\ backslash', REPEAT('m', 70000), 'é ß ÿ Ä £ ©',
   x'00000000', x'00ff00', x'0001000200', '1000-01-01', '1000-01-01 00:00:00.000000', '9999-12-31 23:59:59',
   '2024-03-10 01:59:59.999999', '00:00:00.000000', 1901, '{"b": [1, 2.50], "a": null, "n": {"z": true, "y": "ü"}}', 'a', 'x,z', b'1000000001'),
  (${id(2)}, 0, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0,
   '-99999999999999999999999999999999999.999999999999999999999999999999', 0.01, 1.17549435e-38, 4.9406564584124654e-324,
   '', '', '', '', '',
   x'', x'', x'', '9999-12-31', '2024-03-10 02:30:00.500000', '2024-11-03 01:30:00',
   '2024-03-10 03:00:00.000001', '23:59:59.999999', 2155, '[]', 'b c', '', b'0'),
  (${id(3)}, NULL, 0, 1, 0, 1, 0, 1, 0, 1, -1, 9223372036854775808,
   '0.000000000000000000000000000001', 12.5, 0.1, 0.1,
   'a', 'a ', 'A', NULL, 'naïve façade',
   x'01020304', x'ffffffffffffffffffff', REPEAT(x'00', 1000), '2024-02-29', '2024-11-03 01:30:00.123456', '2024-11-03 01:59:59',
   '2024-11-03 01:30:00.123456', '12:34:56.000001', 0, '{"k": "v", "num": 52.0}', NULL, 'x,y,z', b'1111111111'),
  (${id(4)}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`;
}

describe('MariaDB → PostgreSQL values', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, servers, start } = suiteResources();
  const run = (config: string, env: NodeJS.ProcessEnv = {}) => start(['run', '--config', config], { env: { TZ: 'Asia/Kolkata', ...env } });
  const shadowing = (config: string) =>
    waitForShadowing(config, 60_000);
  const pair = async () => {
    const [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'src'), createPgDatabase(pgUrl, 'dst')]);
    dbs.push(source, shadow);
    return { source, shadow };
  };

  /** A MariaDB of this test's own with the America/New_York zone loaded (the shared server has no zone tables). */
  async function serverWithZones(): Promise<string> {
    const server = await startMariadb();
    servers.push(server);
    const sql = execFileSync('mariadb-tzinfo-to-sql', ['/usr/share/zoneinfo/America/New_York', 'America/New_York'], { encoding: 'utf8' });
    const u = new URL(server.url);
    const root = await mysql.createConnection({ host: u.hostname, port: Number(u.port), user: 'root', database: 'mysql', multipleStatements: true });
    await root.query(sql);
    await root.end();
    return server.url;
  }

  it('a value of every mapped type round-trips in backfill and stream (H10, H11, H12)', async () => {
    const [source, shadow] = await Promise.all([createMysqlDatabase(await serverWithZones(), 'src'), createPgDatabase(pgUrl, 'dst')]);
    dbs.push(source, shadow);
    await source.admin.query(sourceDdl);
    await shadow.admin.query(pgDdl);
    const app = await appConn(source.url);
    const reader = await appConn(source.url, '+00:00');
    const readSource = async () => normalize(await mysqlRows(reader, mysqlSelect));
    const readShadow = async () => normalize(await pgRows(shadow.admin, pgSelect));
    const converge = (what: string) => waitForSameRows(what, readSource, readShadow, { timeoutMs: 60_000, intervalMs: 300 });

    // Backfill: rows present before Tandem starts, ids 1..4 and the largest unsigned 64-bit key.
    await app.query(rowsSql(0));
    await app.query(`INSERT INTO t (id, biu, vc) VALUES (${MAX_U64}, ${MAX_U64}, 'max key, backfilled')`);
    const config = writeConfig({ migration: uniqueName('types'), old: { url: source.url }, new: { url: shadow.url } });
    const tandem = run(config);
    try {
      await shadowing(config);
      await converge('the backfilled rows');
      expect((await readShadow()).length).toBe(5);

      // Stream: the same values inserted, then updated and deleted, the max key included.
      await app.query(rowsSql(100));
      await app.query(`UPDATE t SET vc = 'max key, updated', dmax = dmax * -1 WHERE id = ${MAX_U64}`);
      await app.query(`UPDATE t SET id = ${MAX_U64} - 1 WHERE id = 104`);
      await app.query(`UPDATE t SET dtm = '2024-03-10 02:15:00.000001', ts = '2024-11-03 01:15:00.000002', f = 0.3, d = -0.0 WHERE id = 103`);
      await converge('the streamed inserts and updates');
      await app.query(`DELETE FROM t WHERE id = ${MAX_U64}`);
      await app.query(`INSERT INTO t (id, biu, bi) VALUES (${MAX_U64} - 2, ${MAX_U64} - 2, -9223372036854775808)`);
      await converge('the streamed deletes');
      expect((await pgRows(shadow.admin, `SELECT id::text FROM t WHERE id >= 18446744073709551613 ORDER BY t.id`)).map((r) => r[0])).toEqual([
        '18446744073709551613',
        '18446744073709551614',
      ]);

      // H11: exact extremes, read as text on PostgreSQL.
      const exact = await pgRows(shadow.admin, `SELECT dmax::text, bi::text, biu::text FROM t WHERE id IN (1, 2, 101, 102) ORDER BY t.id`);
      expect(exact).toEqual([
        ['99999999999999999999999999999999999.999999999999999999999999999999', '-9223372036854775808', MAX_U64],
        ['-99999999999999999999999999999999999.999999999999999999999999999999', '9223372036854775807', '0'],
        ['99999999999999999999999999999999999.999999999999999999999999999999', '-9223372036854775808', MAX_U64],
        ['-99999999999999999999999999999999999.999999999999999999999999999999', '9223372036854775807', '0'],
      ]);
      // H10: instants written in New York are the right UTC instants; wall clocks are kept as written, even a
      // DATETIME that does not exist in New York (02:30 on 2024-03-10), with Tandem itself in Asia/Kolkata.
      const times = await pgRows(shadow.admin, `SELECT id::text, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US') FROM t WHERE id IN (1, 2, 3, 101, 102, 103) ORDER BY t.id`);
      expect(times).toEqual([
        ['1', '2024-03-10 06:59:59.999999', '1000-01-01 00:00:00.000000'],
        ['2', '2024-03-10 07:00:00.000001', '2024-03-10 02:30:00.500000'],
        ['3', '2024-11-03 05:30:00.123456', '2024-11-03 01:30:00.123456'],
        ['101', '2024-03-10 06:59:59.999999', '1000-01-01 00:00:00.000000'],
        ['102', '2024-03-10 07:00:00.000001', '2024-03-10 02:30:00.500000'],
        ['103', '2024-11-03 05:15:00.000002', '2024-03-10 02:15:00.000001'],
      ]);
      // latin1 text arrives as the same characters, UTF-8 encoded; 4-byte UTF-8 intact; zero bytes intact.
      expect(await pgRows(shadow.admin, `SELECT lt, vc, encode(bn, 'hex'), length(bl)::text FROM t WHERE id IN (1, 101) ORDER BY t.id`)).toEqual([
        ['é ß ÿ Ä £ ©', 'café 😀 𝄞', '00000000', '5'],
        ['é ß ÿ Ä £ ©', 'café 😀 𝄞', '00000000', '5'],
      ]);
    } finally {
      tandem.kill('SIGTERM');
      expect(await tandem.exited, tandem.output().slice(-3000)).toBe(0);
      await app.end();
      await reader.end();
    }
  }, 180_000);

  describe('H13: zero dates', () => {
    const zeroDdl = `CREATE TABLE z (id int PRIMARY KEY, d date NULL, dtm datetime(6) NULL, ts timestamp NULL DEFAULT NULL, note varchar(20))`;
    const zeroPgDdl = `CREATE TABLE z (id integer PRIMARY KEY, d date, dtm timestamp(6), ts timestamptz, note text)`;
    const zeroRows = `INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 'all zero'),
      (2, '2022-11-00', '2022-00-05 10:00:00.5', NULL, 'zero day/month'), (3, '2022-11-05', '2022-11-05 10:00:00.25', '2022-11-05 10:00:00', 'valid')`;
    /** A session that may write zero dates (the default sql_mode forbids them). */
    const lax = async (url: string) => {
      const c = await appConn(url, '+00:00');
      await c.query(`SET SESSION sql_mode = ''`);
      return c;
    };
    const check = async (config: string) => {
      const { code, report, stderr } = await runCheck(config);
      if (!report) throw new Error(`tandem check printed no report: ${stderr}`);
      return { code, items: report.checks.filter((c) => c.id === 'mysql.zero_dates') };
    };

    it('refuse (the default): tandem check names table, column and row count; backfill stops naming the column', async () => {
      const { source, shadow } = await pair();
      await source.admin.query(zeroDdl);
      await shadow.admin.query(zeroPgDdl);
      const c = await lax(source.url);
      await c.query(zeroRows);
      await c.end();
      const config = writeConfig({ migration: uniqueName('zref'), old: { url: source.url }, new: { url: shadow.url }, check: { minBinlogRetentionHours: 0 } });
      const { code, items } = await check(config);
      expect(code).not.toBe(0);
      const failed = items.filter((i) => i.status === 'fail');
      expect(failed.map((i) => i.detail).sort()).toEqual([
        '1 row(s) of z hold a zero date (0000-00-00, or month or day 00) in ts (timestamp)',
        '2 row(s) of z hold a zero date (0000-00-00, or month or day 00) in d (date)',
        '2 row(s) of z hold a zero date (0000-00-00, or month or day 00) in dtm (datetime(6))',
      ]);
      expect(failed[0]?.fix).toMatch(/values\.zeroDates: null/);

      const tandem = run(config);
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toMatch(/z\.d \(date\) holds the zero date 0000-00-00/);
      expect(tandem.output()).toMatch(/values\.zeroDates: null/);
      expect(await pgRows(shadow.admin, `SELECT count(*)::text FROM z`)).toEqual([['0']]);
    }, 120_000);

    it('refuse: a zero date arriving through the stream stops replication before it is applied', async () => {
      const { source, shadow } = await pair();
      await source.admin.query(zeroDdl);
      await shadow.admin.query(zeroPgDdl);
      const config = writeConfig({ migration: uniqueName('zstr'), old: { url: source.url }, new: { url: shadow.url } });
      const tandem = run(config);
      await shadowing(config);
      const c = await lax(source.url);
      await c.query(`INSERT INTO z VALUES (10, '2024-01-01', '2024-01-01 00:00:00', NULL, 'fine')`);
      await waitUntil('the valid row', async () => (await pgRows(shadow.admin, `SELECT count(*)::text FROM z`))[0]?.[0] === '1', 30_000);
      await c.query(`INSERT INTO z VALUES (11, '2024-01-01', '2024-05-00 00:00:00', NULL, 'zero day')`);
      await c.end();
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toMatch(/z\.dtm \(datetime\(6\)\) holds the zero date 2024-05-00 00:00:00/);
      expect(await pgRows(shadow.admin, `SELECT id::text FROM z ORDER BY id`)).toEqual([['10']]);

      // The fix the message gives works. Fixing the row on the source alone does not (the change is in the binlog):
      const fixRows = await lax(source.url);
      await fixRows.query(`UPDATE z SET dtm = NULL WHERE MONTH(dtm) = 0 OR DAYOFMONTH(dtm) = 0`);
      await fixRows.end();
      const again = run(config);
      expect(await again.exited, again.output().slice(-2000)).toBe(4);
      expect(again.output()).toMatch(/holds the zero date 2024-05-00/);
      // …values.zeroDates: null does.
      const fixed = run(config, { TANDEM_VALUES_ZERO_DATES: 'null' });
      try {
        await waitUntil('the row past the zero date', async () => JSON.stringify(await pgRows(shadow.admin, `SELECT id::text, coalesce(dtm::text, 'NULL') FROM z ORDER BY id`)) === JSON.stringify([['10', '2024-01-01 00:00:00'], ['11', 'NULL']]), 60_000);
      } finally {
        fixed.kill('SIGTERM');
        expect(await fixed.exited).toBe(0);
      }
    }, 120_000);

    it('null (set through the environment): backfill and stream both write NULL; a NOT NULL shadow column fails the check', async () => {
      const { source, shadow } = await pair();
      await source.admin.query(zeroDdl);
      await shadow.admin.query(zeroPgDdl);
      const c = await lax(source.url);
      await c.query(zeroRows);
      const config = writeConfig({ migration: uniqueName('znull'), old: { url: source.url }, new: { url: shadow.url }, values: { zeroDates: null } });
      const { items } = await check(config);
      expect(items.filter((i) => i.status === 'fail')).toEqual([]);
      expect(items.filter((i) => i.status === 'warn' && i.id === 'mysql.zero_dates').map((i) => i.title).sort()).toEqual([
        '1 zero date(s) in z.ts will be NULL on the shadow',
        '2 zero date(s) in z.d will be NULL on the shadow',
        '2 zero date(s) in z.dtm will be NULL on the shadow',
      ]);
      // The same with d NOT NULL on the shadow (empty yet): the check fails for d alone.
      await shadow.admin.query(`ALTER TABLE z ALTER COLUMN d SET NOT NULL`);
      const strict = await check(config);
      expect(strict.items.filter((i) => i.status === 'fail').map((i) => i.title)).toEqual(['zero dates in z.d would become NULL in a NOT NULL column']);
      await shadow.admin.query(`ALTER TABLE z ALTER COLUMN d DROP NOT NULL`);

      // The policy from the environment, as an operator would set it, rather than the file.
      const envConfig = writeConfig({ migration: uniqueName('znull'), old: { url: source.url }, new: { url: shadow.url } });
      const tandem = run(envConfig, { TANDEM_VALUES_ZERO_DATES: 'null' });
      try {
        await shadowing(envConfig);
        await c.query(`INSERT INTO z VALUES (11, '0000-00-00', '2024-05-00 00:00:00', '0000-00-00 00:00:00', 'streamed zero'), (12, '2024-05-01', '2024-05-01 00:00:00.75', '2024-05-01 00:00:00', 'streamed valid')`);
        await c.query(`UPDATE z SET d = '2023-00-00' WHERE id = 3`);
        const want = [
          ['1', '∅NULL', '∅NULL', '∅NULL', 'all zero'],
          ['2', '∅NULL', '∅NULL', '∅NULL', 'zero day/month'],
          ['3', '∅NULL', '2022-11-05 10:00:00.250000', '2022-11-05 10:00:00', 'valid'],
          ['11', '∅NULL', '∅NULL', '∅NULL', 'streamed zero'],
          ['12', '2024-05-01', '2024-05-01 00:00:00.750000', '2024-05-01 00:00:00', 'streamed valid'],
        ];
        const read = () => pgRows(shadow.admin, `SELECT id::text, d::text, to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US'), to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), note FROM z ORDER BY z.id`);
        await waitUntil('zero dates written as NULL', async () => JSON.stringify(await read()) === JSON.stringify(want), 30_000).catch(async (err: unknown) => {
          throw new Error(`${String(err)}\n${JSON.stringify(await read())}`);
        });
      } finally {
        await c.end();
        tandem.kill('SIGTERM');
        expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
      }
    }, 120_000);
  });
});
