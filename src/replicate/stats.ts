import type { TableSet } from './tables.js';
import type { LagTracker } from './lag.js';
import type { KafkaStats } from '../transport/kafka/stats.js';
import type { Change } from '../model/change.js';

/** What the running service knows about its progress; published for `tandem status` and metrics. */
export interface ReplicationStats {
  /** Where replication itself is: not started, copying the tables, or streaming changes. (Not the control phase.) */
  stage: 'setup' | 'backfill' | 'streaming';
  checkpoint: string | null;
  /** How far the shadow's checkpoint covers the source: the last applied transaction, or a later idle position. */
  acknowledged: string | null;
  commitTime: string | null;
  appliedTransactions: number;
  appliedChanges: number;
  /** Shadow transactions this process committed with source transactions in them (several share one: TransactionGrouper). */
  shadowCommits: number;
  /** Lag in seconds, defined once (src/replicate/lag.ts); null until replication streams. */
  lag: LagTracker | null;
  lastError: string | null;
  /** Values written other than captured (values.zeroDates: null) since this process started, and the last column. */
  lossyValues: { count: number; last: string | null };
  backfill: BackfillStats | null;
  /** Sampled from the active side every few seconds while the service runs. */
  source: SourceSample | null;
  /** Continuous verification (src/verify/continuous.ts); null until it has started. */
  verification: VerificationStats | null;
  /** Which tables replicate, which are joining or pending (with why), which the config leaves out. */
  tables: TableSet | null;
  /** Rows applied to the shadow by this process, by `direction<TAB>table<TAB>operation` (metrics). */
  appliedRows: Record<string, number>;
  /** Replication errors (capture or apply) this process met, retried or not (metrics). */
  errors: number;
  /** The Kafka transport's position in its topic and the connector's state; null with the embedded transport. */
  kafka: KafkaStats | null;
}

export interface VerificationStats {
  passesCompleted: number;
  /** Passes that ended without comparing every table to the end (an error, or rows that could not be confirmed). */
  passesFailed: number;
  lastPassCompletedAt: string | null;
  /** Rows compared by full passes since the service started. */
  rowsCompared: number;
  /** Applied keys re-verified shortly after apply, and those left to the next full pass because the queue was full. */
  keysRechecked: number;
  keysDropped: number;
  /** Drifted rows recorded now (all tables). */
  driftCount: number;
  lastError: string | null;
}

export interface SourceSample {
  /** Log distance from the shadow's checkpoint (or acknowledged idle position) to the active side's position. */
  lagBytes: number | null;
  /** WAL the slot keeps on the active side (PostgreSQL); null where the engine has no slot. */
  retainedBytes: number | null;
  /** Where the active side purges its log itself (MySQL binlog): headroom before the checkpoint, and the retention. */
  logRetention: { headroomBytes: number; retentionSeconds: number | null } | null;
  sampledAt: number;
}

export interface BackfillStats {
  tablesTotal: number;
  tablesDone: number;
  rowsCopied: number;
  rowsEstimated: number;
  rowsPerSecond: number;
  /** backfill.rowsPerSecond: the rate the copy keeps under; null when unthrottled. */
  rowsPerSecondLimit: number | null;
  /** Tables copied at once (backfill.parallelTables, or fewer when fewer readers could share the snapshot). */
  parallelTables: number;
  etaSeconds: number | null;
  /** The first of currentTables (kept for readers of the single-table form). */
  currentTable: string | null;
  /** Tables being copied now, one per busy worker. */
  currentTables: string[];
}

export function emptyStats(): ReplicationStats {
  return { stage: 'setup', checkpoint: null, acknowledged: null, commitTime: null, appliedTransactions: 0, appliedChanges: 0, shadowCommits: 0, lag: null, lastError: null, lossyValues: { count: 0, last: null }, backfill: null, source: null, verification: null, tables: null, appliedRows: {}, errors: 0, kafka: null };
}

/**
 * Adds applied changes to `appliedRows` (keys `direction<TAB>table<TAB>op`), counted per run of one table and
 * operation: a key string built for every change was a tenth of what a large transaction allocated.
 */
export function countAppliedRows(appliedRows: Record<string, number>, direction: string, changes: readonly Change[]): void {
  let table = '';
  let op = '';
  let run = 0;
  const flush = () => {
    if (run === 0) return;
    const key = `${direction}\t${table}\t${op}`;
    appliedRows[key] = (appliedRows[key] ?? 0) + run;
  };
  const add = (t: string, o: string) => {
    if (run > 0 && t === table && o === op) {
      run++;
      return;
    }
    flush();
    table = t;
    op = o;
    run = 1;
  };
  for (const c of changes) {
    if (c.op === 'truncate') for (const t of c.tables) add(t, c.op);
    else add(c.table, c.op);
  }
  flush();
}
