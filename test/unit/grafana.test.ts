/**
 * The Grafana dashboard (deploy/grafana/tandem.json) and the alert rules (deploy/prometheus) name only metrics Tandem
 * exports: the names are read from a real registry built by createMetrics (the one `tandem run` serves), so a
 * renamed or removed metric fails here instead of leaving an empty panel or an alert that can never fire.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics, observeSwitch } from '../../src/server/metrics.js';
import { emptyStats } from '../../src/replicate/stats.js';
import type { SwitchResult } from '../../src/model/switch.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Every series name the registry can export: histograms add _bucket, _sum and _count. */
async function exportedNames(): Promise<Set<string>> {
  const registry = createMetrics({
    stats: emptyStats(),
    migration: 'm',
    version: 'test',
    direction: () => 'forward',
    phase: () => 'shadowing',
    activeSide: () => 'old',
    verification: async () => [],
    fences: () => ({ old: false, new: true }),
    lease: () => ({ holder: 'h', host: 'host', epoch: 1 }),
    rollbackReady: async () => null,
  });
  const names = new Set<string>();
  for (const line of (await registry.metrics()).split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'inf', 'nan']);

/** The metric names a PromQL expression reads: identifiers that are not functions, keywords, labels or strings. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\w+/g, ' ')
    .replace(/\$\w+/g, ' ');
  const names: string[] = [];
  for (const m of stripped.matchAll(/(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*(?=\s*(\()?)/g)) {
    if (m[1]) continue; // a function call
    if (KEYWORDS.has(m[0].toLowerCase()) || /^\d/.test(m[0])) continue;
    names.push(m[0]);
  }
  return names;
}

function dashboardExpressions(): string[] {
  const dash = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'tandem.json'), 'utf8')) as {
    panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    templating: { list: Array<{ query: { query: string } | string }> };
  };
  const exprs = dash.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dash.templating.list) {
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const inner = /^label_values\((\w+)\s*,/.exec(q);
    exprs.push(inner ? (inner[1] as string) : q);
  }
  return exprs;
}

describe('Grafana dashboard and alert rules', () => {
  it('the expression parser finds metric names and nothing else', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (le, kind) (rate(tandem_switch_window_seconds_bucket{migration="$migration"}[1h])))')).toEqual(['tandem_switch_window_seconds_bucket']);
    expect(metricNames('tandem_lag_seconds > on(migration, direction) (0.5 * tandem_binlog_retention_seconds)')).toEqual(['tandem_lag_seconds', 'tandem_binlog_retention_seconds']);
    expect(metricNames('(time() - x_start > 3 * 3600) unless on(migration) y_last')).toEqual(['x_start', 'y_last']);
    expect(metricNames('min_over_time(a[30m]) == a offset 30m and b > 1e3')).toEqual(['a', 'a', 'b']);
  });

  it('every dashboard expression names only metrics tandem run exports, and every panel has one', async () => {
    const exported = await exportedNames();
    expect(exported.has('tandem_info')).toBe(true);
    const exprs = dashboardExpressions();
    expect(exprs.length).toBeGreaterThan(15);
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names.length, `no metric in ${expr}`).toBeGreaterThan(0);
      // `up` is Prometheus's own series for the scrape target.
      expect(names.filter((n) => n !== 'up' && !exported.has(n)), `unknown metric in ${expr}`).toEqual([]);
    }
  });

  it('every alert rule names only exported metrics', async () => {
    const exported = await exportedNames();
    const rules = (parse(readFileSync(join(root, 'deploy', 'prometheus', 'tandem-alerts.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBeGreaterThan(10);
    for (const r of rules) expect(metricNames(r.expr).filter((n) => n !== 'up' && !exported.has(n)), `${r.alert}: ${r.expr}`).toEqual([]);
  });

  it('a switch\'s window lands in the histogram the dashboard reads', async () => {
    const stats = { ...emptyStats(), appliedRows: { 'forward\torders\tinsert': 3 } };
    const registry = createMetrics({ stats, migration: 'm', version: 'test', direction: () => 'reverse', phase: () => 'cutover', activeSide: () => 'new', rollbackReady: async () => null, verification: async () => [], lease: () => undefined });
    observeSwitch(registry, { kind: 'cutover', result: 'done', windowMs: 800 } as SwitchResult);
    observeSwitch(registry, { kind: 'cutover', result: 'refused', windowMs: null } as SwitchResult);
    const text = await registry.metrics();
    expect(text).toContain('tandem_switch_window_seconds_count{migration="m",kind="cutover",result="done"} 1');
    expect(text).toContain('tandem_switch_window_seconds_bucket{le="1",migration="m",kind="cutover",result="done"} 1');
    // Unknown values are absent, never a made-up 0 (an alert on rollback readiness must not fire before a cutover).
    expect(text).not.toMatch(/^tandem_rollback_ready/m);
    expect(text).not.toMatch(/^tandem_verify_progress_ratio/m);
    expect(text).not.toMatch(/^tandem_lease_epoch/m);
    // Rows applied before the cutover keep the direction they were applied in.
    expect(text).toContain('tandem_applied_rows_total{direction="forward",table="orders",operation="insert",migration="m"} 3');
    expect(text).toContain('tandem_info{phase="cutover",active_side="new",direction="reverse",migration="m"} 1');
    expect(text).toContain('tandem_switch_window_seconds_bucket{le="0.5",migration="m",kind="cutover",result="done"} 0');
  });
});
