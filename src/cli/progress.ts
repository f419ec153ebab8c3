import type { ReplicationStats } from '../replicate/stats.js';
import { terminalProgress } from './terminal-progress.js';

/** Backfill progress on stderr, on a terminal only (cli-progress: rows of the estimate, tables, rate, ETA); nothing otherwise. */
export function backfillProgress(opts: { json?: boolean } = {}): { update(stats: ReplicationStats): void; end(): void } {
  const bar = terminalProgress('backfill', 'rows', opts);
  return {
    update(stats) {
      const b = stats.backfill;
      if (!b) return;
      bar.update(b.rowsCopied, Math.max(b.rowsEstimated, b.rowsCopied), `${b.tablesDone}/${b.tablesTotal} tables, ${b.rowsPerSecond.toLocaleString('en')} rows/s${b.currentTables.length ? `, ${b.currentTables.join(', ')}` : ''}`);
    },
    end() {
      bar.stop();
    },
  };
}
