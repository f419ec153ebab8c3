/**
 * The `tandem` command users run is the bundle `npm run build` writes (scripts/bundle-cli.ts): package.json's bin
 * names it, every test that runs the CLI runs it (test/harness/db.ts), and each command's chunk loads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliPath, runTandem } from '../harness/db.js';

const repoRoot = join(import.meta.dirname, '..', '..');

describe('the tandem command as built', () => {
  it('package.json bin is the bundle the tests run, an executable script', () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(join(repoRoot, pkg.bin.tandem as string)).toBe(cliPath);
    expect(readFileSync(cliPath, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('every command it lists loads its own chunk and shows its help', async () => {
    const help = await runTandem(['--help']);
    expect(help.code, help.stderr).toBe(0);
    const commands = [...help.stdout.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1] as string).filter((c) => c !== 'help');
    // The commands of README's reference, at least: a listing that lost some would pass the loop below.
    expect(commands).toEqual(expect.arrayContaining(['check', 'run', 'status', 'backfill', 'schema', 'verify', 'repair', 'cutover', 'rollback', 'finalize', 'teardown', 'audit', 'approve', 'connectors', 'plan', 'drill']));
    for (const command of commands) {
      const r = await runTandem([command, '--help']);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      expect(r.stdout, command).toContain(`Usage: tandem ${command}`);
    }
  });
});
