/**
 * Keeps verification under `rowsPerSecond` on each side (config verify.rowsPerSecond), so a full pass never competes
 * with the shop's own queries. A token bucket: rows are charged after they are read, and a caller that overdraws
 * sleeps until the rate has paid for them. The bucket starts empty and holds at most one second's worth, so time
 * spent idle (between passes, say) never buys a burst beyond that. Several loops may share one limiter (the
 * background passes and the re-checks of applied rows of `tandem run`): together they stay under the rate. Zero or
 * Infinity means unlimited.
 */
export class RowRateLimiter {
  private tokens = 0;
  private last = Date.now();

  constructor(private readonly rowsPerSecond: number) {}

  /** No limit: charge never waits. */
  get unlimited(): boolean {
    return !Number.isFinite(this.rowsPerSecond) || this.rowsPerSecond <= 0;
  }

  async charge(rows: number, signal?: AbortSignal): Promise<void> {
    if (this.unlimited) return;
    const now = Date.now();
    this.tokens = Math.min(this.rowsPerSecond, this.tokens + ((now - this.last) / 1000) * this.rowsPerSecond) - rows;
    this.last = now;
    if (this.tokens < 0) await sleep((-this.tokens / this.rowsPerSecond) * 1000, signal);
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
