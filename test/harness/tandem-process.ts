import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { cleanEnv, cliPath, runTandem } from './db.js';
import { writeConfig } from './config.js';
import { tempDir } from './temp.js';

export interface TandemProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  exited: Promise<number | string>;
  kill(signal: NodeJS.Signals): void;
}

/** The process's exit code, or 'still running' when it has not ended within `ms` (a test then fails on the code). */
export async function exitWithin(p: TandemProcess, ms: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export interface StartOptions {
  env?: NodeJS.ProcessEnv;
  nodeArgs?: string[];
}

/** Starts a long-running `tandem` command (run, backfill) as a real process, as an operator would. */
export function startTandem(args: string[], opts: StartOptions = {}): TandemProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), cliPath, ...args], { env: { ...cleanEnv(), ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return { child, output: () => out, exited, kill: (signal) => child.kill(signal) };
}

/** The process has neither exited nor been ended by a signal. */
export const alive = (p: TandemProcess) => p.child.exitCode === null && p.child.signalCode === null;

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

/**
 * waitUntil for a condition that needs `procs` running: fails as soon as one of them exits, and shows the tail of
 * their output whenever it fails.
 */
export async function untilTandem<T>(
  procs: TandemProcess | TandemProcess[],
  what: string,
  probe: () => Promise<T | undefined | false | null>,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const watched = Array.isArray(procs) ? procs : [procs];
  let settled = false;
  const died = new Promise<never>((_, reject) => {
    for (const p of watched) {
      void p.exited.then((code) => {
        if (!settled) reject(new Error(`tandem exited (${code}) while waiting for ${what}`));
      });
    }
  });
  try {
    // Once settled, the probe answers at once, so that waitUntil's loop ends too.
    return await Promise.race([waitUntil(what, async () => (settled ? (true as T) : probe()), timeoutMs, intervalMs), died]);
  } catch (err) {
    const outputs = watched.map((p) => `\ntandem output (tail):\n${p.output().slice(-4000)}`).join('');
    throw new Error(`${err instanceof Error ? err.message : String(err)}${outputs}`);
  } finally {
    settled = true;
  }
}

/** `tandem status --json`, as an operator reads it. */
export async function tandemStatus<T = Record<string, unknown>>(config: string): Promise<T> {
  return JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as T;
}

/** Waits until `tandem status` reports the backfill done (phase shadowing), as an operator would check. */
export function waitForShadowing(config: string, timeoutMs = 120_000): Promise<true> {
  return waitUntil(
    'the backfill to finish (phase shadowing)',
    async () => (await runTandem(['status', '--json', '--config', config])).stdout.includes('"phase": "shadowing"'),
    timeoutMs,
  );
}

/** What a suite creates and must not leave behind; see suiteResources. */
export interface SuiteResources {
  /** Databases, dropped after the processes and cleanups. */
  dbs: Array<{ drop(): Promise<void> }>;
  /** Tandem processes, killed (SIGKILL) first if still running. */
  procs: TandemProcess[];
  /** Servers of the suite's own, stopped last. */
  servers: Array<{ stop(): Promise<void> }>;
  /** Anything else to undo (a scenario, an open reader), run latest first once the processes are gone. */
  cleanups: Array<() => unknown>;
  /** startTandem, with the process added to `procs`. */
  start(args: string[], opts?: StartOptions): TandemProcess;
}

/**
 * What a suite creates and must not leave behind, undone after its last test: tandem processes killed, cleanups run,
 * databases dropped, servers stopped, in that order. Every step is tried; the first failure fails the hook. Call at
 * the top of a describe block (or of a file).
 */
export function suiteResources(): SuiteResources {
  const res: SuiteResources = {
    dbs: [],
    procs: [],
    servers: [],
    cleanups: [],
    start(args, opts) {
      const p = startTandem(args, opts);
      res.procs.push(p);
      return p;
    },
  };
  afterAll(async () => {
    const failures: unknown[] = [];
    const attempt = async (work: () => unknown) => {
      try {
        await work();
      } catch (err) {
        failures.push(err);
      }
    };
    await Promise.all(
      res.procs.filter(alive).map((p) => {
        p.kill('SIGKILL');
        return p.exited;
      }),
    );
    for (const cleanup of [...res.cleanups].reverse()) await attempt(cleanup);
    await Promise.all(res.dbs.map((d) => attempt(() => d.drop())));
    for (const s of res.servers) await attempt(() => s.stop());
    if (failures.length) throw failures[0];
  });
  return res;
}

/**
 * Starts `tandem run` for a new migration from `old` to `new` (its own state directory; `extra` config on top),
 * adds it to `procs`, and returns the config path once the backfill is done.
 */
export async function runUntilShadowing(procs: TandemProcess[], migration: string, old: string, neu: string, extra: Record<string, unknown> = {}): Promise<string> {
  const config = writeConfig({ migration, old: { url: old }, new: { url: neu }, state: { dir: tempDir('tandem-state-') }, ...extra });
  procs.push(startTandem(['run', '--config', config]));
  await waitForShadowing(config);
  return config;
}

