/**
 * `tandem drill` as a team runs it before go-live (issue 17), PostgreSQL → PostgreSQL with a running `tandem run`:
 * the production guard refuses a pair not marked staging (and an operate token even with the flag); on a staging
 * pair the default three cutover → rollback cycles under the drill's load (writing through the application router)
 * lose no acknowledged write, leave no drift, measure a window per switch and a time to roll back; then the
 * emergency rollback is rehearsed with new's server stopped by drill.stopNew (its own throwaway server), what it
 * lost is counted and named, new is started again by drill.startNew, and the operator's steps from the report
 * (stop the service, tandem backfill --yes, start it) make the pair whole again. The report is kept (`tandem plan`
 * shows the last drill), announced to a webhook and sent as a live event of the service, as is the plan's review.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, queryOnce, type ShopDb } from '../harness/switch.js';
import { webhookReceiver } from '../harness/webhook.js';
import { openEvents, type ReceivedEvent } from '../harness/events.js';
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
  let productionWithStop = '';
  let service: TandemProcess;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;
  const migration = uniqueName('drill');

  beforeAll(async () => {
    hook = await webhookReceiver();
    res.cleanups.push(() => new Promise<void>((resolve) => hook.server.close(() => resolve())));
    // New on a server of its own: the emergency rehearsal stops it.
    const [oldServer, newServer] = await Promise.all([startPostgres(), startPostgres()]);
    res.servers.push(oldServer, newServer);
    oldDb = await createShopDb('pg', oldServer.url, 'drold');
    newDb = await createShopDb('pg', newServer.url, 'drnew');
    res.dbs.push(oldDb, newDb);
    const base = {
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      verify: { interval: '1s' },
      discovery: { interval: '1s' },
      cutover: { maxLag: '60s' },
      api: { tokens: [{ name: 'oncall', token: OPERATE, role: 'operate' }] },
      notify: { webhooks: [{ name: 'drill-receiver', url: `${hook.url}/hook`, events: ['drill.finished', 'plan.reviewed'] }] },
    };
    staging = writeConfig({ ...base, drill: { staging: true, writers: 2, stopNew: newServer.commands.stopImmediate, startNew: newServer.commands.start } });
    production = writeConfig(base);
    productionWithStop = writeConfig({ ...base, drill: { stopNew: newServer.commands.stopImmediate, startNew: newServer.commands.start } });
    service = res.start(['run', '--config', staging]);
    await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
  });

  it('refuses a pair not marked staging, a production drill without an admin, and an emergency rehearsal on production', { timeout: 60_000 }, async () => {
    const plain = await runTandem(['drill', '--config', production]);
    expect(plain.code).toBe(3);
    expect(plain.stderr).toContain('not marked as a staging pair');
    expect(plain.stderr).toContain('--i-know-this-is-production');
    const operate = await runTandem(['drill', '--config', production, '--i-know-this-is-production', '--token', OPERATE]);
    expect(operate.code).toBe(3);
    expect(operate.stderr).toContain('needs an admin');
    // Even an admin with the flag does not get the emergency rehearsal on production: it would stop new's server.
    const stopping = await runTandem(['drill', '--config', productionWithStop, '--i-know-this-is-production']);
    expect(stopping.code).toBe(3);
    expect(stopping.stderr).toContain('drill.stopNew is set');
    expect(stopping.stderr).toContain('remove drill.stopNew');
    const audit = JSON.parse((await runTandem(['audit', '--json', '--config', production])).stdout) as { entries?: Array<{ action: string; event: string }> } | Array<{ action: string; event: string }>;
    const entries = Array.isArray(audit) ? audit : (audit.entries ?? []);
    expect(entries.filter((e) => e.action === 'drill' && e.event === 'refused').length).toBe(3);
  });

  it('three cycles under load, then an emergency rollback with new stopped: measured, the loss named, the pair made whole; plan and webhook told', { timeout: 900_000 }, async () => {
    await untilTandem(service, 'phase shadowing', async () => JSON.parse((await runTandem(['status', '--json', '--config', staging])).stdout).phase === 'shadowing', 120_000);
    // The service's live events, as the dashboard reads them: the drill's audit entries must show up there.
    const eventsOf = async () => {
      const live = openEvents(`http://${(await readLeaseRow(oldDb.url, migration))?.api ?? ''}`, { authorization: `Bearer ${OPERATE}` });
      res.cleanups.push(() => live.close());
      await live.ready;
      return live;
    };
    const auditEvent = (action: string, event: string) => (e: ReceivedEvent) => e.type === 'audit' && (e.data.entry as { action?: string; event?: string } | undefined)?.action === action && (e.data.entry as { event?: string }).event === event;
    let live = await eventsOf();
    const r = await runTandem(['drill', '--json', '--config', staging], { timeoutMs: 780_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as DrillReport;
    // The measured report, for the record (test-artifacts/ is kept by CI).
    mkdirSync('test-artifacts/drill', { recursive: true });
    writeFileSync('test-artifacts/drill/pg-pg.md', renderDrillMarkdown(report));
    console.log(renderDrillMarkdown(report));
    expect(report.verdict).toBe('pass');
    expect(report.reasons).toEqual([]);
    expect(report.cycles.map((c) => c.switch)).toEqual(['cutover', 'rollback', 'cutover', 'rollback', 'cutover', 'rollback', 'cutover', 'emergency-rollback']);
    const ordinary = report.cycles.filter((c) => c.switch !== 'emergency-rollback');
    for (const c of ordinary) {
      expect(c.result).toBe('done');
      expect(c.rowsLost).toBe(0);
      expect(c.drift).toBe(0);
      expect(c.writesFailed).toBe(0);
      expect(c.windowMs).toBeGreaterThan(0);
    }
    for (const c of ordinary.filter((x) => x.switch === 'rollback')) expect(c.timeToRollbackMs).toBeGreaterThan(0);
    // The load writes through the router, which holds writes while a switch is announced.
    expect(ordinary.reduce((n, c) => n + c.writesHeld, 0)).toBeGreaterThan(0);
    expect(report.writesAcknowledged).toBeGreaterThan(20);

    // The emergency rollback: done with new down, old taking writes again, the loss counted and named.
    const emergency = report.cycles.at(-1) as DrillReport['cycles'][number];
    expect(emergency).toMatchObject({ switch: 'emergency-rollback', result: 'done' });
    expect(emergency.timeToRollbackMs).toBeGreaterThan(0);
    const e = report.emergency as NonNullable<DrillReport['emergency']>;
    expect(e.stopNew.ok && e.startNew?.ok, JSON.stringify(e)).toBe(true);
    expect(e.newFenced).toBe(false);
    // New's admin connection died with its server: read it through connections of its own from here on.
    newDb = { ...newDb, query: (sql, params) => queryOnce(newDb.url, sql, params) };
    expect(emergency.rowsLost).toBe(e.lostRefs.length);
    const refsOn = async (db: ShopDb, refs: string[]) => new Set((await db.query(`select ref from drill_orders where ref = any($1)`, [refs])).map((x) => String(x[0])));
    expect([...(await refsOn(oldDb, e.lostRefs))], 'a write named lost is on old after all').toEqual([]);
    expect([...(await refsOn(newDb, e.lostRefs))].sort()).toEqual([...e.lostStillOnNew].sort());
    expect(e.resyncRequired).toBe(true);
    expect(e.next.join('\n')).toContain('tandem backfill --yes');
    const status = async () => JSON.parse((await runTandem(['status', '--json', '--config', staging])).stdout) as { phase: string; activeSide: string; resyncRequired: boolean };
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old', resyncRequired: true });

    await live.waitFor('the drill\'s audit entry as a live event', auditEvent('drill', 'done'));
    live.close();

    // The operator's steps from the report make the pair whole again.
    service.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    const backfill = await runTandem(['backfill', '--yes', '--config', staging], { timeoutMs: 150_000 });
    expect(backfill.code, backfill.stderr).toBe(0);
    service = res.start(['run', '--config', staging]);
    const rows = async (db: ShopDb) => (await db.query(`select ref, n::text from drill_orders order by ref`)).map((x) => x.join(' '));
    await untilTandem(service, 'the drill table to be equal on both sides', async () => {
      const [a, b] = await Promise.all([rows(oldDb), rows(newDb)]);
      return a.length >= report.writesAcknowledged - e.lostRefs.length && a.join('\n') === b.join('\n');
    }, 120_000);
    // The copy ends its stage, then the service streams: phase shadowing, nothing owed to new.
    await untilTandem(service, 'phase shadowing after the copy', async () => {
      const s = await status();
      return s.phase === 'shadowing' && s.activeSide === 'old' && !s.resyncRequired;
    }, 120_000);

    const plan = JSON.parse((await runTandem(['plan', '--json', '--config', staging], { timeoutMs: 120_000 })).stdout) as RollbackPlan;
    expect(plan.lastDrill).toMatchObject({ verdict: 'pass', cycles: 8, rowsLost: 0, emergency: { rowsLost: e.lostRefs.length, timeToRollbackMs: emergency.timeToRollbackMs } });
    expect(plan.lastDrill?.maxWindowMs).toBe(Math.max(...report.cycles.map((c) => c.windowMs ?? 0)));
    expect(plan.expectedWindowMs).toBeGreaterThanOrEqual(plan.lastDrill?.maxWindowMs ?? Infinity);
    const md = await runTandem(['plan', '--config', staging], { timeoutMs: 120_000 });
    expect(md.stdout).toMatch(/## Last drill\n\n\S+: PASS \(8 switches.*emergency rollback rehearsed/);

    // Stakeholders were told: the drill's verdict with its figures, and (below) the plan's review.
    const told = hook.got.find((g) => g.body.event === 'drill.finished');
    expect(told?.body).toMatchObject({ migration, detail: { verdict: 'pass', reasons: [], cycles: expect.arrayContaining([expect.objectContaining({ switch: 'emergency-rollback' })]) } });
    expect(String(told?.body.text)).toContain('rollback drill PASSED');
    live = await eventsOf();
    const approve = await runTandem(['plan', '--approve', '--by', 'alice', '--json', '--config', staging], { timeoutMs: 120_000 });
    expect(approve.code, approve.stderr).toBe(0);
    await live.waitFor('the review\'s audit entry as a live event', auditEvent('plan-review', 'done'));
    const reviewed = hook.got.find((g) => g.body.event === 'plan.reviewed');
    expect(reviewed?.body).toMatchObject({ migration, detail: { by: 'alice', hash: expect.stringMatching(/^sha256:/) } });
    expect(String(reviewed?.body.text)).toContain('rollback plan reviewed by alice');
  });
});
