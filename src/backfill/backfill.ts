import type { Logger } from 'pino';
import { TandemError } from '../errors.js';
import { keyOf, type Change } from '../model/change.js';
import type { BackfillProgress, CaptureSource, Checkpoint, ShadowWriter, TableReader } from '../engines/engine.js';
import type { ReplicationStats } from '../replicate/stats.js';

export interface BackfillOptions {
  source: CaptureSource;
  shadow: ShadowWriter;
  tables: string[];
  chunkRows: number;
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
  let cp = await shadow.readCheckpoint();
  if (cp?.phase === 'shadowing') return;

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
    cp = { position: handle.position, commitTime: null, appliedTransactions: 0, phase: 'backfill', idlePosition: null, updatedAt: new Date() };
    await shadow.begin();
    await shadow.commit(cp, tables.map((table) => ({ table, lastKey: null, rowsCopied: 0, done: false })));
    log.info({ position: handle.position, tables: tables.length }, 'backfill started at the slot consistent point');
  } else {
    if (!(await source.slotState(cp.position)).exists) {
      // Nothing was streamed yet: start the backfill over rather than continue without the slot's history.
      log.warn('replication slot missing during backfill: starting the backfill again');
      await shadow.reset(tables);
      return runBackfill(opts);
    }
    reader = await source.openReader(undefined);
    log.info({ position: cp.position }, 'resuming backfill from the last copied chunk');
  }

  const checkpoint = cp;
  try {
    const progress = new Map((await shadow.readBackfill()).map((p) => [p.table, p]));
    const estimates = new Map<string, number>();
    for (const t of tables) estimates.set(t, (progress.get(t)?.done ? progress.get(t)?.rowsCopied : await reader.estimateRows(t)) ?? 0);
    const startedAt = Date.now();
    let copiedThisRun = 0;
    const b = (stats.backfill = {
      tablesTotal: tables.length,
      tablesDone: [...progress.values()].filter((p) => p.done).length,
      rowsCopied: [...progress.values()].reduce((n, p) => n + p.rowsCopied, 0),
      rowsEstimated: [...estimates.values()].reduce((n, v) => n + v, 0),
      rowsPerSecond: 0,
      etaSeconds: null as number | null,
      currentTable: null as string | null,
    });
    stats.phase = 'backfill';

    for (const table of tables) {
      let p: BackfillProgress = progress.get(table) ?? { table, lastKey: null, rowsCopied: 0, done: false };
      if (p.done) continue;
      b.currentTable = table;
      const key = shadow.primaryKeyOf(table);
      for (;;) {
        if (opts.signal.aborted) throw new BackfillAborted();
        const rows = await reader.readChunk(table, [], key, p.lastKey ?? undefined, opts.chunkRows);
        const last = rows[rows.length - 1];
        p = { table, lastKey: last ? keyOf(last, key) : p.lastKey, rowsCopied: p.rowsCopied + rows.length, done: rows.length < opts.chunkRows };
        await shadow.begin();
        await shadow.apply(rows.map((after): Change => ({ op: 'insert', table, after })));
        await shadow.commit(checkpoint, [p]);
        copiedThisRun += rows.length;
        b.rowsCopied += rows.length;
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
    await shadow.begin();
    await shadow.commit({ ...checkpoint, phase: 'shadowing' });
    stats.phase = 'shadowing';
    log.info({ rows: b.rowsCopied, position: checkpoint.position }, 'backfill complete; streaming from the consistent point');
  } finally {
    await reader.close();
    await release?.();
  }
}

export type { Checkpoint };
