import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { printErr, printJson, printOut } from '../output.js';
import { childLogger } from '../../log.js';
import { verifyNow } from '../../control/verification.js';
import { terminalProgress } from '../terminal-progress.js';
import { ExitCode, TandemError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import { UNCONFIRMED_KEYS_SHOWN, type VerificationReport } from '../../verify/report.js';

function parseRate(text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) throw new TandemError('TANDEM_USAGE', `--rows-per-second ${text} is not a number of rows`, { fix: 'give a positive number, or 0 for no limit' });
  return n;
}

function renderReport(r: VerificationReport): string {
  const lines: string[] = [];
  for (const t of r.tables) {
    const state = t.drift.length ? `${t.drift.length} row(s) drifted` : t.unconfirmed ? `${t.unconfirmed.rows} row(s) differ, unconfirmed` : 'in sync';
    lines.push(`${t.table.padEnd(28)} ${t.rowsCompared.toLocaleString('en').padStart(12)} rows  ${state}${t.changing ? ` (${t.changing} row(s) in flight, re-checked later)` : ''}`);
    for (const d of t.drift) lines.push(`  ${d.kind.padEnd(9)} ${JSON.stringify(d.key)}${d.columns.length ? `  columns: ${d.columns.join(', ')}` : ''}`);
    for (const k of t.unconfirmed?.keys.slice(0, 20) ?? []) lines.push(`  ${'differs'.padEnd(9)} ${JSON.stringify(k)}  (unconfirmed)`);
    if (t.unconfirmed && t.unconfirmed.rows > 20) lines.push(`  … ${t.unconfirmed.rows - 20} more (tandem verify --json lists ${UNCONFIRMED_KEYS_SHOWN})`);
    if (t.columnsNotCompared.length) lines.push(`  not compared (on one side only): ${t.columnsNotCompared.join(', ')}`);
  }
  for (const p of r.problems) lines.push(`PROBLEM  ${p.problem}`);
  lines.push(r.driftCount || r.problems.length ? `drift: ${r.driftCount} row(s)${r.problems.length ? `, ${r.problems.length} table problem(s)` : ''}` : r.unconfirmedCount ? `unconfirmed: ${r.unconfirmedCount} row(s)` : 'no drift');
  return lines.join('\n');
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('compare the active side with the shadow now, chunk by chunk, and report drift (exit 1 when drift is found)')
    .option('--table <table...>', 'only these tables (default: every replicated table)')
    .option('--json', 'print a machine-readable report')
    .option('--rows-per-second <n>', 'read at most this many rows per second from each side (default: verify.rowsPerSecond; 0: no limit)')
    .option('--settle <duration>', 'how long a differing row may wait for the shadow to catch up (default: verify.settleTimeout)')
    .action(async (opts: { table?: string[]; json?: boolean; rowsPerSecond?: string; settle?: string }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const settleMs = opts.settle === undefined ? config.verify.settleTimeout : parseDuration(opts.settle);
      if (settleMs === undefined) throw new TandemError('TANDEM_USAGE', `--settle ${opts.settle} is not a duration`, { fix: 'write it as 500ms, 30s or 2m' });
      const rate = opts.rowsPerSecond === undefined ? config.verify.rowsPerSecond : parseRate(opts.rowsPerSecond);
      const started = Date.now();
      const progress = terminalProgress('verify', 'tables', { json: opts.json });
      const run = verifyNow(config, {
        tables: opts.table,
        rowsPerSecond: rate,
        settleMs,
        log: childLogger('verify', { migration: config.migration }),
        onProgress: (p) => {
          // Formatted only for a drawn bar: the first toLocaleString costs a CLI run ~20 ms of ICU set-up.
          progress.update(p.tablesDone, p.tablesTotal, () => {
            const perSecond = Math.round(p.rowsCompared / Math.max(0.001, (Date.now() - started) / 1000));
            return `${p.rowsCompared.toLocaleString('en')} rows compared, ${perSecond.toLocaleString('en')} rows/s${p.table ? `, ${p.table}` : ', confirming'}`;
          });
        },
      });
      // run.closed is not awaited: every session was told to end, and the process exits after the report.
      const { report } = await run.finally(() => progress.stop());
      if (opts.json) printJson(report);
      else printOut(renderReport(report));
      if (report.driftCount > 0 || report.problems.length > 0) {
        process.exitCode = ExitCode.checkFailed;
        return;
      }
      if (report.unconfirmedCount > 0) {
        const u = report.tables.find((t) => t.unconfirmed)?.unconfirmed;
        printErr(
          `tandem: ${report.unconfirmedCount} row(s) differ but could not be confirmed as drift: the shadow's checkpoint (${u?.applied ?? 'none'}) did not reach the active side's position ${u?.waitingFor ?? ''} within ${settleMs / 1000} s`,
        );
        printErr('  fix: make sure tandem run is running and keeping up (tandem status), then verify again, or allow longer with --settle 5m');
        process.exitCode = ExitCode.runtime;
      }
    });
}
