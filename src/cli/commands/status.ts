import type { Command } from 'commander';
import { loadCliConfig } from '../context.js';
import { printJson, printOut } from '../output.js';
import { processAlive, readStatus } from '../../control/status-file.js';
import { sidesOf, type Direction } from '../../model/direction.js';
import { openCaptureSource, openShadowWriter } from '../../engines/factory.js';
import { errorMessage } from '../../errors.js';
import type { BackfillStats } from '../../replicate/stats.js';
import { driftCountOf, readVerification, type TableVerification } from '../../verify/store.js';

export interface StatusReport {
  migration: string;
  phase: string;
  direction: Direction;
  activeSide: string;
  running: boolean;
  pid: number | null;
  lag: { seconds: number | null; bytes: number | null };
  checkpoint: { position: string; commitTime: string | null; updatedAt: string } | null;
  appliedTransactions: number;
  backfill: (BackfillStats & { tables: Array<{ table: string; rowsCopied: number; done: boolean }> }) | null;
  slot: { exists: boolean; retainedWalBytes: number | null } | null;
  /** Drift records and full-pass times (from `tandem run`'s continuous verification and `tandem verify`). */
  verification: {
    driftCount: number;
    /** The oldest of the tables' last complete passes: every table has been fully compared since then. */
    lastCompletePass: string | null;
    tables: Array<Pick<TableVerification, 'table' | 'rowsCompared' | 'lastPassCompletedAt'> & { drift: Array<{ key: Record<string, string>; kind: string; columns: string[]; firstSeen: string; lastSeen: string }> }>;
  } | null;
  lastError: string | null;
  errors: string[];
}

export async function collectStatus(cmd: Command, requested?: Direction): Promise<StatusReport> {
  const { config } = loadCliConfig(cmd);
  const published = readStatus(config.state.dir, config.migration);
  const direction: Direction = requested ?? published?.direction ?? 'forward';
  const { active, shadow } = sidesOf(direction);
  const running = !!published && published.running && processAlive(published.pid);
  const report: StatusReport = {
    migration: config.migration,
    phase: 'setup',
    direction,
    activeSide: active,
    running,
    pid: running ? (published?.pid ?? null) : null,
    lag: { seconds: null, bytes: null },
    checkpoint: null,
    appliedTransactions: 0,
    backfill: null,
    slot: null,
    verification: null,
    lastError: published?.lastError ?? null,
    errors: [],
  };
  const verified = readVerification(config.state.dir, config.migration);
  if (verified && verified.direction === direction) {
    const tables = Object.values(verified.tables);
    const passes = tables.map((t) => t.lastPassCompletedAt);
    report.verification = {
      driftCount: driftCountOf(verified),
      lastCompletePass: passes.length && passes.every((p) => p !== null) ? ([...passes].sort()[0] ?? null) : null,
      tables: tables.map((t) => ({ table: t.table, rowsCompared: t.rowsCompared, lastPassCompletedAt: t.lastPassCompletedAt, drift: t.drift })),
    };
  }
  // The checkpoint in the shadow database is the truth; the published file adds what only the service knows.
  try {
    const writer = await openShadowWriter(config[shadow].url, config.migration, direction, 1);
    try {
      const cp = await writer.readCheckpoint().catch(() => undefined);
      if (cp) {
        report.phase = cp.phase;
        report.checkpoint = { position: cp.position, commitTime: cp.commitTime?.toISOString() ?? null, updatedAt: cp.updatedAt.toISOString() };
        report.appliedTransactions = cp.appliedTransactions;
        const progress = await writer.readBackfill().catch(() => []);
        const live = running ? published?.backfill : null;
        report.backfill = {
          tablesTotal: progress.length,
          tablesDone: progress.filter((p) => p.done).length,
          rowsCopied: progress.reduce((n, p) => n + p.rowsCopied, 0),
          rowsEstimated: live?.rowsEstimated ?? progress.reduce((n, p) => n + p.rowsCopied, 0),
          rowsPerSecond: live?.rowsPerSecond ?? 0,
          etaSeconds: cp.phase === 'shadowing' ? 0 : (live?.etaSeconds ?? null),
          currentTable: live?.currentTable ?? null,
          tables: progress.map((p) => ({ table: p.table, rowsCopied: p.rowsCopied, done: p.done })),
        };
        const source = openCaptureSource(config[active].url, config.migration);
        const current = await source.currentPosition();
        const applied = cp.idlePosition && source.comparePositions(cp.idlePosition, cp.position) > 0 ? cp.idlePosition : cp.position;
        report.lag.bytes = source.distance(applied, current);
        const slot = await source.slotState(cp.position);
        report.slot = { exists: slot.exists, retainedWalBytes: slot.retainedBytes ?? null };
      }
    } finally {
      await writer.close();
    }
  } catch (err) {
    report.errors.push(errorMessage(err));
  }
  if (running && published) {
    report.lag.seconds = published.pendingSince ? Math.max(0, (Date.now() - published.pendingSince) / 1000) : 0;
  }
  return report;
}

function renderStatus(s: StatusReport): string {
  const lines = [
    `migration     ${s.migration}`,
    `phase         ${s.phase}`,
    `direction     ${s.direction} (active side: ${s.activeSide})`,
    `service       ${s.running ? `running (pid ${s.pid})` : 'not running'}`,
    `lag           ${s.lag.seconds === null ? '? s (service not running)' : `${s.lag.seconds.toFixed(1)} s`}, ${s.lag.bytes === null ? '?' : s.lag.bytes.toLocaleString('en')} bytes`,
    `checkpoint    ${s.checkpoint ? `${s.checkpoint.position} (committed ${s.checkpoint.commitTime ?? '—'})` : 'none'}`,
    `applied       ${s.appliedTransactions.toLocaleString('en')} transactions`,
  ];
  if (s.backfill) {
    lines.push(`backfill      ${s.backfill.tablesDone}/${s.backfill.tablesTotal} tables, ${s.backfill.rowsCopied.toLocaleString('en')} rows${s.backfill.rowsPerSecond ? `, ${s.backfill.rowsPerSecond.toLocaleString('en')} rows/s` : ''}${s.backfill.etaSeconds ? `, ETA ${s.backfill.etaSeconds} s` : ''}`);
  }
  if (s.slot) lines.push(`slot          ${s.slot.exists ? `present, retains ${(s.slot.retainedWalBytes ?? 0).toLocaleString('en')} bytes of WAL` : 'MISSING'}`);
  if (s.verification) {
    const v = s.verification;
    lines.push(`verification  ${v.driftCount ? `${v.driftCount} drifted row(s)` : 'no drift'}; last complete pass ${v.lastCompletePass ?? 'not yet (some tables never fully compared)'}`);
    for (const t of v.tables) for (const d of t.drift.slice(0, 20)) lines.push(`  drift       ${t.table} ${d.kind} ${JSON.stringify(d.key)}${d.columns.length ? ` columns: ${d.columns.join(', ')}` : ''} (since ${d.firstSeen})`);
  } else lines.push('verification  never run (tandem run verifies continuously; tandem verify runs a pass now)');
  if (s.lastError) lines.push(`last error    ${s.lastError}`);
  for (const e of s.errors) lines.push(`unavailable   ${e}`);
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('phase, direction, lag, checkpoint and backfill progress (works whether or not tandem run is running)')
    .option('--json', 'print a machine-readable report')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const report = await collectStatus(cmd);
      if (opts.json) printJson(report);
      else printOut(renderStatus(report));
    });
}
