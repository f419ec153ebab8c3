import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { boundedYoungGeneration, type ProcessFacts } from '../../src/cli/young-generation.js';

const node24: ProcessFacts = { argv: ['run', '--direction', 'forward'], execArgv: [], nodeOptions: undefined, v8: '13.6.233.17-node.24', canReplace: true };

describe('the young generation of streaming commands', () => {
  it('is bounded to 16 MiB semi-spaces for run and backfill on Node 24, keeping node\'s other arguments', () => {
    expect(boundedYoungGeneration(node24)).toEqual(['--max-semi-space-size=16']);
    expect(boundedYoungGeneration({ ...node24, argv: ['-c', 'run', 'backfill', '--yes'] })).toEqual(['--max-semi-space-size=16']);
    expect(boundedYoungGeneration({ ...node24, execArgv: ['--enable-source-maps'] })).toEqual(['--max-semi-space-size=16', '--enable-source-maps']);
  });

  it('leaves short commands, older V8s and processes that cannot replace themselves as they are', () => {
    for (const argv of [['status'], ['verify', 'run'], ['--help'], []]) expect(boundedYoungGeneration({ ...node24, argv }), argv.join(' ')).toBeUndefined();
    expect(boundedYoungGeneration({ ...node24, v8: '12.4.254.21-node.33' })).toBeUndefined();
    expect(boundedYoungGeneration({ ...node24, canReplace: false })).toBeUndefined();
  });

  it('keeps a young-generation size the user chose, on the command line or in NODE_OPTIONS', () => {
    expect(boundedYoungGeneration({ ...node24, execArgv: ['--max-semi-space-size=64'] })).toBeUndefined();
    expect(boundedYoungGeneration({ ...node24, execArgv: ['--max_semi_space_size', '32'] })).toBeUndefined();
    expect(boundedYoungGeneration({ ...node24, nodeOptions: '--enable-source-maps --min-semi-space-size=8' })).toBeUndefined();
    expect(boundedYoungGeneration({ ...node24, nodeOptions: '--max-old-space-size=4096' })).toEqual(['--max-semi-space-size=16']);
  });

  it('replaces the process in place where this Node sizes it larger, and only there', () => {
    // The built module, in a process of its own: the same process id before and after, the flag in effect after.
    const dir = mkdtempSync(join(tmpdir(), 'tandem-young-'));
    const script = join(dir, 'probe.mjs');
    const built = pathToFileURL(join(process.cwd(), 'dist', 'src', 'cli', 'young-generation.js')).href;
    writeFileSync(script, `import { boundYoungGeneration } from ${JSON.stringify(built)};\nconsole.log(JSON.stringify({ pid: process.pid, execArgv: process.execArgv }));\nboundYoungGeneration();\n`);
    const lines = execFileSync(process.execPath, [script, 'run'], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } }).trim().split('\n').map((l) => JSON.parse(l) as { pid: number; execArgv: string[] });
    const replaces = Number.parseInt(process.versions.v8, 10) >= 13 && typeof (process as { execve?: unknown }).execve === 'function';
    if (replaces) {
      expect(lines).toHaveLength(2);
      expect(lines[1]?.pid).toBe(lines[0]?.pid);
      expect(lines[1]?.execArgv).toEqual(['--max-semi-space-size=16']);
    } else expect(lines).toEqual([{ pid: expect.any(Number), execArgv: [] }]);
  });
});
