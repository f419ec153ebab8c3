/**
 * The words of the control state (DESIGN.md "Control state"): the migration's phase, which side is active, a
 * switch in progress, and the lease that lets exactly one Tandem instance act for the migration.
 */
import type { Direction, SideName } from './direction.js';

/**
 * `setup` → `backfill` → `shadowing` ⇄ (`cutting-over` → `cutover`, `rolling-back` → `shadowing`) → `finalized`.
 * "Phase" means only this state machine; the shadow checkpoint's own progress is its `stage`.
 */
export type Phase = 'setup' | 'backfill' | 'shadowing' | 'cutting-over' | 'cutover' | 'rolling-back' | 'finalized';
export const PHASES: readonly Phase[] = ['setup', 'backfill', 'shadowing', 'cutting-over', 'cutover', 'rolling-back', 'finalized'];

export type SwitchKind = 'cutover' | 'rollback';

/**
 * The steps of a switch as the control record keeps them, in order. Each is recorded before its action (`fencing`,
 * `unfencing`) or after it (`fenced`, `drained`, `checkpointed`). A switch found in progress at start-up is completed
 * when it reached `checkpointed` (everything before unfencing is done and recorded) and backed out otherwise.
 * `emergency` is an emergency rollback's only step (old is unfenced and recorded active; completed at start-up).
 */
export const SWITCH_STEPS = ['intent', 'fencing', 'fenced', 'drained', 'checkpointed', 'unfencing', 'emergency'] as const;
export type SwitchStep = (typeof SWITCH_STEPS)[number];

/** A cutover or rollback in progress: which one, and the last step recorded (each step is recorded before and after). */
export interface SwitchProgress {
  kind: SwitchKind;
  requestId: string;
  actor: string;
  step: SwitchStep;
  startedAt: string;
  /** The active side before the switch, and the side becoming active. */
  from: SideName;
  to: SideName;
  /** The phase to return to when the switch is backed out. */
  phaseBefore: Phase;
  /** When the fence went up on `from` (the write-unavailability window starts). */
  windowStartedAt: string | null;
  /** Positions at the fence, on both sides, and where the drain ended (`from`: the marker's commit; `to`: where the new direction's capture starts). */
  positions: SwitchPositions;
}

export interface SwitchPositions {
  fence: Partial<Record<SideName, string>>;
  drained: Partial<Record<SideName, string>>;
}

/** The last completed switch, for readiness ("since cutover") and status. */
export interface LastSwitch {
  kind: SwitchKind;
  requestId: string;
  at: string;
  emergency: boolean;
}

/** The control record: the migration's truth, kept in the databases (primary on old, mirror on new). */
export interface ControlState {
  phase: Phase;
  /** The direction replication runs in; its source is the active side. */
  direction: Direction;
  activeSide: SideName;
  switch: SwitchProgress | null;
  /** The shadow must be copied again before it receives changes (after an emergency rollback). */
  resyncRequired: boolean;
  lastSwitch?: LastSwitch | null;
  updatedAt: string;
  /** Who made the last change: `service@host:pid`, `local:<user>`, a token's name. */
  updatedBy: string;
}

export function initialControlState(actor: string, at: Date): ControlState {
  return { phase: 'setup', direction: 'forward', activeSide: 'old', switch: null, resyncRequired: false, updatedAt: at.toISOString(), updatedBy: actor };
}

/** Who asks for the lease. `id` is unique per process start. */
export interface LeaseHolder {
  id: string;
  /** What the holder does: the service (`tandem run`), or a command that needs the shadow to itself for a while. */
  role: 'service' | 'verify' | 'backfill' | 'teardown';
  host: string;
  pid: number;
  /** The control API's address (host:port), when the holder serves one. */
  api: string | null;
  startedAt: string;
}

export interface LeaseRecord extends LeaseHolder {
  /** The fencing token: it grows with every acquisition, and writes made under an older one are refused. */
  epoch: number;
  acquiredAt: string;
  renewedAt: string;
  expiresAt: string;
  /** Judged by the database's clock when the record was read. */
  expired: boolean;
  /** Milliseconds until expiry (negative once expired), by the database's clock. */
  remainingMs: number;
  /** Milliseconds since the last renewal, by the database's clock. */
  renewedAgoMs: number;
  /**
   * A per-start secret: the CLI proves it can read the state store (it holds the database credentials) by presenting
   * it to the service's API, which then treats it as a local operator. Never printed.
   */
  secret: string | null;
  /** The holder's last published status (JSON), written with each renewal. */
  heartbeat: string | null;
}

/** How the last service run ended, kept so that status can say what happened, when, and what to do. */
export interface StopRecord {
  at: string;
  host: string;
  pid: number;
  /** A clean stop (signal, finished); otherwise the error that stopped it. */
  clean: boolean;
  code?: string;
  message?: string;
  fix?: string;
  exitCode?: number;
  place?: { table?: string; column?: string; key?: Record<string, string | null>; position?: string };
}

/** The lease is free when nobody holds it or its holder let it expire. */
export function leaseIsLive(lease: LeaseRecord | undefined): lease is LeaseRecord {
  return lease !== undefined && lease.id !== '' && !lease.expired;
}
