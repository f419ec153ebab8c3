/**
 * What a reviewed rollback plan rests on (issue 17): its material parts — the tables, each column's type on both
 * sides (the mappings) and the switch's configuration — hashed, so that a review (`tandem plan --approve`, an audit
 * entry) can later be told apart from a plan that has since changed. Live figures (lag, row counts, gate values) are
 * not material: they change every second and a review does not go stale because of them.
 *
 * Also the drills' records, and the two optional cutover gates that read both: cutover.requireReviewedPlan and
 * cutover.requireDrillWithin.
 */
import { createHash } from 'node:crypto';
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { engineForUrl } from '../engines/registry.js';
import type { TableSchema } from '../model/schema.js';
import type { AuditEntry, Gate } from '../model/switch.js';
import type { SwitchKind } from '../model/control.js';
import type { StateStore } from './state-store.js';

/** The parts of a plan whose change makes a review stale. */
export interface PlanMaterial {
  tables: string[];
  /** Per table, per column: `old type → new type` (`—` where a side lacks the column). */
  mappings: Record<string, Record<string, string>>;
  /** The switch's configuration: thresholds and timeouts every gate and step uses. */
  gates: Record<string, string | number | boolean | null>;
}

export interface ReviewRecord {
  by: string;
  at: string;
  hash: string;
  material: PlanMaterial;
}

export interface ReviewState {
  /** Who reviewed, when, and the hash they approved; null when the plan was never reviewed. */
  by: string | null;
  at: string | null;
  hash: string | null;
  currentHash: string;
  /** Whether anything material changed since the review (null: never reviewed). */
  changedSince: boolean | null;
  /** What changed, one line each (a table added, a mapping changed, a gate setting changed). */
  changes: string[];
}

/** The drill's per-switch measurements (tandem drill --json). */
export interface DrillCycle {
  switch: 'cutover' | 'rollback' | 'emergency-rollback';
  result: string;
  windowMs: number | null;
  timeToRollbackMs: number | null;
  writesHeld: number;
  writesFailed: number;
  rowsLost: number;
  drift: number;
  gates: Gate[];
}

/** The emergency rollback a drill rehearses with new stopped (drill.stopNew, drill.startNew). */
export interface EmergencyRehearsal {
  stopNew: { ok: boolean; ms: number; detail: string };
  /** Null when new was not started again (the rehearsal stopped before). */
  startNew: { ok: boolean; ms: number; detail: string } | null;
  /** From the switch's result: whether new could be fenced, and the last position of new that reached old. */
  newFenced: boolean | null;
  lastAppliedPosition: string | null;
  /** Acknowledged writes made on new that are not on old: what the emergency rollback lost, by ref. */
  lostRefs: string[];
  /** Of those, the ones still on new once it ran again: recoverable by hand before new is copied again. */
  lostStillOnNew: string[];
  /** Acknowledged updates that old does not have (a row's update count on old below the acknowledged one). */
  updatesLost: number;
  /** The pair needs new copied again (the service applies nothing to new until then). */
  resyncRequired: boolean;
  /** What the operator does next to make the pair whole. */
  next: string[];
}

export interface DrillReport {
  migration: string;
  startedAt: string;
  finishedAt: string;
  actor: string;
  production: boolean;
  verdict: 'pass' | 'fail';
  reasons: string[];
  writesAcknowledged: number;
  cycles: DrillCycle[];
  /** Present when the drill rehearsed an emergency rollback (its switch is also in cycles). */
  emergency?: EmergencyRehearsal;
}

export interface LastDrill {
  at: string;
  verdict: 'pass' | 'fail';
  by: string;
  cycles: number;
  maxWindowMs: number | null;
  maxTimeToRollbackMs: number | null;
  /** Acknowledged writes lost by the drill's ordinary switches (must be 0). */
  rowsLost: number;
  /** The emergency rollback's rehearsal, when there was one: its time to roll back and what it lost. */
  emergency: { timeToRollbackMs: number | null; rowsLost: number } | null;
  reasons: string[];
  /** The last drill that passed (it may be older than the last drill). */
  lastPassAt: string | null;
}

/** JSON with keys sorted at every level: the same material always hashes the same (JSON.stringify keeps insertion order). */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function materialHash(material: PlanMaterial): string {
  return `sha256:${createHash('sha256').update(stableJson(material), 'utf8').digest('hex')}`;
}

export function gateSettings(config: TandemConfig): PlanMaterial['gates'] {
  const c = config.cutover;
  return {
    'cutover.maxLag': c.maxLag,
    'cutover.drainTimeout': c.drainTimeout,
    'cutover.fenceTimeout': c.fenceTimeout,
    'cutover.holdTimeout': c.holdTimeout,
    'cutover.emergencyFenceTimeout': c.emergencyFenceTimeout,
    'cutover.requireReviewedPlan': c.requireReviewedPlan,
    'cutover.requireDrillWithin': c.requireDrillWithin ?? null,
    'fence.shadow': config.fence.shadow,
    'values.zeroDates': config.values.zeroDates,
  };
}

export function mappingsOf(tables: string[], oldSchemas: Map<string, TableSchema>, newSchemas: Map<string, TableSchema>): PlanMaterial['mappings'] {
  const out: PlanMaterial['mappings'] = {};
  for (const t of [...tables].sort()) {
    const o = new Map((oldSchemas.get(t)?.columns ?? []).map((c) => [c.name, c.nativeType]));
    const n = new Map((newSchemas.get(t)?.columns ?? []).map((c) => [c.name, c.nativeType]));
    const cols: Record<string, string> = {};
    for (const name of [...new Set([...o.keys(), ...n.keys()])].sort()) cols[name] = `${o.get(name) ?? '—'} → ${n.get(name) ?? '—'}`;
    out[t] = cols;
  }
  return out;
}

/** Reads both sides' table definitions: the material of the plan as it is now. */
export async function readMaterial(config: TandemConfig, tables: string[]): Promise<{ material: PlanMaterial; oldSchemas: Map<string, TableSchema>; newSchemas: Map<string, TableSchema> }> {
  const describe = async (side: 'old' | 'new') => {
    const db = await engineForUrl(config[side].url).openDatabase(side, config[side].url);
    try {
      return await db.describeTables(tables);
    } finally {
      await db.close();
    }
  };
  const [oldSchemas, newSchemas] = await Promise.all([describe('old'), describe('new')]);
  return { material: { tables: [...tables].sort(), mappings: mappingsOf(tables, oldSchemas, newSchemas), gates: gateSettings(config) }, oldSchemas, newSchemas };
}

/** What differs between the reviewed material and the current one, in words. */
export function materialChanges(reviewed: PlanMaterial, current: PlanMaterial): string[] {
  const out: string[] = [];
  const before = new Set(reviewed.tables);
  const now = new Set(current.tables);
  for (const t of current.tables) if (!before.has(t)) out.push(`table added: ${t}`);
  for (const t of reviewed.tables) if (!now.has(t)) out.push(`table removed: ${t}`);
  for (const t of current.tables) {
    if (!before.has(t)) continue;
    const a = reviewed.mappings[t] ?? {};
    const b = current.mappings[t] ?? {};
    for (const col of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (a[col] !== b[col]) out.push(`mapping changed: ${t}.${col} ${a[col] ?? '(none)'} ⇒ ${b[col] ?? '(none)'}`);
    }
  }
  for (const key of [...new Set([...Object.keys(reviewed.gates), ...Object.keys(current.gates)])].sort()) {
    if (stableJson(reviewed.gates[key]) !== stableJson(current.gates[key])) out.push(`gate setting changed: ${key} ${String(reviewed.gates[key] ?? '(unset)')} ⇒ ${String(current.gates[key] ?? '(unset)')}`);
  }
  return out;
}

export function lastReview(audit: AuditEntry[]): ReviewRecord | undefined {
  for (let i = audit.length - 1; i >= 0; i--) {
    const e = audit[i] as AuditEntry;
    if (e.action === 'plan-review' && e.event === 'done' && e.detail) return e.detail as unknown as ReviewRecord;
  }
  return undefined;
}

export function reviewState(audit: AuditEntry[], material: PlanMaterial): ReviewState {
  const currentHash = materialHash(material);
  const r = lastReview(audit);
  if (!r) return { by: null, at: null, hash: null, currentHash, changedSince: null, changes: [] };
  const changes = r.hash === currentHash ? [] : materialChanges(r.material, material);
  // A hash that differs with no change in words still counts: the hash is the judge.
  return { by: r.by, at: r.at, hash: r.hash, currentHash, changedSince: r.hash !== currentHash, changes: r.hash !== currentHash && changes.length === 0 ? ['the plan material differs from the reviewed one'] : changes };
}

export function drillReports(audit: AuditEntry[]): DrillReport[] {
  return audit.filter((e) => e.action === 'drill' && (e.event === 'done' || e.event === 'failed') && e.detail).map((e) => e.detail as unknown as DrillReport);
}

export function lastDrillOf(audit: AuditEntry[]): LastDrill | null {
  const reports = drillReports(audit);
  const last = reports[reports.length - 1];
  if (!last) return null;
  const windows = last.cycles.map((c) => c.windowMs).filter((w): w is number => w !== null);
  const rollbacks = last.cycles.map((c) => c.timeToRollbackMs).filter((w): w is number => w !== null);
  const passed = reports.filter((r) => r.verdict === 'pass');
  return {
    at: last.finishedAt,
    verdict: last.verdict,
    by: last.actor,
    cycles: last.cycles.length,
    maxWindowMs: windows.length ? Math.max(...windows) : null,
    maxTimeToRollbackMs: rollbacks.length ? Math.max(...rollbacks) : null,
    rowsLost: last.cycles.filter((c) => c.switch !== 'emergency-rollback').reduce((n, c) => n + c.rowsLost, 0),
    emergency: (() => {
      const e = last.cycles.find((c) => c.switch === 'emergency-rollback');
      return e ? { timeToRollbackMs: e.timeToRollbackMs, rowsLost: e.rowsLost } : null;
    })(),
    reasons: last.reasons,
    lastPassAt: passed[passed.length - 1]?.finishedAt ?? null,
  };
}

/** cutover.requireReviewedPlan: the plan was approved and nothing material changed since. */
export function reviewGate(review: ReviewState | undefined, error?: string): Gate {
  const ok = !!review && review.changedSince === false;
  return {
    name: 'plan-reviewed',
    ok,
    value: error ? `cannot check: ${error}` : !review || review.by === null ? 'never reviewed' : `reviewed by ${review.by} at ${review.at}${review.changedSince ? `; changed since: ${review.changes.join('; ')}` : ''}`,
    threshold: 'reviewed, unchanged since',
    detail: ok ? 'the rollback plan was reviewed and nothing material changed since' : 'read the plan (tandem plan), then record the review with tandem plan --approve',
  };
}

/** cutover.requireDrillWithin: a drill passed no longer ago than this. */
export function drillGate(withinMs: number, last: LastDrill | null, now = Date.now()): Gate {
  const at = last?.lastPassAt ?? null;
  const ageMs = at ? now - Date.parse(at) : null;
  const ok = ageMs !== null && ageMs <= withinMs;
  const hours = (ms: number) => `${(ms / 3_600_000).toFixed(1)} h`;
  return {
    name: 'drill-recent',
    ok,
    value: at ? `last passing drill ${at} (${hours(ageMs ?? 0)} ago)` : 'no drill has passed',
    threshold: `a passing drill within ${hours(withinMs)}`,
    detail: ok ? 'a recent rollback rehearsal passed' : 'rehearse the rollback on the staging pair (tandem drill) and let it pass',
  };
}

/** The optional gates a switch of `kind` has by configuration (only a cutover has them). */
export async function readinessGates(config: TandemConfig, kind: SwitchKind, store: StateStore, tables: string[]): Promise<Gate[]> {
  const c = config.cutover;
  if (kind !== 'cutover' || (!c.requireReviewedPlan && c.requireDrillWithin === undefined)) return [];
  let audit: AuditEntry[];
  try {
    audit = await store.listAudit();
  } catch (err) {
    const e = errorMessage(err);
    return [...(c.requireReviewedPlan ? [reviewGate(undefined, e)] : []), ...(c.requireDrillWithin !== undefined ? [drillGate(c.requireDrillWithin, null)] : [])];
  }
  const gates: Gate[] = [];
  if (c.requireReviewedPlan) {
    try {
      gates.push(reviewGate(reviewState(audit, (await readMaterial(config, tables)).material)));
    } catch (err) {
      gates.push(reviewGate(undefined, errorMessage(err)));
    }
  }
  if (c.requireDrillWithin !== undefined) gates.push(drillGate(c.requireDrillWithin, lastDrillOf(audit)));
  return gates;
}
