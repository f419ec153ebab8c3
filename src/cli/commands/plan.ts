/**
 * `tandem plan`: the rollback plan generated from the live state (src/control/plan.ts), as Markdown (default), JSON
 * or HTML. Asks the running service when one answers (its gates know the live lag and apply state), and builds it
 * from the databases otherwise. `--approve` records a review of the plan as it is now in the audit log: who, when,
 * and the hash of its material parts (tables, mappings, switch settings).
 */
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { TandemError, errorMessage } from '../../errors.js';
import { childLogger } from '../../log.js';
import { leaseIsLive, type SwitchKind } from '../../model/control.js';
import { osUser } from '../../control/lease.js';
import { buildPlan, type RollbackPlan } from '../../control/plan.js';
import { renderPlanHtml, renderPlanMarkdown } from '../../control/plan-render.js';
import { materialHash, type ReviewRecord } from '../../control/plan-review.js';
import { StateStore } from '../../control/state-store.js';
import { askService } from '../../control/status.js';
import type { TandemConfig } from '../../config/schema.js';
import { loadCliConfig } from '../context.js';
import { announce, auditAndAnnounce } from '../announce.js';
import { printErr, printJson, printOut } from '../output.js';

interface PlanCliOptions {
  format?: string;
  json?: boolean;
  for?: string;
  approve?: boolean;
  by?: string;
}

const FORMATS = ['md', 'json', 'html'] as const;
type Format = (typeof FORMATS)[number];

/** The plan from the running service, or built here from the databases when none answers. */
async function readPlan(config: TandemConfig, store: StateStore, kind: SwitchKind | undefined, configFile: string): Promise<RollbackPlan> {
  const { lease } = await store.readLease().catch(() => ({ lease: undefined }));
  if (leaseIsLive(lease) && lease.role === 'service' && lease.api && lease.secret) {
    try {
      const query = new URLSearchParams({ format: 'json', ...(kind ? { for: kind } : {}), configFile });
      return await askService<RollbackPlan>(lease, `/api/v1/plan?${query.toString()}`, { timeoutMs: 60_000 });
    } catch (err) {
      const plan = await buildPlan(config, store, { for: kind, configFile });
      plan.errors.push(`the service at ${lease.api} did not answer (${errorMessage(err)}): the gates below are read from the databases`);
      return plan;
    }
  }
  return buildPlan(config, store, { for: kind, configFile });
}

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('the rollback plan, generated from the live state: pair, tables, active side, commands, gates, expected window, risks, people, last drill and review')
    .option('--format <format>', 'md (default), json or html')
    .option('--json', 'the same as --format json')
    .option('--for <switch>', 'evaluate the gates of this switch: cutover or rollback (default: the next one from the current phase)')
    .option('--approve', 'record that you reviewed the plan as it is now (audited with the hash of its material parts)')
    .option('--by <name>', 'the reviewer recorded by --approve (default: local:<os user>)')
    .action(async (opts: PlanCliOptions, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const format = (opts.json ? 'json' : (opts.format ?? 'md')) as Format;
      if (!FORMATS.includes(format)) throw new TandemError('TANDEM_USAGE', `--format ${opts.format ?? ''} is not a plan format`, { fix: 'use --format md, json or html' });
      if (opts.for !== undefined && opts.for !== 'cutover' && opts.for !== 'rollback') throw new TandemError('TANDEM_USAGE', `--for ${opts.for} is not a switch`, { fix: 'use --for cutover or --for rollback' });
      const configFile = cmd.optsWithGlobals<{ config?: string }>().config ?? 'tandem.yaml';
      const store = new StateStore(config, childLogger('plan', { migration: config.migration }));
      try {
        const plan = await readPlan(config, store, opts.for as SwitchKind | undefined, configFile);
        if (opts.approve) {
          const actor = `local:${osUser()}`;
          const at = new Date().toISOString();
          const changedBefore = plan.review?.changedSince ? plan.review.changes : [];
          const record: ReviewRecord = { by: opts.by ?? actor, at, hash: materialHash(plan.material), material: plan.material };
          await auditAndAnnounce(store, { at, action: 'plan-review', event: 'done', requestId: randomUUID(), actor, phase: plan.phase, activeSide: plan.activeSide, detail: record as unknown as Record<string, unknown> });
          plan.review = { by: record.by, at, hash: record.hash, currentHash: record.hash, changedSince: false, changes: [] };
          printErr(`plan of ${config.migration} approved by ${record.by} (${record.hash}); tandem status and the dashboard now say whether it changes`);
          await announce(config, (n) => n.planReviewed(record, changedBefore));
        }
        if (format === 'json') printJson(plan);
        else printOut(format === 'html' ? renderPlanHtml(plan) : renderPlanMarkdown(plan));
      } finally {
        await store.close();
      }
    });
}
