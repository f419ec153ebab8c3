/**
 * Lag in seconds, defined once (status, metrics, alerts and the switch's gates all read it from here): how long ago
 * the oldest source transaction that is committed on the active side but not yet applied to the shadow was
 * committed. Zero when the shadow holds everything read from the source.
 *
 * Commit times come from the active side's clock; "now" is Tandem's clock moved onto the active side's clock by an
 * offset measured against it (the sampler reads the active side's clock every few seconds, correcting for the
 * round trip). Two machines' clocks are never compared directly (H23): a skewed Tandem host does not change the
 * figure. Until the offset is known the lag is unknown (null), never 0.
 *
 * Transactions are counted from the moment the capture reads them (their begin, when the source says its commit
 * time up front as PostgreSQL does, else their commit), which is as early as any reader can know them: a transport
 * queue that holds thousands of unapplied transactions counts them all. MySQL binlog times have one-second
 * resolution, so lag there is exact to about a second.
 */
export class LagTracker {
  /** Source transactions read and not yet applied, in commit order: their commit positions and times (ms). */
  private pending: Array<{ position: string; commitTime: number }> = [];
  private applied: string | undefined;
  private offsetMs: number | undefined;

  constructor(private readonly compare: (a: string, b: string) => number) {}

  /** A new stream starts at `applied`: anything read before is gone with the old stream. */
  restart(applied: string): void {
    this.pending = [];
    this.applied = applied;
  }

  /** The capture read a transaction committed at `commitTime` (source clock) at `position`. */
  read(position: string, commitTime: Date): void {
    if (this.applied !== undefined && this.compare(position, this.applied) <= 0) return;
    const last = this.pending[this.pending.length - 1];
    if (last && this.compare(position, last.position) <= 0) return; // seen already (begin and commit of one transaction)
    this.pending.push({ position, commitTime: commitTime.getTime() });
  }

  /** The shadow now holds everything up to `position` (a checkpoint commit). */
  appliedThrough(position: string): void {
    if (this.applied === undefined || this.compare(position, this.applied) > 0) this.applied = position;
    let drop = 0;
    while (drop < this.pending.length && this.compare((this.pending[drop] as { position: string }).position, position) <= 0) drop++;
    if (drop) this.pending.splice(0, drop);
  }

  /** The active side's clock minus this host's, in milliseconds. */
  setClockOffset(ms: number): void {
    this.offsetMs = ms;
  }

  /** Seconds, or null while the active side's clock has not been read yet. */
  seconds(nowMs = Date.now()): number | null {
    if (this.offsetMs === undefined) return null;
    const oldest = this.pending[0];
    if (!oldest) return 0;
    return Math.max(0, (nowMs + this.offsetMs - oldest.commitTime) / 1000);
  }

  /** Source transactions read and not applied yet. */
  get unapplied(): number {
    return this.pending.length;
  }
}

/** The lag of a running service, or null when it is unknown: during the backfill, before the active side's clock is read. */
export function lagSecondsOf(stats: { stage: string; lag: LagTracker | null }): number | null {
  return stats.stage === 'streaming' && stats.lag ? stats.lag.seconds() : null;
}
