/**
 * Hooks: commands and webhooks told of phase changes and switch results, so the application's router, a feature
 * flag or a connection pooler can move traffic. A command gets the event as JSON on stdin (and in TANDEM_EVENT); a
 * webhook gets it as a JSON POST. A hook fails when the command exits non-zero or the webhook answers other than
 * 2xx, or when it takes longer than its timeout. Header values and URL passwords are secrets (config/load.ts
 * registers them), so nothing here logs them.
 */
import { spawn } from 'node:child_process';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { redact, redactUrl } from '../config/redact.js';
import { TandemError, errorMessage } from '../errors.js';
import type { Phase, SwitchKind } from '../model/control.js';
import type { SideName } from '../model/direction.js';

export type HookConfig = TandemConfig['hooks']['onSwitch'][number];

export interface HookEvent {
  /**
   * `switch.starting`: a switch passed its gates and is about to fence (a failing hook stops it, nothing changed);
   * `switch.before-unfence`: the side becoming active is about to take writes (a failing hook backs the switch out);
   * `switch.done`, `switch.backed-out`: the result; `phase.changed`: any phase change.
   */
  event: 'switch.starting' | 'switch.before-unfence' | 'switch.done' | 'switch.backed-out' | 'phase.changed';
  migration: string;
  phase: Phase;
  activeSide: SideName;
  at: string;
  kind?: SwitchKind;
  requestId?: string;
  windowMs?: number | null;
  reason?: string;
}

function hookName(h: HookConfig): string {
  return h.name ?? (h.command ? h.command[0] ?? 'command' : redactUrl(h.url ?? 'webhook'));
}

function runCommand(h: HookConfig, body: string, event: HookEvent): Promise<void> {
  const [program, ...args] = h.command ?? [];
  return new Promise((resolve, reject) => {
    const child = spawn(program as string, args, { env: { ...process.env, TANDEM_EVENT: body, TANDEM_EVENT_NAME: event.event }, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`did not finish within ${h.timeout} ms`));
    }, h.timeout);
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2_000) stderr += chunk.toString('utf8');
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`exited with ${code ?? signal}${stderr.trim() ? `: ${stderr.trim().slice(0, 500)}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(body);
  });
}

async function callWebhook(h: HookConfig, body: string): Promise<void> {
  const res = await fetch(h.url as string, { method: 'POST', headers: { 'content-type': 'application/json', ...h.headers }, body, signal: AbortSignal.timeout(h.timeout) });
  await res.arrayBuffer().catch(() => undefined);
  if (!res.ok) throw new Error(`answered HTTP ${res.status}`);
}

/**
 * Runs every hook of `hooks` with `event`, one after the other. With `mustSucceed`, the first failure is thrown
 * (TANDEM_SWITCH_BACKED_OUT names the hook); otherwise failures are logged and the rest still run.
 */
export async function runHooks(hooks: readonly HookConfig[], event: HookEvent, log: Logger, mustSucceed = false): Promise<void> {
  const body = JSON.stringify(event);
  for (const h of hooks) {
    const name = hookName(h);
    const started = Date.now();
    try {
      if (h.command) await runCommand(h, body, event);
      else await callWebhook(h, body);
      log.info({ hook: name, event: event.event, ms: Date.now() - started }, 'hook ran');
    } catch (err) {
      const message = redact(`hook ${name} failed on ${event.event}: ${errorMessage(err)}`);
      if (mustSucceed) throw new TandemError('TANDEM_SWITCH_BACKED_OUT', message, { fix: 'fix the hook (tandem.yaml hooks.onSwitch) so it exits 0 or answers 2xx, then switch again', cause: err });
      log.warn({ hook: name, event: event.event }, message);
    }
  }
}
