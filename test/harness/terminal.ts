/**
 * Runs a `tandem` command on a pseudo-terminal (util-linux `script`), as an operator at a terminal would: stdin,
 * stdout and stderr are a TTY, so progress output is drawn. Returns everything the terminal showed.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv, cliPath } from './db.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function runOnTerminal(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ code: number | null; output: string }> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, cliPath, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    // -e: the command's exit code; -f: flush as it comes; -q: no "Script started" lines; the typescript to /dev/null.
    const child = spawn('script', ['-qefc', command, '/dev/null'], { cwd: repoRoot, env: { ...cleanEnv(), COLUMNS: '160', LINES: '40', ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
