/**
 * `tandem cutover`, `tandem rollback` and `tandem finalize`: asked of the running service through its API (it holds
 * the lease and runs the procedure); this command reads the phase it expects, confirms, asks, and prints the result.
 * Exit 0 done (or a dry run whose gates all pass), 3 refused by a gate or a precondition, 4 backed out or failed.
 */
import type { Command } from 'commander';
import type { TandemConfig } from '../../config/schema.js';
import { ExitCode, TandemError } from '../../errors.js';
import { SWITCH_STEPS, type Phase, type SwitchKind } from '../../model/control.js';
import { terminalProgress } from '../terminal-progress.js';
import type { Gate, SwitchResult } from '../../model/switch.js';
import type { StatusReport } from '../../control/status.js';
import { loadCliConfig } from '../context.js';
import { confirm, printErr, printJson, printOut } from '../output.js';
import { apiError, connectService, type ServiceClient } from '../service-client.js';

interface SwitchCliOptions {
  dryRun?: boolean;
  yes?: boolean;
  json?: boolean;
  allowDrift?: boolean;
  emergency?: boolean;
  acceptDataLoss?: boolean;
  token?: string;
}

const exitOf: Record<SwitchResult['result'], number> = { done: ExitCode.ok, 'dry-run': ExitCode.ok, refused: ExitCode.refused, 'backed-out': ExitCode.runtime, failed: ExitCode.runtime, 'pending-approval': ExitCode.refused };

async function currentPhase(client: ServiceClient): Promise<StatusReport> {
  const r = await client.request<StatusReport & { error?: { message?: string } }>('GET', '/api/v1/status');
  if (r.status !== 200) throw apiError(r.status, r.body);
  return r.body;
}

function renderGate(g: Gate): string {
  const mark = g.ok ? (g.overridden ? 'OVERRIDDEN' : 'ok') : 'REFUSED';
  return `  ${mark.padEnd(10)} ${g.name.padEnd(22)} ${String(g.value ?? '—')} (needs ${g.threshold})${g.ok && !g.overridden ? '' : `\n${' '.repeat(36)}${g.detail}`}`;
}

export function renderSwitchResult(r: SwitchResult): string {
  const lines = [`${r.kind} ${r.requestId}: ${r.result.toUpperCase()}`, 'gates:', ...r.gates.map(renderGate)];
  if (r.steps) lines.push('steps:', ...r.steps.map((s, i) => `  ${i + 1}. ${s}`));
  if (r.windowMs !== null) lines.push(`write-unavailability window: ${r.windowMs} ms`);
  const pos = (p: Partial<Record<string, string>>) => Object.entries(p).map(([side, at]) => `${side} ${at}`).join(', ') || '—';
  if (Object.keys(r.positions.fence).length) lines.push(`positions at the fence: ${pos(r.positions.fence)}`);
  if (Object.keys(r.positions.drained).length) lines.push(`drained: ${pos(r.positions.drained)}`);
  if (r.certificate) {
    const c = r.certificate;
    lines.push(`certificate: ${c.tables.length} table(s) on ${c.hashedSide} at the drained point${c.tablesError ? ` (counts not read: ${c.tablesError})` : ''}`);
    for (const t of c.tables) lines.push(`  ${t.table.padEnd(28)} ${t.rows.toLocaleString('en')} rows, ${t.chunks.length} chunk(s), hash ${t.chunks.map((ch) => ch.hash).join(',').slice(0, 40)}`);
    if (c.counters.length) lines.push(`counters advanced on ${c.to}: ${c.counters.map((k) => `${k.table}.${k.column} → ${k.next}`).join(', ')}`);
  }
  if (r.emergency) {
    lines.push(`last position of new applied to old: ${r.emergency.lastAppliedPosition ?? 'none'} (committed ${r.emergency.lastAppliedCommitTime ?? '—'})`);
    lines.push(`new fenced: ${r.emergency.newFenced ? 'yes' : 'NO'}`, `WARNING: ${r.emergency.warning}`);
  }
  if (r.approval) {
    lines.push(
      r.approval.approvedBy
        ? `requested by ${r.approval.requestedBy}, approved by ${r.approval.approvedBy}`
        : `requested by ${r.approval.requestedBy}: waits for a second, different actor until ${r.approval.expiresAt ?? '?'} — tandem approve ${r.requestId}`,
    );
  }
  lines.push(`phase ${r.phase}, active side ${r.activeSide}`);
  if (r.error) lines.push(`${r.result === 'refused' ? 'refused' : 'error'}: ${r.error.message}`, ...(r.error.fix ? [`fix: ${r.error.fix}`] : []));
  return lines.join('\n');
}

function confirmation(config: TandemConfig, kind: SwitchKind, emergency: boolean): string {
  if (emergency) {
    return `EMERGENCY rollback of ${config.migration}: old becomes active WITHOUT draining new. Changes on new that did not reach old may be lost, and if applications can still reach new while Tandem cannot fence it, both sides may take writes. Go on? [y/N] `;
  }
  return kind === 'cutover'
    ? `cut ${config.migration} over: fence old, drain it into new, make new active (old follows it)? [y/N] `
    : `roll ${config.migration} back: fence new, drain it into old, make old active again? [y/N] `;
}

async function runSwitch(kind: SwitchKind, opts: SwitchCliOptions, cmd: Command): Promise<void> {
  const { config } = loadCliConfig(cmd);
  if (opts.emergency && kind !== 'rollback') throw new TandemError('TANDEM_USAGE', '--emergency applies to tandem rollback only', { fix: 'leave out --emergency' });
  if (opts.emergency && !opts.acceptDataLoss) {
    throw new TandemError('TANDEM_USAGE', 'an emergency rollback skips the drain: changes on new that did not reach old may be lost', { fix: 'add --accept-data-loss once you accept that (tandem status shows how far old is behind)' });
  }
  const interactive = process.stdin.isTTY && process.stderr.isTTY;
  if (!opts.dryRun && !opts.yes && !interactive) {
    throw new TandemError('TANDEM_USAGE', `tandem ${kind} moves the application's writes and there is no terminal to confirm on`, { fix: `check the gates with --dry-run, then run again with --yes` });
  }
  const client = await connectService(config, { token: opts.token, what: `a ${kind}` });
  try {
    const status = await currentPhase(client);
    if (!opts.dryRun && !opts.yes && !(await confirm(confirmation(config, kind, !!opts.emergency)))) {
      printErr('nothing changed');
      process.exitCode = ExitCode.refused;
      return;
    }
    // The switch can take fence + drain timeouts and the certificate's reads: wait for it.
    const timeout = config.cutover.fenceTimeout + config.cutover.drainTimeout + 30 * 60_000;
    const steps = opts.dryRun ? undefined : followSteps(client, kind, !!opts.json);
    const r = await client
      .request<SwitchResult & { error?: { code?: string; message?: string; fix?: string } }>(
        'POST',
        `/api/v1/${kind}`,
        { expectedPhase: status.phase, dryRun: !!opts.dryRun, allowDrift: !!opts.allowDrift, ...(kind === 'rollback' ? { emergency: !!opts.emergency, acceptDataLoss: !!opts.acceptDataLoss } : {}) },
        timeout,
      )
      .finally(() => steps?.stop());
    if (!('result' in r.body) || typeof r.body.result !== 'string') throw apiError(r.status, r.body);
    const result = r.body;
    if (opts.json) printJson(result);
    else printOut(renderSwitchResult(result));
    process.exitCode = exitOfResult(result);
  } finally {
    await client.close();
  }
}

/** The switch's steps on the terminal while it runs (read from the service's in-memory view, cheap to poll). */
export function followSteps(client: ServiceClient, kind: SwitchKind, json: boolean): { stop(): void } {
  const bar = terminalProgress(kind, 'steps', { json });
  const total = SWITCH_STEPS.filter((s) => s !== 'emergency').length + 1;
  let running = process.stderr.isTTY && !json;
  void (async () => {
    while (running) {
      try {
        const r = await client.request<{ switch?: { step: string } | null }>('GET', '/api/v1/active-side', undefined, 2_000);
        const step = r.body.switch?.step;
        if (running && step) bar.update(Math.max(1, SWITCH_STEPS.indexOf(step as (typeof SWITCH_STEPS)[number]) + 1), total, step);
      } catch {
        // The switch's own request reports failures; the progress line just waits.
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    stop() {
      running = false;
      bar.stop();
    },
  };
}

function switchCommand(program: Command, kind: SwitchKind, description: string): Command {
  return program
    .command(kind)
    .description(description)
    .option('--dry-run', 'evaluate the gates and print the steps; change nothing (exit 0 when every gate passes, 3 otherwise)')
    .option('--yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--json', 'print the result as JSON (the API returns the same)')
    .option('--allow-drift', 'switch although verification is not complete or found drift (audited)')
    .option('--token <token>', 'an API token (default: $TANDEM_TOKEN; without one, act as the local operator)');
}

/** Exit code of a switch result: 3 for a dry run with a failing gate. */
export function exitOfResult(result: SwitchResult): number {
  return result.result === 'dry-run' && result.gates.some((g) => !g.ok) ? ExitCode.refused : exitOf[result.result];
}

export function registerSwitch(program: Command): void {
  switchCommand(program, 'cutover', 'move writes from old to new: gates, fence old, drain, unfence new; old then follows new (asked of tandem run)').action((opts: SwitchCliOptions, cmd: Command) =>
    runSwitch('cutover', opts, cmd),
  );
  switchCommand(program, 'rollback', 'move writes back from new to old: the cutover in mirror (asked of tandem run)')
    .option('--emergency', 'new is unreachable: make old active without draining (needs --accept-data-loss)')
    .option('--accept-data-loss', 'accept that changes on new that did not reach old are lost (with --emergency)')
    .action((opts: SwitchCliOptions, cmd: Command) => runSwitch('rollback', opts, cmd));
  program
    .command('finalize')
    .description('end the migration after a cutover: stop the reverse stream, drop its slot on new, keep old fenced as an archive')
    .option('--yes', 'confirm (required)')
    .option('--unfence-old', 'leave old writable instead of a fenced archive')
    .option('--json', 'print the result as JSON')
    .option('--token <token>', 'an admin API token (default: $TANDEM_TOKEN; without one, act as the local operator)')
    .action(async (opts: { yes?: boolean; unfenceOld?: boolean; json?: boolean; token?: string }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      if (!opts.yes) throw new TandemError('TANDEM_USAGE', 'tandem finalize ends the reverse stream: rolling back is no longer a traffic switch after it', { fix: 'run again with --yes once new is confirmed good' });
      const client = await connectService(config, { token: opts.token, what: 'finalize' });
      try {
        const status = await currentPhase(client);
        const r = await client.request<{ requestId?: string; phase?: Phase; oldFenced?: boolean; error?: { code?: string; message?: string; fix?: string } }>('POST', '/api/v1/finalize', {
          expectedPhase: status.phase,
          unfenceOld: !!opts.unfenceOld,
        }, 5 * 60_000);
        if (r.status !== 200) throw apiError(r.status, r.body);
        if (opts.json) printJson(r.body);
        else printOut(`finalized (${r.body.requestId ?? ''}): the reverse stream is stopped and its slot dropped; old is ${r.body.oldFenced ? 'fenced (a read-only archive; tandem teardown --yes removes the fence)' : 'writable'}`);
      } finally {
        await client.close();
      }
    });
}
