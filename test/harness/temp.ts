/**
 * Temporary folders made for tests (configs, state folders), the demo and benchmarks. Each is recorded when made
 * and removed when its user is done: under vitest the setup file test/harness/setup.ts removes a test file's folders
 * after its last test; elsewhere (scripts, benchmarks) they go when the process exits.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Kept on the process rather than in this module, so that one exit handler serves however many times a test
// runner evaluates the module in the same process.
const REGISTRY = Symbol.for('tandem.test.tempDirs');

function registry(): Set<string> {
  const holder = process as NodeJS.Process & { [REGISTRY]?: Set<string> };
  let dirs = holder[REGISTRY];
  if (!dirs) {
    const made = new Set<string>();
    dirs = holder[REGISTRY] = made;
    process.once('exit', () => removeAll(made));
  }
  return dirs;
}

function removeAll(dirs: Set<string>): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** A new empty folder in the system's temporary folder, named `prefix` and six random characters; removed later. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  registry().add(dir);
  return dir;
}

/** Removes every folder that tempDir made in this process so far. */
export function removeTempDirs(): void {
  removeAll(registry());
}
