import type { Command } from 'commander';
import { ExitCode } from '../../errors.js';
import { runPreflight, type PreflightReport } from '../../control/preflight.js';
import type { CheckItem } from '../../engines/shared/checks.js';
import { printJson, printOut } from '../output.js';
import { loadCliConfig } from '../context.js';

const mark: Record<CheckItem['status'], string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/**
 * An item standing for several columns gets one line per distinct fix, naming its columns unless it is every
 * column's: a fix shared by a table's columns is read once.
 */
function fixLines(item: CheckItem): string[] {
  const byFix = new Map<string, string[]>();
  for (const c of item.columns ?? []) {
    if (c.fix) byFix.set(c.fix, [...(byFix.get(c.fix) ?? []), c.column]);
  }
  if (byFix.size === 0) return item.fix ? [`        fix: ${item.fix}`] : [];
  const all = item.columns?.length ?? 0;
  return [...byFix].map(([fix, columns]) => (columns.length === all ? `        fix: ${fix}` : `        fix (${columns.join(', ')}): ${fix}`));
}

export function renderReport(report: PreflightReport): string {
  const lines = [`Tandem preflight for migration "${report.migration}" (${report.tables.length} table(s): ${report.tables.join(', ') || 'none'})`];
  const heading = { old: 'old side', new: 'new side', both: 'schema (old ⇄ new)', kafka: 'Kafka transport' } as const;
  for (const group of ['old', 'new', 'both', 'kafka'] as const) {
    const items = report.checks.filter((c) => c.side === group);
    if (items.length === 0) continue;
    lines.push('', heading[group]);
    for (const item of items) {
      lines.push(`  ${mark[item.status]}  ${item.title} — ${item.detail}`);
      if (item.status !== 'pass') lines.push(...fixLines(item));
    }
  }
  const { pass, warn, fail } = report.summary;
  lines.push('', `${report.ok ? 'Ready' : 'Not ready'}: ${fail} failed, ${warn} warning(s), ${pass} passed`);
  return lines.join('\n');
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('preflight: check both databases, their settings, privileges and table schemas')
    .option('--json', 'print a machine-readable report')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const report = await runPreflight(config);
      if (opts.json) printJson(report);
      else printOut(renderReport(report));
      process.exitCode = report.ok ? ExitCode.ok : ExitCode.checkFailed;
    });
}
