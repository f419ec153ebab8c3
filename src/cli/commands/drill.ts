/**
 * `tandem drill`: rehearse the rollback for real on a staging pair (src/drill/drill.ts) through the running service.
 * Refused (exit 3) unless the config says `drill: { staging: true }`, or `--i-know-this-is-production` is given by an
 * admin (the local operator, or an admin token) — that refusal and that override are both audited. Exit 0 when the
 * drill passes, 1 when it fails, 3 when refused (the guard, the phase, or the first switch's gates).
 */
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ExitCode, TandemError } from '../../errors.js';
import { osUser } from '../../control/lease.js';
import { StateStore } from '../../control/state-store.js';
import { renderDrillMarkdown, runDrill } from '../../drill/drill.js';
import { ensureDrillTable } from '../../drill/load.js';
import { LineQueue, runGuided } from '../../drill/guided.js';
import { loadCliConfig } from '../context.js';
import { announce, auditAndAnnounce } from '../announce.js';
import { printErr, printJson, printOut } from '../output.js';
import { apiError, connectService } from '../service-client.js';

interface DrillCliOptions {
  cycles?: string;
  json?: boolean;
  format?: string;
  iKnowThisIsProduction?: boolean;
  token?: string;
  wait?: string;
  guided?: boolean;
}

export function registerDrill(program: Command): void {
  program
    .command('drill')
    .description('rehearse the rollback on a staging pair: cutover → rollback cycles under a load that follows the active side, checked after every switch')
    .option('--cycles <n>', 'cutover → rollback cycles (default: drill.cycles, 3)')
    .option('--format <format>', 'md (default) or json')
    .option('--json', 'the same as --format json')
    .option('--i-know-this-is-production', 'drill a pair not marked drill.staging (needs an admin; audited)')
    .option('--wait <seconds>', 'how long to wait for gates, convergence and verification after each switch (default 180)')
    .option('--guided', 'training mode: walk through a rollback step by step on the terminal, timing each step')
    .option('--token <token>', 'an API token (default: $TANDEM_TOKEN; without one, act as the local operator)')
    .action(async (opts: DrillCliOptions, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const format = opts.json ? 'json' : (opts.format ?? 'md');
      if (format !== 'md' && format !== 'json') throw new TandemError('TANDEM_USAGE', `--format ${format} is not a drill report format`, { fix: 'use --format md or json' });
      const cycles = opts.cycles === undefined ? config.drill.cycles : Number(opts.cycles);
      if (!Number.isInteger(cycles) || cycles < 1 || cycles > 50) throw new TandemError('TANDEM_USAGE', `--cycles ${opts.cycles ?? ''} is not a number of cycles`, { fix: 'use a whole number from 1 to 50' });
      if (opts.guided && !(process.stdin.isTTY && process.stderr.isTTY)) {
        throw new TandemError('TANDEM_USAGE', 'tandem drill --guided walks an operator through a rollback on a terminal, and there is none', { fix: 'run it on a terminal (or leave out --guided for the automatic drill)' });
      }
      const token = opts.token ?? process.env.TANDEM_TOKEN;
      const tokenRole = token ? config.api.tokens.find((t) => t.token === token)?.role : 'admin';
      const actor = token ? (config.api.tokens.find((t) => t.token === token)?.name ?? 'token') : `local:${osUser()}`;
      const store = new StateStore(config);
      const requestId = randomUUID();
      const audit = async (event: 'requested' | 'refused' | 'done' | 'failed', detail: Record<string, unknown>) => {
        const control = (await store.readControl())?.state;
        await auditAndAnnounce(store, { at: new Date().toISOString(), action: 'drill', event, requestId, actor, phase: control?.phase ?? 'setup', activeSide: control?.activeSide ?? 'old', detail });
      };
      try {
        if (!config.drill.staging) {
          if (!opts.iKnowThisIsProduction) {
            await audit('refused', { reason: 'not staging' });
            throw new TandemError('TANDEM_GATE_REFUSED', `migration ${config.migration} is not marked as a staging pair: a drill switches its traffic back and forth`, {
              fix: 'drill a staging copy with drill: { staging: true } in its tandem.yaml; to drill this pair anyway, an admin adds --i-know-this-is-production (audited)',
            });
          }
          if (tokenRole !== 'admin') {
            await audit('refused', { reason: 'production drill without an admin', role: tokenRole ?? 'unknown token' });
            throw new TandemError('TANDEM_API_FORBIDDEN', `a drill of a production pair needs an admin; ${actor} has role ${tokenRole ?? 'none (not one of api.tokens)'}`, {
              fix: 'run it as the local operator (no --token) or with an admin token',
            });
          }
          // The emergency rehearsal stops new's server: on a production pair that is an outage, not a rehearsal.
          if (config.drill.stopNew) {
            await audit('refused', { reason: 'production drill with drill.stopNew' });
            throw new TandemError('TANDEM_GATE_REFUSED', `migration ${config.migration} is not a staging pair, and drill.stopNew is set: the emergency rehearsal would stop the production new server`, {
              fix: 'remove drill.stopNew and drill.startNew from this tandem.yaml to drill the production pair without the emergency rehearsal; rehearse the emergency rollback on a staging copy',
            });
          }
        }
        const client = await connectService(config, { token, what: 'a drill' });
        try {
          const s = await client.request<{ phase: string; tables: { replicated: string[] } | null; error?: { code?: string; message?: string; fix?: string } }>('GET', '/api/v1/status');
          if (s.status !== 200) throw apiError(s.status, s.body);
          if (opts.guided) {
            const rl = createInterface({ input: process.stdin, terminal: false });
            try {
              await audit('requested', { guided: true, production: !config.drill.staging });
              const result = await runGuided(client, { say: (text) => printErr(text), lines: new LineQueue(rl) }, config.migration);
              await audit(result.completed ? 'done' : 'failed', { guided: true, steps: result.steps, rollback: result.rollback });
              if (format === 'json') printJson(result);
              process.exitCode = result.completed ? ExitCode.ok : ExitCode.checkFailed;
            } finally {
              rl.close();
            }
            return;
          }
          if (s.body.phase !== 'shadowing') {
            throw new TandemError('TANDEM_STATE_CONFLICT', `a drill starts from phase shadowing (old active); the migration is in ${s.body.phase}`, { fix: 'roll back first (tandem rollback), or wait for the backfill to finish' });
          }
          const table = config.drill.table;
          if (/^tandem_/i.test(table)) {
            throw new TandemError('TANDEM_USAGE', `drill.table ${table} starts with tandem_, the prefix of Tandem's own tables, which are never replicated`, { fix: 'choose another name for drill.table (default drill_orders)' });
          }
          if (config.tables && !config.tables.includes(table)) {
            throw new TandemError('TANDEM_USAGE', `the drill writes to table ${table}, which tables in tandem.yaml does not list: its writes would not be replicated`, { fix: `add ${table} to tables (the drill creates it on both sides), or set drill.table to a table the drill may own` });
          }
          await audit('requested', { production: !config.drill.staging, cycles });
          // With Tandem's own account: the shadow is fenced, and on MariaDB only an account with SUPER passes read_only.
          for (const side of ['new', 'old'] as const) await ensureDrillTable(config[side].url, table);
          printErr(`drill of ${config.migration}: waiting for ${table} to be replicated`);
          const deadline = Date.now() + 180_000;
          for (;;) {
            const r = await client.request<{ tables: { replicated: string[] } | null }>('GET', '/api/v1/status');
            if (r.body.tables?.replicated.includes(table)) break;
            if (Date.now() > deadline) throw new TandemError('TANDEM_STATE', `table ${table} did not join replication in 180 s`, { fix: 'see tandem status (tables pending) for why' });
            await new Promise((res) => setTimeout(res, 500));
          }
          const outcome = await runDrill({
            config,
            service: client,
            // The load writes through the application router, following this service as an application would.
            routerEndpoint: client.endpoint,
            cycles,
            actor,
            production: !config.drill.staging,
            waitMs: opts.wait ? Number(opts.wait) * 1000 : undefined,
            progress: (line) => printErr(line),
          });
          const { report } = outcome;
          await audit(report.verdict === 'pass' ? 'done' : 'failed', report as unknown as Record<string, unknown>);
          await announce(config, (n) => n.drillFinished(report));
          if (format === 'json') printJson(report);
          else printOut(renderDrillMarkdown(report));
          process.exitCode = outcome.refusedBeforeTraffic ? ExitCode.refused : report.verdict === 'pass' ? ExitCode.ok : ExitCode.checkFailed;
        } finally {
          await client.close();
        }
      } finally {
        await store.close();
      }
    });
}

