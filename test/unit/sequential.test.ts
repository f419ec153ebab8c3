import { describe, expect, it } from 'vitest';
import type { ChunkSummary, PhysicalScan, VerifyTable } from '../../src/engines/engine.js';
import { sequentialPass } from '../../src/verify/sequential.js';
import { RowRateLimiter } from '../../src/verify/rate-limit.js';

/**
 * The sequential pass's bookkeeping over block ranges, on tables held in memory (the SQL side is in
 * test/integration/verify-sequential.test.ts): the sums of every range add up to the table's, the last range is open,
 * and a table written while it is read, or an interrupted pass, never counts as agreeing.
 */
const table: VerifyTable = { name: 't', key: ['id'], columns: ['id'] };

/** A table of blocks of row hashes; `extentBlocks` is the size its extent reports (less: the table grew since). */
function storedTable(blocks: number[][], opts: { extentBlocks?: number; onRead?: (from: number) => void } = {}) {
  const reads: Array<{ from: number; to?: number }> = [];
  const state = { writes: 0 };
  const scan: PhysicalScan = {
    extent: async () => ({ blocks: opts.extentBlocks ?? blocks.length, rows: blocks.flat().length }),
    sums: async (_t, range): Promise<ChunkSummary> => {
      reads.push(range);
      opts.onRead?.(range.from);
      const rows = blocks.slice(range.from, range.to ?? blocks.length).flat();
      return { rows: rows.length, hash: String(rows.reduce((a, b) => a + BigInt(b), 0n)) };
    },
    writes: async () => String(state.writes),
  };
  return { scan, reads, state };
}

const opts = (signal?: AbortSignal) => ({ chunkRows: 2, targetChunkMs: 60_000, limiter: new RowRateLimiter(0), ...(signal ? { signal } : {}) });

describe('sequential pass', () => {
  it('the same rows stored in other blocks, in other numbers of blocks, agree; the ranges cover every block once', async () => {
    const active = storedTable([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]);
    const shadow = storedTable([[10, 9, 8], [7], [6, 5, 4, 3, 2, 1]]);
    expect(await sequentialPass(active.scan, shadow.scan, table, opts())).toMatchObject({ outcome: 'agreed', rows: 10 });
    // Two rows a block: one block first, then doubling; the last range is open.
    expect(active.reads).toEqual([{ from: 0, to: 1 }, { from: 1, to: 3 }, { from: 3 }]);
  });

  it('a changed row, a missing row, or a row summed twice is a difference', async () => {
    const base = [[1, 2], [3, 4]];
    for (const other of [[[1, 2], [3, 5]], [[1, 2], [3]], [[1, 2], [3, 4], [4]]]) {
      expect(await sequentialPass(storedTable(base).scan, storedTable(other).scan, table, opts())).toMatchObject({ outcome: 'differ' });
    }
  });

  it('blocks the table grew by after its size was read are read too', async () => {
    // The extent said 4 blocks; two more arrived before the pass got to the end.
    const active = storedTable([[1], [2], [3], [4], [5], [6]], { extentBlocks: 4 });
    const shadow = storedTable([[6, 5, 4, 3, 2, 1]]);
    expect(await sequentialPass(active.scan, shadow.scan, table, opts())).toMatchObject({ outcome: 'agreed', rows: 6 });
    expect(active.reads).toEqual([{ from: 0, to: 2 }, { from: 2 }]);
  });

  it('a side seen written stops both sides at their next range, and the table is left to the walk', async () => {
    const blocks = Array.from({ length: 64 }, (_, i) => [i]);
    const active = storedTable(blocks);
    const shadow = storedTable(blocks, { onRead: () => shadow.state.writes++ });
    expect(await sequentialPass(active.scan, shadow.scan, table, opts())).toMatchObject({ outcome: 'differ' });
    expect(shadow.reads).toHaveLength(1);
    expect(active.reads.length).toBeLessThanOrEqual(2);
  });

  it('an interrupted pass concludes nothing', async () => {
    const controller = new AbortController();
    const active = storedTable([[1], [2], [3]], { onRead: () => controller.abort() });
    const shadow = storedTable([[1], [2], [3]]);
    expect(await sequentialPass(active.scan, shadow.scan, table, opts(controller.signal))).toMatchObject({ outcome: 'interrupted' });
  });

  it('is not offered when either reader cannot read its table as stored', async () => {
    expect(await sequentialPass(undefined, storedTable([[1]]).scan, table, opts())).toBeUndefined();
    expect(await sequentialPass(storedTable([[1]]).scan, undefined, table, opts())).toBeUndefined();
  });
});
