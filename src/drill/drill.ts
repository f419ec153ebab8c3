/**
 * `tandem drill`: a rollback rehearsal run for real on a staging pair (issue 17). Under the drill's load (load.ts,
 * an application writing through the router), it performs N cutover → rollback cycles through the running
 * service's API, and after every switch checks what a team would: every acknowledged write is on both sides, the
 * sides hold the same rows (and Tandem's verification finds no drift), and measures the window, the time to roll
 * back (request to old taking writes again), the writes the router held and the writes that failed. Before each
 * switch it waits for the switch's gates to pass; a gate that never passes fails the drill with the gate named,
 * before any traffic moved for that switch. With drill.stopNew and drill.startNew it then rehearses an emergency
 * rollback (emergency.ts).
 */
import type { TandemConfig } from '../config/schema.js';
import type { SideName } from '../model/direction.js';
import type { DrillReport } from '../control/plan-review.js';
import type { ServiceEndpoint } from '../router/index.js';
import { rehearseEmergency } from './emergency.js';
import { startDrillLoad } from './load.js';
import { switchOnce, type DrillRun, type DrillService, type StatusView } from './switch-once.js';
import { until } from './wait.js';

export type { DrillService } from './switch-once.js';

export interface DrillOptions {
  config: TandemConfig;
  service: DrillService;
  /** Where the load's router follows the active side: the service's URL and a token it may read with. */
  routerEndpoint: ServiceEndpoint;
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

export async function runDrill(opts: DrillOptions): Promise<DrillOutcome> {
  const { config, service } = opts;
  const waitMs = opts.waitMs ?? 180_000;
  const table = config.drill.table;
  const urls: Record<SideName, string> = { old: config.drill.load.old ?? config.old.url, new: config.drill.load.new ?? config.new.url };
  const startedAt = new Date().toISOString();
  const load = startDrillLoad(urls, table, opts.routerEndpoint, config.drill.writers);
  const run: DrillRun = {
    config,
    service,
    load,
    urls,
    table,
    waitMs,
    say: opts.progress ?? (() => undefined),
    cycles: [],
    reasons: [],
    async status() {
      const r = await service.request<StatusView>('GET', '/api/v1/status');
      if (r.status !== 200) throw new Error(`status: HTTP ${r.status}`);
      return r.body;
    },
  };
  let refusedBeforeTraffic = false;
  let emergency: DrillReport['emergency'];
  try {
    await until(60_000, async () => (load.counters.acked.size >= 20 ? true : undefined));
    for (let n = 0; n < opts.cycles && run.reasons.length === 0; n++) {
      for (const kind of ['cutover', 'rollback'] as const) {
        const outcome = await switchOnce(run, kind, `cycle ${n + 1}`);
        if (outcome === 'refused' && run.cycles.length === 0) refusedBeforeTraffic = true;
        if (outcome !== 'done') break;
      }
    }
    if (run.reasons.length === 0 && config.drill.stopNew && config.drill.startNew) {
      emergency = await rehearseEmergency(run, { stopNew: config.drill.stopNew, startNew: config.drill.startNew });
    }
  } finally {
    await load.stop();
  }
  const { cycles, reasons } = run;
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
    ...(emergency ? { emergency } : {}),
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
    ...r.cycles.map((c, i) => `| ${i + 1} | ${c.switch} | ${c.result} | ${c.windowMs ?? '—'} | ${c.timeToRollbackMs ?? '—'} | ${c.writesHeld} | ${c.writesFailed} | ${c.rowsLost} | ${c.switch === 'emergency-rollback' ? 'not checked' : c.drift} |`),
    '',
    ...(r.emergency ? emergencyMarkdown(r.emergency) : []),
  ];
  return lines.join('\n');
}

function emergencyMarkdown(e: NonNullable<DrillReport['emergency']>): string[] {
  const cmd = (c: { ok: boolean; ms: number; detail: string } | null) => (c ? `${c.ok ? 'ok' : 'FAILED'} in ${c.ms} ms (${c.detail})` : 'not run');
  return [
    '## Emergency rollback (new stopped)',
    '',
    `- drill.stopNew: ${cmd(e.stopNew)}; drill.startNew: ${cmd(e.startNew)}`,
    `- new fenced by the rollback: ${e.newFenced === null ? '—' : e.newFenced ? 'yes' : 'NO (it was down)'}; last position of new applied to old: ${e.lastAppliedPosition ?? 'none'}`,
    `- acknowledged writes on new lost (not on old): ${e.lostRefs.length}${e.lostRefs.length ? ` — ${e.lostRefs.slice(0, 10).join(', ')}${e.lostRefs.length > 10 ? ', …' : ''}` : ''}; of them still on new: ${e.lostStillOnNew.length}; acknowledged updates lost: ${e.updatesLost}`,
    '',
    ...(e.next.length ? ['### Next', '', ...e.next.map((x) => `- ${x}`), ''] : []),
  ];
}
