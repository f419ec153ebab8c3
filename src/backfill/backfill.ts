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
  /** backfill.rowsPerSecond: 0 copies as fast as the sides allow. Shared by every worker: the total stays under it. */
  rowsPerSecond?: number;
  /** backfill.parallelTables: tables copied at once, each by a worker with a reader and a shadow writer of its own. */
  parallelTables?: number;
  /**
   * Opens another writer on the shadow for a parallel worker (its own session and transactions; the tables it
   * needs are loaded by the copy). Without it the copy runs one table at a time on `shadow`.
   */
  openShadow?: () => Promise<ShadowWriter>;
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

  let readers: TableReader[];
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
    const wanted = workersFor(opts, tables.length);
    const handle = await source.createSlotWithSnapshot({ readers: wanted });
    release = handle.release;
    try {
      // Every reader opens now, while the snapshot is still exported (PostgreSQL: until the slot's session moves on).
      readers = await openReaders(source, handle.snapshot, handle.readers);
    } catch (err) {
      await release();
      throw err;
    }
    if (handle.readers < wanted) log.info({ asked: wanted, readers: handle.readers }, 'fewer readers share the consistent snapshot than backfill.parallelTables asks for: the tables are copied with fewer workers');
    cp = { sourcePosition: handle.position, transportOffset: null, commitTime: null, appliedTransactions: 0, stage: 'backfill', idlePosition: null, updatedAt: new Date() };
    try {
      await shadow.begin();
      await shadow.commit(cp, tables.map((table) => ({ table, lastKey: null, rowsCopied: 0, done: false })));
    } catch (err) {
      await Promise.all(readers.map((r) => r.close()));
      await release();
      throw err;
    }
    log.info({ position: handle.position, tables: tables.length }, 'backfill started at the slot consistent point');
  } else {
    if (!(await source.slotState(cp.sourcePosition)).exists) {
      // Nothing was streamed yet: start the backfill over rather than continue without the slot's history.
      log.warn('replication slot missing during backfill: starting the backfill again');
      await shadow.reset(tables);
      return runBackfill(opts);
    }
    // Each reader takes a fresh snapshot of its own, newer than the slot's point: safe for the reason above, table
    // by table, so the workers need not share one.
    const unfinished = (await shadow.readBackfill()).filter((p) => tables.includes(p.table) && !p.done).length;
    readers = await openReaders(source, undefined, workersFor(opts, unfinished));
    log.info({ position: cp.sourcePosition }, 'resuming backfill from the last copied chunk');
  }

  const checkpoint: Checkpoint = cp;
  // The stream's distance is measured from the consistent point while the copy runs (lag bytes is never 0 then).
  stats.checkpoint = checkpoint.sourcePosition;
  try {
    stats.stage = 'backfill';
    // The initial copy fills tables that hold none of its rows (checked empty above, or resumed after the last
    // committed chunk), so a same-engine bulk load may write straight into them.
    await copyTables(readers, checkpoint, tables, opts, { bulk: true });
    await shadow.begin();
    await shadow.commit({ ...checkpoint, stage: 'streaming' });
    stats.stage = 'streaming';
    log.info({ rows: stats.backfill?.rowsCopied ?? 0, position: checkpoint.sourcePosition }, 'backfill complete; streaming from the consistent point');
  } finally {
    await Promise.all(readers.map((r) => r.close()));
    await release?.();
  }
}

/** Workers for `pending` tables: backfill.parallelTables, bounded by the tables left and by a way to open writers. */
function workersFor(opts: BackfillOptions, pending: number): number {
  if (!opts.openShadow) return 1;
  return Math.max(1, Math.min(opts.parallelTables ?? 1, pending));
}

/** `n` readers of `snapshot` (or each of a fresh snapshot of its own when undefined); all or none. */
async function openReaders(source: CaptureSource, snapshot: string | undefined, n: number): Promise<TableReader[]> {
  const opened = await Promise.allSettled(Array.from({ length: n }, () => source.openReader(snapshot)));
  const readers = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(readers.map((r) => r.close()));
    throw failed.reason;
  }
  return readers;
}

/**
 * Copies `tables` in primary-key order, chunk by chunk, each chunk committed on the shadow with its progress and
 * the (unchanged) checkpoint; tables whose progress says done are skipped, others resume after their last chunk.
 *
 * With several readers, that many workers copy tables at the same time, each table wholly by one worker (its
 * progress row is only ever written by that worker), each worker with its own shadow writer (`opts.shadow` for the
 * first, `opts.openShadow` for the others). Largest tables go first, so the last table to finish is a small one.
 * Every chunk commits on its own, so a crash leaves each table's progress exactly at its last committed chunk,
 * whichever worker copied it. The first failure stops the other workers after their current chunk.
 */
async function copyTables(readers: TableReader[], checkpoint: Checkpoint, tables: string[], opts: BackfillOptions, mode: { bulk: boolean } = { bulk: false }): Promise<void> {
  const { shadow, log, stats } = opts;
  const reader = readers[0];
  if (!reader) throw new TandemError('TANDEM_INTERNAL', 'backfill started without a reader');
  const progress = new Map((await shadow.readBackfill()).filter((p) => tables.includes(p.table)).map((p) => [p.table, p]));
  const estimates = new Map<string, number>();
  for (const t of tables) estimates.set(t, (progress.get(t)?.done ? progress.get(t)?.rowsCopied : await reader.estimateRows(t)) ?? 0);
  const pending = tables.filter((t) => !progress.get(t)?.done);
  const workers = Math.max(1, Math.min(readers.length, pending.length));
  const queue = workers > 1 ? [...pending].sort((a, b) => (estimates.get(b) ?? 0) - (estimates.get(a) ?? 0)) : pending;
  const startedAt = Date.now();
  let copiedThisRun = 0;
  // One limiter for every worker: backfill.rowsPerSecond bounds what the active side serves in total.
  const limiter = new RowRateLimiter(opts.rowsPerSecond ?? 0);
  // Throttled, a bulk chunk holds about one second's rows (shared by the workers), so the source sees the rate, not
  // bursts of a whole chunk.
  const bulkChunkRows = opts.rowsPerSecond ? Math.max(1_000, Math.min(BULK_CHUNK_ROWS, Math.floor(opts.rowsPerSecond / workers))) : BULK_CHUNK_ROWS;
  const copying = new Set<string>();
  const b = (stats.backfill = {
    tablesTotal: tables.length,
    tablesDone: [...progress.values()].filter((p) => p.done).length,
    rowsCopied: [...progress.values()].reduce((n, p) => n + p.rowsCopied, 0),
    rowsEstimated: [...estimates.values()].reduce((n, v) => n + v, 0),
    rowsPerSecond: 0,
    rowsPerSecondLimit: opts.rowsPerSecond || null,
    parallelTables: workers,
    etaSeconds: null as number | null,
    currentTable: null as string | null,
    currentTables: [] as string[],
  });
  const showCopying = () => {
    b.currentTables = [...copying];
    b.currentTable = b.currentTables[0] ?? null;
  };
  // A failed worker stops the others at their next chunk; the runner's signal stops them all.
  const failed = new AbortController();
  const signal = AbortSignal.any([opts.signal, failed.signal]);

  const copyTable = async (worker: { reader: TableReader; shadow: ShadowWriter }, table: string) => {
    let p: BackfillProgress = progress.get(table) ?? { table, lastKey: null, rowsCopied: 0, done: false };
    const key = worker.shadow.primaryKeyOf(table);
    const bulk = mode.bulk ? await bulkColumns(worker.reader, worker.shadow, table, log) : undefined;
    // The row path reads the next chunk while the shadow writes this one (two connections, two servers' work).
    let ahead: Promise<Row[]> | undefined;
    const read = (after: Row | null) => {
      const next = worker.reader.readChunk(table, [], key, after ?? undefined, opts.chunkRows);
      next.catch(() => undefined); // awaited below, or abandoned when the copy stops
      return next;
    };
    for (;;) {
      if (signal.aborted) throw new BackfillAborted();
      let copied: number;
      if (bulk) {
        await worker.shadow.begin();
        const chunk = await bulk.reader.copyChunk(table, bulk.columns, key, p.lastKey ?? undefined, bulkChunkRows, (data) => bulk.loader.load(table, bulk.columns, data));
        copied = chunk.rows;
        p = { table, lastKey: chunk.lastKey ?? p.lastKey, rowsCopied: p.rowsCopied + chunk.rows, done: chunk.rows < bulkChunkRows };
      } else {
        const rows = await (ahead ?? read(p.lastKey));
        const last = rows[rows.length - 1];
        copied = rows.length;
        p = { table, lastKey: last ? keyOf(last, key) : p.lastKey, rowsCopied: p.rowsCopied + rows.length, done: rows.length < opts.chunkRows };
        ahead = p.done ? undefined : read(p.lastKey);
        await worker.shadow.begin();
        if (mode.bulk && worker.shadow.insertNew) await worker.shadow.insertNew(table, rows);
        else await worker.shadow.apply(rows.map((after): Change => ({ op: 'insert', table, after })));
      }
      await worker.shadow.commit(checkpoint, [p]);
      await limiter.charge(copied, signal);
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
  };

  const runWorker = async (index: number) => {
    const r = readers[index] as TableReader;
    let own: ShadowWriter | undefined;
    try {
      let w: ShadowWriter = shadow;
      if (index > 0) {
        if (!opts.openShadow) throw new TandemError('TANDEM_INTERNAL', 'a parallel backfill worker needs openShadow');
        own = await opts.openShadow();
        await own.reloadSchema(tables);
        w = own;
      }
      for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
        if (signal.aborted) throw new BackfillAborted();
        copying.add(table);
        showCopying();
        try {
          await copyTable({ reader: r, shadow: w }, table);
        } finally {
          copying.delete(table);
          showCopying();
        }
      }
    } catch (err) {
      if (!(err instanceof BackfillAborted)) failed.abort();
      throw err;
    } finally {
      // A worker's open chunk, if any, is rolled back with its session.
      await own?.close();
    }
  };

  if (workers > 1) log.info({ workers, tables: queue.length }, 'copying tables in parallel');
  const results = await Promise.allSettled(Array.from({ length: workers }, (_, i) => runWorker(i)));
  const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  // The failure that stopped the copy, not the workers it stopped.
  const cause = errors.find((e) => !(e instanceof BackfillAborted)) ?? errors[0];
  if (cause !== undefined) throw cause;
  b.currentTable = null;
  b.currentTables = [];
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
  // Each reader takes a snapshot of its own, all after P: the argument above holds table by table.
  const readers = await openReaders(opts.source, undefined, workersFor(opts, opts.tables.length));
  try {
    opts.log.info({ tables: opts.tables, position: cp.sourcePosition }, 'copying tables that joined the migration; the stream resumes from the checkpoint afterwards');
    await copyTables(readers, cp, opts.tables, opts);
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}

export type { Checkpoint };
