/**
 * The operator's own commands the emergency rehearsal runs (drill.stopNew, drill.startNew): through the shell, as
 * written in tandem.yaml, bounded in time. Their output is kept short for the report; it is never logged, since a
 * command may print what it connects with.
 */
import { spawn } from 'node:child_process';

export interface ShellResult {
  ok: boolean;
  ms: number;
  /** Exit code or signal, and the end of stderr when it failed. */
  detail: string;
}

export function runShell(command: string, timeoutMs: number): Promise<ShellResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-500);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    const done = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      resolve({ ok, ms: Date.now() - started, detail });
    };
    child.on('error', (err) => done(false, err.message));
    child.on('close', (code, signal) => {
      if (code === 0) return done(true, 'exit 0');
      const why = signal === 'SIGKILL' && Date.now() - started >= timeoutMs ? `did not finish in ${timeoutMs / 1000} s` : `exited with ${code ?? signal}`;
      done(false, `${why}${stderr.trim() ? `: ${stderr.trim()}` : ''}`);
    });
  });
}
