/**
 * Keeps background verification under `rowsPerSecond` on each side (config verify.rowsPerSecond), so a full pass
 * never competes with the shop's own queries. Rows are charged after they are read; the limiter then sleeps long
 * enough that the average since the start stays at the rate. Zero or Infinity means unlimited.
 */
export class RowRateLimiter {
  private started = Date.now();
  private rows = 0;

  constructor(private readonly rowsPerSecond: number) {}

  async charge(rows: number, signal?: AbortSignal): Promise<void> {
    if (!Number.isFinite(this.rowsPerSecond) || this.rowsPerSecond <= 0) return;
    this.rows += rows;
    const due = this.started + (this.rows / this.rowsPerSecond) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait, signal);
  }

  reset(): void {
    this.started = Date.now();
    this.rows = 0;
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
