/**
 * The words of a switch's outcome (issue "the switch"): gates as evaluated, the result the CLI and the API return,
 * the certificate a completed switch leaves, and the audit log's entries.
 */
import type { Phase, SwitchKind, SwitchPositions } from './control.js';
import type { SideName } from './direction.js';

/** One precondition of a switch, reported by name with what was measured and what it had to be. */
export interface Gate {
  name: 'phase' | 'lag' | 'verification' | 'capture-prerequisites' | 'apply-errors' | 'switch-in-progress' | 'transport' | 'plan-reviewed' | 'drill-recent';
  ok: boolean;
  value: string | number | null;
  threshold: string | number;
  /** What was found, in words; for a refused gate, what to do. */
  detail: string;
  /** The gate failed but the operator overrode it (`--allow-drift`): audited. */
  overridden?: boolean;
}

/** `pending-approval`: two-person approval is configured; the switch runs when a second actor approves it. */
export type SwitchOutcome = 'done' | 'refused' | 'backed-out' | 'dry-run' | 'failed' | 'pending-approval';

/** Per-table row counts and chunk hashes of one side at the drained point. */
export interface TableCertificate {
  table: string;
  rows: number;
  /** Each chunk: the last key it covers (canonical text; null for the open end), its row count and hash. */
  chunks: Array<{ upTo: string[] | null; rows: number; hash: string }>;
}

export interface Certificate {
  migration: string;
  kind: SwitchKind;
  requestId: string;
  actor: string;
  /** When the switch was asked for and when it completed. */
  requestedAt: string;
  completedAt: string;
  from: SideName;
  to: SideName;
  positions: SwitchPositions;
  /** Lag when the gates were evaluated, in seconds. */
  lagSeconds: number | null;
  windowMs: number;
  gates: Gate[];
  overrides: string[];
  /** The counters advanced on `to` (table.column → next value). */
  counters: Array<{ table: string; column: string; next: string }>;
  /** Counts and hashes read on `hashedSide` (it holds the drained point: fenced, nothing applied to it yet). */
  hashedSide: SideName;
  tables: TableCertificate[];
  /** Why the counts and hashes could not be computed, if they could not (the switch is done either way). */
  tablesError?: string;
}

/** What `tandem cutover|rollback` and POST /api/v1/cutover|rollback return. */
export interface SwitchResult {
  requestId: string;
  kind: SwitchKind;
  result: SwitchOutcome;
  phase: Phase;
  activeSide: SideName;
  gates: Gate[];
  /** The write-unavailability window (fence to unfence), when the fence went up. */
  windowMs: number | null;
  positions: SwitchPositions;
  certificate: Certificate | null;
  /** What a dry run would do, in order. */
  steps?: string[];
  /** Why it was refused, backed out or failed, with the fix. */
  error?: { code: string; message: string; fix?: string };
  /** An emergency rollback: what may be lost, and whether new could be fenced. */
  emergency?: EmergencyReport;
  /** Two-person approval: who asked, who approved (or that it waits), and until when the request stands. */
  approval?: ApprovalInfo;
}

export interface ApprovalInfo {
  requestedBy: string;
  approvedBy: string | null;
  /** Until when a pending request can be approved (null once approved). */
  expiresAt: string | null;
}

export interface EmergencyReport {
  /** The last position of new applied to old, and its commit time: changes on new after it may be lost. */
  lastAppliedPosition: string | null;
  lastAppliedCommitTime: string | null;
  newFenced: boolean;
  warning: string;
}

/** One entry of the append-only audit log (kept in the state store, mirrored to new). */
export interface AuditEntry {
  at: string;
  /** What happened: a switch request and its outcome, a switch finished or backed out after a restart, a repair, ... */
  action: 'cutover' | 'rollback' | 'finalize' | 'teardown' | 'repair' | 'backfill' | 'plan-review' | 'drill';
  event: 'requested' | 'refused' | 'dry-run' | 'done' | 'backed-out' | 'failed' | 'recovered-done' | 'recovered-backed-out' | 'pending-approval' | 'approved' | 'expired';
  requestId: string;
  actor: string;
  /** The second actor of a two-person approval (the switch's entries name both). */
  approvedBy?: string;
  phase: Phase;
  activeSide: SideName;
  gates?: Gate[];
  overrides?: string[];
  windowMs?: number | null;
  positions?: SwitchPositions;
  certificate?: Certificate | null;
  emergency?: EmergencyReport;
  error?: { code: string; message: string; fix?: string };
  /** Anything else worth keeping (repair: table and rows). */
  detail?: Record<string, unknown>;
}
