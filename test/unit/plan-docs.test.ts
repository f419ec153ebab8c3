/**
 * The troubleshooting table (docs/troubleshooting.md) cannot drift from the code: every code of src/errors.ts has
 * exactly one row with its real exit code, and no row names a code that does not exist. The runbooks link what an
 * operator needs at 3 a.m.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TandemError, type TandemErrorCode } from '../../src/errors.js';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** The codes as src/errors.ts declares them (the union type), read from the source. */
function declaredCodes(): TandemErrorCode[] {
  const src = read('src/errors.ts');
  const union = /export type TandemErrorCode =([\s\S]*?);/.exec(src)?.[1] ?? '';
  return [...union.matchAll(/'(TANDEM_[A-Z_]+)'/g)].map((m) => m[1] as TandemErrorCode);
}

describe('docs/troubleshooting.md', () => {
  const doc = read('docs/troubleshooting.md');
  const rows = new Map([...doc.matchAll(/^\| `(TANDEM_[A-Z_]+)` \| (\d) \| ([^|]+) \| ([^|]+) \|$/gm)].map((m) => [m[1] as string, { exit: Number(m[2]), means: (m[3] as string).trim(), fix: (m[4] as string).trim() }]));

  it('has one row per error code, with its exit code and a fix', () => {
    const codes = declaredCodes();
    expect(codes.length).toBeGreaterThan(25);
    for (const code of codes) {
      const row = rows.get(code);
      expect(row, `${code} has no row in docs/troubleshooting.md`).toBeDefined();
      expect(row?.exit, `${code}'s exit code`).toBe(new TandemError(code, 'x').exitCode);
      expect(row?.fix.length, `${code}'s fix`).toBeGreaterThan(10);
    }
    expect([...rows.keys()].filter((c) => !codes.includes(c as TandemErrorCode))).toEqual([]);
    expect(doc.match(/^\| `TANDEM_/gm)?.length).toBe(codes.length);
  });

  it('every code is also documented in docs/errors.md', () => {
    const errors = read('docs/errors.md');
    for (const code of declaredCodes()) expect(errors, code).toContain(`### ${code}`);
  });

  it('the runbooks exist, name the commands they rely on, and the README links them', () => {
    const readme = read('README.md');
    for (const doc of ['docs/runbook-migration.md', 'docs/runbook-incident.md', 'docs/troubleshooting.md', 'docs/plan.md']) expect(readme).toContain(`(${doc})`);
    const migration = read('docs/runbook-migration.md');
    for (const step of ['tandem check', 'tandem run', 'tandem plan', 'tandem drill', 'tandem cutover', 'tandem rollback', 'tandem finalize']) expect(migration).toContain(step);
    const incident = read('docs/runbook-incident.md');
    for (const step of ['tandem status', 'tandem rollback --dry-run', 'tandem rollback --yes', '--emergency --accept-data-loss', 'POST /api/v1/rollback']) expect(incident).toContain(step);
  });
});
