import { stringify } from 'yaml';
import { writeTempFile } from './servers.js';

/**
 * Writes a tandem.yaml for a test and returns its path. The control API listens on a free port unless the test
 * names one: tests run side by side, and a taken address stops `tandem run` (exit 2).
 */
export function writeConfig(config: Record<string, unknown>): string {
  const api = (config.api ?? {}) as Record<string, unknown>;
  return writeTempFile('tandem.yaml', stringify({ ...config, ...sharedServerFence(config), api: { listen: '127.0.0.1:0', ...api } }));
}

/**
 * A MariaDB shadow is fenced with read_only, which is server-wide: on the test run's shared MariaDB it would make
 * every other test's database read-only for non-root accounts. Tests that involve MariaDB leave the shadow's fence
 * off unless they ask for it (the fence tests run MariaDB servers of their own).
 */
function sharedServerFence(config: Record<string, unknown>): Record<string, unknown> {
  if (config.fence !== undefined) return {};
  const urls = [config.old, config.new].map((s) => String((s as { url?: string } | undefined)?.url ?? ''));
  return urls.some((u) => /^(mysql|mariadb):/.test(u)) ? { fence: { shadow: false } } : {};
}
