import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createPgDatabase, type PgTestDatabase } from '../harness/db.js';
import { suiteResources } from '../harness/tandem-process.js';
import { builtSpec } from '../harness/verify.js';
import { pgRows } from '../harness/compare.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { PhysicalScan, VerifyReader, VerifyTable } from '../../src/engines/engine.js';
import { scanTable } from '../../src/verify/compare.js';
import { RowRateLimiter } from '../../src/verify/rate-limit.js';

/**
 * An unthrottled pass between two PostgreSQL databases first sums each side in the order it is stored (TID range
 * scans, no index): a table in sync is settled by those sums alone, even when the two sides store their rows in
 * different orders. Drift, and rows an update moves while a side is read, make the table be walked by key, which
 * names exactly the differing rows; a table seen being written stops the sequential reading early.
 */
const ROWS = 20_000;
const DDL = `CREATE TABLE items (id bigint PRIMARY KEY, label text NOT NULL, amount numeric(12,2), qty integer)`;
const rows = (order: string) => `INSERT INTO items SELECT g, 'item ' || g, g * 1.25, g % 17 FROM generate_series(1, ${ROWS}) g ORDER BY ${order}`;

describe('verification reads each side in the order it is stored when it may', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, cleanups } = suiteResources();

  /** A source and a shadow with the same rows, the shadow's stored in another order. */
  async function pair(prefix: string): Promise<{ source: PgTestDatabase; shadow: PgTestDatabase; spec: VerifyTable }> {
    const source = await createPgDatabase(pgUrl, `${prefix}_src`);
    const shadow = await createPgDatabase(pgUrl, `${prefix}_dst`);
    dbs.push(source, shadow);
    await source.admin.query(DDL);
    await shadow.admin.query(DDL);
    await source.admin.query(rows('g'));
    await shadow.admin.query(rows('md5(g::text)'));
    // Planner statistics (the block and row estimates) and visibility, as a table in use has them.
    await source.admin.query('VACUUM ANALYZE items');
    await shadow.admin.query('VACUUM ANALYZE items');
    return { source, shadow, spec: await builtSpec(source.url, shadow.url, 'items') };
  }

  /** Real readers, with the calls of each path counted; `onSums` runs before each physical read on that side. */
  async function counted(url: string, onSums?: (call: number) => Promise<void>) {
    const reader: VerifyReader = await engineForUrl(url).openVerifyReader(url, { peer: 'postgres', zeroDates: 'keep' });
    cleanups.push(() => reader.close());
    const calls = { sums: 0, keyWalk: 0 };
    const physical = reader.physical as PhysicalScan;
    expect(physical).toBeDefined();
    const sums = physical.sums.bind(physical);
    Object.defineProperty(reader, 'physical', {
      value: {
        ...physical,
        sums: async (t: VerifyTable, blocks: { from: number; to?: number }) => {
          await onSums?.(calls.sums);
          calls.sums++;
          return sums(t, blocks);
        },
      } satisfies PhysicalScan,
    });
    const keyAfter = reader.keyAfter.bind(reader);
    reader.keyAfter = (t, after, n) => (calls.keyWalk++, keyAfter(t, after, n));
    return { reader, calls };
  }

  /** Chunks of 1,000 rows, doubling each step (no time limit). */
  const scan = (a: VerifyReader, s: VerifyReader, spec: VerifyTable, limiter = new RowRateLimiter(0)) => scanTable(a, s, spec, { chunkRows: 1000, limiter, targetChunkMs: 600_000 });

  it('a table in sync is settled by one sequential read of each side, though the sides store their rows in different orders', { timeout: 120_000 }, async () => {
    const { source, shadow, spec } = await pair('seqsync');
    const a = await counted(source.url);
    const s = await counted(shadow.url);
    const result = await scan(a.reader, s.reader, spec);
    expect(result).toMatchObject({ rowsCompared: ROWS, suspects: [], complete: true });
    expect(a.calls.keyWalk + s.calls.keyWalk).toBe(0);
    // Several block ranges a side, growing, the last one open.
    expect(a.calls.sums).toBeGreaterThan(2);
    expect(s.calls.sums).toBeGreaterThan(2);

    // A throttled pass never reads that way: it walks by key, chunk by chunk on both sides at once.
    const throttled = await scan(a.reader, s.reader, spec, new RowRateLimiter(1_000_000));
    expect(throttled).toMatchObject({ rowsCompared: ROWS, suspects: [], complete: true });
    expect(a.calls.keyWalk).toBeGreaterThan(0);
  });

  it('drift makes the sums differ: the table is walked by key and exactly the differing rows are named', { timeout: 120_000 }, async () => {
    const { source, shadow, spec } = await pair('seqdrift');
    await shadow.admin.query(`UPDATE items SET label = 'changed' WHERE id = 7`);
    await shadow.admin.query(`DELETE FROM items WHERE id = 12345`);
    await shadow.admin.query(`INSERT INTO items VALUES (-3, 'ghost', 0, 0)`);
    await shadow.admin.query(`UPDATE items SET amount = amount + 0.01 WHERE id = ${ROWS}`);
    const a = await counted(source.url);
    const s = await counted(shadow.url);
    const result = await scan(a.reader, s.reader, spec);
    expect(result.complete).toBe(true);
    expect(result.rowsCompared).toBe(ROWS + 1);
    expect(result.suspects.map((k) => Number(k[0])).sort((x, y) => x - y)).toEqual([-3, 7, 12345, ROWS]);
    expect(a.calls.keyWalk).toBeGreaterThan(0);
  });

  it('rows an update moves while a side is read are summed twice there: the table is walked, and only real drift is named', { timeout: 120_000 }, async () => {
    const { source, shadow, spec } = await pair('seqmove');
    await shadow.admin.query(`UPDATE items SET qty = qty + 1 WHERE id = 9000`);
    // After the active side's first block range, rows 1..50 (in its first blocks) get new versions at its end:
    // values unchanged, but read again there.
    const a = await counted(source.url, async (call) => {
      if (call === 1) await source.admin.query(`UPDATE items SET qty = qty WHERE id <= 50`);
    });
    const s = await counted(shadow.url);
    const result = await scan(a.reader, s.reader, spec);
    expect(result).toMatchObject({ rowsCompared: ROWS, suspects: [['9000']], complete: true });
    expect(a.calls.keyWalk).toBeGreaterThan(0);
    // The premise: the new versions went to the table's last blocks, read after the update.
    const [placed] = await pgRows(source.admin, `SELECT bool_and((ctid::text::point)[0] >= (SELECT max((ctid::text::point)[0]) FROM items) - 1) FROM items WHERE id <= 50`);
    expect(placed).toEqual(['t']);
  });

  it('a table seen being written while it is read stops the sequential reading early, and is walked', { timeout: 120_000 }, async () => {
    const { source, shadow, spec } = await pair('seqbusy');
    const writes = async () => (await (a.reader.physical as PhysicalScan).writes(spec)) ?? '';
    const a = await counted(source.url, async (call) => {
      if (call !== 1) return;
      // A write from a session that then ends, which publishes its statistics: wait until they show it.
      const before = await writes();
      const writer = new pg.Client({ connectionString: source.url });
      await writer.connect();
      await writer.query(`UPDATE items SET qty = qty + 1 WHERE id = 15000`);
      await writer.end();
      const deadline = Date.now() + 10_000;
      while ((await writes()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await writes()).not.toBe(before);
    });
    const s = await counted(shadow.url);
    const result = await scan(a.reader, s.reader, spec);
    // Two block ranges read on the active side (the write showed after the second), where reading all of it takes more.
    expect(a.calls.sums).toBe(2);
    expect(result).toMatchObject({ rowsCompared: ROWS, suspects: [['15000']], complete: true });
    expect(a.calls.keyWalk).toBeGreaterThan(0);
  });
});
