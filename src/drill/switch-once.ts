/**
 * One switch of a drill, checked as a team would check it (drill.ts): its gates waited for, the switch requested
 * through the API, then every acknowledged write looked for on both sides, Tandem's verification asked for a clean
 * pass, and the window, time to roll back, writes held and writes failed measured.
 */
import type { TandemConfig } from '../config/schema.js';
import type { Phase, SwitchKind } from '../model/control.js';
import type { SideName } from '../model/direction.js';
import type { Gate, SwitchResult } from '../model/switch.js';
import type { DrillCycle } from '../control/plan-review.js';
import type { DriftRecord } from '../verify/store.js';
import { readRefs, type DrillLoad } from './load.js';
import { until } from './wait.js';

/** How the drill reaches the running service (the CLI's ServiceClient fits). */
export interface DrillService {
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; body: T }>;
}

export interface StatusView {
  phase: Phase;
  activeSide: SideName;
  resyncRequired?: boolean;
  verification: {
    lastCompletePass: string | null;
    driftCount: number;
    unconfirmedCount: number;
    tables?: Array<{ table: string; drift: Array<Pick<DriftRecord, 'key' | 'kind' | 'columns' | 'firstSeen'>> }>;
  } | null;
  tables: { replicated: string[] } | null;
}

/** What one drill shares between its switches. */
export interface DrillRun {
  config: TandemConfig;
  service: DrillService;
  load: DrillLoad;
  urls: Record<SideName, string>;
  table: string;
  waitMs: number;
  say: (line: string) => void;
  cycles: DrillCycle[];
  reasons: string[];
  status(): Promise<StatusView>;
}

/**
 * One switch of the drill: wait for its gates, request it, then check and measure (see the file's comment). Returns
 * 'refused' when its gates never passed, 'failed' when it or a check after it failed (the reason is recorded).
 */
export async function switchOnce(run: DrillRun, kind: SwitchKind, label: string): Promise<'done' | 'refused' | 'failed'> {
  const { config, service, load, urls, table, waitMs, say, reasons } = run;
  const to: SideName = kind === 'cutover' ? 'new' : 'old';
  say(`${label}: waiting for the ${kind}'s gates`);
  let lastGates: Gate[] = [];
  const passed = await until(waitMs, async () => {
    lastGates = (await service.request<{ gates: Gate[] }>('GET', `/api/v1/gates/${kind}`)).body.gates ?? [];
    return lastGates.length && lastGates.every((g) => g.ok) ? true : undefined;
  });
  if (!passed) {
    const failing = lastGates.filter((g) => !g.ok);
    reasons.push(`the ${kind} of ${label} was not attempted: its gates did not pass in ${waitMs / 1000} s: ${failing.map((g) => `${g.name} (${String(g.value)}: ${g.detail})`).join('; ') || 'the gates could not be read'}`);
    return 'refused';
  }
  const before = await run.status();
  const requested = Date.now();
  const heldBefore = load.counters.held;
  const failedBefore = load.counters.failed;
  say(`${label}: ${kind}`);
  const r = await service.request<SwitchResult & { error?: { message?: string } }>('POST', `/api/v1/${kind}`, { expectedPhase: before.phase }, config.cutover.fenceTimeout + config.cutover.drainTimeout + 10 * 60_000);
  const result = r.body;
  const cycle: DrillCycle = {
    switch: kind,
    result: result.result ?? `HTTP ${r.status}`,
    windowMs: result.windowMs ?? null,
    timeToRollbackMs: null,
    writesHeld: 0,
    writesFailed: 0,
    rowsLost: 0,
    drift: 0,
    gates: result.gates ?? [],
  };
  run.cycles.push(cycle);
  if (result.result !== 'done') {
    reasons.push(`the ${kind} of ${label} ended ${cycle.result}: ${result.error?.message ?? 'no reason given'}`);
    return 'failed';
  }
  // Time until the side becoming active took an application write (the load follows the router).
  const firstWrite = await until(60_000, async () => load.firstAckOn(to, requested));
  if (kind === 'rollback') cycle.timeToRollbackMs = firstWrite === undefined ? null : firstWrite - requested;
  if (firstWrite === undefined) reasons.push(`after the ${kind} of ${label}, no write reached ${to} in 60 s`);

  // Every write acknowledged so far is on both sides once the shadow caught up; then the sides hold the same rows.
  const acked = [...load.counters.acked.keys()];
  let missing: Record<SideName, number> = { old: 0, new: 0 };
  const converged = await until(waitMs, async () => {
    const [o, nw] = await Promise.all([readRefs(urls.old, table), readRefs(urls.new, table)]);
    missing = { old: acked.filter((ref) => !o.has(ref)).length, new: acked.filter((ref) => !nw.has(ref)).length };
    return missing.old === 0 && missing.new === 0 ? true : undefined;
  });
  // A write missing on the side that is active now is lost; one missing only on the shadow is drift.
  cycle.rowsLost = missing[to];
  if (!converged) reasons.push(`after the ${kind} of ${label}: ${missing[to]} acknowledged write(s) missing on ${to} (active), ${missing[to === 'old' ? 'new' : 'old']} on the shadow after ${waitMs / 1000} s`);

  // Tandem's own verification, a complete pass after the switch.
  // Rows the shadow had not reached in time are unconfirmed: neither drift nor clean, and a later pass decides them
  // (on a busy machine the load keeps the shadow a moment behind). Drift confirmed by a pass fails the switch.
  const doneAt = new Date().toISOString();
  let unconfirmed = 0;
  const verified = await until(waitMs, async () => {
    const v = (await run.status()).verification;
    if (!v?.lastCompletePass || v.lastCompletePass <= doneAt) return undefined;
    unconfirmed = v.unconfirmedCount;
    return v.driftCount === 0 && v.unconfirmedCount > 0 ? undefined : v;
  });
  cycle.drift = verified ? verified.driftCount : unconfirmed;
  if (!verified) reasons.push(`after the ${kind} of ${label}, verification did not complete a clean pass in ${waitMs / 1000} s${unconfirmed ? ` (${unconfirmed} row(s) still unconfirmed)` : ''}`);
  else if (cycle.drift) reasons.push(`after the ${kind} of ${label}, verification found ${cycle.drift} drifted row(s)${driftSample(verified)}`);
  cycle.writesHeld = load.counters.held - heldBefore;
  cycle.writesFailed = load.counters.failed - failedBefore;
  if (cycle.writesFailed) reasons.push(`${cycle.writesFailed} write(s) failed during the ${kind} of ${label}: ${load.counters.errors.slice(-3).join('; ')}`);
  if (cycle.rowsLost) reasons.push(`${cycle.rowsLost} acknowledged write(s) lost in the ${kind} of ${label}`);
  return reasons.length ? 'failed' : 'done';
}

/** The first drifted rows, named as `tandem verify --json` names them, so the report says which rows to look at. */
function driftSample(v: NonNullable<StatusView['verification']>): string {
  const rows = (v.tables ?? []).flatMap((t) => t.drift.map((d) => `${t.table} ${JSON.stringify(d.key)} ${d.kind}${d.columns.length ? ` (${d.columns.join(', ')})` : ''} since ${d.firstSeen}`));
  return rows.length ? `: ${rows.slice(0, 5).join('; ')}${rows.length > 5 ? `; and ${rows.length - 5} more (tandem verify --json)` : ''}` : '';
}
