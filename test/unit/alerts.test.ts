import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The alert rules in deploy/prometheus, checked and unit-tested by Prometheus's own promtool against recorded series,
 * including the unknown (absent) values and failure cases. promtool comes with Debian's `prometheus` package, which
 * .ci/run installs when it is missing.
 */
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'prometheus');
const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: dir, encoding: 'utf8' });

describe('Prometheus alert rules', () => {
  it('are valid and pass their unit tests (promtool)', () => {
    const check = promtool('check', 'rules', 'tandem-alerts.yml');
    expect(check.error, 'promtool is missing: apt-get install prometheus (.ci/run does)').toBeUndefined();
    expect(`${check.stdout}${check.stderr}`).toContain('SUCCESS');
    const test = promtool('test', 'rules', 'tandem-alerts.test.yml');
    expect(test.status, `${test.stdout}${test.stderr}`).toBe(0);
  });
});
