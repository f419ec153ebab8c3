import type { Logger } from 'pino';
import { TandemError } from '../errors.js';
import { keyOf, type CaptureEvent, type Change, type Row } from '../model/change.js';
import { appliedThrough, type ShadowWriter } from '../engines/engine.js';
import type { ChangeFeed, FeedSubscription } from '../transport/change-feed.js';
import { GroupBuffer, TransactionGrouper, type BufferedTransaction } from './grouper.js';
import { SchemaGuard } from './schema-guard.js';
import type { ReplicationStats } from './stats.js';

export interface StreamOptions {
  feed: ChangeFeed;
  shadow: ShadowWriter;
  /** Orders two source positions (the active engine's pure comparator). */
  comparePositions: (a: string, b: string) => number;
  /**
   * The tables replicated now. Changes to others are skipped: a table excluded after it was dropped, or one the
   * publication took in before it joins (its rows arrive with its copy), still has changes in the source's log.
   */
  tables: ReadonlySet<string>;
  batchRows: number;
  batchTimeMs: number;
  /** A busy stream's groups commit for lack of a backlog at most this often (TransactionGrouper). */
  commitDelayMs: number;
  signal: AbortSignal;
  stats: ReplicationStats;
  log: Logger;
  /** How often an idle source position is recorded and acknowledged (it costs one shadow write). */
  idleAckIntervalMs?: number;
  /**
   * On a shadow that can commit without waiting for its disk (ShadowWriter.defersDurability): at least this often a
   * group commits durably, and the source is acknowledged only through such commits. 0 or absent: every commit
   * is durable.
   */
  flushIntervalMs?: number;
  /** Told of every change handed to the shadow (continuous verification re-checks the rows shortly after). */
  onApplied?: (changes: Change[]) => void;
  /** Told of every commit on the shadow: the source position the shadow now holds. */
  onCheckpoint?: (sourcePosition: string) => void;
  /** Told of each drain marker once the transaction carrying it is committed on the shadow (the switch's drain). */
  onMarker?: (id: string, sourcePosition: string) => void;
}

/**
 * Streams from the checkpoint: each source transaction is applied in order, and the checkpoint is written in the
 * same shadow transaction. Small consecutive transactions share a shadow transaction (TransactionGrouper); a large
 * one is applied in batches inside one shadow transaction, so memory stays bounded by the feed's queue. A fatal
 * error in a group of several transactions is isolated here: the good ones are committed each on its own and
 * replication stops exactly at the failing one, with its own error.
 */
export async function streamChanges(opts: StreamOptions): Promise<void> {
  const { feed, shadow, stats, log, signal } = opts;
  const compare = opts.comparePositions;
  const cp = await shadow.readCheckpoint();
  if (!cp) throw new TandemError('TANDEM_STATE', 'no checkpoint on the shadow: the backfill has not run', { fix: 'run `tandem run` (it backfills first) or `tandem backfill`' });

  const lag = stats.lag;
  // This stream's positions replace the last stream's (after a switch they belong to the other side's log).
  stats.checkpoint = cp.sourcePosition;
  stats.acknowledged = appliedThrough(cp, compare);
  lag?.restart(stats.acknowledged);
  const sub: FeedSubscription = await feed.open(cp, {
    onRead: lag
      ? (event) => {
          if ((event.kind === 'begin' || event.kind === 'commit') && event.commitTime) lag.read(event.position, event.commitTime);
        }
      : undefined,
  });
  const onAbort = () => void sub.close();
  signal.addEventListener('abort', onAbort);
  // Stopped while the feed was opening: the listener above would never fire, and the loop would wait for an end
  // nobody asks for.
  if (signal.aborted) onAbort();
  const guard = new SchemaGuard(shadow, log);
  const grouper = new TransactionGrouper({ batchRows: opts.batchRows, batchTimeMs: opts.batchTimeMs, commitDelayMs: opts.commitDelayMs });
  const kept = new GroupBuffer(opts.batchRows);

  let position = cp.sourcePosition;
  let transportOffset = cp.transportOffset;
  let idlePosition = cp.idlePosition;
  let commitTime = cp.commitTime;
  let applied = cp.appliedTransactions;
  let lastIdleAck = 0;
  // Commits that do not wait for the shadow's disk: a crash of the shadow's server may lose them, so the source
  // keeps their changes until a durable commit (which makes every earlier one durable) covers them.
  const flushInterval = shadow.defersDurability ? (opts.flushIntervalMs ?? 0) : 0;
  let lastDurableAt = Date.now();
  /** The last commit was not durable: what it covers is acknowledged with the next durable commit. */
  let unreleased = false;
  // One shadow write a second at most while idle; it lets verification's position waits end soon (src/verify/recheck.ts).
  const idleInterval = opts.idleAckIntervalMs ?? 1_000;

  let shadowTxOpen = false;
  let inSourceTx = false;
  /** The begin position of the source transaction being applied, for errors. */
  let currentBegin: string | undefined;
  let skipping = false;
  let pending: Change[] = [];
  /** Drain markers of the transactions applied but not yet committed on the shadow. */
  let markers: string[] = [];

  const handedOver = (changes: Change[]) => {
    stats.appliedChanges += changes.length;
    opts.onApplied?.(changes);
  };
  const flush = async () => {
    if (pending.length === 0) return;
    await shadow.apply(pending);
    handedOver(pending);
    pending = [];
  };
  const checkpointOf = (through: { position: string; commitTime: Date | null; transportOffset: string | null }, txs: number) =>
    ({ sourcePosition: through.position, transportOffset: through.transportOffset, commitTime: through.commitTime, appliedTransactions: txs, stage: 'streaming', idlePosition }) as const;
  const checkpointWrite = (through: { position: string; commitTime: Date | null; transportOffset: string | null }, txs: number, durable = true) =>
    shadow.commit(checkpointOf(through, txs), undefined, { durable });
  /** Whether the next group commit waits for the shadow's disk. */
  const mustBeDurable = () => flushInterval <= 0 || markers.length > 0 || signal.aborted || Date.now() - lastDurableAt >= flushInterval;
  /** Tells the feed what the shadow now holds durably. */
  const release = (through: string, offset: string | null) => {
    sub.acknowledge(through, offset);
    unreleased = false;
    lastDurableAt = Date.now();
  };
  const committed = (durable = true) => {
    if (grouper.open) stats.shadowCommits++;
    shadowTxOpen = false;
    grouper.committed();
    kept.clear();
    stats.checkpoint = position;
    stats.commitTime = commitTime?.toISOString() ?? null;
    stats.appliedTransactions = applied;
    // An idle position beyond the last applied transaction is committed in the checkpoint too: acknowledge it, or a
    // quiet database pins WAL while sibling databases write (H5).
    const through = idlePosition && compare(idlePosition, position) > 0 ? idlePosition : position;
    if (durable) release(through, transportOffset);
    else unreleased = true;
    stats.acknowledged = through;
    lag?.appliedThrough(through);
    opts.onCheckpoint?.(position);
    const reached = markers;
    markers = [];
    for (const id of reached) opts.onMarker?.(id, position);
  };
  const [sourceTxsAtStart, shadowCommitsAtStart] = [applied, stats.shadowCommits];
  /** Commits the open group, durably when asked to or when mustBeDurable() says so. */
  const commitGroup = async (durable = mustBeDurable()) => {
    // The group's last statements travel with its checkpoint and COMMIT: one round trip.
    if (pending.length) {
      const changes = pending;
      await shadow.applyAndCommit(changes, checkpointOf({ position, commitTime, transportOffset }, applied), { durable });
      pending = [];
      handedOver(changes);
    } else await checkpointWrite({ position, commitTime, transportOffset }, applied, durable);
    committed(durable);
  };
  /** A commit of the checkpoint alone, durable: what the last non-durable commits covered is acknowledged. */
  const flushCommit = async () => {
    await shadow.begin();
    shadowTxOpen = true;
    await commitGroup(true);
  };

  /** Applies kept transactions, each complete one committed on its own; rethrows the first failure. */
  /** Applies kept transactions, each complete one committed on its own; returns the first that fails, with its error. */
  const applyEachAlone = async (txs: readonly BufferedTransaction[], firstApplied: number): Promise<{ tx: BufferedTransaction; error: unknown } | undefined> => {
    let count = firstApplied;
    for (const tx of txs) {
      await shadow.begin();
      shadowTxOpen = true;
      try {
        await shadow.apply(tx.changes);
      } catch (error) {
        return { tx, error };
      }
      if (!tx.commit) return undefined; // the transaction still arriving: it stays open
      count++;
      await checkpointWrite(tx.commit, count);
      shadowTxOpen = false;
      position = tx.commit.position;
      commitTime = tx.commit.commitTime;
      transportOffset = tx.commit.transportOffset;
      applied = count;
      stats.shadowCommits++;
      stats.checkpoint = position;
      stats.appliedTransactions = applied;
      release(position, transportOffset);
    }
    return undefined;
  };

  /**
   * Names the row a failing transaction stopped at: its changes are applied again one at a time, in a transaction
   * rolled back afterwards, until one fails. Only on the way to a fatal stop, and only for kept transactions.
   */
  const locate = async (changes: readonly Change[], err: TandemError): Promise<void> => {
    if (err.place.key) return;
    await shadow.rollback();
    try {
      await shadow.begin();
      for (const change of changes) {
        try {
          await shadow.apply([change]);
        } catch {
          if (change.op !== 'truncate') err.at({ table: change.table, key: printableKey(keyOf((change.after ?? change.before ?? {}) as Row, shadow.primaryKeyOf(change.table))) });
          return;
        }
      }
    } finally {
      await shadow.rollback();
      shadowTxOpen = false;
    }
  };

  /**
   * The current transaction made the kept group too large: roll the group back, commit the complete transactions
   * before it together, and go on with the current one alone (its changes so far applied again).
   */
  const split = async () => {
    const txs = kept.transactions;
    const current = txs[txs.length - 1] as BufferedTransaction;
    await shadow.rollback();
    await shadow.begin();
    for (const tx of txs.slice(0, -1)) await shadow.apply(tx.changes);
    // position, commitTime and transportOffset are still those of the last complete transaction.
    await checkpointWrite({ position, commitTime, transportOffset }, applied);
    committed();
    log.debug({ transactions: txs.length - 1 }, 'a large transaction followed small ones: the small ones are committed first');
    await shadow.begin();
    shadowTxOpen = true;
    await shadow.apply(current.changes);
    handedOver(pending);
    pending = [];
    kept.keepOnlyCurrent();
    grouper.beginTransaction();
  };

  try {
    /** The feed's next event, when a held group's deadline came first (it is still the next event). */
    let waiting: Promise<CaptureEvent | undefined> | undefined;
    for (;;) {
      // An event already queued is taken as it is; only an empty feed is waited on.
      let event = waiting ? undefined : sub.take?.();
      if (!event) {
        const next = waiting ?? sub.next();
        waiting = undefined;
        // A group held between source transactions (TransactionGrouper.deadline) commits when its deadline comes,
        // whether or not anything else arrives. With events waiting, the next one is taken without a timer.
        const held = shadowTxOpen && !inSourceTx && grouper.open && sub.backlog === 0 ? grouper.holdMs() : undefined;
        // Commits not yet durable on a quiet stream: a durable one follows by the flush interval, releasing them.
        const flushDue = !shadowTxOpen && unreleased && sub.backlog === 0 ? lastDurableAt + flushInterval - Date.now() : undefined;
        const deadline = held ?? flushDue;
        const got = deadline === undefined ? await next : await beforeDeadline(next, deadline);
        if (got === DEADLINE) {
          waiting = next;
          if (shadowTxOpen) await commitGroup();
          else await flushCommit();
          continue;
        }
        event = got;
      }
      if (!event) break;
      switch (event.kind) {
        case 'relation':
          if (!opts.tables.has(event.table)) break;
          if (event.ddl !== undefined) {
            if (shadowTxOpen && !inSourceTx) await commitGroup();
            await guard.onDdl(event.table, event.columns, event.ddl, position);
          } else await guard.onRelation(event.table, event.columns, position);
          break;
        case 'begin':
          inSourceTx = true;
          skipping = compare(event.position, position) < 0;
          if (skipping) {
            log.debug({ position: event.position }, 'skipping a transaction the checkpoint covers');
            break;
          }
          if (!shadowTxOpen) {
            await shadow.begin();
            shadowTxOpen = true;
          }
          grouper.beginTransaction();
          kept.begin(event.position);
          currentBegin = event.position;
          break;
        case 'marker':
          if (!skipping) markers.push(event.id);
          break;
        case 'change': {
          if (skipping) break;
          const change = replicatedPart(event.change, opts.tables);
          if (!change) break;
          pending.push(change);
          kept.add(change);
          grouper.addRows(1);
          if (kept.mustSplit()) await split();
          else if (pending.length >= opts.batchRows) await flush();
          break;
        }
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
          transportOffset = event.transportOffset ?? null;
          applied++;
          kept.commit(position, commitTime, transportOffset);
          // A marker's transaction is committed at once: the switch's window waits for it.
          if (markers.length || grouper.shouldCommit({ backlog: sub.backlog, stopping: signal.aborted })) await commitGroup();
          break;
        case 'idle':
          // The source has sent everything for now (a walsender says so after nearly every transaction of a busy
          // stream): commit, unless the group is held to share its commit (its deadline is timed above) or more
          // has arrived since.
          if (shadowTxOpen && !inSourceTx && grouper.commitsOnIdle(sub.backlog)) await commitGroup();
          if (!shadowTxOpen && compare(event.position, idlePosition ?? position) > 0 && Date.now() - lastIdleAck >= idleInterval) {
            // Recorded before it is acknowledged, so a slot found later beyond this point is known to be a new slot.
            idlePosition = event.position;
            await flushCommit();
            lastIdleAck = Date.now();
          }
          break;
      }
      if (signal.aborted && !inSourceTx) break;
    }
    if (shadowTxOpen && !inSourceTx) await commitGroup(true);
    else if (unreleased && !shadowTxOpen) await flushCommit();
    // Stopping: the feed ends when asked to, whatever it still holds (the source sends it again next time).
    if (signal.aborted) await sub.close();
    await sub.done;
    if (!signal.aborted) {
      // The source closed the stream without an error and without being asked to: reconnect, do not exit.
      throw new TandemError('TANDEM_CONNECT_FAILED', 'the replication stream ended unexpectedly', { retriable: true });
    }
  } catch (err) {
    if (!(err instanceof TandemError) || err.retriable) throw err;
    const txs = kept.keeping ? kept.transactions : [];
    let failing: { tx: BufferedTransaction | undefined; error: unknown } = { tx: txs.length === 1 ? txs[0] : undefined, error: err };
    if (txs.length > 1) {
      // Isolate: the good transactions of the group are committed one by one; the failing one fails again alone.
      log.info({ transactions: txs.length, err: err.message }, 'a transaction failed in a group: applying the group one transaction at a time');
      await shadow.rollback();
      shadowTxOpen = false;
      const firstApplied = applied - txs.filter((t) => t.commit).length;
      failing = (await applyEachAlone(txs, firstApplied)) ?? { tx: undefined, error: err };
    }
    const error = failing.error instanceof TandemError ? failing.error : err;
    error.at({ position: failing.tx?.begin ?? currentBegin ?? position });
    if (failing.tx && (error.code === 'TANDEM_APPLY_FAILED' || error.code === 'TANDEM_VALUE_UNSUPPORTED')) await locate(failing.tx.changes, error).catch(() => undefined);
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // A shadow transaction holding part of a source transaction is rolled back: the feed sends it again.
    if (shadowTxOpen) await shadow.rollback();
    await sub.close();
  }
  log.info({ checkpoint: position, appliedTransactions: applied, sourceTransactions: applied - sourceTxsAtStart, shadowCommits: stats.shadowCommits - shadowCommitsAtStart }, 'stream stopped at a transaction boundary');
}

const DEADLINE = Symbol('deadline');

/**
 * The event, or DEADLINE if `ms` pass first (the event's promise is left to be awaited again). An event already
 * waiting wins even over a passed deadline: a held group only commits early for lack of a backlog.
 */
async function beforeDeadline(event: Promise<CaptureEvent | undefined>, ms: number): Promise<CaptureEvent | undefined | typeof DEADLINE> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([event, new Promise<typeof DEADLINE>((resolve) => (timer = setTimeout(() => resolve(DEADLINE), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/** The part of a change that touches replicated tables (a TRUNCATE may name several), or undefined. */
function replicatedPart(change: Change, tables: ReadonlySet<string>): Change | undefined {
  if (change.op !== 'truncate') return tables.has(change.table) ? change : undefined;
  const kept = change.tables.filter((t) => tables.has(t));
  if (kept.length === change.tables.length) return change;
  return kept.length ? { ...change, tables: kept } : undefined;
}

/** A key as errors and logs show it: bytes as hex. */
function printableKey(key: Row): Record<string, string | null> {
  return Object.fromEntries(Object.entries(key).map(([k, v]) => [k, Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : v]));
}
