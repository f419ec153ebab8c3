/**
 * The rollback plan as a team uses it (issue 17), PostgreSQL → PostgreSQL with a running `tandem run`: in shadowing
 * it names old as active, the cutover's commands and gates; a cutover configured to need a reviewed plan is refused
 * until `tandem plan --approve`; after the cutover the plan names new, the rollback's gates and the measured window;
 * a table added afterwards makes the review stale in the plan and in `tandem status`. The Markdown and HTML have
 * their sections, and the API serves the plan to a read token only.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { untilTandem, suiteResources, type TandemProcess } from '../harness/tandem-process.js';
import { switchCli, type ShopDb } from '../harness/switch.js';
import { startShopService } from '../harness/shop-service.js';
import { PLAN_SECTIONS } from '../../src/control/plan-render.js';
import type { RollbackPlan } from '../../src/control/plan.js';

const READ = 'plan-read-token-0123456789';

describe('tandem plan, PostgreSQL → PostgreSQL', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let api = '';
  const migration = uniqueName('plan');

  beforeAll(async () => {
    ({ oldDb, newDb, config, service, api } = await startShopService(res, {
      migration,
      prefix: 'plan',
      tables: null,
      cutover: { requireReviewedPlan: true },
      config: {
        plan: { owners: ['shop-platform team'], contacts: ['oncall@shop.example'], approvers: ['cto@shop.example'] },
        api: { tokens: [{ name: 'wiki', token: READ, role: 'read' }] },
      },
    }));
  });

  const plan = async (...extra: string[]) => {
    const r = await runTandem(['plan', '--json', '--config', config, ...extra], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as RollbackPlan;
  };
  const status = async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { phase: string; planReview: { by: string; changedSince: boolean; changes: string[] } | null; verification: { lastCompletePass: string | null } | null };

  it('names the active side, commands and gates, follows a review and a cutover, and goes stale when a table is added', { timeout: 300_000 }, async () => {
    await untilTandem(service, 'phase shadowing and a complete verification', async () => {
      const s = await status();
      return s.phase === 'shadowing' && s.verification?.lastCompletePass;
    }, 120_000);

    const before = await plan();
    expect(before.phase).toBe('shadowing');
    expect(before.activeSide).toBe('old');
    expect(before.gatesFor).toBe('cutover');
    expect(before.gatesSource).toBe('service');
    expect(before.commands.cutover.availableNow).toBe(true);
    expect(before.commands.cutover.cli).toContain(`tandem cutover --config ${config}`);
    expect(before.commands.rollback.availableNow).toBe(false);
    expect(before.commands.emergencyRollback.cli).toContain('--emergency --accept-data-loss');
    expect(before.tables.map((t) => t.table).sort()).toEqual(['customers', 'orders']);
    expect(before.owners).toEqual(['shop-platform team']);
    expect(before.approvers).toEqual(['cto@shop.example']);
    expect(before.risks.map((r) => r.kind)).toEqual(expect.arrayContaining(['sequences', 'ddl']));
    expect(before.risks.find((r) => r.kind === 'sequences')?.detail).toContain('orders.id');
    expect(before.expectedWindowMs).toBeNull();
    expect(before.review.by).toBeNull();
    const reviewGate = before.gates.find((g) => g.name === 'plan-reviewed');
    expect(reviewGate?.ok).toBe(false);
    expect(before.gates.find((g) => g.name === 'phase')).toMatchObject({ ok: true, value: 'shadowing' });

    // Not reviewed: the cutover is refused by that gate alone.
    const refused = await switchCli('cutover', config, ['--dry-run']);
    expect(refused.code).toBe(3);
    expect(refused.result.gates.filter((g) => !g.ok).map((g) => g.name)).toEqual(['plan-reviewed']);

    const approved = await plan('--approve', '--by', 'alice');
    expect(approved.review).toMatchObject({ by: 'alice', changedSince: false });
    await untilTandem(service, 'status to show the review', async () => (await status()).planReview?.by === 'alice');
    expect((await status()).planReview?.changedSince).toBe(false);
    const audit = await runTandem(['audit', '--json', '--config', config]);
    expect(audit.stdout).toContain('plan-review');

    const cut = await switchCli('cutover', config);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.result.result).toBe('done');

    const after = await plan();
    expect(after.phase).toBe('cutover');
    expect(after.activeSide).toBe('new');
    expect(after.shadowSide).toBe('old');
    expect(after.gatesFor).toBe('rollback');
    expect(after.commands.rollback.availableNow).toBe(true);
    expect(after.commands.cutover.availableNow).toBe(false);
    expect(after.gates.find((g) => g.name === 'phase')?.value).toBe('cutover');
    expect(after.gates.map((g) => g.name)).not.toContain('plan-reviewed');
    expect(after.expectedWindowMs).toBe(cut.result.windowMs);
    // Live figures changed, nothing material did.
    expect(after.review.changedSince).toBe(false);

    // A table added on the active side (and on the shadow, so it can join): the review is stale, and says why.
    await newDb.query(`CREATE TABLE refunds (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL)`);
    await oldDb.query(`CREATE TABLE refunds (id bigint PRIMARY KEY, amount numeric(12,2) NOT NULL)`);
    const stale = await plan();
    expect(stale.tables.map((t) => t.table)).toContain('refunds');
    expect(stale.review.changedSince).toBe(true);
    expect(stale.review.changes).toContain('table added: refunds');
    await untilTandem(service, 'status to say the plan changed since its review', async () => (await status()).planReview?.changedSince === true, 90_000);

    // The documents, from the CLI and the API.
    const md = await runTandem(['plan', '--config', config], { timeoutMs: 120_000 });
    expect(md.code).toBe(0);
    for (const s of PLAN_SECTIONS) expect(md.stdout).toContain(`## ${s}`);
    expect(md.stdout).toContain('active side: **new**');
    expect(md.stdout).toContain('CHANGED SINCE: table added: refunds');

    const base = `http://${api}`;
    expect((await fetch(`${base}/api/v1/plan`)).status).toBe(401);
    const html = await fetch(`${base}/api/v1/plan?format=html`, { headers: { authorization: `Bearer ${READ}` } });
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    const page = await html.text();
    for (const s of PLAN_SECTIONS) expect(page).toContain(`<h2>${s}</h2>`);
    expect(page).toContain('id="active-side">new<');
    const json = (await (await fetch(`${base}/api/v1/plan?for=cutover`, { headers: { authorization: `Bearer ${READ}` } })).json()) as RollbackPlan;
    expect(json.gatesFor).toBe('cutover');
    expect(json.gates.find((g) => g.name === 'phase')?.ok).toBe(false);
  });
});
