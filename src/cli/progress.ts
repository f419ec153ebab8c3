import type { BackfillStats } from '../replicate/stats.js';

export function renderBackfillLine(b: BackfillStats): string {
  const pct = b.rowsEstimated > 0 ? Math.min(100, Math.floor((b.rowsCopied / b.rowsEstimated) * 100)) : 0;
  const width = 24;
  const filled = Math.round((pct / 100) * width);
  const eta = b.etaSeconds === null ? '?' : `${b.etaSeconds}s`;
  return `backfill [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${b.rowsCopied.toLocaleString('en')}/${b.rowsEstimated.toLocaleString('en')} rows, ${b.tablesDone}/${b.tablesTotal} tables, ${b.rowsPerSecond.toLocaleString('en')} rows/s, ETA ${eta}   `;
}
