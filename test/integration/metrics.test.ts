import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createPgDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { freePort } from '../harness/servers.js';
import { suiteResources, waitUntil } from '../harness/tandem-process.js';

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(name) && (labels === '' || l.includes(labels)) && !l.startsWith('#'));
  return line ? Number(line.trim().split(/\s+/).pop()) : undefined;
}

describe('Prometheus metrics of tandem run', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, start } = suiteResources();
  let source: PgTestDatabase;
  let shadow: PgTestDatabase;
  beforeAll(async () => {
    [source, shadow] = await Promise.all([createPgDatabase(pgUrl, 'msrc'), createPgDatabase(pgUrl, 'mdst')]);
    dbs.push(source, shadow);
    for (const db of [source, shadow]) await db.admin.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text)`);
    await source.admin.query(`INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 3000) g`);
  });

  it('exposes backfill progress, applied transactions, lag and retained WAL, without secrets', async () => {
    const port = await freePort();
    const password = 'Metrics-Planted-Pw';
    const config = writeConfig({
      migration: 'metrics',
      old: { url: source.url.replace('postgres@', `postgres:${password}@`) },
      new: { url: shadow.url },
      api: { listen: `127.0.0.1:${port}` },
    });
    const tandem = start(['run', '--config', config]);
    const scrape = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      return res.ok ? res.text() : undefined;
    };
    const first = await waitUntil('backfill to show in metrics', async () => {
      const text = await scrape();
      return text && metricValue(text, 'tandem_phase', 'phase="shadowing"') === 1 ? text : undefined;
    }, 60_000);
    expect(metricValue(first, 'tandem_backfill_rows_copied')).toBe(3000);
    expect(metricValue(first, 'tandem_backfill_tables_total')).toBe(1);
    // backfill.parallelTables allows 2 by default; one table takes one worker.
    expect(metricValue(first, 'tandem_backfill_parallel_tables')).toBe(1);
    expect(first).toContain('tandem_build_info{version=');

    for (let i = 0; i < 5; i++) await source.admin.query(`UPDATE t SET v = v || '!' WHERE id = $1`, [i + 1]);
    // A source sample taken once streaming has a checkpoint: one taken the moment the stream started has the slot's
    // retained WAL but no lag in bytes yet (no checkpoint to measure from), until the next sample.
    const later = await waitUntil('applied transactions and a source sample', async () => {
      const text = await scrape();
      return text && (metricValue(text, 'tandem_applied_transactions_total') ?? 0) >= 5 && metricValue(text, 'tandem_slot_retained_wal_bytes') !== undefined && metricValue(text, 'tandem_lag_bytes') !== undefined ? text : undefined;
    }, 30_000);
    expect(metricValue(later, 'tandem_lag_bytes')).toBeGreaterThanOrEqual(0);
    // Each shadow commit carries one or more source transactions, never none.
    const shadowCommits = metricValue(later, 'tandem_apply_shadow_commits_total') ?? 0;
    expect(shadowCommits).toBeGreaterThan(0);
    expect(shadowCommits).toBeLessThanOrEqual(metricValue(later, 'tandem_applied_transactions_total') ?? 0);
    expect(metricValue(later, 'tandem_slot_retained_wal_bytes')).toBeGreaterThanOrEqual(0);
    expect(later).not.toContain(password);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);

    tandem.kill('SIGTERM');
    expect(await tandem.exited).toBe(0);
  });
});
