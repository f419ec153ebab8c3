import { beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { suiteResources } from '../harness/tandem-process.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { CanonicalKey, CanonicalRow, KeyRange, VerifyReader, VerifyReaderOptions, VerifyTable } from '../../src/engines/engine.js';
import { openPgReader } from '../../src/engines/postgres/reader.js';
import { openMysqlReader } from '../../src/engines/mysql/reader.js';
import { shortestFloat32 } from '../../src/engines/mysql/binlog-values.js';
import { canonicalFloat, canonicalJson } from '../../src/model/canonical.js';
import type { Row } from '../../src/model/change.js';
import { builtSpec } from '../harness/verify.js';

/**
 * The canonical-value corpus (DESIGN.md "Canonical values"; H13–H16): awkward values stored as replication stores
 * them in PostgreSQL and MariaDB (and PostgreSQL twice, and MariaDB twice), read through each engine's
 * VerifyReader. Equal rows must give identical canonical text, chunk summaries, row hashes and chunk boundaries; a
 * changed value must show, naming its column.
 */

const pgUrl = inject('pgUrl');
const mysqlUrl = inject('mysqlUrl');
// The readers are closed, then the databases dropped, after the file's last test.
const { dbs, cleanups } = suiteResources();

async function pgDb(prefix: string): Promise<PgTestDatabase> {
  const db = await createPgDatabase(pgUrl, prefix);
  dbs.push(db);
  return db;
}

async function mysqlDb(prefix: string): Promise<MysqlTestDatabase> {
  const db = await createMysqlDatabase(mysqlUrl, prefix);
  dbs.push(db);
  // Zero dates are what H13 is about: the test writes them as an old application would.
  await db.admin.query(`SET SESSION sql_mode = ''`);
  return db;
}

async function open(url: string, opts: VerifyReaderOptions): Promise<VerifyReader> {
  const r = await engineForUrl(url).openVerifyReader(url, opts);
  cleanups.push(() => r.close());
  return r;
}

const PG_TO_MYSQL: VerifyReaderOptions = { peer: 'mysql', zeroDates: 'keep' };
const MYSQL_TO_PG: VerifyReaderOptions = { peer: 'postgres', zeroDates: 'null' };

const byId = (a: CanonicalRow, b: CanonicalRow) => Number(a.key[0]) - Number(b.key[0]);
const allRows = async (r: VerifyReader, t: VerifyTable, keys: CanonicalKey[]) => [...(await r.canonicalRows(t, keys)).values()].sort(byId);
const differing = (a: CanonicalRow | undefined, b: CanonicalRow | undefined) => Object.keys(a?.values ?? {}).filter((c) => a?.values[c] !== b?.values[c]);

/** Every key in verification order, walking with keyAfter(n) (n rows per step). */
async function walk(r: VerifyReader, t: VerifyTable, n: number): Promise<CanonicalKey[]> {
  const out: CanonicalKey[] = [];
  let after: CanonicalKey | undefined;
  for (;;) {
    const next = await r.keyAfter(t, after, n);
    if (!next) break;
    out.push(next);
    after = next;
  }
  return out;
}

/** Both sides agree on the boundaries of n-row chunks, and on each chunk's summary, up to the open end. */
async function expectSameChunks(a: VerifyReader, b: VerifyReader, t: VerifyTable, n: number): Promise<number> {
  const bounds = await walk(a, t, n);
  expect(await walk(b, t, n), `${n}-row boundaries`).toEqual(bounds);
  let rows = 0;
  let after: CanonicalKey | undefined;
  for (const upTo of [...bounds, undefined]) {
    const range: KeyRange = { after, upTo };
    const [sa, sb] = await Promise.all([a.summarize(t, range), b.summarize(t, range)]);
    expect(sb, `summary of ${JSON.stringify(range)}`).toEqual(sa);
    rows += sa.rows;
    after = upTo;
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL ↔ MariaDB: one row of awkward values per line, stored as replication stores them on each side.
// ---------------------------------------------------------------------------------------------------------------

const PG_CORPUS = `CREATE TABLE corpus (
  id integer PRIMARY KEY, b boolean, si smallint, i integer, bi bigint, tiu smallint, biu numeric(20,0),
  d numeric(65,30), ds numeric(10,2), f real, f2 double precision, dd double precision,
  ts timestamptz(6), ts2 timestamptz(6), tsn timestamp(6), dt date, tm time(6),
  tx text, tn text, ch char(5), bn bytea, js jsonb, u uuid, bt bit(10), en text, st text)`;
const MYSQL_CORPUS = `CREATE TABLE corpus (
  id int PRIMARY KEY, b tinyint(1), si smallint, i int, bi bigint, tiu tinyint unsigned, biu bigint unsigned,
  d decimal(65,30), ds decimal(10,2), f float, f2 float, dd double,
  ts datetime(6), ts2 timestamp(6) NULL DEFAULT NULL, tsn datetime(6), dt date, tm time(6),
  tx varchar(100) COLLATE utf8mb4_bin, tn text, ch char(5), bn varbinary(20), js json, u char(36), bt bit(10),
  en enum('a','b c'), st set('x','y','z'))`;
const COLUMNS = ['id', 'b', 'si', 'i', 'bi', 'tiu', 'biu', 'd', 'ds', 'f', 'f2', 'dd', 'ts', 'ts2', 'tsn', 'dt', 'tm', 'tx', 'tn', 'ch', 'bn', 'js', 'u', 'bt', 'en', 'st'];
/**
 * f2: MariaDB FLOAT replicated into PostgreSQL double precision (H14). `plain`: the columns Verifier hashes without a
 * length prefix (text-free types on both sides; not u, which is text on MariaDB); the rest keep the prefix, so both
 * encodings are held to agree.
 */
const CORPUS: VerifyTable = {
  name: 'corpus',
  key: ['id'],
  columns: COLUMNS,
  singlePrecision: ['f2'],
  plain: ['id', 'b', 'si', 'i', 'bi', 'tiu', 'biu', 'd', 'ds', 'f', 'f2', 'dd', 'ts', 'ts2', 'tsn', 'dt', 'tm', 'bn', 'bt'],
};

type Cell = string | null | Buffer | { pg: string | null | Buffer; my: string | null | Buffer | number };
const both = (v: string | null | Buffer, my: string | null | Buffer | number = v) => ({ pg: v, my });
/** A MariaDB FLOAT and what replication writes for it into a PostgreSQL double (its shortest float32 text). */
const float32 = (text: string) => ({ pg: shortestFloat32(Number(text)), my: text });
const bits = (b: string) => ({ pg: b, my: parseInt(b, 2) });
/** MariaDB TIMESTAMP values are written in a +05:30 session (stored as UTC), datetime holds the UTC wall clock. */
const SESSION_ZONE = '+05:30';

const CORPUS_ROWS: Record<string, Cell>[] = [
  {
    id: '1', b: both('t', '1'), si: '32767', i: '2147483647', bi: '9223372036854775807', tiu: '255', biu: '18446744073709551615',
    d: '99999999999999999999999999999999999.999999999999999999999999999999', ds: '99999999.99', f: '3.4028235e38', f2: float32('3.4028235e38'),
    dd: '1.7976931348623157e308', ts: both('9999-12-31 23:59:59.999999+00', '9999-12-31 23:59:59.999999'),
    ts2: both('2038-01-19 03:14:07.999999+00', '2038-01-19 08:44:07.999999'), tsn: '9999-12-31 23:59:59.999999', dt: '9999-12-31', tm: '24:00:00',
    tx: '😀 four-byte emoji and 𝄞', tn: 'x', ch: 'abcde', bn: Buffer.from([0, 1, 255, 0]),
    js: both('{"b": 52.0, "a": [1, 2.50, {"y": true, "x": null}], "s": "é\\u00e9"}', '{ "s":"éé", "a":[1,2.5,{"x":null,"y":true}],"b":52 }'),
    u: '123e4567-e89b-12d3-a456-426614174000', bt: bits('1111111111'), en: 'b c', st: 'x,z',
  },
  {
    id: '2', b: both('f', '0'), si: '-32768', i: '-2147483648', bi: '-9223372036854775808', tiu: '0', biu: '0',
    d: '-99999999999999999999999999999999999.999999999999999999999999999999', ds: '-0.00', f: '1e-45', f2: both('-0', '-0'),
    dd: both('-0', '0'), ts: both('1000-01-01 05:30:00+05:30', '1000-01-01 00:00:00'), ts2: both('1970-01-01 00:00:01+00', '1970-01-01 05:30:01'),
    tsn: '1000-01-01 00:00:00', dt: '1000-01-01', tm: '00:00:00', tx: '', tn: null, ch: '', bn: Buffer.alloc(0), js: both('[]', '[ ]'),
    u: '00000000-0000-0000-0000-000000000000', bt: bits('0000000000'), en: 'a', st: '',
  },
  {
    id: '3', b: null, si: '0', i: '0', bi: '0', tiu: '1', biu: '9223372036854775808', d: '1.500', ds: '100.10', f: '0.1', f2: float32('0.1'), dd: '0.1',
    ts: both('2024-03-10 07:30:00.123456+05:30', '2024-03-10 02:00:00.123456'), ts2: both('2024-03-10 02:00:00.123456+00', '2024-03-10 07:30:00.123456'),
    tsn: '2024-02-29 12:34:56.000001', dt: '2024-02-29', tm: '23:59:59.999999', tx: 'e\u0301 and \u00e9, a combining mark and its precomposed twin',
    tn: 'quote \' backslash \\ double " newline\n tab\t', ch: 'ab', bn: Buffer.from([0]), js: both('{"k": "v", "n": 1e2}', '{"n":100.0,"k":"v"}'),
    u: 'ffffffff-ffff-4fff-bfff-ffffffffffff', bt: bits('1010000001'), en: null, st: 'x,y,z',
  },
  { id: '4', f: '1.5e-5', f2: float32('123456789'), dd: '1e100', d: '0.000000000000000000000000000001', ds: '0.10', tm: '12:00:00.5', js: both('52.0', '52') },
  { id: '5', f: '-2.5e-7', f2: float32('16777217'), dd: '5e-324', tx: 'a ', tn: ' ', js: both('"x"', '"x"') },
  { id: '6', f: '100', f2: float32('1e-45'), dd: '36771020660923744', tx: 'A', js: both('{"a": {"b": {"c": [1.0, -0, 1E-2]}}}', '{"a":{"b":{"c":[1,0,0.01]}}}') },
  { id: '7', f: '123.456', f2: float32('-3.4028235e38'), dd: '-1.2345678901234567e-300' },
  { id: '8', dd: '123.456', f: '16777216' },
  { id: '9' },
];

function cell(row: Record<string, Cell>, col: string, side: 'pg' | 'my'): string | null | Buffer | number {
  const v = row[col];
  if (v === undefined || v === null || typeof v === 'string' || Buffer.isBuffer(v)) return v ?? null;
  return v[side];
}

async function loadCorpus(p: PgTestDatabase, m: MysqlTestDatabase): Promise<void> {
  await p.admin.query(PG_CORPUS);
  await m.admin.query(MYSQL_CORPUS);
  await m.admin.query(`SET SESSION time_zone = ?`, [SESSION_ZONE]);
  for (const row of CORPUS_ROWS) {
    await p.admin.query(`INSERT INTO corpus (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, COLUMNS.map((c) => cell(row, c, 'pg')));
    await m.admin.query(`INSERT INTO corpus (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`, COLUMNS.map((c) => cell(row, c, 'my')));
  }
  await m.admin.query(`SET SESSION time_zone = '+00:00'`);
}

describe('PostgreSQL ↔ MariaDB corpus', () => {
  let p: PgTestDatabase;
  let m: MysqlTestDatabase;
  let pr: VerifyReader;
  let mr: VerifyReader;
  const keys = CORPUS_ROWS.map((r) => [r.id as string]);

  beforeAll(async () => {
    [p, m] = await Promise.all([pgDb('canon'), mysqlDb('canon')]);
    await loadCorpus(p, m);
    [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, MYSQL_TO_PG)]);
  });

  it('gives every value the same canonical text on both sides, in the documented forms', async () => {
    const [a, b] = await Promise.all([allRows(pr, CORPUS, keys), allRows(mr, CORPUS, keys)]);
    expect(a).toHaveLength(CORPUS_ROWS.length);
    for (let i = 0; i < a.length; i++) expect(b[i], `row ${a[i]?.key[0]}: ${differing(a[i], b[i]).join(', ')}`).toEqual(a[i]);
    const v = (id: number) => a[id - 1]?.values ?? {};
    expect(v(1)).toMatchObject({
      b: 't', biu: '18446744073709551615', d: '99999999999999999999999999999999999.999999999999999999999999999999', ds: '99999999.99',
      f: '3.4028234663852886e38', f2: '3.4028234663852886e38', dd: '1.7976931348623157e308', ts: '9999-12-31 23:59:59.999999',
      ts2: '2038-01-19 03:14:07.999999', tm: '24:00:00.000000', ch: 'abcde', bn: '0001ff00', js: '{"a":[1,2.5,{"x":null,"y":true}],"b":52,"s":"éé"}',
      bt: '1111111111', en: 'b c', st: 'x,z',
    });
    expect(v(2)).toMatchObject({ b: 'f', ds: '0', f: '1.401298464324817e-45', f2: '0', dd: '0', ts: '1000-01-01 00:00:00.000000', tx: '', tn: null, ch: '', bn: '', js: '[]', st: '' });
    expect(v(3)).toMatchObject({ b: null, d: '1.5', ds: '100.1', f: '1.0000000149011612e-1', f2: '1.0000000149011612e-1', dd: '1e-1', ts: '2024-03-10 02:00:00.123456', ts2: '2024-03-10 02:00:00.123456', tm: '23:59:59.999999', bn: '00', js: '{"k":"v","n":100}', u: 'ffffffff-ffff-4fff-bfff-ffffffffffff' });
    expect(v(4)).toMatchObject({ f: canonicalFloat(Math.fround(1.5e-5)), f2: '1.23456792e8', dd: '1e100', d: '0.000000000000000000000000000001', ds: '0.1', tm: '12:00:00.500000', js: '52' });
    expect(v(5)).toMatchObject({ f: canonicalFloat(Math.fround(-2.5e-7)), f2: '1.6777216e7', dd: '5e-324', tx: 'a ', tn: ' ' });
    expect(v(6)).toMatchObject({ f: '1e2', f2: '1.401298464324817e-45', dd: '3.677102066092374e16', js: '{"a":{"b":{"c":[1,0,0.01]}}}' });
    expect(v(7)).toMatchObject({ f: canonicalFloat(Math.fround(123.456)), f2: '-3.4028234663852886e38', dd: '-1.2345678901234568e-300' });
    expect(Object.values(v(9)).filter((x) => x !== null)).toEqual(['9']);
  });

  it('agrees on summaries of the whole table and of every sub-range, on row hashes, and on chunk boundaries', async () => {
    const whole = await pr.summarize(CORPUS, {});
    expect(whole.rows).toBe(CORPUS_ROWS.length);
    expect(await mr.summarize(CORPUS, {})).toEqual(whole);
    for (let i = 0; i <= keys.length; i++) {
      for (let j = i + 1; j <= keys.length; j++) {
        const range: KeyRange = { after: keys[i - 1], upTo: keys[j - 1] };
        expect(await mr.summarize(CORPUS, range), JSON.stringify(range)).toEqual(await pr.summarize(CORPUS, range));
      }
    }
    expect(await mr.rowHashes(CORPUS, {})).toEqual(await pr.rowHashes(CORPUS, {}));
    for (const n of [1, 2, 3, 4]) expect(await expectSameChunks(pr, mr, CORPUS, n)).toBe(CORPUS_ROWS.length);
    // An empty range sums to the same on both.
    const empty = { after: ['9'] };
    expect(await pr.summarize(CORPUS, empty)).toEqual({ rows: 0, hash: '0' });
    expect(await mr.summarize(CORPUS, empty)).toEqual({ rows: 0, hash: '0' });
  });

  it('leaves JSON out of hashes across engines and compares it canonicalised (H15)', async () => {
    expect(pr.jsonInHash).toBe(false);
    expect(await pr.jsonColumns(CORPUS)).toEqual(['js']);
    expect(await mr.jsonColumns(CORPUS)).toEqual(['js']);
    const [a, b] = await Promise.all([pr.jsonRows(CORPUS, ['js'], {}), mr.jsonRows(CORPUS, ['js'], {})]);
    expect(b).toEqual(a);
    expect(a[0]).toEqual({ key: ['1'], values: { js: '{"a":[1,2.5,{"x":null,"y":true}],"b":52,"s":"éé"}' } });

    // A real change in a JSON value shows there (and only there: JSON is not in the hash).
    await m.admin.query(`UPDATE corpus SET js = '{"k":"v","n":101}' WHERE id = 3`);
    try {
      const after = await mr.jsonRows(CORPUS, ['js'], { after: ['2'], upTo: ['3'] });
      expect(after[0]?.values.js).toBe('{"k":"v","n":101}');
      expect(await mr.summarize(CORPUS, {})).toEqual(await pr.summarize(CORPUS, {}));
      const rows = [await pr.canonicalRows(CORPUS, [['3']]), await mr.canonicalRows(CORPUS, [['3']])].map((x) => x.get('["3"]'));
      expect(differing(rows[0], rows[1])).toEqual(['js']);
    } finally {
      await m.admin.query(`UPDATE corpus SET js = '{"n":100.0,"k":"v"}' WHERE id = 3`);
    }
  });

  it('finds a real change, and names its column (H14: a FLOAT changed from 0.1)', async () => {
    for (const [sql, column] of [
      [`UPDATE corpus SET f = 0.2 WHERE id = 3`, 'f'],
      [`UPDATE corpus SET f2 = 0.2 WHERE id = 3`, 'f2'],
      [`UPDATE corpus SET tx = 'a' WHERE id = 5`, 'tx'],
      [`UPDATE corpus SET ts = '2024-03-10 02:00:00.123457' WHERE id = 3`, 'ts'],
      [`UPDATE corpus SET tn = '' WHERE id = 2`, 'tn'],
      [`UPDATE corpus SET bn = x'0001ff' WHERE id = 1`, 'bn'],
      [`UPDATE corpus SET biu = 18446744073709551614 WHERE id = 1`, 'biu'],
      // Decided: a UUID kept as text is compared as stored, so upper case on MariaDB differs from PostgreSQL's uuid.
      [`UPDATE corpus SET u = UPPER(u) WHERE id = 3`, 'u'],
    ] as const) {
      const id = /id = (\d+)/.exec(sql)?.[1] ?? '';
      const before = await mr.canonicalRows(CORPUS, [[id]]);
      await m.admin.query(sql);
      try {
        expect(await mr.summarize(CORPUS, {}), sql).not.toEqual(await pr.summarize(CORPUS, {}));
        const [ha, hb] = await Promise.all([pr.rowHashes(CORPUS, {}), mr.rowHashes(CORPUS, {})]);
        expect(ha.filter((h, i) => hb[i]?.hash !== h.hash).map((h) => h.key), sql).toEqual([[id]]);
        const [a, b] = await Promise.all([pr.canonicalRows(CORPUS, [[id]]), mr.canonicalRows(CORPUS, [[id]])]);
        expect(differing(a.get(`["${id}"]`), b.get(`["${id}"]`)), sql).toEqual([column]);
      } finally {
        // Put the old canonical value back through a plain UPDATE of the original cell.
        const row = CORPUS_ROWS.find((r) => r.id === id) ?? {};
        await m.admin.query(`SET SESSION time_zone = ?`, [SESSION_ZONE]);
        await m.admin.query(`UPDATE corpus SET ${column} = ? WHERE id = ?`, [cell(row, column, 'my'), id]);
        await m.admin.query(`SET SESSION time_zone = '+00:00'`);
      }
      expect(await mr.canonicalRows(CORPUS, [[id]]), `${sql} undone`).toEqual(before);
    }
    expect(await mr.summarize(CORPUS, {})).toEqual(await pr.summarize(CORPUS, {}));
  });

  it('agrees under the spec Verifier builds from both schemas: texts and bytes as digest columns, tinyint(1) against boolean', async () => {
    const spec = await builtSpec(m.url, p.url, 'corpus');
    // Columns PostgreSQL text or bytea (room for long values) holds on one side; none of this corpus's values is long.
    expect(spec.digest).toEqual(['tx', 'tn', 'bn', 'en', 'st']);
    expect(spec.asInteger).toEqual([]);
    expect(spec.singlePrecision).toEqual(['f2']);
    const [a, b] = await Promise.all([allRows(pr, spec, keys), allRows(mr, spec, keys)]);
    expect(b).toEqual(a);
    expect(a).toEqual(await allRows(pr, CORPUS, keys));
    expect(await mr.summarize(spec, {})).toEqual(await pr.summarize(spec, {}));
    expect(await mr.rowHashes(spec, {})).toEqual(await pr.rowHashes(spec, {}));
  });

  it('agrees on the cross-engine fast summary (md5 of the rows in key order) of every sub-range, and a changed value changes it', async () => {
    const spec = await builtSpec(p.url, m.url, 'corpus');
    expect(spec.timestampMicros).toEqual(['ts', 'ts2', 'tsn']);
    expect(spec.sameScale).toEqual(['d', 'ds']);
    expect(pr.fastHash).toBeDefined();
    expect(mr.fastHash).toBe(pr.fastHash);
    for (const t of [spec, CORPUS]) {
      for (let i = 0; i <= keys.length; i++) {
        for (let j = i + 1; j <= keys.length + 1; j++) {
          const range: KeyRange = { after: keys[i - 1], upTo: keys[j - 1] };
          const [a, b] = await Promise.all([pr.fastSummary(t, range), mr.fastSummary(t, range)]);
          expect(b, JSON.stringify(range)).toMatchObject({ rows: a.rows, hash: a.hash });
        }
      }
    }
    expect(await mr.fastSummary(spec, { after: ['9'] })).toMatchObject(await pr.fastSummary(spec, { after: ['9'] }));
    for (const [sql, column, id] of [
      [`UPDATE corpus SET ts = '2024-03-10 02:00:00.123457' WHERE id = 3`, 'ts', '3'],
      [`UPDATE corpus SET tsn = '9999-12-31 23:59:59.999998' WHERE id = 1`, 'tsn', '1'],
      [`UPDATE corpus SET ts2 = NULL WHERE id = 2`, 'ts2', '2'],
      [`UPDATE corpus SET ds = 100.11 WHERE id = 3`, 'ds', '3'],
      [`UPDATE corpus SET d = -1.5 WHERE id = 3`, 'd', '3'],
      [`UPDATE corpus SET bi = -9223372036854775807 WHERE id = 2`, 'bi', '2'],
      [`UPDATE corpus SET tx = 'a' WHERE id = 5`, 'tx', '5'],
      [`UPDATE corpus SET tn = '' WHERE id = 2`, 'tn', '2'],
    ] as const) {
      await m.admin.query(sql);
      try {
        expect((await mr.fastSummary(spec, {})).hash, sql).not.toBe((await pr.fastSummary(spec, {})).hash);
        expect((await mr.fastSummary(spec, { after: [id] })).hash, `${sql}: the rows after ${id}`).toBe((await pr.fastSummary(spec, { after: [id] })).hash);
      } finally {
        const row = CORPUS_ROWS.find((r) => r.id === id) ?? {};
        await m.admin.query(`SET SESSION time_zone = ?`, [SESSION_ZONE]);
        await m.admin.query(`UPDATE corpus SET ${column} = ? WHERE id = ?`, [cell(row, column, 'my'), id]);
        await m.admin.query(`SET SESSION time_zone = '+00:00'`);
      }
    }
    expect((await mr.fastSummary(spec, {})).hash).toBe((await pr.fastSummary(spec, {})).hash);
  });

  it('tells missing rows from present ones', async () => {
    const [a, b] = await Promise.all([pr.canonicalRows(CORPUS, [['3'], ['42']]), mr.canonicalRows(CORPUS, [['42'], ['3']])]);
    expect([...a.keys()]).toEqual(['["3"]']);
    expect([...b.keys()]).toEqual(['["3"]']);
    expect(await pr.keyAfter(CORPUS, ['9'], 1)).toBeUndefined();
    expect(await mr.keyAfter(CORPUS, undefined, 10)).toBeUndefined();
    expect(await mr.keyAfter(CORPUS, undefined, 9)).toEqual(['9']);
  });

  it('reads rows by key exactly as backfill reads them', async () => {
    const pgBackfill = await openPgReader(p.url, undefined);
    const myBackfill = await openMysqlReader(m.url, undefined, { zeroDates: 'null' });
    try {
      const sort = (rows: Row[]) => [...rows].sort((x, y) => Number(x.id) - Number(y.id));
      expect(sort(await pr.readRows(CORPUS, keys))).toEqual(await pgBackfill.readChunk('corpus', COLUMNS, ['id'], undefined, 100));
      expect(sort(await mr.readRows(CORPUS, keys))).toEqual(await myBackfill.readChunk('corpus', COLUMNS, ['id'], undefined, 100));
      const [one] = await mr.readRows(CORPUS, [['3']]);
      expect(one).toMatchObject({ id: '3', f: '0.1', biu: '9223372036854775808', ts: '2024-03-10 02:00:00.123456' });
      expect(await pr.readRows(CORPUS, [['42']])).toEqual([]);
    } finally {
      await Promise.all([pgBackfill.close(), myBackfill.close()]);
    }
  });

  it('floats: both engines print the shortest round-trip digits of thousands of random values, as canonicalFloat does', async () => {
    await p.admin.query(`CREATE TABLE floats (id integer PRIMARY KEY, f real, d double precision, s double precision)`);
    await m.admin.query(`CREATE TABLE floats (id int PRIMARY KEY, f float, d double, s float)`);
    const rows: Array<[number, number, number]> = [];
    for (let i = 0; i < 3000; i++) {
      // Random bit patterns (every exponent, subnormals), decimal-looking values, and integers beyond 2^53.
      const d = i % 3 === 0 ? randomDouble() : i % 3 === 1 ? Number((Math.random() * 10 ** (Math.floor(Math.random() * 40) - 20)).toPrecision(1 + (i % 17))) : Math.round(Math.random() * 2 ** 62);
      let f = Math.fround(i % 2 ? randomDouble() : d);
      if (!Number.isFinite(f)) f = Math.fround(Math.random());
      rows.push([i, f, d]);
    }
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await p.admin.query(`INSERT INTO floats VALUES ${chunk.map((_, j) => `($${4 * j + 1}, $${4 * j + 2}, $${4 * j + 3}, $${4 * j + 4})`).join(', ')}`, chunk.flatMap(([id, f, d]) => [id, String(f), String(d), shortestFloat32(f)]));
      await m.admin.query(`INSERT INTO floats VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}`, chunk.flatMap(([id, f, d]) => [id, f, d, f]));
    }
    const t: VerifyTable = { name: 'floats', key: ['id'], columns: ['id', 'f', 'd', 's'], singlePrecision: ['s'] };
    const ids = rows.map(([id]) => [String(id)]);
    const [a, b] = await Promise.all([allRows(pr, t, ids), allRows(mr, t, ids)]);
    const expected = rows.map(([id, f, d]) => ({ key: [String(id)], values: { id: String(id), f: canonicalFloat(f), d: canonicalFloat(d), s: canonicalFloat(f) } }));
    const wrong = (got: CanonicalRow[]) => got.filter((r, i) => JSON.stringify(r) !== JSON.stringify(expected[i])).slice(0, 5);
    expect(wrong(a), 'PostgreSQL').toEqual([]);
    expect(wrong(b), 'MariaDB').toEqual([]);
    expect(await mr.summarize(t, {})).toEqual(await pr.summarize(t, {}));
    // Every canonical text reads back as the value itself.
    rows.forEach(([, f, d]) => expect(Number(canonicalFloat(f)) === f && Number(canonicalFloat(d)) === d, `${f} ${d}`).toBe(true));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The cross-engine fast summary's cheaper forms (VerifyTable.timestampMicros, sameScale; integers and utf8mb4 text
// as MariaDB stores them): each edge value alone in its range, equal on both sides and changed by a change.
// ---------------------------------------------------------------------------------------------------------------

describe('PostgreSQL ↔ MariaDB fast forms', () => {
  const PG_EDGES = `CREATE TABLE edges (id int PRIMARY KEY, t timestamp(6), tz timestamptz(6), t0 timestamp(0), n numeric(12,4), n0 numeric(18,0),
    bi bigint, si integer, tx varchar(20), lt text)`;
  const MY_EDGES = `CREATE TABLE edges (id int PRIMARY KEY, t datetime(6), tz datetime(6), t0 datetime, n decimal(12,4), n0 decimal(18,0),
    bi bigint, si smallint(5) zerofill, tx varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, lt longtext)`;
  const EDGE_COLUMNS = ['id', 't', 'tz', 't0', 'n', 'n0', 'bi', 'si', 'tx', 'lt'];
  /** Both sides hold the same values (timestamps in UTC); the ones each form could get wrong, one row each. */
  const EDGE_ROWS: Array<Record<string, string | null>> = [
    { t: '0001-01-01 00:00:00', tz: '0001-01-01 00:00:00.000001', t0: '0001-01-01 00:00:00', n: '-99999999.9999', n0: '-999999999999999999', bi: '-9223372036854775808', si: '0', tx: '', lt: '' },
    { t: '0999-12-31 23:59:59.999999', tz: '1582-10-04 23:59:59.5', t0: '1582-10-15 00:00:00', n: '0.0000', n0: '0', bi: '9223372036854775807', si: '65535', tx: '😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀', lt: 'é'.repeat(1024) },
    { t: '1900-02-28 23:59:59.999999', tz: '1900-03-01 00:00:00', t0: '1969-12-31 23:59:59', n: '-0.0001', n0: '999999999999999999', bi: '-1', si: '7', tx: 'e\u0301 é', lt: 'é'.repeat(1025) },
    { t: '1969-12-31 23:59:59.999999', tz: '1970-01-01 00:00:00', t0: '1970-01-01 00:00:01', n: '12.5000', n0: '-1', bi: '0', si: null, tx: 'a ', lt: 'x'.repeat(5000) },
    { t: '1999-12-31 23:59:59.999999', tz: '2000-01-01 00:00:00', t0: '2000-01-01 00:00:00', n: '99999999.9999', n0: null, bi: null, si: '1', tx: ' ', lt: 'N' },
    { t: '2000-01-01 00:00:00.000001', tz: '2000-02-29 12:00:00.1', t0: '2038-01-19 03:14:08', n: '0.1000', n0: '10', bi: '10', si: '10', tx: 'N|', lt: '3:abc' },
    { t: '9999-12-31 23:59:59.999999', tz: '9999-12-31 23:59:59.999999', t0: '9999-12-31 23:59:59', n: '-12.5000', n0: '100', bi: '100', si: '100', tx: 'Ä', lt: '#' },
    { t: null, tz: null, t0: null, n: null, n0: null, bi: null, si: null, tx: null, lt: null },
  ];
  let p: PgTestDatabase;
  let m: MysqlTestDatabase;
  let pr: VerifyReader;
  let mr: VerifyReader;
  let spec: VerifyTable;
  const ids = EDGE_ROWS.map((_, i) => String(i + 1));

  beforeAll(async () => {
    [p, m] = await Promise.all([pgDb('fastf'), mysqlDb('fastf')]);
    await p.admin.query(PG_EDGES);
    await m.admin.query(MY_EDGES);
    for (const [i, row] of EDGE_ROWS.entries()) {
      const values = [String(i + 1), ...EDGE_COLUMNS.slice(1).map((c) => row[c] ?? null)];
      await p.admin.query(`INSERT INTO edges VALUES (${values.map((_, j) => `$${j + 1}`).join(', ')})`, values.map((v, j) => (v !== null && EDGE_COLUMNS[j] === 'tz' ? `${v}+00` : v)));
      await m.admin.query(`INSERT INTO edges VALUES (${values.map(() => '?').join(', ')})`, values);
    }
    [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, { peer: 'postgres', zeroDates: 'keep' })]);
    spec = await builtSpec(p.url, m.url, 'edges');
  });

  it('every edge value has the same canonical text and the same fast summary on both sides, alone in its range', async () => {
    expect(spec.timestampMicros).toEqual(['t', 'tz', 't0']);
    expect(spec.sameScale).toEqual(['n', 'n0']);
    expect(spec.digest).toEqual(['lt']);
    const keys = ids.map((id) => [id]);
    const [a, b] = await Promise.all([allRows(pr, spec, keys), allRows(mr, spec, keys)]);
    for (let i = 0; i < a.length; i++) expect(b[i], `row ${a[i]?.key[0]}: ${differing(a[i], b[i]).join(', ')}`).toEqual(a[i]);
    expect(a[0]?.values).toMatchObject({ t: '0001-01-01 00:00:00.000000', tz: '0001-01-01 00:00:00.000001', n: '-99999999.9999', si: '0', tx: '' });
    expect(await mr.summarize(spec, {})).toEqual(await pr.summarize(spec, {}));
    for (const [i, id] of ids.entries()) {
      const range: KeyRange = { after: i ? [ids[i - 1] as string] : undefined, upTo: [id] };
      const [x, y] = await Promise.all([pr.fastSummary(spec, range), mr.fastSummary(spec, range)]);
      expect(y, `row ${id}`).toMatchObject({ rows: 1, hash: x.hash });
    }
    expect((await mr.fastSummary(spec, {})).hash).toBe((await pr.fastSummary(spec, {})).hash);
  });

  it('a microsecond, a last decimal digit, a sign, a padded integer, a trailing space or a NULL changes the fast summary of its row alone', async () => {
    for (const [sql, id] of [
      [`UPDATE edges SET t = '0001-01-01 00:00:00.000001' WHERE id = 1`, '1'],
      [`UPDATE edges SET tz = '1582-10-04 23:59:59.500001' WHERE id = 2`, '2'],
      [`UPDATE edges SET t0 = '1969-12-31 23:59:58' WHERE id = 3`, '3'],
      [`UPDATE edges SET t = '1970-01-01 00:00:00' WHERE id = 4`, '4'],
      [`UPDATE edges SET n = 12.5001 WHERE id = 4`, '4'],
      [`UPDATE edges SET n = 0.0001 WHERE id = 3`, '3'],
      [`UPDATE edges SET n0 = 1 WHERE id = 4`, '4'],
      [`UPDATE edges SET bi = 1 WHERE id = 3`, '3'],
      [`UPDATE edges SET si = 70 WHERE id = 6`, '6'],
      [`UPDATE edges SET tx = 'a' WHERE id = 4`, '4'],
      [`UPDATE edges SET tx = 'ä' WHERE id = 7`, '7'],
      [`UPDATE edges SET lt = CONCAT(lt, 'x') WHERE id = 2`, '2'],
      [`UPDATE edges SET lt = NULL WHERE id = 5`, '5'],
      [`UPDATE edges SET n = 0 WHERE id = 8`, '8'],
    ] as const) {
      const range: KeyRange = { after: id === '1' ? undefined : [String(Number(id) - 1)], upTo: [id] };
      const before = await mr.canonicalRows(spec, [[id]]);
      await m.admin.query(`CREATE TEMPORARY TABLE keep_row AS SELECT * FROM edges WHERE id = ?`, [id]);
      try {
        await m.admin.query(sql);
        expect((await mr.fastSummary(spec, range)).hash, sql).not.toBe((await pr.fastSummary(spec, range)).hash);
        expect((await mr.fastSummary(spec, { after: [id] })).hash, `${sql}: the rows after it`).toBe((await pr.fastSummary(spec, { after: [id] })).hash);
      } finally {
        await m.admin.query(`REPLACE INTO edges SELECT * FROM keep_row`);
        await m.admin.query(`DROP TEMPORARY TABLE keep_row`);
      }
      expect(await mr.canonicalRows(spec, [[id]]), `${sql} undone`).toEqual(before);
    }
    expect((await mr.fastSummary(spec, {})).hash).toBe((await pr.fastSummary(spec, {})).hash);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Zero dates (H13)
// ---------------------------------------------------------------------------------------------------------------

describe('MySQL zero dates (H13)', () => {
  let p: PgTestDatabase;
  let m: MysqlTestDatabase;
  const t: VerifyTable = { name: 'zd', key: ['id'], columns: ['id', 'd', 'dtm', 'ts'] };
  const keys = [['1'], ['2'], ['3']];

  beforeAll(async () => {
    [p, m] = await Promise.all([pgDb('zero'), mysqlDb('zero')]);
    await p.admin.query(`CREATE TABLE zd (id int PRIMARY KEY, d date, dtm timestamp(6), ts timestamptz(6))`);
    await m.admin.query(`CREATE TABLE zd (id int PRIMARY KEY, d date, dtm datetime(6), ts timestamp(6) NULL DEFAULT NULL)`);
    // What replication writes to PostgreSQL under values.zeroDates: null.
    await p.admin.query(`INSERT INTO zd VALUES (1, NULL, NULL, NULL), (2, NULL, NULL, NULL), (3, '2022-11-05', '2022-11-05 10:00:00.5', '2022-11-05 10:00:00+00')`);
    await m.admin.query(`INSERT INTO zd VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'), (2, '2022-11-00', '2022-11-00 10:00:00.5', NULL), (3, '2022-11-05', '2022-11-05 10:00:00.5', '2022-11-05 10:00:00')`);
  });

  /** The cross-engine fast summary with the timestamps as microseconds, which a zero date has none of. */
  const micros: VerifyTable = { ...t, columns: ['id', 'dtm', 'ts'], timestampMicros: ['dtm', 'ts'] };

  it('policy null: a zero date compares as the NULL replication wrote', async () => {
    const [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, MYSQL_TO_PG)]);
    expect(await allRows(mr, t, keys)).toEqual(await allRows(pr, t, keys));
    expect(await mr.summarize(t, {})).toEqual(await pr.summarize(t, {}));
    expect((await mr.fastSummary(micros, {})).hash).toBe((await pr.fastSummary(micros, {})).hash);
    expect((await mr.readRows(t, [['1']]))[0]).toEqual({ id: '1', d: null, dtm: null, ts: null });
  });

  it('otherwise a zero date is its own text, which no PostgreSQL value equals', async () => {
    const [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, { peer: 'postgres', zeroDates: 'refuse' })]);
    const rows = await allRows(mr, t, keys);
    expect(rows.map((r) => r.values)).toEqual([
      { id: '1', d: '0000-00-00', dtm: '0000-00-00 00:00:00.000000', ts: '0000-00-00 00:00:00.000000' },
      { id: '2', d: '2022-11-00', dtm: '2022-11-00 10:00:00.500000', ts: null },
      { id: '3', d: '2022-11-05', dtm: '2022-11-05 10:00:00.500000', ts: '2022-11-05 10:00:00.000000' },
    ]);
    expect(rows[2]).toEqual((await allRows(pr, t, keys))[2]);
    expect(await mr.summarize(t, {})).not.toEqual(await pr.summarize(t, {}));
    expect(await mr.summarize(t, { after: ['2'] })).toEqual(await pr.summarize(t, { after: ['2'] }));
    // Each zero date on its own (0000-00-00, and 2022-11-00 whose TO_SECONDS is NULL) falls back to its text.
    for (const range of [{ upTo: ['1'] }, { after: ['1'], upTo: ['2'] }]) {
      expect((await mr.fastSummary(micros, range)).hash, JSON.stringify(range)).not.toBe((await pr.fastSummary(micros, range)).hash);
    }
    expect((await mr.fastSummary(micros, { after: ['2'] })).hash).toBe((await pr.fastSummary(micros, { after: ['2'] })).hash);
    // Repair reads under the same policy as replication: refused, with the fix named.
    await expect(mr.readRows(t, [['1']])).rejects.toMatchObject({ code: 'TANDEM_VALUE_UNSUPPORTED' });
  });

  it('between two MariaDB databases zero dates are kept and equal', async () => {
    const m2 = await mysqlDb('zero2');
    await m2.admin.query(`CREATE TABLE zd (id int PRIMARY KEY, d date, dtm datetime(6), ts timestamp(6) NULL DEFAULT NULL)`);
    await m2.admin.query(`INSERT INTO zd SELECT * FROM ${mysql.escapeId(m.name)}.zd`);
    const keep: VerifyReaderOptions = { peer: 'mysql', zeroDates: 'keep' };
    const [a, b] = await Promise.all([open(m.url, keep), open(m2.url, keep)]);
    expect(await allRows(b, t, keys)).toEqual(await allRows(a, t, keys));
    expect((await allRows(a, t, keys))[0]?.values.d).toBe('0000-00-00');
    expect(await b.summarize(t, {})).toEqual(await a.summarize(t, {}));
    expect((await a.readRows(t, [['1']]))[0]).toMatchObject({ d: '0000-00-00' });
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Same-engine pairs: what only one engine can hold, and JSON in each engine's own normal form.
// ---------------------------------------------------------------------------------------------------------------

describe('PostgreSQL ↔ PostgreSQL', () => {
  const t: VerifyTable = { name: 'pp', key: ['id'], columns: ['id', 'j', 'x', 'r', 'n', 'ts', 'tz', 'd', 'iv', 'ip', 'arr', 'mood', 'vb', 'ch'] };
  const ddl = (json: string) => `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE TABLE pp (id int PRIMARY KEY, j ${json}, x float8, r real, n numeric, ts timestamp, tz timestamptz, d date, iv interval,
      ip inet, arr int[], mood mood, vb varbit(8), ch char(3))`;
  const rows = (json: [string, string, string]) => `INSERT INTO pp VALUES
    (1, '${json[0]}', 'NaN', 'NaN', 'NaN', 'infinity', '-infinity', 'infinity', '1 day 02:00', '10.0.0.1/8', '{1,2,3}', 'happy', B'101', 'a'),
    (2, '${json[1]}', 'Infinity', '-Infinity', '1e-200', '0044-03-15 12:00:00 BC', '2024-01-01 12:00:00+01', '0044-03-15 BC', '-1 mon', '::1', '{}', 'sad', B'', 'abc'),
    (3, '${json[2]}', '-Infinity', '-0', '123456789012345678901234567890.123000', '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00.000001+00', '2000-01-01', NULL, NULL, '{NULL}', NULL, NULL, NULL)`;

  it('compares json with jsonb, NaN, infinities, BC dates and unmapped types', async () => {
    const [a, b] = await Promise.all([pgDb('ppa'), pgDb('ppb')]);
    await a.admin.query(ddl('json'));
    await b.admin.query(ddl('jsonb'));
    await a.admin.query(rows(['{"b": 52.0, "a": 1, "b": 53.50}', '[1.0, "1.0", {"x.0": "a.00"}]', '{}']));
    await b.admin.query(rows(['{"a":1,"b":53.5}', '[1, "1.0", {"x.0": "a.00"}]', '{ }']));
    const opts: VerifyReaderOptions = { peer: 'postgres', zeroDates: 'keep' };
    const [ra, rb] = await Promise.all([open(a.url, opts), open(b.url, opts)]);
    expect(ra.jsonInHash).toBe(true);
    const keys = [['1'], ['2'], ['3']];
    const rowsA = await allRows(ra, t, keys);
    expect(await allRows(rb, t, keys)).toEqual(rowsA);
    expect(rowsA.map((r) => r.values)).toMatchObject([
      { j: '{"a":1,"b":53.5}', x: 'NaN', r: 'NaN', n: 'NaN', ts: 'infinity', tz: '-infinity', d: 'infinity', arr: '{1,2,3}', mood: 'happy', vb: '101', ch: 'a' },
      { j: '[1,"1.0",{"x.0":"a.00"}]', x: 'Infinity', r: '-Infinity', n: '1e-200', ts: '0044-03-15 12:00:00 BC', tz: '2024-01-01 11:00:00.000000', d: '0044-03-15 BC', vb: '' },
      { x: '-Infinity', r: '0', n: '123456789012345678901234567890.123', ts: '2000-01-01 00:00:00.000001' },
    ]);
    expect(await rb.summarize(t, {})).toEqual(await ra.summarize(t, {}));
    expect(await rb.rowHashes(t, {})).toEqual(await ra.rowHashes(t, {}));
    // JSON is in the hash here: a changed member shows in the summary.
    await b.admin.query(`UPDATE pp SET j = '{"a":1,"b":53.6}' WHERE id = 1`);
    expect(await rb.summarize(t, {})).not.toEqual(await ra.summarize(t, {}));
    const [x, y] = await Promise.all([ra.canonicalRows(t, [['1']]), rb.canonicalRows(t, [['1']])]);
    expect(differing(x.get('["1"]'), y.get('["1"]'))).toEqual(['j']);
  });
});

describe('MariaDB ↔ MariaDB', () => {
  it('compares JSON in its normal form, and every other type as for PostgreSQL', async () => {
    const [a, b] = await Promise.all([mysqlDb('mma'), mysqlDb('mmb')]);
    const ddl = `CREATE TABLE mm (id int PRIMARY KEY, j json, f float, t tinyint(1), e enum('z','a'), g inet6)`;
    await a.admin.query(ddl);
    await b.admin.query(ddl);
    await a.admin.query(`INSERT INTO mm VALUES (1, '{"b": 52.0, "a": [1, 2.50]}', 0.1, 1, 'a', '::1'), (2, '"x"', NULL, 0, 'z', NULL)`);
    await b.admin.query(`INSERT INTO mm VALUES (1, '{"a":[1,2.5],"b":52}', 0.1, 1, 'a', '::1'), (2, '"x"', NULL, 0, 'z', NULL)`);
    const opts: VerifyReaderOptions = { peer: 'mysql', zeroDates: 'keep' };
    const [ra, rb] = await Promise.all([open(a.url, opts), open(b.url, opts)]);
    const t: VerifyTable = { name: 'mm', key: ['id'], columns: ['id', 'j', 'f', 't', 'e', 'g'] };
    expect(await rb.summarize(t, {})).toEqual(await ra.summarize(t, {}));
    expect(await allRows(rb, t, [['1'], ['2']])).toEqual(await allRows(ra, t, [['1'], ['2']]));
    await b.admin.query(`UPDATE mm SET j = '{"a":[1,2.5],"b":52.1}' WHERE id = 1`);
    expect(await rb.summarize(t, {})).not.toEqual(await ra.summarize(t, {}));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Keys: byte order whatever the collations (H16), composite keys, hostile identifiers.
// ---------------------------------------------------------------------------------------------------------------

/** UTF-8 byte order, the verification order of text keys. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('string keys and collations (H16)', () => {
  const NOPAD = ['a', 'a ', 'A', 'b', 'B', 'é', 'e\u0301', '😀', '', 'Ω', 'z', 'a~b'];
  // Distinct under utf8mb4_general_ci (PAD SPACE, case- and accent-insensitive), in an order unlike bytes.
  const CI = ['', 'a', 'A1', 'aa', 'B', 'c ', 'é', 'ß', 'x\u0301', 'z', '~', 'Ω', '😀'];
  let p: PgTestDatabase;
  let m: MysqlTestDatabase;
  let pr: VerifyReader;
  let mr: VerifyReader;

  beforeAll(async () => {
    [p, m] = await Promise.all([pgDb('keys'), mysqlDb('keys')]);
    // PostgreSQL: one key column in a linguistic (ICU) collation, one in the database's own.
    await p.admin.query(`CREATE TABLE kbin (k text COLLATE "en-x-icu" PRIMARY KEY, v int)`);
    await p.admin.query(`CREATE TABLE kci (k varchar(20) PRIMARY KEY, v int)`);
    await p.admin.query(`CREATE TABLE kcomp (a int, b text COLLATE "en-x-icu", v text, PRIMARY KEY (a, b))`);
    await m.admin.query(`CREATE TABLE kbin (k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin PRIMARY KEY, v int)`);
    await m.admin.query(`CREATE TABLE kci (k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci PRIMARY KEY, v int)`);
    await m.admin.query(`CREATE TABLE kcomp (a int, b varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, v text, PRIMARY KEY (a, b))`);
    for (const [table, values] of [['kbin', NOPAD], ['kci', CI]] as const) {
      for (const [i, k] of values.entries()) {
        await p.admin.query(`INSERT INTO ${table} VALUES ($1, $2)`, [k, i]);
        await m.admin.query(`INSERT INTO ${table} VALUES (?, ?)`, [k, i]);
      }
    }
    for (const a of [2, 1, 10]) {
      for (const [i, b] of CI.entries()) {
        await p.admin.query(`INSERT INTO kcomp VALUES ($1, $2, $3)`, [a, b, `${a}/${i}`]);
        await m.admin.query(`INSERT INTO kcomp VALUES (?, ?, ?)`, [a, b, `${a}/${i}`]);
      }
    }
    [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, MYSQL_TO_PG)]);
  });

  for (const [table, values] of [['kbin', NOPAD], ['kci', CI]] as const) {
    it(`${table}: boundaries in byte order on both engines, and nothing missing from any chunk`, async () => {
      const t: VerifyTable = { name: table, key: ['k'], columns: ['k', 'v'] };
      const sorted = [...values].sort(byteOrder).map((k) => [k]);
      expect(await walk(pr, t, 1)).toEqual(sorted);
      expect(await walk(mr, t, 1)).toEqual(sorted);
      for (const n of [1, 2, 3]) expect(await expectSameChunks(pr, mr, t, n)).toBe(values.length);
      // A chunk boundary on one string never hides a neighbour that a collation calls equal ('a' vs 'a ', 'A').
      for (let i = 0; i < sorted.length; i++) {
        const range: KeyRange = { after: sorted[i - 1], upTo: sorted[i] };
        const [a, b] = await Promise.all([pr.rowHashes(t, range), mr.rowHashes(t, range)]);
        expect(a.map((h) => h.key)).toEqual([sorted[i]]);
        expect(b).toEqual(a);
      }
    });
  }

  it('composite (int, text) keys: same order, same chunks', async () => {
    const t: VerifyTable = { name: 'kcomp', key: ['a', 'b'], columns: ['a', 'b', 'v'] };
    const expected = [1, 2, 10].flatMap((a) => [...CI].sort(byteOrder).map((b) => [String(a), b]));
    expect(await walk(mr, t, 1)).toEqual(expected);
    expect(await walk(pr, t, 1)).toEqual(expected);
    for (const n of [2, 5, 7]) expect(await expectSameChunks(pr, mr, t, n)).toBe(expected.length);
    const keys = [['10', 'ß'], ['1', ''], ['2', 'x\u0301'], ['3', 'a']];
    const [a, b] = await Promise.all([pr.canonicalRows(t, keys), mr.canonicalRows(t, keys)]);
    expect([...a.keys()].sort()).toEqual(['["1",""]', '["10","ß"]', '["2","x\u0301"]'].sort());
    expect(new Map([...b].sort())).toEqual(new Map([...a].sort()));
  });
});

describe('hostile identifiers', () => {
  it('verifies a table and columns named to break quoting, values always bound', async () => {
    const [p, m] = await Promise.all([pgDb('ident'), mysqlDb('ident')]);
    const table = 'a"; DROP TABLE x;--';
    await p.admin.query(`CREATE TABLE x (id int)`);
    await m.admin.query(`CREATE TABLE x (id int)`);
    await p.admin.query(`CREATE TABLE ${pg.escapeIdentifier(table)} (${pg.escapeIdentifier('b`c')} text PRIMARY KEY, ${pg.escapeIdentifier("it's")} int)`);
    await m.admin.query(`CREATE TABLE ${mysql.escapeId(table)} (${mysql.escapeId('b`c')} varchar(20) PRIMARY KEY, ${mysql.escapeId("it's")} int)`);
    for (const [k, v] of [["'); DROP TABLE x;--", 1], ['$1', 2], ['?', 3], ['\\', 4]] as const) {
      await p.admin.query(`INSERT INTO ${pg.escapeIdentifier(table)} VALUES ($1, $2)`, [k, v]);
      await m.admin.query(`INSERT INTO ${mysql.escapeId(table)} VALUES (?, ?)`, [k, v]);
    }
    const [pr, mr] = await Promise.all([open(p.url, PG_TO_MYSQL), open(m.url, MYSQL_TO_PG)]);
    const t: VerifyTable = { name: table, key: ['b`c'], columns: ['b`c', "it's"] };
    expect(await expectSameChunks(pr, mr, t, 1)).toBe(4);
    const keys = [["'); DROP TABLE x;--"], ['?'], ['$1']];
    expect(new Map([...(await mr.canonicalRows(t, keys))].sort())).toEqual(new Map([...(await pr.canonicalRows(t, keys))].sort()));
    expect((await pr.readRows(t, [['\\']]))[0]).toEqual({ 'b`c': '\\', "it's": '4' });
    expect((await mr.readRows(t, [['\\']]))[0]).toEqual({ 'b`c': '\\', "it's": '4' });
    await p.admin.query(`SELECT 1 FROM x`);
    await m.admin.query(`SELECT 1 FROM x`);
  });
});

describe('canonicalJson agrees with what the corpus stores', () => {
  it('PostgreSQL jsonb text and MariaDB JSON text canonicalise alike', () => {
    expect(canonicalJson('{"b": 52.0, "a": [1, 2.50]}')).toBe(canonicalJson('{ "a":[1,2.5],"b":52 }'));
  });
});

/** A double with a random bit pattern (every exponent equally likely, subnormals included), finite. */
function randomDouble(): number {
  const buf = Buffer.alloc(8);
  for (;;) {
    for (let i = 0; i < 8; i++) buf[i] = Math.floor(Math.random() * 256);
    const x = buf.readDoubleBE(0);
    if (Number.isFinite(x)) return x;
  }
}
