import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { confirm, printJson, printOut } from '../output.js';
import { replicatedTables } from '../../replicate/service.js';
import { ExitCode, TandemError } from '../../errors.js';
import type { Direction } from '../../model/direction.js';
import { sidesOf } from '../../model/direction.js';
import { Verifier } from '../../verify/verifier.js';
import { keyObject, parseKeyArgument } from '../../verify/keys.js';
import { applyRepair, planRepair, type RepairStep } from '../../verify/repair.js';
import { mergeFindings, tableEntry, updateVerification } from '../../verify/store.js';
import { directionOverride, resolveDirection } from './verify.js';

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
    .addOption(directionOverride())
    .action(async (opts: { table: string; key?: string[]; all?: boolean; dryRun?: boolean; yes?: boolean; json?: boolean; direction?: Direction }, cmd: Command) => {
      if (!opts.key?.length && !opts.all) throw new TandemError('TANDEM_USAGE', 'tandem repair needs the rows to repair', { fix: 'give --key K (as tandem verify prints it, repeatable) or --all' });
      if (opts.key?.length && opts.all) throw new TandemError('TANDEM_USAGE', '--key and --all cannot be combined', { fix: 'give either --key K … or --all' });
      const { config } = loadCliConfig(cmd);
      const direction = resolveDirection(config.state.dir, config.migration, opts.direction);
      const tables = await replicatedTables(config, direction);
      if (!tables.includes(opts.table)) throw new TandemError('TANDEM_USAGE', `--table ${opts.table}: not replicated by migration ${config.migration}`, { fix: `choose among: ${tables.join(', ')}` });
      const interactive = process.stdin.isTTY && process.stderr.isTTY;
      if (!opts.dryRun && !opts.yes && !interactive) {
        throw new TandemError('TANDEM_USAGE', 'tandem repair changes the shadow and there is no terminal to confirm on', { fix: 'review the plan with --dry-run, then run again with --yes' });
      }
      const verifier = await Verifier.open(config, direction, [opts.table]);
      try {
        const spec = verifier.specs.get(opts.table);
        if (!spec) throw new TandemError('TANDEM_USAGE', `cannot repair ${opts.table}: ${verifier.problems.map((p) => p.problem).join('; ')}`, { fix: 'fix the table problem first (tandem verify names it)' });
        const keys = opts.all ? 'all' : (opts.key ?? []).map((k) => parseKeyArgument(spec, k));
        const steps = await planRepair(verifier, spec, keys, config.verify.chunkRows);
        const { active, shadow } = sidesOf(direction);
        const plan = steps.map((s) => ({ key: keyObject(spec, s.key), action: s.action, columns: s.columns }));
        if (!opts.json) printOut(renderPlan(opts.table, steps.length, plan, active, shadow));
        if (opts.dryRun || steps.length === 0) {
          if (opts.json) printJson({ table: opts.table, plan, dryRun: !!opts.dryRun, written: 0, stillDiffering: steps.length });
          return;
        }
        if (!opts.yes && !(await confirm(`apply these ${steps.length} change(s) to ${shadow}? [y/N] `))) {
          printOut('nothing changed');
          process.exitCode = ExitCode.refused;
          return;
        }
        const outcome = await applyRepair(config, direction, verifier, spec, steps);
        // The repaired rows are equal now (unless they changed meanwhile): their drift records resolve.
        updateVerification(config.state.dir, config.migration, direction, (state) => {
          mergeFindings(tableEntry(state, opts.table), [], outcome.stillDiffering ? [] : steps.map((s: RepairStep) => keyObject(spec, s.key)), { complete: false, at: new Date().toISOString() });
        });
        if (opts.json) printJson({ table: opts.table, plan, dryRun: false, ...outcome });
        else printOut(`repaired ${outcome.written} row(s) on ${shadow}${outcome.stillDiffering ? `; ${outcome.stillDiffering} row(s) changed again meanwhile (in flight): run tandem verify --table ${opts.table}` : '; they now equal the active side'}`);
        if (outcome.stillDiffering) process.exitCode = ExitCode.checkFailed;
      } finally {
        await verifier.close();
      }
    });
}

function renderPlan(table: string, count: number, plan: Array<{ key: Record<string, string>; action: string; columns: string[] }>, active: string, shadow: string): string {
  if (count === 0) return `${table}: nothing to repair, the rows are equal on ${active} and ${shadow}`;
  const lines = [`${table}: ${count} row(s) on ${shadow} will be made equal to ${active}:`];
  for (const p of plan) lines.push(`  ${p.action.padEnd(7)} ${JSON.stringify(p.key)}${p.columns.length ? `  columns: ${p.columns.join(', ')}` : ''}`);
  return lines.join('\n');
}
