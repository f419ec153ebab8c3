import type { Command } from 'commander';
import { Option } from 'commander';
import { loadCliConfig } from '../context.js';
import { printErr, printJson, printOut } from '../output.js';
import { readStatus } from '../../control/status-file.js';
import type { Direction } from '../../model/direction.js';
import { replicatedTables } from '../../replicate/service.js';
import { ExitCode, TandemError } from '../../errors.js';
import { parseDuration } from '../../config/duration.js';
import { Verifier, type TableResult } from '../../verify/verifier.js';
import type { ScanResult } from '../../verify/compare.js';
import { RowRateLimiter } from '../../verify/rate-limit.js';
import { buildReport, recordPass, UNCONFIRMED_KEYS_SHOWN, type VerificationReport } from '../../verify/report.js';

export const directionOverride = () =>
  new Option('--direction <direction>', 'which side is active (default: the direction tandem run last used, else forward)').choices(['forward', 'reverse']);

/** The direction a command works in: as given, else as the service last published it, else forward. */
export function resolveDirection(stateDir: string, migration: string, given?: Direction): Direction {
  return given ?? readStatus(stateDir, migration)?.direction ?? 'forward';
}

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
    .addOption(directionOverride())
    .action(async (opts: { table?: string[]; json?: boolean; rowsPerSecond?: string; settle?: string; direction?: Direction }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const direction = resolveDirection(config.state.dir, config.migration, opts.direction);
      const all = await replicatedTables(config, direction);
      const unknown = (opts.table ?? []).filter((t) => !all.includes(t));
      if (unknown.length) {
        throw new TandemError('TANDEM_USAGE', `--table ${unknown.join(', ')}: not replicated by migration ${config.migration}`, { fix: `choose among: ${all.join(', ')}` });
      }
      const settleMs = opts.settle === undefined ? config.verify.settleTimeout : parseDuration(opts.settle);
      if (settleMs === undefined) throw new TandemError('TANDEM_USAGE', `--settle ${opts.settle} is not a duration`, { fix: 'write it as 500ms, 30s or 2m' });
      const rate = opts.rowsPerSecond === undefined ? config.verify.rowsPerSecond : parseRate(opts.rowsPerSecond);
      const tables = opts.table ?? all;
      const startedAt = new Date().toISOString();
      const verifier = await Verifier.open(config, direction, tables);
      let results: TableResult[] = [];
      try {
        // Scan every table first, then confirm all suspects at once: their waits for the checkpoint overlap.
        const limiter = new RowRateLimiter(rate);
        const scans: Array<{ table: string; startedAt: string; scan: ScanResult }> = [];
        for (const table of tables) {
          if (!verifier.specs.has(table)) continue;
          const startedAt = new Date().toISOString();
          scans.push({ table, startedAt, scan: await verifier.scan(table, { limiter, chunkRows: config.verify.chunkRows, settleMs }) });
        }
        results = await Promise.all(
          scans.map(async ({ table, startedAt, scan }) => {
            const result = await verifier.confirm(table, scan, { settleMs });
            recordPass(config.state.dir, config.migration, direction, verifier, result, startedAt);
            return result;
          }),
        );
      } finally {
        await verifier.close();
      }
      const report = buildReport(verifier, results, verifier.problems, startedAt);
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
