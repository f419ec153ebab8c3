/**
 * `tandem drill`: a rollback rehearsal run for real on a staging pair (issue 17). Under the drill's load (load.ts),
 * it performs N cutover → rollback cycles through the running service's API, and after every switch checks what a
 * team would: every acknowledged write is on both sides, the sides hold the same rows (and Tandem's verification
 * finds no drift), and measures the window, the time to roll back (request to old taking writes again), the writes
 * held and failed. Before each switch it waits for the switch's gates to pass; a gate that never passes fails the
 * drill with the gate named, before any traffic moved for that switch.
 */
import type { TandemConfig } from '../config/schema.js';
import type { Phase, SwitchKind } from '../model/control.js';
import type { SideName } from '../model/direction.js';
import type { Gate, SwitchResult } from '../model/switch.js';
import type { DrillCycle, DrillReport } from '../control/plan-review.js';
import { readRefs, startDrillLoad, type ActiveSide } from './load.js';

/** How the drill reaches the running service (the CLI's ServiceClient fits). */
export interface DrillService {
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number): Promise<{ status: number; body: T }>;
}

interface StatusView {
  phase: Phase;
  activeSide: SideName;
  verification: { lastCompletePass: string | null; driftCount: number; unconfirmedCount: number } | null;
  tables: { replicated: string[] } | null;
}

export interface DrillOptions {
  config: TandemConfig;
  service: DrillService;
  router: ActiveSide;
  cycles: number;
  actor: string;
  production: boolean;
  /** How long to wait for a switch's gates, for the sides to converge, for a verification pass (ms). */
  waitMs?: number;
  progress?: (line: string) => void;
}

export interface DrillOutcome {
  report: DrillReport;
  /** The first switch's gates never passed: nothing moved (exit 3). */
  refusedBeforeTraffic: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) return undefined;
    await sleep(250);
  }
}

export async function runDrill(opts: DrillOptions): Promise<DrillOutcome> {
  const { config, service, router } = opts;
  const waitMs = opts.waitMs ?? 180_000;
  const say = opts.progress ?? (() => undefined);
  const table = config.drill.table;
  const urls: Record<SideName, string> = { old: config.drill.load.old ?? config.old.url, new: config.drill.load.new ?? config.new.url };
  const startedAt = new Date().toISOString();
  const cycles: DrillCycle[] = [];
  const reasons: string[] = [];
  let refusedBeforeTraffic = false;

  const status = async () => {
    const r = await service.request<StatusView>('GET', '/api/v1/status');
    if (r.status !== 200) throw new Error(`status: HTTP ${r.status}`);
    return r.body;
  };
  const gatesOf = async (kind: SwitchKind) => (await service.request<{ gates: Gate[] }>('GET', `/api/v1/gates/${kind}`)).body.gates ?? [];

  const load = startDrillLoad(urls, table, router, config.drill.writers);
  try {
    await until(60_000, async () => (load.counters.acked.size >= 20 ? true : undefined));
    for (let n = 0; n < opts.cycles && reasons.length === 0; n++) {
      for (const kind of ['cutover', 'rollback'] as const) {
        const to: SideName = kind === 'cutover' ? 'new' : 'old';
        say(`cycle ${n + 1}/${opts.cycles}: waiting for the ${kind}'s gates`);
        let lastGates: Gate[] = [];
        const passed = await until(waitMs, async () => {
          lastGates = await gatesOf(kind);
          return lastGates.length && lastGates.every((g) => g.ok) ? true : undefined;
        });
        if (!passed) {
          const failing = lastGates.filter((g) => !g.ok);
          reasons.push(`the ${kind} of cycle ${n + 1} was not attempted: its gates did not pass in ${waitMs / 1000} s: ${failing.map((g) => `${g.name} (${String(g.value)}: ${g.detail})`).join('; ') || 'the gates could not be read'}`);
          if (cycles.length === 0) refusedBeforeTraffic = true;
          break;
        }
        const before = await status();
        const requested = Date.now();
        const heldBefore = load.counters.held;
        const failedBefore = load.counters.failed;
        say(`cycle ${n + 1}/${opts.cycles}: ${kind}`);
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
        cycles.push(cycle);
        if (result.result !== 'done') {
          reasons.push(`the ${kind} of cycle ${n + 1} ended ${cycle.result}: ${result.error?.message ?? 'no reason given'}`);
          break;
        }
        // Time until the side becoming active took an application write (the load follows the router).
        const firstWrite = await until(60_000, async () => load.firstAckOn(to, requested));
        if (kind === 'rollback') cycle.timeToRollbackMs = firstWrite === undefined ? null : firstWrite - requested;
        if (firstWrite === undefined) reasons.push(`after the ${kind} of cycle ${n + 1}, no write reached ${to} in 60 s`);

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
        if (!converged) reasons.push(`after the ${kind} of cycle ${n + 1}: ${missing[to]} acknowledged write(s) missing on ${to} (active), ${missing[to === 'old' ? 'new' : 'old']} on the shadow after ${waitMs / 1000} s`);

        // Tandem's own verification, a complete pass after the switch.
        const doneAt = new Date().toISOString();
        const verified = await until(waitMs, async () => {
          const s = await status();
          const v = s.verification;
          return v?.lastCompletePass && v.lastCompletePass > doneAt ? v : undefined;
        });
        cycle.drift = verified ? verified.driftCount + verified.unconfirmedCount : 0;
        if (!verified) reasons.push(`after the ${kind} of cycle ${n + 1}, verification did not complete a pass in ${waitMs / 1000} s`);
        else if (cycle.drift) reasons.push(`after the ${kind} of cycle ${n + 1}, verification found ${cycle.drift} drifted or unconfirmed row(s)`);
        cycle.writesHeld = load.counters.held - heldBefore;
        cycle.writesFailed = load.counters.failed - failedBefore;
        if (cycle.writesFailed) reasons.push(`${cycle.writesFailed} write(s) failed during the ${kind} of cycle ${n + 1}: ${load.counters.errors.slice(-3).join('; ')}`);
        if (cycle.rowsLost) reasons.push(`${cycle.rowsLost} acknowledged write(s) lost in the ${kind} of cycle ${n + 1}`);
        if (reasons.length) break;
      }
    }
  } finally {
    await load.stop();
    router.stop();
  }
  if (cycles.length === 0 && reasons.length === 0) reasons.push('no switch was made');
  const report: DrillReport = {
    migration: config.migration,
    startedAt,
    finishedAt: new Date().toISOString(),
    actor: opts.actor,
    production: opts.production,
    verdict: reasons.length === 0 ? 'pass' : 'fail',
    reasons,
    writesAcknowledged: load.counters.acked.size,
    cycles,
  };
  return { report, refusedBeforeTraffic };
}

export function renderDrillMarkdown(r: DrillReport): string {
  const lines = [
    `# Rollback drill: ${r.migration}`,
    '',
    `**${r.verdict.toUpperCase()}** — ${r.startedAt} to ${r.finishedAt}, by ${r.actor}${r.production ? ' (PRODUCTION, --i-know-this-is-production)' : ''}; ${r.writesAcknowledged.toLocaleString('en')} writes acknowledged.`,
    '',
    ...(r.reasons.length ? ['## Reasons', '', ...r.reasons.map((x) => `- ${x}`), ''] : []),
    '## Switches',
    '',
    '| # | switch | result | window ms | time to roll back ms | writes held | writes failed | rows lost | drift |',
    '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...r.cycles.map((c, i) => `| ${i + 1} | ${c.switch} | ${c.result} | ${c.windowMs ?? '—'} | ${c.timeToRollbackMs ?? '—'} | ${c.writesHeld} | ${c.writesFailed} | ${c.rowsLost} | ${c.drift} |`),
    '',
  ];
  return lines.join('\n');
}
