/**
 * What stops a switch, and what a stopped switch leaves: each gate refusing (lag, drift, reverse capture
 * prerequisites) exits 3 and changes nothing; a drain that cannot finish (apply blocked by a lock on a shadow
 * table) backs out within cutover.drainTimeout, old writable again, exit 4; the API refuses callers without the
 * right token and role, a body without expectedPhase (400) and a stale expectedPhase (409); every request is audited.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, isFenceRefusal, SHOP_TABLES, type ShopDb, switchCli } from '../harness/switch.js';
import { startShopService } from '../harness/shop-service.js';
import { tempDir } from '../harness/temp.js';
import type { Gate, SwitchResult } from '../../src/model/switch.js';

const READ = 'gates-read-token-0123456789';
const OPERATE = 'gates-operate-token-0123456789';
const ADMIN = 'gates-admin-token-0123456789';

const gate = (r: SwitchResult, name: string) => r.gates.find((g) => g.name === name);

/** Inserts one order as the application would; true when it was written, false when the fence refused it. */
async function appWrites(db: ShopDb): Promise<boolean> {
  const c = new pg.Client({ connectionString: db.appUrl });
  await c.connect();
  try {
    await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (gen_random_uuid(), 1, 1, 'old')`);
    return true;
  } catch (err) {
    if (isFenceRefusal(err)) return false;
    throw err;
  } finally {
    await c.end();
  }
}

describe('switch gates, back-out and the API, PostgreSQL → PostgreSQL', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let base = '';
  const migration = uniqueName('swg');
  const hookDir = tempDir('tandem-hook-');
  const status = async () =>
    JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as {
      phase: string;
      activeSide: string;
      lag: { seconds: number | null };
      verification: { lastCompletePass: string | null; driftCount: number } | null;
    };
  const clean = (since = '') =>
    untilTandem(service, 'a complete, clean verification', async () => {
      const s = await status();
      return s.verification?.lastCompletePass && s.verification.lastCompletePass > since && s.verification.driftCount === 0;
    }, 90_000);
  const audit = async () => (JSON.parse((await runTandem(['audit', '--json', '--config', config])).stdout) as { entries: Array<{ action: string; event: string; actor: string; gates?: Gate[] }> }).entries;

  beforeAll(async () => {
    // A server of its own: these tests hold locks inside open transactions, and a transaction left open on a shared
    // server delays every other test's replication slot creation (a logical slot waits for all running transactions).
    let api: string;
    ({ oldDb, newDb, config, service, api } = await startShopService(res, {
      migration,
      prefix: 'sg',
      seed: (old) => old.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1 + g % 5, g, 'old' FROM generate_series(1, 200) g`).then(() => undefined),
      cutover: { maxLag: '2s', drainTimeout: '2s' },
      config: {
        // A pre-switch hook the drain test arms: it says when the switch has passed its gates and prepared new's slot,
        // then holds the switch a moment, so the test can block apply on new before the fence goes up.
        hooks: { onSwitch: [{ name: 'test-signal', command: ['sh', '-c', `if [ "$TANDEM_EVENT_NAME" = switch.starting ] && [ -e ${hookDir}/arm ]; then rm ${hookDir}/arm; touch ${hookDir}/started; sleep 2; fi; exit 0`] }] },
        api: { tokens: [{ name: 'dashboard', token: READ, role: 'read' }, { name: 'oncall', token: OPERATE, role: 'operate' }, { name: 'lead', token: ADMIN, role: 'admin' }] },
      },
    }));
    base = `http://${api}`;
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
  });

  it('the API: 401 without a token, 403 for read (and operate on finalize), 400 without expectedPhase, 409 for a stale one', async () => {
    const post = (path: string, token: string | undefined, body: unknown) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    expect((await post('/api/v1/cutover', undefined, { expectedPhase: 'shadowing', dryRun: true })).status).toBe(401);
    expect((await post('/api/v1/cutover', READ, { expectedPhase: 'shadowing', dryRun: true })).status).toBe(403);
    expect((await post('/api/v1/finalize', OPERATE, { expectedPhase: 'cutover' })).status).toBe(403);
    const missing = await post('/api/v1/cutover', OPERATE, { dryRun: true });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: 'TANDEM_API_BAD_REQUEST', message: expect.stringContaining('expectedPhase') } });
    const stale = await post('/api/v1/rollback', OPERATE, { expectedPhase: 'cutover' });
    expect(stale.status).toBe(409);
    expect(await stale.json()).toMatchObject({ error: { code: 'TANDEM_STATE_CONFLICT', message: expect.stringContaining('shadowing') } });
    const dry = await post('/api/v1/cutover', OPERATE, { expectedPhase: 'shadowing', dryRun: true });
    expect(dry.status).toBe(200);
    expect(await dry.json()).toMatchObject({ result: 'dry-run', steps: expect.arrayContaining([expect.stringContaining('fence old')]) });
    const entries = await audit();
    expect(entries.some((e) => e.event === 'dry-run' && e.actor === 'oncall')).toBe(true);
    expect((await status()).phase).toBe('shadowing');
  });

  it('lag above cutover.maxLag refuses the cutover (exit 3) and changes nothing', async () => {
    // Apply stalls on a lock held on a shadow table while the application keeps writing.
    const lock = new pg.Client({ connectionString: newDb.url });
    lock.on('error', () => undefined);
    await lock.connect();
    try {
      await lock.query(`BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE`);
      await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (gen_random_uuid(), 1, 1, 'old')`);
      await untilTandem(service, 'lag above 2 s', async () => ((await status()).lag.seconds ?? 0) > 2.5, 30_000);
      const r = await switchCli('cutover', config);
      expect(r.code).toBe(3);
      expect(r.result.result).toBe('refused');
      expect(gate(r.result, 'lag')).toMatchObject({ ok: false, threshold: 2 });
      expect(Number(gate(r.result, 'lag')?.value)).toBeGreaterThan(2);
      expect(r.result.error?.message).toContain('lag');
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      await lock.end();
    }
    const s = await status();
    expect(s).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
    expect(await appWrites(oldDb)).toBe(true);
    expect(await appWrites(newDb)).toBe(false);
  });

  it('unresolved drift refuses the cutover; --allow-drift lets that gate pass and is audited', async () => {
    await clean();
    // Drift planted on the shadow, through the fence the way only Tandem's own sessions pass it.
    const c = new pg.Client({ connectionString: newDb.url });
    await c.connect();
    await c.query(`SET session_replication_role = replica; UPDATE orders SET total = total + 1000 WHERE id = 7`);
    await c.end();
    const since = new Date().toISOString();
    await untilTandem(service, 'the drift to be found', async () => {
      const s = await status();
      return s.verification?.lastCompletePass && s.verification.lastCompletePass > since && s.verification.driftCount > 0;
    }, 90_000);
    const refused = await switchCli('cutover', config);
    expect(refused.code).toBe(3);
    expect(gate(refused.result, 'verification')).toMatchObject({ ok: false });
    const dry = await switchCli('cutover', config, ['--dry-run', '--allow-drift']);
    expect(dry.code).toBe(0);
    expect(gate(dry.result, 'verification')).toMatchObject({ ok: true, overridden: true });
    expect((await audit()).some((e) => e.event === 'dry-run' && e.gates?.some((g) => g.name === 'verification' && g.overridden))).toBe(true);
    const repaired = await runTandem(['repair', '--table', 'orders', '--key', '7', '--yes', '--config', config]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect((await status()).phase).toBe('shadowing');
  });

  it('a drain that cannot finish backs out within cutover.drainTimeout: old writable again, exit 4', async () => {
    await clean(new Date().toISOString());
    const lock = new pg.Client({ connectionString: newDb.url });
    lock.on('error', () => undefined);
    await lock.connect();
    try {
      writeFileSync(join(hookDir, 'arm'), '');
      const switching = switchCli('cutover', config, [], 60_000);
      // The switch has passed its gates and created new's slot (which would wait for this lock's transaction).
      await waitUntil('the pre-switch hook', async () => existsSync(join(hookDir, 'started')), 30_000, 20);
      await lock.query(`BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE`);
      await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (gen_random_uuid(), 2, 2, 'old')`);
      const r = await switching;
      expect(r.code, `${r.stderr}\n${service.output().slice(-4000)}`).toBe(4);
      expect(r.result).toMatchObject({ result: 'backed-out', phase: 'shadowing', activeSide: 'old' });
      expect(r.result.error?.message).toMatch(/drain/);
      expect(r.result.windowMs).toBeGreaterThanOrEqual(2000);
      expect(await appWrites(oldDb)).toBe(true);
    } finally {
      await lock.query('ROLLBACK').catch(() => undefined);
      await lock.end();
    }
    // (Checked once the lock is gone: an application write to new waits behind it before the fence can refuse it.)
    expect(await appWrites(newDb)).toBe(false);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
    const entries = await audit();
    expect(entries.filter((e) => e.action === 'cutover').map((e) => e.event)).toEqual(expect.arrayContaining(['refused', 'requested', 'backed-out']));
    // Replication goes on once the lock is gone: the sides meet again.
    await clean(new Date().toISOString());
  });
});

describe('reverse capture prerequisites are a cutover gate', () => {
  const res = suiteResources();
  const pgUrl = inject('pgUrl');

  it('no free replication slot on a PostgreSQL new refuses the cutover (exit 3) before anything changes', async () => {
    const server = await startPostgres({ settings: { max_replication_slots: '1' } });
    res.servers.push(server);
    const oldDb = await createShopDb('pg', pgUrl, 'sfold');
    const newDb = await createShopDb('pg', server.url, 'sfnew');
    res.dbs.push(oldDb, newDb);
    // Something else already uses new's only slot.
    await newDb.query(`select pg_create_logical_replication_slot('someone_else', 'pgoutput')`);
    const migration = uniqueName('swf');
    const config = writeConfig({ migration, old: { url: oldDb.url }, new: { url: newDb.url }, tables: SHOP_TABLES, verify: { interval: '1s' } });
    const service = res.start(['run', '--config', config]);
    await untilTandem(service, 'a clean verification', async () => {
      const s = JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { verification: { lastCompletePass: string | null } | null };
      return s.verification?.lastCompletePass;
    }, 90_000);
    const r = await switchCli('cutover', config);
    expect(r.code).toBe(3);
    expect(gate(r.result, 'capture-prerequisites')).toMatchObject({ ok: false, value: expect.stringContaining('postgres.replication_slots') });
    expect(r.result.error?.message).toContain('max_replication_slots');
    expect(await newDb.query(`select slot_name from pg_replication_slots order by 1`)).toEqual([['someone_else']]);
    expect(await appWrites(oldDb)).toBe(true);
  });
});
