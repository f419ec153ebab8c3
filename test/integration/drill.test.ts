/**
 * `tandem drill` as a team runs it before go-live (issue 17), PostgreSQL → PostgreSQL with a running `tandem run`:
 * the production guard refuses a pair not marked staging (and an operate token even with the flag); on a staging
 * pair two cutover → rollback cycles under the drill's load lose no acknowledged write, leave no drift, measure a
 * window per switch and a time to roll back, and the report is kept: `tandem plan` shows the last drill.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, type ShopDb } from '../harness/switch.js';
import type { DrillReport } from '../../src/control/plan-review.js';
import { renderDrillMarkdown } from '../../src/drill/drill.js';
import type { RollbackPlan } from '../../src/control/plan.js';

const OPERATE = 'drill-operate-token-0123456789';

describe('tandem drill, PostgreSQL → PostgreSQL', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let staging = '';
  let production = '';
  let service: TandemProcess;
  const migration = uniqueName('drill');

  beforeAll(async () => {
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'drold');
    newDb = await createShopDb('pg', server.url, 'drnew');
    res.dbs.push(oldDb, newDb);
    const base = {
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      verify: { interval: '1s' },
      discovery: { interval: '1s' },
      cutover: { maxLag: '60s' },
      api: { tokens: [{ name: 'oncall', token: OPERATE, role: 'operate' }] },
    };
    staging = writeConfig({ ...base, drill: { staging: true, cycles: 3, writers: 2 } });
    production = writeConfig(base);
    service = res.start(['run', '--config', staging]);
    await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
  });

  it('refuses a pair not marked staging, and a production drill without an admin', { timeout: 60_000 }, async () => {
    const plain = await runTandem(['drill', '--config', production]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain('not marked as a staging pair');
    expect(plain.stderr).toContain('--i-know-this-is-production');
    const operate = await runTandem(['drill', '--config', production, '--i-know-this-is-production', '--token', OPERATE]);
    expect(operate.code).toBe(3);
    expect(operate.stderr).toContain('needs an admin');
    const audit = JSON.parse((await runTandem(['audit', '--json', '--config', production])).stdout) as { entries?: Array<{ action: string; event: string }> } | Array<{ action: string; event: string }>;
    const entries = Array.isArray(audit) ? audit : (audit.entries ?? []);
    expect(entries.filter((e) => e.action === 'drill' && e.event === 'refused').length).toBe(2);
  });

  it('two cutover → rollback cycles under load: no acknowledged write lost, no drift, a window per switch; the plan shows it', { timeout: 600_000 }, async () => {
    await untilTandem(service, 'phase shadowing', async () => JSON.parse((await runTandem(['status', '--json', '--config', staging])).stdout).phase === 'shadowing', 120_000);
    const r = await runTandem(['drill', '--cycles', '2', '--json', '--config', staging], { timeoutMs: 540_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as DrillReport;
    // The measured report, for the record (test-artifacts/ is kept by CI).
    mkdirSync('test-artifacts/drill', { recursive: true });
    writeFileSync('test-artifacts/drill/pg-pg.md', renderDrillMarkdown(report));
    expect(report.verdict).toBe('pass');
    expect(report.reasons).toEqual([]);
    expect(report.cycles.map((c) => c.switch)).toEqual(['cutover', 'rollback', 'cutover', 'rollback']);
    for (const c of report.cycles) {
      expect(c.result).toBe('done');
      expect(c.rowsLost).toBe(0);
      expect(c.drift).toBe(0);
      expect(c.writesFailed).toBe(0);
      expect(c.windowMs).toBeGreaterThan(0);
    }
    for (const c of report.cycles.filter((x) => x.switch === 'rollback')) expect(c.timeToRollbackMs).toBeGreaterThan(0);
    expect(report.writesAcknowledged).toBeGreaterThan(20);
    // Every acknowledged write is on both sides, and the sides are equal, at the end as well.
    const rows = async (db: ShopDb) => (await db.query(`select ref, n::text from drill_orders order by ref`)).map((x) => x.join(' '));
    await untilTandem(service, 'the drill table to be equal on both sides', async () => {
      const [a, b] = await Promise.all([rows(oldDb), rows(newDb)]);
      return a.length >= report.writesAcknowledged && a.join('\n') === b.join('\n');
    }, 90_000);

    const plan = JSON.parse((await runTandem(['plan', '--json', '--config', staging], { timeoutMs: 120_000 })).stdout) as RollbackPlan;
    expect(plan.lastDrill).toMatchObject({ verdict: 'pass', cycles: 4, rowsLost: 0 });
    expect(plan.lastDrill?.maxWindowMs).toBe(Math.max(...report.cycles.map((c) => c.windowMs ?? 0)));
    expect(plan.expectedWindowMs).toBeGreaterThanOrEqual(plan.lastDrill?.maxWindowMs ?? Infinity);
    const md = await runTandem(['plan', '--config', staging], { timeoutMs: 120_000 });
    expect(md.stdout).toMatch(/## Last drill\n\n\S+: PASS \(4 switches/);
  });
});
