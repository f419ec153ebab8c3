import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { confirm, printJson, printOut } from '../output.js';
import { ExitCode, TandemError } from '../../errors.js';
import { childLogger } from '../../log.js';
import { terminalProgress } from '../terminal-progress.js';
import { planRepairOf, type RepairPlanLine, type RepairResult } from '../../control/repair.js';

export function registerRepair(program: Command): void {
  program
    .command('repair')
    .description("copy the active side's rows over the shadow's for drifted rows (through the apply path; the checkpoint is not touched)")
    .requiredOption('--table <table>', 'the table to repair')
    .option('--key <key...>', 'rows to repair, as tandem verify prints their keys (42, or \'{"id":"42"}\' for several key columns)')
    .option('--all', 'every row of the table that differs now (compares the whole table first)')
    .option('--dry-run', 'show what would change, change nothing')
    .option('--yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--json', 'print a machine-readable plan and result')
    .action(async (opts: { table: string; key?: string[]; all?: boolean; dryRun?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
      if (!opts.key?.length && !opts.all) throw new TandemError('TANDEM_USAGE', 'tandem repair needs the rows to repair', { fix: 'give --key K (as tandem verify prints it, repeatable) or --all' });
      if (opts.key?.length && opts.all) throw new TandemError('TANDEM_USAGE', '--key and --all cannot be combined', { fix: 'give either --key K … or --all' });
      const { config } = loadCliConfig(cmd);
      const interactive = process.stdin.isTTY && process.stderr.isTTY;
      if (!opts.dryRun && !opts.yes && !interactive) {
        throw new TandemError('TANDEM_USAGE', 'tandem repair changes the shadow and there is no terminal to confirm on', { fix: 'review the plan with --dry-run, then run again with --yes' });
      }
      // --all compares the whole table first: its progress (rows compared of the estimate, rate, ETA) on a terminal.
      const started = Date.now();
      const progress = terminalProgress(`repair ${opts.table}`, 'rows', { json: opts.json || !opts.all });
      const session = await planRepairOf(config, opts.table, opts.all ? 'all' : (opts.key ?? []), childLogger('repair', { migration: config.migration }), undefined, {
        onProgress: (rows, estimated) => progress.update(rows, estimated, `${Math.round(rows / Math.max(0.001, (Date.now() - started) / 1000)).toLocaleString('en')} rows/s compared`),
      }).finally(() => progress.stop());
      try {
        const { plan, active, shadow } = session;
        if (!opts.json) printOut(renderPlan(opts.table, plan, active, shadow));
        if (opts.dryRun || plan.length === 0) {
          if (opts.json) printJson({ table: opts.table, plan, dryRun: !!opts.dryRun, written: 0, stillDiffering: plan.length });
          return;
        }
        if (!opts.yes && !(await confirm(`apply these ${plan.length} change(s) to ${shadow}? [y/N] `))) {
          printOut('nothing changed');
          process.exitCode = ExitCode.refused;
          return;
        }
        const outcome = await session.apply();
        if (opts.json) printJson({ table: opts.table, plan, dryRun: false, ...outcome });
        else printOut(renderOutcome(opts.table, shadow, outcome));
        if (outcome.stillDiffering) process.exitCode = ExitCode.checkFailed;
      } finally {
        await session.close();
      }
    });
}

function renderOutcome(table: string, shadow: string, o: RepairResult): string {
  const lines = [`repaired ${o.written} row(s) on ${shadow}${o.stillDiffering ? '' : '; they now equal the active side'}`];
  if (o.changedMeanwhile) lines.push(`${o.changedMeanwhile} row(s) changed again on the active side meanwhile (in flight): run tandem verify --table ${table}`);
  if (o.cannotHold.length) {
    lines.push(`${o.cannotHold.length} row(s) still differ although the active side did not change: ${shadow} cannot hold them as they are (its column type or collation alters the value):`);
    const show = (v: string | null) => (v === null ? 'NULL' : JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v));
    for (const c of o.cannotHold.slice(0, 20)) lines.push(`  ${JSON.stringify(c.key)}: ${c.columns.map((x) => `${x.column} active ${show(x.active)}, ${shadow} ${show(x.shadow)}`).join('; ')}`);
    lines.push(`  fix: change the column on ${shadow} so it holds the values exactly (tandem check names the mapping or collation at fault), then repair again`);
  }
  return lines.join('\n');
}

function renderPlan(table: string, plan: RepairPlanLine[], active: string, shadow: string): string {
  if (plan.length === 0) return `${table}: nothing to repair, the rows are equal on ${active} and ${shadow}`;
  const lines = [`${table}: ${plan.length} row(s) on ${shadow} will be made equal to ${active}:`];
  for (const p of plan) lines.push(`  ${p.action.padEnd(7)} ${JSON.stringify(p.key)}${p.columns.length ? `  columns: ${p.columns.join(', ')}` : ''}`);
  return lines.join('\n');
}
