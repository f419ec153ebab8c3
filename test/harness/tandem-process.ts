import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { cliPath, runTandem } from './db.js';

export interface TandemProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts a long-running `tandem` command (run, backfill) as a real process, as an operator would. */
export function startTandem(args: string[], opts: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): TandemProcess {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), cliPath, ...args], { env: { ...env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { child, output: () => out, exited, kill: (signal) => child.kill(signal) };
}

/** Polls `probe` until it returns a truthy value; fails with `what` after the timeout. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

/** Waits until `tandem status` reports the backfill done (phase shadowing), as an operator would check. */
export function waitForShadowing(config: string, timeoutMs = 120_000): Promise<true> {
  return waitUntil(
    'the backfill to finish (phase shadowing)',
    async () => (await runTandem(['status', '--json', '--config', config])).stdout.includes('"phase": "shadowing"'),
    timeoutMs,
  );
}

/**
 * What a suite creates and must not leave behind: the databases it drops and the tandem processes it kills
 * (SIGKILL, if still running) after its last test. Call at the top of a describe block.
 */
export function suiteResources(): { dbs: Array<{ drop(): Promise<void> }>; procs: TandemProcess[] } {
  const dbs: Array<{ drop(): Promise<void> }> = [];
  const procs: TandemProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGKILL');
    await Promise.all(dbs.map((d) => d.drop()));
  });
  return { dbs, procs };
}
