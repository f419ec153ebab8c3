import { TandemError } from '../errors.js';
import type { Change } from '../model/change.js';
import type { CaptureSource, Checkpoint, ShadowWriter } from '../engines/engine.js';
import { EmbeddedQueue } from '../transport/embedded.js';
import type { ReplicationStats } from './stats.js';
import type { Logger } from 'pino';

export interface StreamOptions {
  source: CaptureSource;
  shadow: ShadowWriter;
  tables: string[];
  batchRows: number;
  batchTimeMs: number;
  queueChanges: number;
  signal: AbortSignal;
  stats: ReplicationStats;
  log: Logger;
  /** How often an idle source position is recorded and acknowledged (it costs one shadow write). */
  idleAckIntervalMs?: number;
  /** Source transactions beginning at or before this position get a shadow transaction each (see IsolateTransactions). */
  isolateThrough?: string;
  /** Told of every change handed to the shadow (continuous verification re-checks the rows shortly after). */
  onApplied?: (changes: Change[]) => void;
}

/**
 * A fatal error in a shadow transaction that grouped several source transactions: the good ones were rolled back
 * with the bad one. Retrying with each transaction up to `through` (the group's last) committed on its own applies
 * everything before the failing one, so replication stops exactly at it (then with the original error).
 */
export class IsolateTransactions extends TandemError {
  constructor(
    readonly original: TandemError,
    readonly through: string,
  ) {
    super(original.code, original.message, { fix: original.fix, retriable: true, cause: original });
  }
}

/**
 * Refuses to stream from a slot that cannot continue exactly where the checkpoint is: a missing slot, or one
 * whose confirmed position is past anything Tandem acknowledged (it was dropped and created again).
 */
export async function assertSlotContinues(source: CaptureSource, cp: Checkpoint): Promise<void> {
  const slot = await source.slotState(cp.position);
  const fix = 'run `tandem backfill --yes` to copy the tables again from a new consistent point';
  if (!slot.exists && slot.missing) {
    throw new TandemError('TANDEM_CAPTURE_POSITION_PURGED', `${slot.missing}, so changes after checkpoint ${cp.position} cannot be read; continuing would silently skip them`, { fix });
  }
  if (!slot.exists) {
    throw new TandemError('TANDEM_CAPTURE_SLOT_MISSING', `the replication slot is gone, so changes after checkpoint ${cp.position} cannot be read; continuing would silently skip them`, { fix });
  }
  const acked = cp.idlePosition && source.comparePositions(cp.idlePosition, cp.position) > 0 ? cp.idlePosition : cp.position;
  if (slot.confirmedPosition && source.comparePositions(slot.confirmedPosition, acked) > 0) {
    throw new TandemError(
      'TANDEM_CAPTURE_SLOT_MISSING',
      `the replication slot starts at ${slot.confirmedPosition}, after Tandem's checkpoint ${acked}: it was dropped and created again, and the changes in between are lost to it`,
      { fix },
    );
  }
}

/**
 * Streams from the checkpoint: each source transaction is applied in order, and the checkpoint is written in the
 * same shadow transaction. Small consecutive transactions share a shadow transaction (bounded by rows and time);
 * a large one is applied in batches inside one shadow transaction, so memory stays bounded by the queue.
 */
export async function streamChanges(opts: StreamOptions): Promise<void> {
  const { source, shadow, stats, log, signal } = opts;
  const cp = await shadow.readCheckpoint();
  if (!cp) throw new TandemError('TANDEM_STATE', 'no checkpoint on the shadow: the backfill has not run', { fix: 'run `tandem run` (it backfills first) or `tandem backfill`' });
  await assertSlotContinues(source, cp);

  const queue = new EmbeddedQueue(opts.queueChanges);
  const stream = await source.start(cp.position, queue);
  let failure: unknown;
  stream.done.then(
    () => queue.close(),
    (err: unknown) => {
      failure = err;
      queue.close();
    },
  );
  const onAbort = () => queue.close();
  signal.addEventListener('abort', onAbort);

  let position = cp.position;
  let idlePosition = cp.idlePosition;
  let commitTime = cp.commitTime;
  let applied = cp.appliedTransactions;
  let lastIdleAck = 0;
  // One shadow write a second at most while idle; it lets verification's position waits end soon (src/verify/recheck.ts).
  const idleInterval = opts.idleAckIntervalMs ?? 1_000;

  let groupOpen = false;
  let inSourceTx = false;
  let skipping = false;
  let groupRows = 0;
  let groupStart = 0;
  /** Source transactions in the open group, the begin position of the last one, and of the one being applied. */
  let groupTxs = 0;
  let lastBegin: string | undefined;
  let current: string | undefined;
  let pending: Change[] = [];

  const flush = async () => {
    if (pending.length) {
      await shadow.apply(pending);
      stats.appliedChanges += pending.length;
      opts.onApplied?.(pending);
      pending = [];
    }
  };
  const commitGroup = async () => {
    await flush();
    await shadow.commit({ position, commitTime, appliedTransactions: applied, phase: 'shadowing', idlePosition });
    groupOpen = false;
    groupTxs = 0;
    stats.checkpoint = position;
    stats.commitTime = commitTime?.toISOString() ?? null;
    stats.appliedTransactions = applied;
    stats.pendingSince = queue.size > 0 ? Date.now() : null;
    // An idle position beyond the last applied transaction is committed in the checkpoint too: acknowledge it, or a
    // quiet database pins WAL while sibling databases write (H5).
    stream.acknowledge(idlePosition && source.comparePositions(idlePosition, position) > 0 ? idlePosition : position);
    groupRows = 0;
  };

  /**
   * A DDL statement on the active side (MySQL): everything before it is committed first, so the checkpoint sits
   * exactly before the statement. Replication continues only if the shadow's columns already match the table's
   * columns after the statement (the operator applied the same change and restarted); otherwise it stops here.
   */
  const checkDdl = async (table: string, columns: string[], ddl: string) => {
    if (groupOpen && !inSourceTx) await commitGroup();
    await shadow.reloadSchema([table]);
    const have = shadow.columnsOf(table) ?? [];
    const missing = columns.filter((c) => !have.includes(c));
    const extra = have.filter((c) => !columns.includes(c));
    if (columns.length > 0 && missing.length === 0 && extra.length === 0) {
      log.info({ table, ddl }, 'DDL on the active side already matches the shadow; continuing');
      return;
    }
    const statement = ddl.length > 300 ? `${ddl.slice(0, 300)}…` : ddl;
    if (columns.length === 0) {
      throw new TandemError('TANDEM_CAPTURE_DDL', `table ${table} was dropped or renamed on the active side by \`${statement}\`; replication paused at checkpoint ${position}`, {
        fix: `remove ${table} from the migration (tandem.yaml tables / exclude) or recreate it, then run \`tandem backfill --yes\``,
      });
    }
    const diff = [missing.length ? `the shadow lacks ${missing.join(', ')}` : '', extra.length ? `the shadow still has ${extra.join(', ')}` : ''].filter(Boolean).join('; ');
    throw new TandemError('TANDEM_CAPTURE_DDL', `table ${table} changed on the active side: \`${statement}\` (${diff}); replication paused at checkpoint ${position}, before the statement`, {
      fix: `apply the same change to ${table} on the shadow, then start tandem run again: it resumes from the checkpoint, continues past the statement once the columns match, and nothing is lost`,
    });
  };

  try {
    for (;;) {
      const event = await queue.next();
      if (!event) break;
      if (stats.pendingSince === null && event.kind !== 'idle') stats.pendingSince = Date.now();
      switch (event.kind) {
        case 'relation': {
          if (event.ddl !== undefined) {
            await checkDdl(event.table, event.columns, event.ddl);
            break;
          }
          const missing = missingOnShadow(shadow, event.table, event.columns);
          if (missing.length) {
            await shadow.reloadSchema([event.table]);
            const still = missingOnShadow(shadow, event.table, event.columns);
            if (still.length) {
              throw new TandemError(
                'TANDEM_CAPTURE_DDL',
                `table ${event.table} on the active side now has column(s) ${still.join(', ')} that the shadow lacks (a column was added or renamed on the source); replication paused at checkpoint ${position}`,
                { fix: `apply the same ALTER TABLE to ${event.table} on the shadow, then start tandem run again: it resumes from the checkpoint and nothing is lost` },
              );
            }
          }
          break;
        }
        case 'begin':
          inSourceTx = true;
          skipping = source.comparePositions(event.position, position) < 0;
          if (skipping) log.debug({ position: event.position }, 'skipping a transaction the checkpoint covers');
          else {
            current = lastBegin = event.position;
            if (!groupOpen) {
              await shadow.begin();
              groupOpen = true;
              groupStart = Date.now();
            }
            groupTxs++;
          }
          break;
        case 'change':
          if (skipping) break;
          pending.push(event.change);
          groupRows++;
          if (pending.length >= opts.batchRows) await flush();
          break;
        case 'commit':
          inSourceTx = false;
          if (skipping) {
            skipping = false;
            break;
          }
          // Changes of grouped transactions travel together: one round trip per group, not per transaction.
          if (pending.length >= opts.batchRows) await flush();
          position = event.position;
          commitTime = event.commitTime;
          applied++;
          {
            const isolate = opts.isolateThrough !== undefined && current !== undefined && source.comparePositions(current, opts.isolateThrough) <= 0;
            current = undefined;
            if (isolate || groupRows >= opts.batchRows || Date.now() - groupStart >= opts.batchTimeMs || queue.size === 0 || signal.aborted) await commitGroup();
          }
          break;
        case 'idle':
          if (groupOpen && !inSourceTx) await commitGroup();
          if (!groupOpen && source.comparePositions(event.position, idlePosition ?? position) > 0 && Date.now() - lastIdleAck >= idleInterval) {
            // Recorded before it is acknowledged, so a slot found later beyond this point is known to be a new slot.
            idlePosition = event.position;
            await shadow.begin();
            groupOpen = true;
            await commitGroup();
            lastIdleAck = Date.now();
          }
          if (queue.size === 0) stats.pendingSince = null;
          break;
      }
      if (signal.aborted && !inSourceTx) break;
    }
    if (groupOpen && !inSourceTx) await commitGroup();
    if (failure) throw failure;
    if (!signal.aborted) {
      // The source closed the stream without an error and without being asked to: reconnect, do not exit.
      throw new TandemError('TANDEM_CONNECT_FAILED', 'the replication stream ended unexpectedly', { retriable: true });
    }
  } catch (err) {
    if (err instanceof TandemError && !err.retriable && groupOpen && groupTxs > 1 && lastBegin !== undefined) throw new IsolateTransactions(err, lastBegin);
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A group holding part of a source transaction is rolled back: the source sends that transaction again.
    if (groupOpen) await shadow.rollback();
    await stream.stop();
  }
  log.info({ checkpoint: position, appliedTransactions: applied }, 'stream stopped at a transaction boundary');
}

function missingOnShadow(shadow: ShadowWriter, table: string, columns: string[]): string[] {
  const have = new Set(shadow.columnsOf(table) ?? []);
  return columns.filter((c) => !have.has(c));
}
