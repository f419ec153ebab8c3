/**
 * The first step of an unthrottled pass between two readers whose fast summary is a sum of row hashes
 * (VerifyReader.physical): each side reads the whole table in the order it is stored — no index, no sort — and sums
 * its row hashes; equal sums (and counts) on both sides mean the table is in sync, at the cost of one sequential
 * scan of each side. Anything else — sums that differ, or a table seen changing while it was read — leaves the
 * table to the walk by key (compare.ts), which names the differing rows.
 *
 * A sum adds up whatever order each side read its rows in. A row an update moves while a side is read may be
 * summed twice or not at all: the sums then differ and the table is walked, so such a row can cost time, never hide
 * drift. Sums by key bucket would let a walk cover only the buckets that differ, but grouping the rows cost about as
 * much as the walk itself (bench/README.md, 2026-12-02); a table written during the pass is given up on as soon as
 * that shows instead.
 */
import type { PhysicalScan, VerifyTable } from '../engines/engine.js';
import type { RowRateLimiter } from './rate-limit.js';

export interface SequentialOptions {
  /** First chunk, in rows (converted to blocks); chunks then adapt so each query takes about `targetChunkMs`. */
  chunkRows: number;
  targetChunkMs: number;
  /** Charged with the active side's rows as they are read (a counting limiter draws progress). */
  limiter: RowRateLimiter;
  signal?: AbortSignal;
}

/**
 * `agreed`: both sides hold the same rows (`rows` of them). `differ`: the sums differ, or a side was written while
 * it was read: walk the table by key. `interrupted`: the signal stopped the pass.
 */
export type SequentialResult = { outcome: 'agreed'; rows: number; chunks: number } | { outcome: 'differ' | 'interrupted'; chunks: number };

/** Rows per block assumed where the engine has no estimate yet. */
const ROWS_PER_BLOCK_GUESS = 100;

/** The sequential pass, or undefined when either reader cannot read its table as stored. */
export async function sequentialPass(active: PhysicalScan | undefined, shadow: PhysicalScan | undefined, table: VerifyTable, opts: SequentialOptions): Promise<SequentialResult | undefined> {
  if (!active || !shadow) return undefined;
  // Set by the first side that sees its table written: the other stops at its next chunk.
  const stop = { written: false };
  const [a, s] = await Promise.all([
    sumSide(active, table, stop, opts, (rows) => opts.limiter.charge(rows, opts.signal)),
    sumSide(shadow, table, stop, opts, async () => undefined),
  ]);
  const chunks = a.chunks;
  if (a.outcome === 'interrupted' || s.outcome === 'interrupted') return { outcome: 'interrupted', chunks };
  if (a.outcome === 'read' && s.outcome === 'read' && a.rows === s.rows && a.hash === s.hash) return { outcome: 'agreed', rows: a.rows, chunks };
  return { outcome: 'differ', chunks };
}

type SideSum = { outcome: 'read'; rows: number; hash: bigint; chunks: number } | { outcome: 'written' | 'interrupted'; chunks: number };

/** One side's sum, read in block ranges from the first block to wherever the end is when it gets there. */
async function sumSide(scan: PhysicalScan, table: VerifyTable, stop: { written: boolean }, opts: SequentialOptions, onRows: (rows: number) => Promise<void>): Promise<SideSum> {
  const [extent, writesAtStart] = await Promise.all([scan.extent(table), scan.writes(table)]);
  const perBlock = extent.blocks > 0 && extent.rows > 0 ? extent.rows / extent.blocks : ROWS_PER_BLOCK_GUESS;
  let step = Math.max(1, Math.ceil(opts.chunkRows / perBlock));
  let rows = 0;
  let hash = 0n;
  let chunks = 0;
  for (let from = 0; ; ) {
    if (opts.signal?.aborted) return { outcome: 'interrupted', chunks };
    if (stop.written) return { outcome: 'written', chunks };
    // The last range is open: blocks the table grew by while it was read are read too.
    const to = from + step >= extent.blocks ? undefined : from + step;
    const started = Date.now();
    const part = await scan.sums(table, { from, ...(to === undefined ? {} : { to }) });
    const elapsed = Date.now() - started;
    chunks++;
    rows += part.rows;
    hash += BigInt(part.hash);
    await onRows(part.rows);
    if (writesAtStart !== undefined && (part.writes ?? (await scan.writes(table))) !== writesAtStart) {
      stop.written = true;
      return { outcome: 'written', chunks };
    }
    if (to === undefined) return { outcome: 'read', rows, hash, chunks };
    from = to;
    if (elapsed > opts.targetChunkMs) step = Math.max(1, Math.floor(step / 2));
    else if (elapsed < opts.targetChunkMs / 4) step *= 2;
  }
}
