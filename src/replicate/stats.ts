/** What the running service knows about its progress; published for `tandem status` and metrics. */
export interface ReplicationStats {
  phase: 'setup' | 'backfill' | 'shadowing';
  checkpoint: string | null;
  commitTime: string | null;
  appliedTransactions: number;
  appliedChanges: number;
  /** Local time when the oldest change not yet committed on the shadow was received (local clock only: H23). */
  pendingSince: number | null;
  lastError: string | null;
  backfill: BackfillStats | null;
  /** Sampled from the active side every few seconds while the service runs. */
  source: SourceSample | null;
  /** Continuous verification (src/verify/continuous.ts); null until it has started. */
  verification: VerificationStats | null;
}

export interface VerificationStats {
  passesCompleted: number;
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
  sampledAt: number;
}

export interface BackfillStats {
  tablesTotal: number;
  tablesDone: number;
  rowsCopied: number;
  rowsEstimated: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
  currentTable: string | null;
}

export function emptyStats(): ReplicationStats {
  return { phase: 'setup', checkpoint: null, commitTime: null, appliedTransactions: 0, appliedChanges: 0, pendingSince: null, lastError: null, backfill: null, source: null, verification: null };
}
