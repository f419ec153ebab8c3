import { Counter, Gauge, Registry } from 'prom-client';
import type { ReplicationStats } from '../replicate/stats.js';
import type { Direction } from '../model/direction.js';

const PHASES = ['setup', 'backfill', 'shadowing'] as const;

/**
 * Prometheus metrics of one `tandem run`, in a registry of their own. Values are read from the service's stats at
 * scrape time; labels stay bounded (direction, phase) — never keys or positions.
 */
export function createMetrics(stats: ReplicationStats, migration: string, direction: Direction, version: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ migration, direction });
  new Gauge({ name: 'tandem_build_info', help: 'Tandem build information', labelNames: ['version'], registers: [registry] }).set({ version }, 1);

  const gauge = (name: string, help: string, read: () => number | null | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = read();
        if (v === null || v === undefined) this.reset();
        else this.set(v);
      },
    });
  // Counters only go up; the service holds absolute totals, so each scrape adds what is new since the last one.
  const counter = (name: string, help: string, read: () => number) => {
    let seen = 0;
    return new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const now = read();
        if (now > seen) this.inc(now - seen);
        seen = Math.max(seen, now);
      },
    });
  };

  counter('tandem_applied_transactions_total', 'Source transactions applied to the shadow (since the migration began)', () => stats.appliedTransactions);
  counter('tandem_applied_changes_total', 'Row changes applied to the shadow by this process', () => stats.appliedChanges);
  gauge('tandem_lag_bytes', 'Log distance between the active side and the shadow checkpoint', () => stats.source?.lagBytes);
  gauge('tandem_lag_seconds', 'Age of the oldest change received but not yet committed on the shadow', () => (stats.pendingSince ? (Date.now() - stats.pendingSince) / 1000 : 0));
  gauge('tandem_slot_retained_wal_bytes', 'WAL the replication slot keeps on the active side', () => stats.source?.retainedBytes);
  gauge('tandem_backfill_rows_copied', 'Rows copied by the backfill', () => stats.backfill?.rowsCopied);
  gauge('tandem_backfill_rows_estimated', 'Rows the backfill expects to copy', () => stats.backfill?.rowsEstimated);
  gauge('tandem_backfill_tables_done', 'Tables the backfill has finished', () => stats.backfill?.tablesDone);
  gauge('tandem_backfill_tables_total', 'Tables the backfill copies', () => stats.backfill?.tablesTotal);
  gauge('tandem_backfill_rows_per_second', 'Backfill copy rate', () => stats.backfill?.rowsPerSecond);
  gauge('tandem_drift_rows', 'Rows found drifted by verification and not yet resolved', () => stats.verification?.driftCount);
  counter('tandem_verify_rows_compared_total', 'Rows compared by background full passes', () => stats.verification?.rowsCompared ?? 0);
  counter('tandem_verify_keys_rechecked_total', 'Applied rows re-verified shortly after apply', () => stats.verification?.keysRechecked ?? 0);
  counter('tandem_verify_keys_dropped_total', 'Applied rows not re-verified individually (queue full; the next full pass covers them)', () => stats.verification?.keysDropped ?? 0);
  gauge('tandem_verify_passes_completed', 'Full verification passes completed by this process', () => stats.verification?.passesCompleted);
  gauge('tandem_verify_last_pass_completed_timestamp_seconds', 'When the last full verification pass finished (Unix time)', () =>
    stats.verification?.lastPassCompletedAt ? Date.parse(stats.verification.lastPassCompletedAt) / 1000 : null,
  );
  new Gauge({
    name: 'tandem_phase',
    help: 'Current phase (1 for the current one)',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      for (const p of PHASES) this.set({ phase: p }, stats.phase === p ? 1 : 0);
    },
  });
  return registry;
}
