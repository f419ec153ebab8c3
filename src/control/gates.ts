/**
 * The switch's gates (DESIGN.md "The switch"): every one is evaluated and reported by name with what was measured
 * and the threshold, whether or not an earlier one failed, so an operator sees everything to fix at once. They
 * change nothing. The same facts answer "safe to roll back?" (rollback.ready in status).
 */
import { transportSwitch } from './transport-switch.js';
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { engineForUrl } from '../engines/registry.js';
import type { CheckItem } from '../engines/shared/checks.js';
import type { ControlState, SwitchKind } from '../model/control.js';
import { sidesOf, type Direction, type SideName } from '../model/direction.js';
import type { Gate } from '../model/switch.js';
import type { TableVerification } from '../verify/store.js';
import { verificationOf } from './status.js';
import { readinessGates } from './plan-review.js';
import type { StateStore } from './state-store.js';

/** What only the running service knows, read when the gates are evaluated. */
export interface LiveFacts {
  lagSeconds: number | null;
  /** Replication's state: streaming is the only state a switch starts from. */
  runState: string;
  /** The error replication stopped on, or the last interruption it is retrying. */
  lastError: string | null;
  failed: boolean;
  /** Another switch is running in this service. */
  switchRunning: boolean;
}

export interface GateInput {
  config: TandemConfig;
  kind: SwitchKind;
  control: ControlState;
  live: LiveFacts;
  tables: string[];
  verification: TableVerification[];
  allowDrift: boolean;
  /** For the optional gates cutover.requireReviewedPlan and cutover.requireDrillWithin (they read the audit log). */
  store?: StateStore;
}

export const phaseFor: Record<SwitchKind, ControlState['phase']> = { cutover: 'shadowing', rollback: 'cutover' };

/** The sides a switch moves writes between, and the direction replication runs in afterwards. */
export function switchSides(kind: SwitchKind): { from: SideName; to: SideName; after: Direction } {
  return kind === 'cutover' ? { from: 'old', to: 'new', after: 'reverse' } : { from: 'new', to: 'old', after: 'forward' };
}

const seconds = (ms: number) => ms / 1000;

export function phaseGate(kind: SwitchKind, control: ControlState): Gate {
  const wanted = phaseFor[kind];
  const ok = control.phase === wanted && !control.resyncRequired && control.switch === null;
  return {
    name: 'phase',
    ok,
    value: control.resyncRequired ? `${control.phase} (resync required)` : control.phase,
    threshold: wanted,
    detail: ok
      ? `phase is ${wanted}`
      : control.resyncRequired
        ? 'new must be copied again after the emergency rollback before it can take writes: stop tandem run, run tandem backfill --yes, start tandem run'
        : `a ${kind} starts from phase ${wanted}; the migration is in ${control.phase}${control.switch ? ` (a ${control.switch.kind} is at step ${control.switch.step})` : ''}`,
  };
}

export function lagGate(config: TandemConfig, live: LiveFacts): Gate {
  const max = seconds(config.cutover.maxLag);
  const lag = live.lagSeconds;
  const ok = lag !== null && lag <= max;
  return {
    name: 'lag',
    ok,
    value: lag === null ? null : Number(lag.toFixed(3)),
    threshold: max,
    detail: lag === null ? 'lag is not measured yet (replication is starting or copying)' : ok ? `the shadow is ${lag.toFixed(1)} s behind` : `the shadow is ${lag.toFixed(1)} s behind, more than cutover.maxLag (${max} s): wait for it to catch up`,
  };
}

export function verificationGate(input: Pick<GateInput, 'verification' | 'tables' | 'allowDrift'>): Gate {
  const v = verificationOf(input.verification, input.tables);
  const drift = v?.driftCount ?? 0;
  const unconfirmed = v?.unconfirmedCount ?? 0;
  const complete = v?.lastCompletePass ?? null;
  const never = v?.tables.filter((t) => t.lastPassCompletedAt === null).map((t) => t.table) ?? input.tables;
  const clean = complete !== null && drift === 0 && unconfirmed === 0;
  const overridden = !clean && input.allowDrift;
  return {
    name: 'verification',
    ok: clean || overridden,
    ...(overridden ? { overridden: true } : {}),
    value: complete === null ? `not complete (never compared: ${never.join(', ') || 'none'})` : `complete ${complete}; ${drift} drifted, ${unconfirmed} unconfirmed`,
    threshold: 'a complete pass of every table, 0 drifted, 0 unconfirmed',
    detail: clean
      ? `every table compared since ${complete}, no drift`
      : overridden
        ? 'overridden with --allow-drift (audited)'
        : complete === null
          ? 'wait for the running verification to compare every table (POST /api/v1/verify starts a pass), or pass --allow-drift'
          : 'repair the drift (tandem repair) or wait for the unconfirmed rows to settle, or pass --allow-drift',
  };
}

export function applyGate(live: LiveFacts): Gate {
  const ok = !live.failed && live.runState === 'streaming';
  return {
    name: 'apply-errors',
    ok,
    value: live.failed ? `stopped: ${live.lastError ?? 'error'}` : live.runState,
    threshold: 'streaming, no error',
    detail: ok ? 'replication is streaming' : `replication is ${live.runState}${live.lastError ? ` (${live.lastError})` : ''}: the switch needs it streaming`,
  };
}

export function switchGate(control: ControlState, live: LiveFacts): Gate {
  const busy = live.switchRunning || control.switch !== null;
  return {
    name: 'switch-in-progress',
    ok: !busy,
    value: busy ? (control.switch ? `${control.switch.kind} ${control.switch.requestId} at ${control.switch.step}` : 'a switch is running') : 'none',
    threshold: 'none',
    detail: busy ? 'one switch at a time: wait for it to finish (tandem status)' : 'no other switch in progress',
  };
}

/**
 * The new direction must work before writes move: the side becoming active must be capturable (wal_level, a free
 * slot and WAL sender, binlog format, privileges) and the side becoming the shadow must accept Tandem's writes.
 */
export async function capturePrerequisitesGate(config: TandemConfig, kind: SwitchKind, tables: string[]): Promise<Gate> {
  const { from, to } = switchSides(kind);
  const ctx = { migration: config.migration, tables, minBinlogRetentionHours: config.check.minBinlogRetentionHours };
  let items: CheckItem[] = [];
  try {
    const toDb = await engineForUrl(config[to].url).openDatabase(to, config[to].url);
    try {
      items = items.concat(await toDb.checkCapture({ ...ctx, side: to }));
    } finally {
      await toDb.close();
    }
    const fromDb = await engineForUrl(config[from].url).openDatabase(from, config[from].url);
    try {
      items = items.concat(await fromDb.checkApply({ ...ctx, side: from }));
    } finally {
      await fromDb.close();
    }
  } catch (err) {
    return { name: 'capture-prerequisites', ok: false, value: `cannot check: ${errorMessage(err)}`, threshold: 'every check passes', detail: `the prerequisites of the ${sidesOf(switchSides(kind).after).active} → ${sidesOf(switchSides(kind).after).shadow} stream could not be read: ${errorMessage(err)}` };
  }
  const failed = items.filter((i) => i.status === 'fail');
  return {
    name: 'capture-prerequisites',
    ok: failed.length === 0,
    value: failed.length ? failed.map((i) => i.id).join(', ') : `${items.length} checks pass`,
    threshold: 'every check passes',
    detail: failed.length
      ? `the ${to} → ${from} stream would not work after the switch: ${failed.map((i) => `${i.side}: ${i.detail}${i.fix ? ` (fix: ${i.fix})` : ''}`).join('; ')}`
      : `capture on ${to} and apply on ${from} are ready`,
  };
}

export async function evaluateGates(input: GateInput): Promise<Gate[]> {
  return [
    phaseGate(input.kind, input.control),
    await transportSwitch(input.config).gate(input.control.direction, switchSides(input.kind).after, input.tables),
    lagGate(input.config, input.live),
    verificationGate(input),
    await capturePrerequisitesGate(input.config, input.kind, input.tables),
    applyGate(input.live),
    switchGate(input.control, input.live),
    ...(input.store ? await readinessGates(input.config, input.kind, input.store, input.tables) : []),
  ];
}
