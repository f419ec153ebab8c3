/**
 * "Safe to roll back?" (DESIGN.md): a live fact after a cutover. Ready when the reverse stream runs, its lag is under
 * cutover.maxLag, the last reverse verification is complete and clean, every counter of new has a counterpart on old
 * (the rollback advances them, H19), and no value was written to old other than it was captured since the cutover.
 * Rollback's gates are the same facts; this adds the two a gate cannot see in advance.
 */
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { engineForUrl } from '../engines/registry.js';
import type { Counter } from '../engines/engine.js';
import type { Coordinator } from './coordinator.js';
import { lagGate, verificationGate } from './gates.js';
import type { RollbackReadiness, StatusReport } from './status.js';
import type { Switcher } from './switch.js';
import { transportSwitch } from './transport-switch.js';

const COUNTERS_TTL_MS = 30_000;
let countersCache: { at: number; key: string; result: { ok: boolean; detail: string } } | undefined;

/** Every counter (sequence, identity, AUTO_INCREMENT) of new has one on old that a rollback can advance. */
async function countersMatch(config: TandemConfig, tables: string[]): Promise<{ ok: boolean; detail: string }> {
  const key = `${config.migration}:${tables.join(',')}`;
  if (countersCache && countersCache.key === key && Date.now() - countersCache.at < COUNTERS_TTL_MS) return countersCache.result;
  const read = async (side: 'old' | 'new'): Promise<Counter[]> => {
    const s = await engineForUrl(config[side].url).openSwitchSide(config[side].url);
    try {
      return await s.counters(tables);
    } finally {
      await s.close();
    }
  };
  let result: { ok: boolean; detail: string };
  try {
    const [onNew, onOld] = await Promise.all([read('new'), read('old')]);
    const old = new Set(onOld.map((c) => `${c.table}.${c.column}`));
    const missing = onNew.filter((c) => !old.has(`${c.table}.${c.column}`)).map((c) => `${c.table}.${c.column}`);
    result = missing.length
      ? { ok: false, detail: `${missing.join(', ')} ${missing.length > 1 ? 'have' : 'has'} a counter on new but none on old: after a rollback, inserts on old would not get new ids (add AUTO_INCREMENT / a sequence default on old)` }
      : { ok: true, detail: `${onNew.length} counter(s) on new, each with a counterpart on old (the rollback advances them)` };
  } catch (err) {
    result = { ok: false, detail: `counters could not be read: ${errorMessage(err)}` };
  }
  countersCache = { at: Date.now(), key, result };
  return result;
}

export async function rollbackReadiness(config: TandemConfig, report: StatusReport, switcher: Switcher, coordinator: Coordinator): Promise<RollbackReadiness> {
  const checks: RollbackReadiness['checks'] = [];
  if (report.phase !== 'cutover') {
    checks.push({ name: 'phase', ok: false, detail: `phase is ${report.phase}: a rollback follows a cutover` });
  } else {
    const live = switcher.liveFacts();
    checks.push({ name: 'reverse-stream', ok: coordinator.direction === 'reverse' && live.runState === 'streaming' && !live.failed, detail: `the reverse stream (new → old) is ${live.failed ? `stopped: ${live.lastError ?? ''}` : live.runState}` });
    // Over Kafka the reverse stream also needs its connector on new to run (Tandem only reads what it captures).
    const capture = await transportSwitch(config).state('reverse', coordinator.replicatedTables);
    if (capture) checks.push({ name: 'reverse-connector', ok: capture.ok, detail: capture.detail });
    const lag = lagGate(config, live);
    checks.push({ name: 'reverse-lag', ok: lag.ok, detail: lag.detail });
    const records = report.verification?.tables ?? [];
    const tables = coordinator.replicatedTables;
    const v = verificationGate({
      tables,
      allowDrift: false,
      verification: records.map((t) => ({ table: t.table, rowsCompared: t.rowsCompared, lastPassStartedAt: null, lastPassCompletedAt: t.lastPassCompletedAt, drift: t.drift, unconfirmed: t.unconfirmed, lastPassError: t.lastPassError })),
    });
    checks.push({ name: 'reverse-verification', ok: v.ok, detail: v.ok ? v.detail : `${v.value}: ${v.detail.replace(', or pass --allow-drift', '')}` });
    const counters = await countersMatch(config, tables);
    checks.push({ name: 'sequences', ok: counters.ok, detail: counters.detail });
    const lossy = coordinator.lossyValues;
    checks.push({ name: 'lossless', ok: lossy.count === 0, detail: lossy.count === 0 ? 'no value was written to old other than it was captured' : `${lossy.count} value(s) were written to old other than captured (last: ${lossy.last ?? '?'}, values.zeroDates: null)` });
  }
  const failing = checks.filter((c) => !c.ok);
  return { ready: failing.length === 0, reasons: failing.map((c) => `${c.name}: ${c.detail}`), checks };
}
