/**
 * Parallel apply by lanes (the Kafka transport with `ordering: key`, H22): one pipeline (streamChanges) per lane,
 * each on a shadow session of its own and checkpointing its own position (its partition offset) with the data it
 * applies. The direction's own checkpoint row keeps what the rest of Tandem reads, the source position: advanced
 * by the feed's barrier (every lane has applied through it) about once a second, and marked with the lane count,
 * so lane rows left from another start (a new copy, another partition count) are recognised and begun afresh.
 */
import { TandemError } from '../errors.js';
import type { ShadowWriter } from '../engines/engine.js';
import type { LaneFeed } from '../transport/change-feed.js';
import { streamChanges, type StreamOptions } from './pipeline.js';
import { LagTracker } from './lag.js';
import { emptyStats, type ReplicationStats } from './stats.js';

export interface LanesOptions extends Pick<StreamOptions, 'comparePositions' | 'tables' | 'batchRows' | 'batchTimeMs' | 'commitDelayMs' | 'flushIntervalMs' | 'signal' | 'stats' | 'log' | 'onApplied' | 'onCheckpoint'> {
  feed: LaneFeed;
  /** The direction's own checkpoint (the barrier's source position). */
  shadow: ShadowWriter;
  openLaneShadow(lane: number): Promise<ShadowWriter>;
  /** How often the barrier is taken (ms). */
  barrierIntervalMs?: number;
}

/** Lag over lanes: the oldest unapplied change of any lane (each lane orders its own positions). */
export class LanesLag extends LagTracker {
  constructor(private readonly lanes: readonly LagTracker[]) {
    super(() => 0);
  }

  override setClockOffset(ms: number): void {
    for (const lane of this.lanes) lane.setClockOffset(ms);
  }

  override seconds(nowMs = Date.now()): number | null {
    let worst: number | null = 0;
    for (const lane of this.lanes) {
      const s = lane.seconds(nowMs);
      if (s === null) return null;
      worst = Math.max(worst, s);
    }
    return worst;
  }

  override get unapplied(): number {
    return this.lanes.reduce((n, lane) => n + lane.unapplied, 0);
  }
}

/** The direction's checkpoint marks lanes it belongs with by this transport offset. */
export function lanesMark(partitions: number): string {
  return `lanes:${partitions}`;
}

export async function streamLanes(opts: LanesOptions): Promise<void> {
  const { feed, shadow, stats, log } = opts;
  const main = await shadow.readCheckpoint();
  if (!main) throw new TandemError('TANDEM_STATE', 'no checkpoint on the shadow: the backfill has not run', { fix: 'run `tandem run` (it backfills first) or `tandem backfill`' });
  const mark = lanesMark(feed.partitions);
  const fresh = main.transportOffset !== mark;
  const shadows: ShadowWriter[] = [];
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  opts.signal.addEventListener('abort', onAbort, { once: true });
  if (opts.signal.aborted) stop.abort();
  let barrierTimer: NodeJS.Timeout | undefined;
  try {
    for (let i = 0; i < feed.partitions; i++) {
      const lane = await opts.openLaneShadow(i);
      shadows.push(lane);
      await lane.prepare([...opts.tables]);
    }
    for (const [i, lane] of shadows.entries()) {
      if (!fresh && (await lane.readCheckpoint())) continue;
      // From its partition's first record: the copy's rows are older than anything the connector sent after it.
      await lane.begin();
      await lane.commit({ sourcePosition: feed.laneStart, transportOffset: null, commitTime: null, appliedTransactions: 0, stage: 'streaming', idlePosition: null });
      log.debug({ lane: i }, 'apply lane starts at its partition\'s first record');
    }
    let position = main.sourcePosition;
    let commitTime = main.commitTime;
    const writeMain = async () => {
      await shadow.begin();
      await shadow.commit({ sourcePosition: position, transportOffset: mark, commitTime, appliedTransactions: laneStats.reduce((n, s) => n + s.appliedTransactions, 0), stage: 'streaming', idlePosition: null });
    };
    const laneStats = shadows.map(() => ({ ...emptyStats(), stage: 'streaming' as const, lag: new LagTracker(feed.compareLane) }));
    if (fresh) await writeMain();

    stats.lag = new LanesLag(laneStats.map((s) => s.lag));
    stats.checkpoint = position;
    stats.acknowledged = position;
    const sum = () => {
      stats.appliedChanges = laneStats.reduce((n, s) => n + s.appliedChanges, 0);
      stats.shadowCommits = laneStats.reduce((n, s) => n + s.shadowCommits, 0);
      stats.appliedTransactions = laneStats.reduce((n, s) => n + s.appliedTransactions, 0);
      const times = laneStats.map((s) => s.commitTime).filter((t): t is string => t !== null);
      stats.commitTime = times.length ? (times.sort()[times.length - 1] as string) : stats.commitTime;
    };

    // About once a second: the source position all lanes have passed becomes the direction's checkpoint.
    let barrierRunning = false;
    let inflight: Promise<void> = Promise.resolve();
    const takeBarrier = async () => {
      if (barrierRunning || stop.signal.aborted) return;
      barrierRunning = true;
      try {
        sum();
        const through = await feed.barrier(2_000);
        if (through === undefined || opts.comparePositions(through, position) <= 0 || stop.signal.aborted) return;
        position = through;
        commitTime = stats.commitTime ? new Date(stats.commitTime) : commitTime;
        await writeMain();
        stats.checkpoint = position;
        stats.acknowledged = position;
        opts.onCheckpoint?.(position);
      } catch (err) {
        log.debug({ err: (err as Error).message }, 'the lanes\' common position could not be taken this time');
      } finally {
        barrierRunning = false;
      }
    };
    barrierTimer = setInterval(() => {
      inflight = takeBarrier();
    }, opts.barrierIntervalMs ?? 1_000);

    let first: unknown;
    await Promise.all(
      shadows.map((laneShadow, i) =>
        streamChanges({
          feed: feed.lane(i),
          shadow: laneShadow,
          comparePositions: feed.compareLane,
          tables: opts.tables,
          batchRows: opts.batchRows,
          batchTimeMs: opts.batchTimeMs,
          commitDelayMs: opts.commitDelayMs,
          flushIntervalMs: opts.flushIntervalMs,
          signal: stop.signal,
          stats: laneStats[i] as ReplicationStats,
          log: log.child({ lane: i }),
          onApplied: opts.onApplied,
        }).catch((err: unknown) => {
          // One lane's failure stops them all; the first error is the one reported.
          first ??= err;
          stop.abort();
          void feed.close();
        }),
      ),
    );
    clearInterval(barrierTimer);
    barrierTimer = undefined;
    // The direction's checkpoint session is the runner's again once the last barrier is through.
    await inflight;
    sum();
    if (first !== undefined) throw first;
    log.info({ checkpoint: position, lanes: feed.partitions, appliedTransactions: stats.appliedTransactions }, 'apply lanes stopped');
  } finally {
    if (barrierTimer) clearInterval(barrierTimer);
    opts.signal.removeEventListener('abort', onAbort);
    await feed.close();
    await Promise.all(shadows.map((s) => s.close().catch(() => undefined)));
  }
}
