import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { runUntilShadowing, waitUntil, suiteResources } from '../harness/tandem-process.js';
import { builtSpec, runVerify } from '../harness/verify.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { CanonicalKey, VerifyReader, VerifyTable } from '../../src/engines/engine.js';
import { LONG_VALUE_LENGTH } from '../../src/engines/shared/verify-sql.js';

/**
 * Long values (VerifyTable.digest): MariaDB blobs and texts around max_allowed_packet / 2, where the hex of a blob
 * (and the row's concatenated texts) is longer than the server's packet limit and MariaDB returns NULL for it.
 * They are hashed and read as the md5 of their bytes on both engines, so equal data verifies clean at the limit
 * ± 1 KiB and well below it, and one changed byte is still found in the right column: through the readers
 * (MariaDB ↔ PostgreSQL, MariaDB ↔ MariaDB) and end to end with `tandem verify` (replicated by `tandem run` into
 * PostgreSQL; loaded on both sides into a MariaDB shadow, whose apply path writes values as SQL literals and so
 * cannot carry a blob past half the packet limit).
 */

const pgUrl = inject('pgUrl');
const mysqlUrl = inject('mysqlUrl');

/** Deterministic bytes, different per seed (xorshift). */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 255;
  }
  return b;
}

/** Text of exactly `n` UTF-8 bytes, mostly multi-byte characters (8 bytes per 4 characters). */
const mixedText = (n: number) => 'aé😀\n'.repeat(Math.floor(n / 8)) + 'x'.repeat(n % 8);
const md5 = (b: Buffer | string) => createHash('md5').update(b).digest('hex');

/** What canonicalRows reads for a value of a digest column: its canonical text, or `#` and its md5 when long. */
function expectedText(v: Buffer | string | null): string | null {
  if (v === null) return null;
  if (Buffer.isBuffer(v)) return v.length > LONG_VALUE_LENGTH ? `#${md5(v)}` : v.toString('hex');
  return [...v].length > LONG_VALUE_LENGTH ? `#${md5(Buffer.from(v, 'utf8'))}` : v;
}

async function packetLimit(m: MysqlTestDatabase): Promise<number> {
  const [rows] = await m.admin.query<mysql.RowDataPacket[]>(`SHOW VARIABLES LIKE 'max_allowed_packet'`);
  return Number(rows[0]?.Value);
}

interface LongRow {
  id: number;
  b: Buffer | null;
  t: string | null;
}

/** Rows around LONG_VALUE_LENGTH, at 1 MiB, and at max_allowed_packet / 2 ± 1 KiB (blob and text alone). */
function longRows(packet: number): LongRow[] {
  const half = packet / 2;
  return [
    { id: 1, b: bytes(100, 1), t: 'short é😀' },
    { id: 2, b: bytes(LONG_VALUE_LENGTH, 2), t: 'a'.repeat(LONG_VALUE_LENGTH) },
    { id: 3, b: bytes(LONG_VALUE_LENGTH + 1, 3), t: 'b'.repeat(LONG_VALUE_LENGTH + 1) },
    // 1,025 bytes but 513 characters: a text is long by its characters.
    { id: 4, b: bytes(1024 * 1024, 4), t: mixedText(LONG_VALUE_LENGTH + 1) },
    { id: 5, b: bytes(half - 1024, 5), t: mixedText(1024 * 1024) },
    { id: 6, b: bytes(half + 1024, 6), t: null },
    { id: 7, b: null, t: mixedText(half + 1024) },
    { id: 8, b: Buffer.alloc(0), t: '' },
    { id: 9, b: null, t: null },
  ];
}

async function insertMysql(m: MysqlTestDatabase, rows: LongRow[]): Promise<void> {
  // Prepared statements carry the bytes as they are (a client-side literal would double a blob's size).
  for (const r of rows) await m.admin.execute(`INSERT INTO lv (id, b, t, note) VALUES (?, ?, ?, ?)`, [r.id, r.b, r.t, `row ${r.id}`]);
}

async function insertPg(p: PgTestDatabase, rows: LongRow[]): Promise<void> {
  for (const r of rows) await p.admin.query(`INSERT INTO lv (id, b, t, note) VALUES ($1, $2, $3, $4)`, [r.id, r.b, r.t, `row ${r.id}`]);
}

const MYSQL_LV = `CREATE TABLE lv (id int PRIMARY KEY, b longblob, t longtext, note varchar(20))`;
const PG_LV = `CREATE TABLE lv (id integer PRIMARY KEY, b bytea, t text, note text)`;

describe('long values through the verify readers', () => {
  const { dbs } = suiteResources();
  const readers: VerifyReader[] = [];
  let source: MysqlTestDatabase;
  let packet: number;
  let rows: LongRow[];

  async function open(url: string, peer: 'postgres' | 'mysql'): Promise<VerifyReader> {
    const r = await engineForUrl(url).openVerifyReader(url, { peer, zeroDates: 'keep' });
    readers.push(r);
    return r;
  }

  beforeAll(async () => {
    source = await createMysqlDatabase(mysqlUrl, 'lv_my');
    dbs.push(source);
    // Nothing here is replicated: kept out of the binlog, which other suites' captures on this server read (the
    // row of both values below would be a binlog event of several times the packet limit).
    await source.admin.query(`SET SESSION sql_log_bin = 0`);
    packet = await packetLimit(source);
    rows = longRows(packet);
    await source.admin.query(MYSQL_LV);
    await insertMysql(source, rows);
    // A row with both at half the limit: longer than one packet, so no client could read it whole.
    const both = { id: 10, b: bytes(packet / 2 + 1024, 10), t: mixedText(packet / 2 + 1024) };
    await source.admin.execute(`INSERT INTO lv (id, b, note) VALUES (?, ?, 'row 10')`, [both.id, both.b]);
    await source.admin.execute(`UPDATE lv SET t = ? WHERE id = ?`, [both.t, both.id]);
    rows.push(both);
  }, 300_000);

  afterAll(async () => {
    await Promise.all(readers.map((r) => r.close()));
  });

  it('the test stands at the limit: MariaDB cannot build the hex of a blob just over max_allowed_packet / 2', async () => {
    const [hex] = await source.admin.query<mysql.RowDataPacket[]>({ sql: `SELECT id, LOWER(HEX(b)) IS NULL FROM lv WHERE id IN (5, 6) ORDER BY id`, rowsAsArray: true });
    expect(hex).toEqual([
      [5, 0],
      [6, 1],
    ]);
  });

  async function expectEqualAndChangeFound(active: VerifyReader, shadow: VerifyReader, spec: VerifyTable, change: (id: number, column: 'b' | 't', undo: boolean) => Promise<void>) {
    const keys: CanonicalKey[] = rows.map((r) => [String(r.id)]);
    const [a, s] = await Promise.all([active.canonicalRows(spec, keys), shadow.canonicalRows(spec, keys)]);
    for (const r of rows) {
      const id = JSON.stringify([String(r.id)]);
      expect(a.get(id)?.values, `row ${r.id}`).toEqual({ id: String(r.id), b: expectedText(r.b), t: expectedText(r.t), note: `row ${r.id}` });
      expect(s.get(id), `row ${r.id}`).toEqual(a.get(id));
    }
    const whole = await active.summarize(spec, {});
    expect(whole.rows).toBe(rows.length);
    expect(await shadow.summarize(spec, {})).toEqual(whole);
    expect(await shadow.rowHashes(spec, {})).toEqual(await active.rowHashes(spec, {}));

    // One byte changed in a long blob, one character in a long text: found, and named.
    for (const [id, column] of [
      [6, 'b'],
      [5, 'b'],
      [7, 't'],
      [10, 'b'],
    ] as const) {
      await change(id, column, false);
      try {
        expect(await shadow.summarize(spec, {}), `${column} of ${id}`).not.toEqual(await active.summarize(spec, {}));
        const [ha, hs] = await Promise.all([active.rowHashes(spec, {}), shadow.rowHashes(spec, {})]);
        expect(ha.filter((h, i) => hs[i]?.hash !== h.hash).map((h) => h.key)).toEqual([[String(id)]]);
        const [ra, rs] = await Promise.all([active.canonicalRows(spec, [[String(id)]]), shadow.canonicalRows(spec, [[String(id)]])]);
        const va = ra.get(JSON.stringify([String(id)]))?.values ?? {};
        const vs = rs.get(JSON.stringify([String(id)]))?.values ?? {};
        expect(Object.keys(va).filter((c) => va[c] !== vs[c])).toEqual([column]);
      } finally {
        await change(id, column, true);
      }
    }
    expect(await shadow.summarize(spec, {})).toEqual(await active.summarize(spec, {}));
  }

  /** Flips byte 4097 of b, or replaces character 101 of t (a letter of the pattern) with `#`, and back. */
  function mysqlChange(m: MysqlTestDatabase) {
    return async (id: number, column: 'b' | 't', undo: boolean) => {
      const r = rows.find((x) => x.id === id);
      if (column === 'b') {
        const original = r?.b?.[4096] ?? 0;
        await m.admin.execute(`UPDATE lv SET b = INSERT(b, 4097, 1, ?) WHERE id = ?`, [Buffer.from([undo ? original : original ^ 0xff]), id]);
      } else {
        await m.admin.execute(`UPDATE lv SET t = INSERT(t, 101, 1, ?) WHERE id = ?`, [undo ? ([...(r?.t ?? '')][100] ?? '') : '#', id]);
      }
    };
  }

  it('MariaDB ↔ PostgreSQL: equal values verify equal at max_allowed_packet / 2 ± 1 KiB and below; one changed byte is found', { timeout: 300_000 }, async () => {
    const shadow = await createPgDatabase(pgUrl, 'lv_pg');
    dbs.push(shadow);
    await shadow.admin.query(PG_LV);
    await insertPg(shadow, rows);
    const spec = await builtSpec(source.url, shadow.url, 'lv');
    expect(spec.plain).toEqual(['id', 'b']);
    // note too: PostgreSQL text has room for long values, although varchar(20) has not.
    expect(spec.digest).toEqual(['b', 't', 'note']);
    const [a, s] = await Promise.all([open(source.url, 'postgres'), open(shadow.url, 'mysql')]);
    await expectEqualAndChangeFound(a, s, spec, mysqlChange(source));
  });

  it('MariaDB ↔ MariaDB: the same', { timeout: 300_000 }, async () => {
    const shadow = await createMysqlDatabase(mysqlUrl, 'lv_my2');
    dbs.push(shadow);
    await shadow.admin.query(MYSQL_LV);
    await shadow.admin.query(`SET SESSION sql_log_bin = 0`);
    await shadow.admin.query(`INSERT INTO lv SELECT * FROM ${mysql.escapeId(source.name)}.lv`);
    const spec = await builtSpec(source.url, shadow.url, 'lv');
    expect(spec.digest).toEqual(['b', 't']);
    const [a, s] = await Promise.all([open(source.url, 'mysql'), open(shadow.url, 'mysql')]);
    await expectEqualAndChangeFound(a, s, spec, mysqlChange(source));
  });
});

describe('long values end to end (tandem verify)', () => {
  const { dbs, procs } = suiteResources();

  const start = (old: string, neu: string) => runUntilShadowing(procs, `lv${procs.length}`, old, neu, { verify: { chunkRows: 3 } });

  /** A MariaDB source and a shadow, each with an empty table lv, and the rows for this server's packet limit. */
  async function pair<S extends MysqlTestDatabase | PgTestDatabase>(shadowOf: () => Promise<S>, createLv: (shadow: S) => Promise<unknown>): Promise<{ source: MysqlTestDatabase; shadow: S; all: LongRow[] }> {
    const [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'lve_src'), shadowOf()]);
    dbs.push(source, shadow);
    await source.admin.query(MYSQL_LV);
    await createLv(shadow);
    return { source, shadow, all: longRows(await packetLimit(source)) };
  }

  it('MariaDB → PostgreSQL through tandem run: replicated blobs at max_allowed_packet / 2 ± 1 KiB verify clean; a changed byte is drift in b', { timeout: 600_000 }, async () => {
    const { source, shadow, all } = await pair(() => createPgDatabase(pgUrl, 'lve_dst'), (s) => s.admin.query(PG_LV));
    // Half by the backfill, half through the binlog.
    const [copied, streamed] = [all.filter((r) => r.id % 2 === 1), all.filter((r) => r.id % 2 === 0)];
    await insertMysql(source, copied);
    const config = await start(source.url, shadow.url);
    await insertMysql(source, streamed);
    await waitUntil('the streamed rows on the shadow', async () => (await shadow.admin.query(`SELECT count(*)::int AS n FROM lv`)).rows[0]?.n === all.length, 120_000);
    expect((await shadow.admin.query(`SELECT md5(b) AS h FROM lv WHERE id = 6`)).rows[0]?.h).toBe(md5(all.find((r) => r.id === 6)?.b ?? ''));

    const clean = await runVerify(config);
    expect(clean.report.driftCount, clean.stderr).toBe(0);
    expect(clean.code).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(all.length);

    // One byte of the blob just over half the limit, one character of the long text, on the shadow only.
    const original = all.find((r) => r.id === 6)?.b?.[4096] ?? 0;
    await shadow.admin.query(`UPDATE lv SET b = overlay(b placing $1 from 4097 for 1) WHERE id = 6`, [Buffer.from([original ^ 1])]);
    await shadow.admin.query(`UPDATE lv SET t = overlay(t placing '#' from 101 for 1) WHERE id = 7`);
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    expect([...(drifted.report.tables[0]?.drift ?? [])].sort((x, y) => Number(x.key.id) - Number(y.key.id))).toEqual([
      { key: { id: '6' }, kind: 'different', columns: ['b'] },
      { key: { id: '7' }, kind: 'different', columns: ['t'] },
    ]);
  });

  it('MariaDB → MariaDB: the same values loaded on both sides verify clean; a changed byte is drift in b', { timeout: 600_000 }, async () => {
    const { source, shadow, all } = await pair(() => createMysqlDatabase(mysqlUrl, 'lve_dst'), (s) => s.admin.query(MYSQL_LV));
    const config = await start(source.url, shadow.url);
    // Loaded on both sides, past the stream (sql_log_bin = 0): the shadow's apply path cannot write such a blob.
    await source.admin.query(`SET SESSION sql_log_bin = 0`);
    await insertMysql(source, all);
    await source.admin.query(`SET SESSION sql_log_bin = 1`);
    await shadow.admin.query(`SET SESSION sql_log_bin = 0`);
    await shadow.admin.query(`INSERT INTO lv SELECT * FROM ${mysql.escapeId(source.name)}.lv`);
    await shadow.admin.query(`SET SESSION sql_log_bin = 1`);

    const clean = await runVerify(config);
    expect(clean.report.driftCount, clean.stderr).toBe(0);
    expect(clean.code).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(all.length);

    const original = all.find((r) => r.id === 6)?.b?.[4096] ?? 0;
    await shadow.admin.execute(`UPDATE lv SET b = INSERT(b, 4097, 1, ?) WHERE id = 6`, [Buffer.from([original ^ 1])]);
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    expect(drifted.report.tables[0]?.drift).toEqual([{ key: { id: '6' }, kind: 'different', columns: ['b'] }]);
  });
});
