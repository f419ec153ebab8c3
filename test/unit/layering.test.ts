import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** `npm run lint` runs these same rules over src/ (dependency-cruiser); here they run over a fixture that breaks them. */
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const depcruise = (cwd: string, target: string) =>
  spawnSync(process.execPath, [join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs'), target, '--config', join(root, '.dependency-cruiser.cjs'), '--output-type', 'err'], {
    cwd,
    encoding: 'utf8',
  });

describe('layering (DESIGN.md "Layout"), as npm run lint enforces it', () => {
  it('names every import that points the wrong way', () => {
    const r = depcruise(join(root, 'test', 'fixtures', 'layering'), 'src');
    expect(r.status).not.toBe(0);
    const out = `${r.stdout}${r.stderr}`;
    expect(out).toMatch(/engines-below-the-pipeline: src\/engines\/shadow\.ts → src\/control\/coordinator\.ts/);
    expect(out).toMatch(/model-is-the-bottom: src\/model\/change\.ts → src\/engines\/shadow\.ts/);
    expect(out).toMatch(/router-imports-only-model: src\/router\/router\.ts → src\/control\/coordinator\.ts/);
  });

  it('finds none in the real source tree', () => {
    const r = depcruise(root, 'src');
    expect(`${r.stdout}${r.stderr}`).toContain('no dependency violations found');
    expect(r.status).toBe(0);
  });
});
