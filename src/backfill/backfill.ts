import type { Logger } from 'pino';
import { TandemError } from '../errors.js';
import { keyOf, type Change, type Row } from '../model/change.js';
import type { BackfillProgress, BulkLoader, BulkReader, CaptureSource, Checkpoint, ShadowWriter, TableReader } from '../engines/engine.js';
import type { ReplicationStats } from '../replicate/stats.js';
import { RowRateLimiter } from '../verify/rate-limit.js';

export interface BackfillOptions {
  source: CaptureSource;
  shadow: ShadowWriter;
  tables: string[];
  chunkRows: number;
  /** backfill.rowsPerSecond: 0 copies as fast as the sides allow. */
  rowsPerSecond?: number;
  signal: AbortSignal;
  stats: ReplicationStats;
  log: Logger;
  onProgress?: () => void;
}

export class BackfillAborted extends Error {
  constructor() {
    super('backfill interrupted; it resumes from the last copied chunk');
  }
}

/**
 * The consistent initial copy. A fresh backfill creates the slot with an exported snapshot and copies every table
 * as of the slot's consistent point, so the stream that follows from that point has no gap and no duplicate.
 *
 * Each chunk is committed on the shadow with its progress, so a crash resumes after the last copied chunk. The
 * exported snapshot does not survive a crash; the remaining chunks are then read from a fresh snapshot, which is
 * newer than the slot's point. That is safe because apply is idempotent (upserts, deletes by key) and the stream
 * replays every change since the slot's point over those rows: each row converges to the source's latest state.
 */
export async function runBackfill(opts: BackfillOptions): Promise<void> {
  const { source, shadow, tables, log, stats } = opts;
  let cp: Checkpoint | undefined = await shadow.readCheckpoint();
  if (cp?.stage === 'streaming') return;

  let reader: TableReader;
  let release: (() => Promise<void>) | undefined;
  if (!cp) {
    for (const t of tables) {
      const n = await shadow.countRows(t);
      if (n > 0) {
        throw new TandemError('TANDEM_STATE', `shadow table ${t} already holds ${n} row(s), but Tandem has no checkpoint for this migration and direction`, {
          fix: 'to replace the shadow tables with a fresh copy of the active side, run `tandem backfill --yes` (it empties them first)',
        });
      }
    }
    await source.prepare(tables);
    // Nothing has consumed a slot without a checkpoint: a leftover one (from a crash before the first commit) is stale.
    if ((await source.slotState()).exists) await source.dropSlot();
    const handle = await source.createSlotWithSnapshot();
    release = handle.release;
    reader = await source.openReader(handle.snapshot);
    cp = { sourcePosition: handle.position, transportOffset: null, commitTime: null, appliedTransactions: 0, stage: 'backfill', idlePosition: null, updatedAt: new Date() };
    await shadow.begin();
    await shadow.commit(cp, tables.map((table) => ({ table, lastKey: null, rowsCopied: 0, done: false })));
    log.info({ position: handle.position, tables: tables.length }, 'backfill started at the slot consistent point');
  } else {
    if (!(await source.slotState(cp.sourcePosition)).exists) {
      // Nothing was streamed yet: start the backfill over rather than continue without the slot's history.
      log.warn('replication slot missing during backfill: starting the backfill again');
      await shadow.reset(tables);
      return runBackfill(opts);
    }
    reader = await source.openReader(undefined);
    log.info({ position: cp.sourcePosition }, 'resuming backfill from the last copied chunk');
  }

  const checkpoint: Checkpoint = cp;
  // The stream's distance is measured from the consistent point while the copy runs (lag bytes is never 0 then).
  stats.checkpoint = checkpoint.sourcePosition;
  try {
    stats.stage = 'backfill';
    // The initial copy fills tables that hold none of its rows (checked empty above, or resumed after the last
    // committed chunk), so a same-engine bulk load may write straight into them.
    await copyTables(reader, checkpoint, tables, opts, { bulk: true });
    await shadow.begin();
    await shadow.commit({ ...checkpoint, stage: 'streaming' });
    stats.stage = 'streaming';
    log.info({ rows: stats.backfill?.rowsCopied ?? 0, position: checkpoint.sourcePosition }, 'backfill complete; streaming from the consistent point');
  } finally {
    await reader.close();
    await release?.();
  }
}

/**
 * Copies `tables` in primary-key order, chunk by chunk, each chunk committed on the shadow with its progress and
 * the (unchanged) checkpoint; tables whose progress says done are skipped, others resume after their last chunk.
 */
async function copyTables(reader: TableReader, checkpoint: Checkpoint, tables: string[], opts: BackfillOptions, mode: { bulk: boolean } = { bulk: false }): Promise<void> {
  const { shadow, log, stats } = opts;
  const progress = new Map((await shadow.readBackfill()).filter((p) => tables.includes(p.table)).map((p) => [p.table, p]));
  const estimates = new Map<string, number>();
  for (const t of tables) estimates.set(t, (progress.get(t)?.done ? progress.get(t)?.rowsCopied : await reader.estimateRows(t)) ?? 0);
  const startedAt = Date.now();
  let copiedThisRun = 0;
  const limiter = new RowRateLimiter(opts.rowsPerSecond ?? 0);
  // Throttled, a bulk chunk holds about one second's rows, so the source sees the rate, not bursts of a whole chunk.
  const bulkChunkRows = opts.rowsPerSecond ? Math.max(1_000, Math.min(BULK_CHUNK_ROWS, opts.rowsPerSecond)) : BULK_CHUNK_ROWS;
  const b = (stats.backfill = {
    tablesTotal: tables.length,
    tablesDone: [...progress.values()].filter((p) => p.done).length,
    rowsCopied: [...progress.values()].reduce((n, p) => n + p.rowsCopied, 0),
    rowsEstimated: [...estimates.values()].reduce((n, v) => n + v, 0),
    rowsPerSecond: 0,
    rowsPerSecondLimit: opts.rowsPerSecond || null,
    etaSeconds: null as number | null,
    currentTable: null as string | null,
  });

  for (const table of tables) {
    let p: BackfillProgress = progress.get(table) ?? { table, lastKey: null, rowsCopied: 0, done: false };
    if (p.done) continue;
    b.currentTable = table;
    const key = shadow.primaryKeyOf(table);
    const bulk = mode.bulk ? await bulkColumns(reader, shadow, table, log) : undefined;
    // The row path reads the next chunk while the shadow writes this one (two connections, two servers' work).
    let ahead: Promise<Row[]> | undefined;
    const read = (after: Row | null) => {
      const next = reader.readChunk(table, [], key, after ?? undefined, opts.chunkRows);
      next.catch(() => undefined); // awaited below, or abandoned when the copy stops
      return next;
    };
    for (;;) {
      if (opts.signal.aborted) throw new BackfillAborted();
      let copied: number;
      if (bulk) {
        await shadow.begin();
        const chunk = await bulk.reader.copyChunk(table, bulk.columns, key, p.lastKey ?? undefined, bulkChunkRows, (data) => bulk.loader.load(table, bulk.columns, data));
        copied = chunk.rows;
        p = { table, lastKey: chunk.lastKey ?? p.lastKey, rowsCopied: p.rowsCopied + chunk.rows, done: chunk.rows < bulkChunkRows };
      } else {
        const rows = await (ahead ?? read(p.lastKey));
        const last = rows[rows.length - 1];
        copied = rows.length;
        p = { table, lastKey: last ? keyOf(last, key) : p.lastKey, rowsCopied: p.rowsCopied + rows.length, done: rows.length < opts.chunkRows };
        ahead = p.done ? undefined : read(p.lastKey);
        await shadow.begin();
        if (mode.bulk && shadow.insertNew) await shadow.insertNew(table, rows);
        else await shadow.apply(rows.map((after): Change => ({ op: 'insert', table, after })));
      }
      await shadow.commit(checkpoint, [p]);
      await limiter.charge(copied, opts.signal);
      copiedThisRun += copied;
      b.rowsCopied += copied;
      b.rowsEstimated = Math.max(b.rowsEstimated, b.rowsCopied);
      const seconds = (Date.now() - startedAt) / 1000;
      b.rowsPerSecond = seconds > 0 ? Math.round(copiedThisRun / seconds) : 0;
      b.etaSeconds = b.rowsPerSecond > 0 ? Math.round((b.rowsEstimated - b.rowsCopied) / b.rowsPerSecond) : null;
      opts.onProgress?.();
      if (p.done) break;
    }
    b.tablesDone++;
    log.info({ table, rows: p.rowsCopied }, 'table copied');
  }
  b.currentTable = null;
  b.etaSeconds = 0;
}

/** Rows per chunk of the bulk path: nothing of them passes through Node, so a chunk only bounds the work a crash redoes. */
const BULK_CHUNK_ROWS = 100_000;

/**
 * The columns a same-engine bulk copy of `table` writes, or undefined when the table must go row by row: no bulk
 * path on either side, different formats, or a column whose type differs (the load would round or cut a value the
 * row path checks and refuses, see src/engines/shared/value-fit.ts), or that exists on one side only.
 */
async function bulkColumns(reader: TableReader, shadow: ShadowWriter, table: string, log: Logger): Promise<{ reader: BulkReader; loader: BulkLoader; columns: string[] } | undefined> {
  const [r, w] = [reader.bulk, shadow.bulk];
  if (!r || !w || r.format !== w.format) return undefined;
  const target = w.columnTypes(table);
  if (!target) return undefined;
  const source = await r.columnTypes(table);
  const differs = [...new Set([...source.keys(), ...target.keys()])].find((c) => source.get(c) !== target.get(c));
  if (differs !== undefined) {
    log.info({ table, column: differs, source: source.get(differs) ?? 'absent', shadow: target.get(differs) ?? 'absent' }, 'column types differ between the sides: this table is copied row by row, with every value checked');
    return undefined;
  }
  return { reader: r, loader: w, columns: [...target.keys()] };
}

/**
 * Tables that join a migration that is already streaming (created on the active side later, or added to
 * `tables`): the stream is stopped at a transaction boundary, so the checkpoint P says exactly what the shadow has;
 * these tables are copied from a snapshot taken now (after P, and after the publication took them in), then the
 * stream resumes from P with them included. Every change to them after P is applied again over the copy, in commit
 * order, and apply is idempotent, so each row ends at its latest state. A crash during the copy leaves their progress
 * not done; the next start copies them again from where they stopped (the same argument holds from any later
 * snapshot). Until then nothing of these tables reaches the stream.
 */
export async function copyAddedTables(opts: BackfillOptions): Promise<void> {
  const cp = await opts.shadow.readCheckpoint();
  if (cp?.stage !== 'streaming') throw new TandemError('TANDEM_STATE', 'tables can only join a migration that is streaming', { fix: 'let the initial backfill finish first' });
  const reader = await opts.source.openReader(undefined);
  try {
    opts.log.info({ tables: opts.tables, position: cp.sourcePosition }, 'copying tables that joined the migration; the stream resumes from the checkpoint afterwards');
    await copyTables(reader, cp, opts.tables, opts);
  } finally {
    await reader.close();
  }
}

export type { Checkpoint };
