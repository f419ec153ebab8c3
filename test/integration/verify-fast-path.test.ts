import { describe, expect, inject, it } from 'vitest';
import { bypassFence, createMysqlDatabase, createPgDatabase, type PgTestDatabase } from '../harness/db.js';
import { suiteResources, runUntilShadowing } from '../harness/tandem-process.js';
import { builtSpec, runVerify, type VerifyReport } from '../harness/verify.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { VerifyReader, VerifyTable } from '../../src/engines/engine.js';
import { scanTable } from '../../src/verify/compare.js';
import { RowRateLimiter } from '../../src/verify/rate-limit.js';
import { recheck, type PositionOracle } from '../../src/verify/recheck.js';

/**
 * Verification's cheap paths find every drift the canonical path finds. A PostgreSQL pair whose columns have the
 * same declared types is compared by a fast hash of each row's own text; a pair whose types differ (numeric(10,2)
 * against numeric(12,4), integer against bigint, varchar against text) goes through canonical text column by
 * column. PostgreSQL → MariaDB is compared by the md5 of each chunk's rows in key order, timestamps as microseconds
 * and decimals of one declared scale as their own text, everything else as its canonical text. On each, drift planted in the shadow behind Tandem's back is reported with
 * the right keys and kinds: a changed value, a missing row, an extra row, and differences a weak canonicalisation
 * would hide (a trailing space, NULL against an empty string, a microsecond, a digit at the fourth decimal place);
 * values that are equal in canonical form but stored differently (1.5 and 1.50 in an unconstrained numeric, JSON 1
 * and 1.0) are not drift; and equal data reports none.
 */

const sortDrift = (d: VerifyReport['tables'][number]['drift']) => [...d].sort((a, b) => Number(a.key.id) - Number(b.key.id));

/**
 * Rows 1..ROWS with every kind of value the planted drift touches. The plants are 100 rows apart and chunks are at
 * most 50 rows (verify.chunkRows 5), so each plant is alone in its chunk: a chunk's row count cannot give one away
 * for another, and each must be seen by the chunk's hash.
 */
const ROWS = 3000;
const seed = `INSERT INTO items SELECT g, round(g * 1.25, 2), 'label ' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END,
  timestamptz '2024-03-01 12:00:00.5+00' + g * interval '1.000001 second', g % 11 FROM generate_series(1, ${ROWS}) g`;

const SETTINGS = { api: { listen: '127.0.0.1:0' }, verify: { chunkRows: 5 } };

/** The drift every scenario plants on the shadow (columns spelled per engine), and what must be reported. */
const expected = [
  { key: { id: '100' }, kind: 'different', columns: ['label'] },
  { key: { id: '200' }, kind: 'missing', columns: [] },
  { key: { id: '300' }, kind: 'different', columns: ['note'] },
  { key: { id: '400' }, kind: 'different', columns: ['label'] },
  { key: { id: '600' }, kind: 'different', columns: ['amount'] },
  { key: { id: '800' }, kind: 'different', columns: ['at'] },
  { key: { id: '900' }, kind: 'different', columns: ['qty'] },
  { key: { id: '99999' }, kind: 'extra', columns: [] },
];

/** Source values the plants need: a NULL note at 300, 1.5 at 500 and 600. */
async function prepareSource(source: PgTestDatabase): Promise<void> {
  await source.admin.query(`UPDATE items SET note = NULL WHERE id = 300`);
  await source.admin.query(`UPDATE items SET amount = 1.5 WHERE id IN (500, 600)`);
}

describe('fast and fallback verification paths report exactly the planted drift', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs, cleanups } = suiteResources();

  async function pgPair(prefix: string, sourceDdl: string, shadowDdl: string, extraSource: string[] = []): Promise<{ source: PgTestDatabase; shadow: PgTestDatabase; config: string }> {
    const source = await createPgDatabase(pgUrl, `${prefix}_src`);
    dbs.push(source);
    await source.admin.query(sourceDdl);
    await source.admin.query(seed);
    await prepareSource(source);
    for (const sql of extraSource) await source.admin.query(sql);
    const shadow = await createPgDatabase(pgUrl, `${prefix}_dst`);
    dbs.push(shadow);
    await bypassFence(shadow.admin);
    await shadow.admin.query(shadowDdl);
    const config = await runUntilShadowing(procs, `${prefix}${procs.length}`, source.url, shadow.url, SETTINGS);
    return { source, shadow, config };
  }

  async function readers(activeUrl: string, shadowUrl: string): Promise<[VerifyReader, VerifyReader]> {
    const a = await engineForUrl(activeUrl).openVerifyReader(activeUrl, { peer: engineForUrl(shadowUrl).kind, zeroDates: 'keep' });
    const s = await engineForUrl(shadowUrl).openVerifyReader(shadowUrl, { peer: engineForUrl(activeUrl).kind, zeroDates: 'keep' });
    cleanups.push(() => a.close(), () => s.close());
    return [a, s];
  }

  /** Plants the drift on a PostgreSQL shadow; `amount600` is the shadow's differing value for row 600. */
  async function plantPg(shadow: PgTestDatabase, amount500: string, amount600: string): Promise<void> {
    await shadow.admin.query(`UPDATE items SET label = 'changed' WHERE id = 100`);
    await shadow.admin.query(`DELETE FROM items WHERE id = 200`);
    await shadow.admin.query(`UPDATE items SET note = '' WHERE id = 300`);
    await shadow.admin.query(`UPDATE items SET label = label || ' ' WHERE id = 400`);
    await shadow.admin.query(`UPDATE items SET amount = ${amount500} WHERE id = 500`);
    await shadow.admin.query(`UPDATE items SET amount = ${amount600} WHERE id = 600`);
    await shadow.admin.query(`UPDATE items SET at = at + interval '1 microsecond' WHERE id = 800`);
    await shadow.admin.query(`UPDATE items SET qty = qty + 1 WHERE id = 900`);
    await shadow.admin.query(`INSERT INTO items (id, amount, label, note, at, qty) VALUES (99999, 1, 'ghost', NULL, now(), 0)`);
  }

  /** The shadow holds whatever was written to it directly: a re-check never waits. */
  const settled: PositionOracle = { activePosition: async () => '0', appliedPosition: async () => '0', compare: () => 0 };
  const planted = ['1', '100', '200', '300', '400', '500', '600', '700', '800', '900', '99999'].map((id) => [id]);

  /**
   * Re-checking the planted keys (as continuous verification re-checks applied rows) with the real readers: the
   * first round compares one fast hash per row, and only rows whose hashes differ are read canonically. The drift
   * is exactly the planted drift; rows equal in canonical form but stored differently are resolved after the
   * canonical read.
   */
  async function expectRecheck(a: VerifyReader, s: VerifyReader, spec: VerifyTable, resolvedByHash: string[], resolvedCanonically: string[]): Promise<void> {
    const canonicalKeys: string[] = [];
    const canonicalRows = a.canonicalRows.bind(a);
    a.canonicalRows = (t, keys) => (canonicalKeys.push(...keys.map((k) => k[0] as string)), canonicalRows(t, keys));
    const before = await a.rowFastHashes(spec, planted);
    const after = await s.rowFastHashes(spec, planted);
    expect(before?.size).toBe(planted.length - 1); // 99999 is on the shadow only
    expect(after?.size).toBe(planted.length - 1); // 200 is on the active side only
    const result = await recheck(a, s, spec, planted, settled, { settleMs: 1_000 });
    a.canonicalRows = canonicalRows;
    expect(result.resolved.map((k) => k[0])).toEqual([...resolvedByHash, ...resolvedCanonically]);
    expect(result.drift.map((f) => ({ key: { id: f.key[0] }, kind: f.kind, columns: f.columns })).sort((x, y) => Number(x.key.id) - Number(y.key.id))).toEqual(expected);
    // Rows settled by their hashes were never read canonically; every other key was.
    expect(new Set(canonicalKeys)).toEqual(new Set(planted.map((k) => k[0] as string).filter((id) => !resolvedByHash.includes(id))));
  }

  /** `tandem verify` of the table as seeded: exit 0, no drift, every row compared. */
  async function expectClean(config: string): Promise<void> {
    const clean = await runVerify(config);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.report.driftCount).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(ROWS);
  }

  async function expectDrift(config: string): Promise<void> {
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    const table = drifted.report.tables.find((t) => t.table === 'items');
    expect(sortDrift(table?.drift ?? [])).toEqual(expected);
    expect(drifted.report.driftCount).toBe(expected.length);
  }

  it('PostgreSQL → PostgreSQL, the same types: the fast hash agrees on equal data, and the drift is reported exactly', { timeout: 300_000 }, async () => {
    const ddl = `CREATE TABLE items (id bigint PRIMARY KEY, amount numeric, label text NOT NULL, note text, at timestamptz NOT NULL, qty integer, doc jsonb)`;
    const { source, shadow, config } = await pgPair('fast', ddl, ddl, [`UPDATE items SET doc = '{"a": 1}' WHERE id = 700`]);
    await expectClean(config);

    // The fast path is the one taken: both readers offer the same fast hash, and it agrees on the whole table.
    const [a, s] = await readers(source.url, shadow.url);
    const spec = await builtSpec(source.url, shadow.url, 'items');
    expect(spec.sameType).toEqual(['id', 'amount', 'label', 'note', 'at', 'qty', 'doc']);
    expect(a.fastHash).toBeDefined();
    expect(s.fastHash).toBe(a.fastHash);
    expect(await s.fastSummary(spec, {})).toEqual(await a.fastSummary(spec, {}));

    // JSON written differently but equal in canonical form is not drift either (the fast hash differs; the
    // canonical summary does not).
    await shadow.admin.query(`UPDATE items SET doc = '{"a": 1.0}' WHERE id = 700`);
    await plantPg(shadow, '1.50', '1.51');
    expect((await s.fastSummary(spec, {})).hash).not.toBe((await a.fastSummary(spec, {})).hash);
    await expectDrift(config);
    // 1.5 against 1.50 and JSON 1 against 1.0: hashes differ, canonical text does not.
    await expectRecheck(a, s, spec, ['1'], ['500', '700']);
  });

  /**
   * Dates and timestamps of the same declared type go into the fast hash in their binary form, not as text. Equal
   * values (infinities included) agree; a millisecond, a day or a second
   * of difference is drift, in a plain column, a domain over timestamptz and an array of timestamps (which keeps
   * its text form).
   */
  it('PostgreSQL → PostgreSQL, dates and timestamps in binary form: equal values agree and every planted difference is drift', { timeout: 300_000 }, async () => {
    const ddl = `CREATE DOMAIN due_at AS timestamptz CHECK (VALUE > '2000-01-01');
      CREATE TABLE items (id bigint PRIMARY KEY, amount numeric, label text NOT NULL, note text, at timestamptz(0) NOT NULL, qty integer,
        local timestamp(3), day date, stamps timestamptz[], due due_at)`;
    const fill = [
      `UPDATE items SET local = at::timestamp(3) + interval '0.123 second', day = at::date, stamps = ARRAY[at, at + interval '1 day'], due = at + interval '7 days'`,
      `UPDATE items SET local = 'infinity', day = '-infinity' WHERE id = 500`,
    ];
    const { source, shadow, config } = await pgPair('fasttime', ddl, ddl, fill);
    await expectClean(config);

    const [a, s] = await readers(source.url, shadow.url);
    const spec = await builtSpec(source.url, shadow.url, 'items');
    expect(spec.sameType).toEqual(['id', 'amount', 'label', 'note', 'at', 'qty', 'local', 'day', 'stamps', 'due']);
    expect(a.fastHash).toBe(s.fastHash);
    expect(await s.fastSummary(spec, {})).toEqual(await a.fastSummary(spec, {}));

    await shadow.admin.query(`UPDATE items SET local = local + interval '1 millisecond' WHERE id = 100`);
    await shadow.admin.query(`UPDATE items SET day = day + 1 WHERE id = 200`);
    await shadow.admin.query(`UPDATE items SET stamps[2] = stamps[2] + interval '1 second' WHERE id = 300`);
    await shadow.admin.query(`UPDATE items SET due = due + interval '1 second' WHERE id = 400`);
    await shadow.admin.query(`UPDATE items SET at = at + interval '1 second' WHERE id = 600`);
    expect((await s.fastSummary(spec, {})).hash).not.toBe((await a.fastSummary(spec, {})).hash);
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    expect(sortDrift(drifted.report.tables[0]?.drift ?? [])).toEqual([
      { key: { id: '100' }, kind: 'different', columns: ['local'] },
      { key: { id: '200' }, kind: 'different', columns: ['day'] },
      { key: { id: '300' }, kind: 'different', columns: ['stamps'] },
      { key: { id: '400' }, kind: 'different', columns: ['due'] },
      { key: { id: '600' }, kind: 'different', columns: ['at'] },
    ]);
  });

  it('PostgreSQL → PostgreSQL, types that differ (numeric scale, integer widths, varchar/text): canonical text column by column', { timeout: 300_000 }, async () => {
    const { source, shadow, config } = await pgPair(
      'fallback',
      `CREATE TABLE items (id integer PRIMARY KEY, amount numeric(10,2), label varchar(40) NOT NULL, note text, at timestamptz NOT NULL, qty smallint)`,
      `CREATE TABLE items (id bigint PRIMARY KEY, amount numeric(12,4), label text NOT NULL, note varchar(100), at timestamptz NOT NULL, qty integer)`,
    );
    await expectClean(config);
    const spec = await builtSpec(source.url, shadow.url, 'items');
    expect(spec.sameType).toEqual(['at']);
    // 1.5 stored as 1.5000 is equal; a difference in the fourth decimal place, which only the shadow can hold, is not.
    await plantPg(shadow, '1.5000', '1.5001');
    await expectDrift(config);
    // Columns of unlike types are hashed as their canonical text: 1.5 and 1.5000 hash alike.
    const [a, s] = await readers(source.url, shadow.url);
    await expectRecheck(a, s, spec, ['1', '500', '700'], []);
  });

  /**
   * PostgreSQL → MariaDB: the cross-engine fast summary (md5 of the rows' texts in key order) is the one taken, with
   * the timestamp as microseconds and, where both sides declare the same scale, the decimal as its own text.
   */
  async function mariadbScenario(prefix: string, pgAmount: string, myAmount: string, sameScale: string[]): Promise<void> {
    const source = await createPgDatabase(pgUrl, `${prefix}_src`);
    dbs.push(source);
    await source.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, amount ${pgAmount}, label text NOT NULL, note text, at timestamptz NOT NULL, qty integer)`);
    await source.admin.query(seed);
    await prepareSource(source);
    const shadow = await createMysqlDatabase(mysqlUrl, `${prefix}_dst`);
    dbs.push(shadow);
    await shadow.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, amount ${myAmount}, label longtext NOT NULL, note longtext, at datetime(6) NOT NULL, qty int)`);
    const config = await runUntilShadowing(procs, `${prefix}${procs.length}`, source.url, shadow.url, SETTINGS);
    const [a, s] = await readers(source.url, shadow.url);
    const spec = await builtSpec(source.url, shadow.url, 'items');
    expect(spec.timestampMicros).toEqual(['at']);
    expect(spec.sameScale).toEqual(sameScale);
    expect(a.fastHash).toBeDefined();
    expect(s.fastHash).toBe(a.fastHash);
    expect(await s.fastSummary(spec, {})).toMatchObject({ rows: ROWS, hash: (await a.fastSummary(spec, {})).hash });
    await expectClean(config);

    await shadow.admin.query(`UPDATE items SET label = 'changed' WHERE id = 100`);
    await shadow.admin.query(`DELETE FROM items WHERE id = 200`);
    await shadow.admin.query(`UPDATE items SET note = '' WHERE id = 300`);
    await shadow.admin.query(`UPDATE items SET label = CONCAT(label, ' ') WHERE id = 400`);
    await shadow.admin.query(`UPDATE items SET amount = 1.5000 WHERE id = 500`);
    await shadow.admin.query(`UPDATE items SET amount = 1.5001 WHERE id = 600`);
    await shadow.admin.query(`UPDATE items SET at = at + INTERVAL 1 MICROSECOND WHERE id = 800`);
    await shadow.admin.query(`UPDATE items SET qty = qty + 1 WHERE id = 900`);
    await shadow.admin.query(`INSERT INTO items (id, amount, label, note, at, qty) VALUES (99999, 1, 'ghost', NULL, UTC_TIMESTAMP(6), 0)`);
    expect((await s.fastSummary(spec, {})).hash).not.toBe((await a.fastSummary(spec, {})).hash);
    await expectDrift(config);
    // 1.5 against 1.5000 is equal in the hashed texts too (canonical text, or one scale's own text); 700 is not planted here.
    await expectRecheck(a, s, spec, ['1', '500', '700'], []);

    // JSON across engines is compared outside the hashes (jsonRows): a re-check reads such a table canonically.
    await source.admin.query(`CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb)`);
    await shadow.admin.query(`CREATE TABLE docs (id bigint PRIMARY KEY, doc json)`);
    const docs = await builtSpec(source.url, shadow.url, 'docs');
    expect(await a.rowFastHashes(docs, [['1']])).toBeUndefined();
    expect(await s.rowFastHashes(docs, [['1']])).toBeUndefined();
  }

  it('PostgreSQL → MariaDB, decimals of different scales: the same drift across engines', { timeout: 300_000 }, async () => {
    await mariadbScenario('fastmy', 'numeric(10,2)', 'decimal(12,4)', []);
  });

  it('PostgreSQL → MariaDB, decimals of the same scale (compared as their own text in the fast summary): the same drift', { timeout: 300_000 }, async () => {
    await mariadbScenario('fastmyscale', 'numeric(12,4)', 'decimal(12,4)', ['amount']);
  });

  /** Counts each reader's fast and canonical summaries (the readers themselves are real). */
  function counted(r: VerifyReader): { reader: VerifyReader; fast: () => number; canonical: () => number } {
    let fast = 0;
    let canonical = 0;
    const fastSummary = r.fastSummary.bind(r);
    const summarize = r.summarize.bind(r);
    r.fastSummary = (t, range) => (fast++, fastSummary(t, range));
    r.summarize = (t, range) => (canonical++, summarize(t, range));
    return { reader: r, fast: () => fast, canonical: () => canonical };
  }

  /** Chunks double every step (no time limit), up to ten times the configured size. */
  const scan = (a: VerifyReader, s: VerifyReader, spec: VerifyTable, chunkRows: number) => scanTable(a, s, spec, { chunkRows, limiter: new RowRateLimiter(0), targetChunkMs: 600_000 });

  it('PostgreSQL → MariaDB, rows of a kilobyte: chunks stay under max_allowed_packet, so every chunk is settled by its fast summary', { timeout: 300_000 }, async () => {
    const source = await createPgDatabase(pgUrl, 'fastpk_src');
    dbs.push(source);
    const shadow = await createMysqlDatabase(mysqlUrl, 'fastpk_dst');
    dbs.push(shadow);
    await source.admin.query(`CREATE TABLE wide (id integer PRIMARY KEY, body text NOT NULL)`);
    await source.admin.query(`INSERT INTO wide SELECT g, repeat(md5(g::text), 31) FROM generate_series(1, 40000) g`);
    await shadow.admin.query(`CREATE TABLE wide (id int PRIMARY KEY, body longtext NOT NULL)`);
    await shadow.admin.query(`INSERT INTO wide SELECT seq, REPEAT(MD5(seq), 31) FROM seq_1_to_40000`);
    const [packet] = await shadow.admin.query<import('mysql2').RowDataPacket[]>(`SELECT @@max_allowed_packet AS v`);
    // The table is larger than one packet, and a chunk of twice the configured 10,000 rows would be too.
    expect(Number(packet[0]?.v)).toBeLessThan(20_000 * 992);
    const [pa, ms] = await readers(source.url, shadow.url);
    const a = counted(pa);
    const s = counted(ms);
    const spec = await builtSpec(source.url, shadow.url, 'wide');
    const clean = await scan(a.reader, s.reader, spec, 10_000);
    expect(clean).toMatchObject({ rowsCompared: 40_000, suspects: [], complete: true });
    expect([a.canonical(), s.canonical()]).toEqual([0, 0]);
    expect(a.fast()).toBe(clean.chunks);
    expect(clean.chunks).toBeGreaterThan(4);

    await shadow.admin.query(`UPDATE wide SET body = CONCAT(body, ' ') WHERE id = 31234`);
    expect((await scan(a.reader, s.reader, spec, 10_000)).suspects).toEqual([['31234']]);
  });

  it('PostgreSQL → MariaDB, fast forms that keep disagreeing on equal rows: the table goes on canonically after two chunks, and drift is still found', { timeout: 300_000 }, async () => {
    const source = await createPgDatabase(pgUrl, 'fastoff_src');
    dbs.push(source);
    const shadow = await createMysqlDatabase(mysqlUrl, 'fastoff_dst');
    dbs.push(shadow);
    await source.admin.query(`CREATE TABLE amounts (id integer PRIMARY KEY, amount numeric(12,2))`);
    await source.admin.query(`INSERT INTO amounts SELECT g, g * 1.25 FROM generate_series(1, 3000) g`);
    await shadow.admin.query(`CREATE TABLE amounts (id int PRIMARY KEY, amount decimal(12,4))`);
    await shadow.admin.query(`INSERT INTO amounts SELECT seq, seq * 1.25 FROM seq_1_to_3000`);
    const [pa, ms] = await readers(source.url, shadow.url);
    const a = counted(pa);
    const s = counted(ms);
    // A spec that wrongly claims one scale: 1.25 is 1.25 on one side and 1.2500 on the other.
    const spec: VerifyTable = { ...(await builtSpec(source.url, shadow.url, 'amounts')), sameScale: ['amount'] };
    const clean = await scan(a.reader, s.reader, spec, 100);
    expect(clean).toMatchObject({ rowsCompared: 3000, suspects: [], complete: true });
    // Two misses, and the chunk after the second, whose fast summaries had started already (one chunk ahead).
    expect(a.fast()).toBeLessThanOrEqual(3);
    expect(clean.chunks).toBeGreaterThan(6);
    expect(a.canonical()).toBe(clean.chunks);

    await shadow.admin.query(`UPDATE amounts SET amount = amount + 0.0001 WHERE id IN (7, 2999)`);
    expect((await scan(a.reader, s.reader, spec, 100)).suspects).toEqual([['7'], ['2999']]);
  });
});
