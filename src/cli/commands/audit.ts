import type { Command } from 'commander';
import { StateStore } from '../../control/state-store.js';
import { childLogger } from '../../log.js';
import type { AuditEntry } from '../../model/switch.js';
import { loadCliConfig } from '../context.js';
import { printJson, printOut } from '../output.js';

function render(e: AuditEntry): string[] {
  const head = `${e.at}  ${e.action.padEnd(9)} ${e.event.padEnd(20)} ${e.requestId}  by ${e.actor}  → phase ${e.phase}, active ${e.activeSide}`;
  const lines = [head];
  if (e.windowMs !== undefined && e.windowMs !== null) lines.push(`    window ${e.windowMs} ms`);
  const refused = e.gates?.filter((g) => !g.ok || g.overridden) ?? [];
  for (const g of refused) lines.push(`    gate ${g.name}: ${g.overridden ? 'overridden' : 'refused'} (${String(g.value)}; needs ${g.threshold})`);
  for (const o of e.overrides ?? []) lines.push(`    override: ${o}`);
  if (e.positions && Object.keys(e.positions.drained).length) lines.push(`    drained at ${Object.entries(e.positions.drained).map(([s, p]) => `${s} ${p}`).join(', ')}`);
  if (e.certificate) lines.push(`    certificate: ${e.certificate.tables.map((t) => `${t.table} ${t.rows} rows`).join(', ') || e.certificate.tablesError || 'no tables'}`);
  if (e.emergency) lines.push(`    EMERGENCY: ${e.emergency.warning}`);
  if (e.error) lines.push(`    ${e.error.message}`);
  if (e.detail) lines.push(`    ${JSON.stringify(e.detail)}`);
  return lines;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('the audit log: every switch request with its gates, result, window, positions and certificate; repairs; overrides')
    .option('--json', 'print the entries as JSON (certificates in full)')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const store = new StateStore(config, childLogger('audit', { migration: config.migration }));
      try {
        const entries = await store.listAudit();
        if (opts.json) printJson({ migration: config.migration, entries });
        else printOut(entries.length ? entries.flatMap(render).join('\n') : `no audit entries for migration ${config.migration} yet`);
      } finally {
        await store.close();
      }
    });
}
