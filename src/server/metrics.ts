import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { PHASES, type Phase } from '../model/control.js';
import type { Direction, SideName } from '../model/direction.js';
import type { SwitchResult } from '../model/switch.js';
import type { TableVerification } from '../verify/store.js';
import type { ReplicationStats } from '../replicate/stats.js';
import { lagSecondsOf } from '../replicate/lag.js';
import { kafkaLagOffsets, kafkaLagSeconds, kafkaRetentionHeadroom } from '../transport/kafka/stats.js';

export interface MetricsSource {
  stats: ReplicationStats;
  migration: string;
  version: string;
  /** The direction replicating now (it changes at a switch), and the control phase. */
  direction(): Direction | undefined;
  phase(): Phase | undefined;
  /** What the dashboard shows beyond the stats (each optional: absent, the metric is absent). */
  activeSide?(): SideName | undefined;
  /** Verification records of the replicating direction: drift by table and kind, each table's last pass. */
  verification?(): Promise<TableVerification[]>;
  /** Fence state per side as the service knows it: true, false, or null when not known. */
  fences?(): Partial<Record<SideName, boolean | null>>;
  /** The lease this process holds. */
  lease?(): { holder: string; host: string; epoch: number } | undefined;
  /** After a cutover: whether a rollback's gates would pass now; null before a cutover. */
  rollbackReady?(): Promise<boolean | null>;
}

const SWITCH_WINDOW = 'tandem_switch_window_seconds';

/** Records a switch's write-unavailability window in the histogram (done switches, and backed-out ones that fenced). */
export function observeSwitch(registry: Registry, result: SwitchResult): void {
  const h = registry.getSingleMetric(SWITCH_WINDOW) as Histogram | undefined;
  if (h && result.windowMs !== null && (result.result === 'done' || result.result === 'backed-out')) h.observe({ kind: result.kind, result: result.result }, result.windowMs / 1000);
}

/**
 * Prometheus metrics of one `tandem run`, in a registry of their own. Values are read from the service's stats at
 * scrape time; labels stay bounded (migration, direction, phase) — never keys or positions.
 */
export function createMetrics(src: MetricsSource): Registry {
  const { stats } = src;
  const registry = new Registry();
  registry.setDefaultLabels({ migration: src.migration });
  new Gauge({ name: 'tandem_build_info', help: 'Tandem build information', labelNames: ['version'], registers: [registry] }).set({ version: src.version }, 1);
  new Gauge({ name: 'tandem_service_start_time_seconds', help: 'When this tandem run started (Unix time): alerts tell "never" from "not for a while"', registers: [registry] }).set(Date.now() / 1000);

  const gauge = (name: string, help: string, read: () => number | null | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        this.reset();
        const v = read();
        const direction = src.direction();
        if (v !== null && v !== undefined && direction) this.set({ direction }, v);
      },
    });
  // Counters only go up; the service holds absolute totals, so each scrape adds what is new since the last one.
  const counter = (name: string, help: string, read: () => number) => {
    let seen = 0;
    return new Counter({
      name,
      help,
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        const now = read();
        const direction = src.direction();
        if (now > seen && direction) this.inc({ direction }, now - seen);
        seen = Math.max(seen, now);
      },
    });
  };

  counter('tandem_applied_transactions_total', 'Source transactions applied to the shadow (since the migration began)', () => stats.appliedTransactions);
  counter('tandem_applied_changes_total', 'Row changes applied to the shadow by this process', () => stats.appliedChanges);
  counter('tandem_apply_shadow_commits_total', 'Shadow transactions committed by this process with source transactions in them (small ones share a commit: apply.commitDelay)', () => stats.shadowCommits);
  gauge('tandem_lag_bytes', 'Log distance between the active side and the shadow checkpoint', () => stats.source?.lagBytes);
  gauge('tandem_lag_seconds', 'How long ago (active side\'s clock) the oldest source transaction not yet applied to the shadow was committed; absent while unknown (backfill)', () => lagSecondsOf(stats));
  gauge('tandem_slot_retained_wal_bytes', 'WAL the replication slot keeps on the active side (PostgreSQL; absent on a MySQL/MariaDB source)', () => stats.source?.retainedBytes);
  gauge('tandem_binlog_headroom_bytes', 'Binlog the active side keeps before the checkpoint: how far purging can go before it reaches it (MySQL/MariaDB)', () => stats.source?.logRetention?.headroomBytes);
  gauge('tandem_binlog_retention_seconds', 'The active side\'s binlog retention (binlog_expire_logs_seconds / expire_logs_days); absent when binlogs are kept until purged by hand', () => stats.source?.logRetention?.retentionSeconds);
  gauge('tandem_backfill_rows_copied', 'Rows copied by the backfill', () => stats.backfill?.rowsCopied);
  gauge('tandem_backfill_rows_estimated', 'Rows the backfill expects to copy', () => stats.backfill?.rowsEstimated);
  gauge('tandem_backfill_tables_done', 'Tables the backfill has finished', () => stats.backfill?.tablesDone);
  gauge('tandem_backfill_tables_total', 'Tables the backfill copies', () => stats.backfill?.tablesTotal);
  gauge('tandem_backfill_rows_per_second', 'Backfill copy rate', () => stats.backfill?.rowsPerSecond);
  gauge('tandem_backfill_parallel_tables', 'Tables the backfill copies at once (backfill.parallelTables, or fewer when fewer readers share the snapshot)', () => stats.backfill?.parallelTables);
  gauge('tandem_backfill_rows_per_second_limit', 'backfill.rowsPerSecond, the rate the copy keeps under (absent when unthrottled)', () => stats.backfill?.rowsPerSecondLimit ?? undefined);
  gauge('tandem_drift_rows', 'Rows found drifted by verification and not yet resolved', () => stats.verification?.driftCount);
  counter('tandem_verify_rows_compared_total', 'Rows compared by background full passes', () => stats.verification?.rowsCompared ?? 0);
  counter('tandem_verify_keys_rechecked_total', 'Applied rows re-verified shortly after apply', () => stats.verification?.keysRechecked ?? 0);
  counter('tandem_verify_keys_dropped_total', 'Applied rows not re-verified individually (queue full; the next full pass covers them)', () => stats.verification?.keysDropped ?? 0);
  gauge('tandem_verify_passes_completed', 'Full verification passes completed by this process', () => stats.verification?.passesCompleted);
  counter('tandem_verify_passes_failed_total', 'Verification passes that did not compare every table to the end (an error, or rows that could not be confirmed)', () => stats.verification?.passesFailed ?? 0);
  gauge('tandem_verify_last_pass_completed_timestamp_seconds', 'When the last full verification pass finished (Unix time)', () =>
    stats.verification?.lastPassCompletedAt ? Date.parse(stats.verification.lastPassCompletedAt) / 1000 : null,
  );
  new Gauge({
    name: 'tandem_tables',
    help: 'Tables by state: replicated, joining (being copied), pending (cannot join yet: tandem status says why), not_replicated (left out by tables)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      const t = stats.tables;
      if (!t) return;
      this.set({ state: 'replicated' }, t.replicated.length);
      this.set({ state: 'joining' }, t.joining.length);
      this.set({ state: 'pending' }, t.pending.length);
      this.set({ state: 'not_replicated' }, t.notReplicated.length);
    },
  });
  new Gauge({
    name: 'tandem_phase',
    help: 'Current control phase (1 for the current one)',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const current = src.phase();
      for (const p of PHASES) this.set({ phase: p }, current === p ? 1 : 0);
    },
  });
  dashboardMetrics(registry, src);
  kafkaMetrics(registry, src, gauge, counter);
  return registry;
}

/**
 * The Kafka transport (docs/kafka.md): the feed's lag in the change topic, the retention headroom, records read
 * (their rate is the events per second) and copies dropped, and the connector's and tasks' states. Absent with the
 * embedded transport. Labels: the connector's name, task ids and Connect's state names, all bounded.
 */
function kafkaMetrics(
  registry: Registry,
  src: MetricsSource,
  gauge: (name: string, help: string, read: () => number | null | undefined) => Gauge,
  counter: (name: string, help: string, read: () => number) => Counter,
): void {
  const { stats } = src;
  gauge('tandem_kafka_lag_offsets', 'Records written to the Kafka change topic that the shadow does not hold yet', () => stats.kafka && kafkaLagOffsets(stats.kafka));
  gauge('tandem_kafka_lag_seconds', 'How long ago the oldest change-topic record read and not yet applied was written to Kafka (0 when all read records are applied)', () => stats.kafka && kafkaLagSeconds(stats.kafka));
  gauge('tandem_kafka_retention_headroom_offsets', 'Records between the change topic\'s retention edge and the shadow\'s position: 0 means retention is deleting records the shadow still needs', () => stats.kafka && kafkaRetentionHeadroom(stats.kafka));
  counter('tandem_kafka_records_read_total', 'Records read from the Kafka change topic (row changes, transaction boundaries, heartbeats); its rate is the events per second', () => stats.kafka?.eventsRead ?? 0);
  counter('tandem_kafka_redelivered_records_total', 'Change-topic records recognised as copies Debezium sent again (after a Connect or connector restart) and dropped', () => stats.kafka?.redeliveredEvents ?? 0);
  new Gauge({
    name: 'tandem_kafka_connector_state',
    help: 'The connector\'s state in Kafka Connect (1 for the current one): RUNNING, PAUSED, STOPPED, FAILED, RESTARTING, UNASSIGNED, or ABSENT (no such connector), UNREACHABLE (Connect did not answer)',
    labelNames: ['connector', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const k = stats.kafka;
      if (k?.connector && k.connectorState) this.set({ connector: k.connector, state: k.connectorState }, 1);
    },
  });
  new Gauge({
    name: 'tandem_kafka_task_state',
    help: 'The state of each of the connector\'s tasks in Kafka Connect (1 for the current one)',
    labelNames: ['connector', 'task', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      const k = stats.kafka;
      if (!k?.connector) return;
      for (const t of k.tasks) this.set({ connector: k.connector, task: String(t.id), state: t.state }, 1);
    },
  });
}

/** The dashboard's figures beyond replication's counters (issue 16): every one a metric with bounded labels. */
function dashboardMetrics(registry: Registry, src: MetricsSource): void {
  const { stats } = src;
  new Gauge({
    name: 'tandem_info',
    help: 'Phase, active side and direction of the migration now (1 for the current combination)',
    labelNames: ['phase', 'active_side', 'direction'],
    registers: [registry],
    collect() {
      this.reset();
      const phase = src.phase();
      const active = src.activeSide?.();
      const direction = src.direction();
      if (phase && active && direction) this.set({ phase, active_side: active, direction }, 1);
    },
  });
  // Rows by table and operation: labels bounded by the replicated tables (never keys or positions).
  const seen = new Map<string, number>();
  new Counter({
    name: 'tandem_applied_rows_total',
    help: 'Rows applied to the shadow by this process, by table and operation (insert, update, delete)',
    labelNames: ['direction', 'table', 'operation'],
    registers: [registry],
    collect() {
      for (const [key, now] of Object.entries(stats.appliedRows)) {
        const before = seen.get(key) ?? 0;
        const [direction, table, operation] = key.split('\t') as [string, string, string];
        if (now > before) this.inc({ direction, table, operation }, now - before);
        seen.set(key, now);
      }
    },
  });
  let errorsSeen = 0;
  new Counter({
    name: 'tandem_replication_errors_total',
    help: 'Capture and apply errors met by this process (retried ones included): tandem status and the log say which',
    registers: [registry],
    collect() {
      if (stats.errors > errorsSeen) this.inc(stats.errors - errorsSeen);
      errorsSeen = Math.max(errorsSeen, stats.errors);
    },
  });
  new Gauge({
    name: 'tandem_retained_log_bytes',
    help: 'Log the active side keeps for Tandem: WAL held by the slot (PostgreSQL); on MySQL/MariaDB see tandem_binlog_headroom_bytes',
    labelNames: ['side'],
    registers: [registry],
    collect() {
      this.reset();
      const side = src.activeSide?.();
      const bytes = stats.source?.retainedBytes;
      if (side && bytes !== null && bytes !== undefined) this.set({ side }, bytes);
    },
  });
  const verification = src.verification;
  if (verification) {
    const drift = new Gauge({ name: 'tandem_drift_table_rows', help: 'Drifted rows recorded now, by table and kind (missing, extra, different)', labelNames: ['table', 'kind'], registers: [registry] });
    const lastPass = new Gauge({ name: 'tandem_verify_table_last_pass_timestamp_seconds', help: 'When the last complete verification pass over each table finished (Unix time); absent until one has', labelNames: ['table'], registers: [registry] });
    const rows = new Gauge({ name: 'tandem_verify_table_rows_compared', help: 'Rows compared by the last complete pass over each table', labelNames: ['table'], registers: [registry] });
    new Gauge({
      name: 'tandem_verify_progress_ratio',
      help: 'Share of replicated tables whose current pass is complete (1: every table compared to the end since its pass started)',
      // A label keeps it absent while unknown: prom-client reports 0 for a label-less gauge that was never set.
      labelNames: ['direction'],
      registers: [registry],
      async collect() {
        this.reset();
        drift.reset();
        lastPass.reset();
        rows.reset();
        let tables: TableVerification[];
        try {
          tables = await verification();
        } catch {
          return; // The state store unreachable: absent, never a made-up 0.
        }
        const replicated = new Set([...(stats.tables?.replicated ?? []), ...(stats.tables?.joining ?? [])]);
        let done = 0;
        for (const t of tables) {
          for (const kind of ['missing', 'extra', 'different'] as const) drift.set({ table: t.table, kind }, t.drift.filter((d) => d.kind === kind).length);
          rows.set({ table: t.table }, t.rowsCompared);
          if (t.lastPassCompletedAt) lastPass.set({ table: t.table }, Date.parse(t.lastPassCompletedAt) / 1000);
          if (t.lastPassCompletedAt && (!t.lastPassStartedAt || t.lastPassCompletedAt >= t.lastPassStartedAt) && (replicated.size === 0 || replicated.has(t.table))) done++;
        }
        const total = replicated.size || tables.length;
        const direction = src.direction();
        if (total > 0 && direction) this.set({ direction }, Math.min(1, done / total));
      },
    });
  }
  new Histogram({
    name: SWITCH_WINDOW,
    help: 'Write-unavailability window of switches run by this process (fence to unfence), by kind and result',
    labelNames: ['kind', 'result'],
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: 'tandem_fenced',
    help: 'Whether each side is fenced (1) or writable (0) as the service knows it; absent when not known',
    labelNames: ['side'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [side, fenced] of Object.entries(src.fences?.() ?? {})) if (fenced !== null && fenced !== undefined) this.set({ side }, fenced ? 1 : 0);
    },
  });
  new Gauge({
    name: 'tandem_lease_holder',
    help: 'The lease this process holds (1), with the holder and its host; the epoch grows with each acquisition',
    labelNames: ['holder', 'host'],
    registers: [registry],
    collect() {
      this.reset();
      const l = src.lease?.();
      if (l) this.set({ holder: l.holder, host: l.host }, 1);
    },
  });
  new Gauge({
    name: 'tandem_lease_epoch',
    help: 'The epoch (fencing token) of the lease this process holds',
    labelNames: ['holder'],
    registers: [registry],
    collect() {
      this.reset();
      const l = src.lease?.();
      if (l) this.set({ holder: l.holder }, l.epoch);
    },
  });
  const rollbackReady = src.rollbackReady;
  if (rollbackReady) {
    new Gauge({
      name: 'tandem_rollback_ready',
      help: 'After a cutover: 1 when a rollback\'s gates would pass now, 0 when not (tandem status says why); absent before a cutover',
      labelNames: ['direction'],
      registers: [registry],
      async collect() {
        this.reset();
        const ready = await rollbackReady().catch(() => null);
        const direction = src.direction();
        if (ready !== null && direction) this.set({ direction }, ready ? 1 : 0);
      },
    });
  }
}
