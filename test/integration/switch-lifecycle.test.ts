/**
 * The switch's lifecycle around the cutover, PostgreSQL → PostgreSQL, as an operator lives it: whether a rollback
 * is safe right now (rollback.ready), an emergency rollback while new's server is down (and new's return: fenced,
 * left alone until it is copied again), hooks that stop a switch or hear of it (their secrets never shown), repairs
 * in the audit log, finalize, and teardown. Tests that hold locks or stop a server use servers of their own.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { bypassFence, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres, type HaltableServer } from '../harness/servers.js';
import { sleep } from '../harness/scenario.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, isFenceRefusal, shopRows, SHOP_TABLES, type ShopDb, switchCli } from '../harness/switch.js';
import { tempDir } from '../harness/temp.js';

interface Status {
  phase: string;
  activeSide: string;
  direction: string;
  resyncRequired: boolean;
  lag: { seconds: number | null };
  verification: { lastCompletePass: string | null; driftCount: number } | null;
  rollback: { ready: boolean; reasons: string[] } | null;
}
interface AuditEntry {
  action: string;
  event: string;
  actor: string;
  requestId: string;
  error?: { message: string };
  detail?: Record<string, unknown>;
}

const statusOf = async (config: string) => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as Status;
const auditOf = async (config: string) => (JSON.parse((await runTandem(['audit', '--json', '--config', config])).stdout) as { entries: AuditEntry[] }).entries;

/** The application's insert of one order: null when written, else the database's error message. */
async function appWriteError(db: ShopDb, ref?: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: db.appUrl });
  c.on('error', () => undefined);
  await c.connect();
  try {
    await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (coalesce($1::uuid, gen_random_uuid()), 1, 1, 'app')`, [ref ?? null]);
    return null;
  } catch (err) {
    if (isFenceRefusal(err)) return (err as Error).message;
    throw err;
  } finally {
    await c.end();
  }
}
const appWrites = async (db: ShopDb) => (await appWriteError(db)) === null;

async function hasOrder(db: ShopDb, ref: string): Promise<boolean> {
  return (await db.query(`select 1 from orders where ref = $1`, [ref])).length > 0;
}

/** One query on a connection of its own, rows as ShopDb.query gives them (for a server that was stopped and started). */
async function queryOnce(url: string, sql: string, params: unknown[] = []): Promise<string[][]> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query({ text: sql, values: params, rowMode: 'array' })).rows.map((r: unknown[]) => r.map((v) => (v === null ? '∅' : v instanceof Date ? v.toISOString() : String(v))));
  } finally {
    await c.end();
  }
}

/** Holds an ACCESS EXCLUSIVE lock on `tables` of `db` in an open transaction until release(). */
async function lockTables(db: ShopDb, tables: string[]): Promise<{ release(): Promise<void> }> {
  const c = new pg.Client({ connectionString: db.url });
  c.on('error', () => undefined);
  await c.connect();
  await c.query(`BEGIN; LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
  return {
    release: async () => {
      await c.query('ROLLBACK').catch(() => undefined);
      await c.end().catch(() => undefined);
    },
  };
}

/** A clean, complete verification pass that started after `since` (of the direction running now). */
function verifiedClean(service: TandemProcess, config: string, since = '') {
  return untilTandem(service, `a complete, clean verification after ${since || 'the start'}`, async () => {
    const s = await statusOf(config);
    return s.verification?.lastCompletePass && s.verification.lastCompletePass > since && s.verification.driftCount === 0;
  }, 120_000);
}

describe('after a cutover, on servers of their own: rollback.ready, and an emergency rollback while new is down', () => {
  const res = suiteResources();
  let oldServer: HaltableServer;
  let newServer: HaltableServer;
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let newHalted = false;
  let config = '';
  let service: TandemProcess;
  const migration = uniqueName('swl');
  const status = () => statusOf(config);

  beforeAll(async () => {
    // Old holds locks in open transactions here, and new's server is stopped: neither may be the shared server.
    oldServer = await startPostgres();
    newServer = await startPostgres();
    res.servers.push(oldServer, newServer);
    // A failed test may leave new's server halted: its database is dropped after the cleanups.
    res.cleanups.push(async () => {
      if (newHalted) await newServer.resume();
    });
    oldDb = await createShopDb('pg', oldServer.url, 'slold');
    newDb = await createShopDb('pg', newServer.url, 'slnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1 + g % 5, g, 'old' FROM generate_series(1, 100) g`);
    config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      tables: SHOP_TABLES,
      verify: { interval: '1s' },
      cutover: { maxLag: '2s', emergencyFenceTimeout: '2s' },
      fence: { interval: '1s' },
      // A small queue: while apply waits on a lock, capture stops reading, so a large transaction stays on new.
      transport: { queueChanges: 8 },
    });
    service = res.start(['run', '--config', config]);
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
    await verifiedClean(service, config);
    const r = await switchCli('cutover', config);
    expect(r.code, `${r.stderr}\n${JSON.stringify(r.result).slice(0, 2000)}`).toBe(0);
    expect(r.result).toMatchObject({ result: 'done', activeSide: 'new', phase: 'cutover' });
  }, 170_000);

  it('rollback.ready: true once the reverse stream runs clean; false naming reverse lag while old cannot apply, and the rollback is refused (exit 3)', async () => {
    const ready = await untilTandem(service, 'rollback.ready', async () => {
      const s = await status();
      return s.rollback?.ready ? s : undefined;
    }, 120_000);
    expect(ready).toMatchObject({ phase: 'cutover', activeSide: 'new', direction: 'reverse', rollback: { ready: true, reasons: [] } });

    // Old (the shadow now) cannot apply: the application keeps writing on new, the reverse lag grows.
    const lock = await lockTables(oldDb, ['orders']);
    try {
      const ref = randomUUID();
      expect(await appWriteError(newDb, ref)).toBeNull();
      const notReady = await untilTandem(service, 'rollback.ready false for reverse lag', async () => {
        const s = await status();
        return s.rollback && !s.rollback.ready && s.rollback.reasons.some((r) => r.startsWith('reverse-lag')) ? s : undefined;
      }, 60_000);
      expect(notReady.rollback?.reasons.find((r) => r.startsWith('reverse-lag'))).toMatch(/lag/);
      const r = await switchCli('rollback', config);
      expect(r.code, r.stderr).toBe(3);
      expect(r.result.result).toBe('refused');
      expect(r.result.gates.find((g) => g.name === 'lag')).toMatchObject({ ok: false, threshold: 2 });
      expect(r.result.error?.message).toContain('lag');
    } finally {
      await lock.release();
    }
    expect(await status()).toMatchObject({ phase: 'cutover', activeSide: 'new' });
    // (Checked once the lock is gone: an application write to old waits behind it before the fence can refuse it.)
    expect(await appWrites(oldDb)).toBe(false);
    await untilTandem(service, 'rollback.ready again once old applies', async () => (await status()).rollback?.ready, 120_000);
  }, 170_000);

  it("emergency rollback with new's server stopped: old active at once, new fenced when it returns and left alone until copied again", async () => {
    // Changes on new that will never reach old: old's apply waits on a lock, capture stops reading (its queue is
    // full), and new's server stops with a large transaction still in its WAL.
    const t0 = Date.now();
    const steps: string[] = [];
    const step = (what: string) => steps.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const lock = await lockTables(oldDb, ['customers', 'orders']);
    let lostIds: string[];
    try {
      expect(await appWriteError(newDb)).toBeNull();
      await newDb.query(`INSERT INTO customers (name) SELECT 'big ' || g || ' ' || repeat('x', 1000000) FROM generate_series(1, 40) g`);
      lostIds = (await newDb.query(`select id::text from customers where length(name) > 1000 order by id`)).map((r) => r[0] as string);
      expect(lostIds).toHaveLength(40);
      await sleep(1_000);
      await newServer.halt();
      newHalted = true;
    } finally {
      await lock.release();
    }

    step('halted');
    // An ordinary rollback needs new: it ends (refused or failed), it does not wait forever.
    const ordinary = await switchCli('rollback', config, [], 120_000);
    expect(ordinary.code, `tandem rollback did not finish: ${ordinary.stderr}`).not.toBeNull();
    expect([3, 4]).toContain(ordinary.code);
    expect(ordinary.result.error?.message).toBeTruthy();
    steps.push(`(ordinary rollback: exit ${ordinary.code}, ${ordinary.result.result}: ${ordinary.result.error?.message ?? ''})`);
    expect(await status()).toMatchObject({ phase: 'cutover', activeSide: 'new' });

    step('ordinary rollback done');
    const noAcceptance = await runTandem(['rollback', '--emergency', '--yes', '--json', '--config', config]);
    expect(noAcceptance.code).toBe(2);
    expect(noAcceptance.stderr).toContain('--accept-data-loss');
    expect(await status()).toMatchObject({ phase: 'cutover', activeSide: 'new' });

    step('usage error checked');
    const emergency = await switchCli('rollback', config, ['--emergency', '--accept-data-loss']);
    expect(emergency.code, `${emergency.stderr}\n${emergency.stdout}`).toBe(0);
    expect(emergency.result).toMatchObject({ result: 'done', activeSide: 'old', phase: 'shadowing', emergency: { newFenced: false } });
    step('emergency rollback done');
    // The report names the reverse checkpoint on old: the last position of new applied there, and its commit time.
    const [cp] = await oldDb.query(`select position, to_char(commit_time at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') from tandem.checkpoint where migration = $1 and direction = 'reverse'`, [migration]);
    expect(cp).toBeDefined();
    expect(emergency.result.emergency?.lastAppliedPosition).toBe(cp?.[0]);
    expect(emergency.result.emergency?.lastAppliedCommitTime).toBe(cp?.[1]);
    expect(emergency.result.emergency?.warning).toContain(cp?.[0] as string);
    steps.push(`(emergency window ${String((emergency.result as { windowMs?: number }).windowMs)} ms, last applied ${cp?.[0] ?? ''} at ${cp?.[1] ?? ''})`);
    expect(await appWrites(oldDb)).toBe(true);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old', direction: 'forward', resyncRequired: true });
    const entries = await auditOf(config);
    expect(entries.some((e) => e.action === 'rollback' && e.event === 'done' && JSON.stringify(e).includes('data loss accepted'))).toBe(true);

    step('audited');
    // New comes back: fenced at once, naming the migration and the side to write to. (Its admin connection died with
    // the server: from here on new is read through connections of its own.)
    await newServer.resume();
    newHalted = false;
    newDb = { ...newDb, query: (sql, params) => queryOnce(newDb.url, sql, params) };
    await untilTandem(service, "new's fence triggers to fire again", async () => {
      const triggers = await newDb.query(`select count(*)::int from pg_trigger t join pg_class c on c.oid = t.tgrelid where c.relname in ('orders', 'customers') and t.tgname like 'tandem_fence_%' and t.tgenabled = 'O'`).catch(() => [['0']]);
      return Number(triggers[0]?.[0]) >= 2;
    }, 60_000, 250);
    step('new fenced again');
    const refusal = await appWriteError(newDb);
    expect(refusal).toContain(migration);
    expect(refusal).toContain('the active side is old');
    // Nothing reaches new until it is copied again.
    const onOld = randomUUID();
    expect(await appWriteError(oldDb, onOld)).toBeNull();
    await sleep(5_000);
    expect(await hasOrder(newDb, onOld)).toBe(false);
    expect(await status()).toMatchObject({ phase: 'shadowing', resyncRequired: true });

    step('nothing reached new');
    // What differs: at least the rows of the transaction that never left new.
    const verify = await runTandem(['verify', '--json', '--settle', '2s', '--config', config], { timeoutMs: 120_000 });
    expect(verify.code, verify.stderr).not.toBe(0);
    const report = JSON.parse(verify.stdout) as { tables: Array<{ table: string; drift: Array<{ key: { id: string } }>; unconfirmed: { keys: Array<{ id: string }> } | null }> };
    const customers = report.tables.find((t) => t.table === 'customers');
    const listed = new Set([...(customers?.drift ?? []).map((d) => d.key.id), ...(customers?.unconfirmed?.keys ?? []).map((k) => k.id)]);
    expect(lostIds.filter((id) => !listed.has(id)), 'rows only on new that tandem verify did not list').toEqual([]);
    const orders = report.tables.find((t) => t.table === 'orders');
    expect((orders?.drift.length ?? 0) + (orders?.unconfirmed?.keys.length ?? 0), 'the order written on old only').toBeGreaterThan(0);

    step('verify done');
    // The copy needs the lease: stop the service, copy, start it again.
    const refusedBackfill = await runTandem(['backfill', '--yes', '--config', config]);
    expect(refusedBackfill.code).toBe(3);
    expect(refusedBackfill.stderr).toMatch(/stop it first/);
    service.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    const backfill = await runTandem(['backfill', '--yes', '--config', config], { timeoutMs: 150_000 });
    expect(backfill.code, backfill.stderr).toBe(0);
    expect((await status()).resyncRequired).toBe(false);
    step('backfill done');
    service = res.start(['run', '--config', config]);
    await untilTandem(service, 'the sides to be equal', async () => {
      const [a, b] = await Promise.all([shopRows(oldDb), shopRows(newDb)]);
      return a.join('\n') === b.join('\n');
    }, 120_000);
    expect(await hasOrder(newDb, onOld)).toBe(true);
    expect((await newDb.query(`select count(*)::text from customers where length(name) > 1000`))[0]?.[0]).toBe('0');
    const after = randomUUID();
    expect(await appWriteError(oldDb, after)).toBeNull();
    await untilTandem(service, 'a write on old to reach new again', () => hasOrder(newDb, after), 60_000);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old', resyncRequired: false });
    expect(await appWrites(newDb)).toBe(false);
    console.log(`emergency rollback story: ${steps.join('; ')}`);
  }, 175_000);

  it('once copied again, new takes a cutover again; finalize --unfence-old then leaves both sides writable', async () => {
    await verifiedClean(service, config, new Date().toISOString());
    const r = await switchCli('cutover', config);
    expect(r.code, `${r.stderr}\n${JSON.stringify(r.result).slice(0, 2000)}`).toBe(0);
    expect(r.result).toMatchObject({ result: 'done', activeSide: 'new', phase: 'cutover' });
    expect(await appWrites(oldDb)).toBe(false);
    const f = await runTandem(['finalize', '--yes', '--unfence-old', '--json', '--config', config]);
    expect(f.code, f.stderr).toBe(0);
    expect(JSON.parse(f.stdout)).toMatchObject({ result: 'done', phase: 'finalized', oldFenced: false });
    expect(await appWriteError(oldDb)).toBeNull();
    expect(await appWriteError(newDb)).toBeNull();
    expect(await status()).toMatchObject({ phase: 'finalized', activeSide: 'new' });
  }, 170_000);
});

describe('hooks, repair audit and finalize', () => {
  const res = suiteResources();
  const OPERATE = 'lifecycle-operate-token-0123456789';
  const ADMIN = 'lifecycle-admin-token-0123456789';
  const SECRET = `hook-secret-${randomUUID()}`;
  const hookDir = tempDir('tandem-hook-');
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let base = '';
  const migration = uniqueName('swh');
  const status = () => statusOf(config);

  beforeAll(async () => {
    // A server of its own: the cutovers here create a slot on new, which waits for every open transaction on its server.
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'shold');
    newDb = await createShopDb('pg', server.url, 'shnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1 + g % 5, g, 'old' FROM generate_series(1, 50) g`);
    const webhook = createServer((req, reply) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        reply.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    res.cleanups.push(() => new Promise((resolve) => webhook.close(resolve)));
    const port = (webhook.address() as AddressInfo).port;
    config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      tables: SHOP_TABLES,
      verify: { interval: '1s' },
      api: { tokens: [{ name: 'oncall', token: OPERATE, role: 'operate' }, { name: 'lead', token: ADMIN, role: 'admin' }] },
      hooks: {
        onSwitch: [
          // The router's hook: refuses to take traffic while armed, and says so with the webhook's secret in its error
          // (a careless script): the secret must not come out of Tandem.
          {
            name: 'router-ready',
            command: ['sh', '-c', `if [ "$TANDEM_EVENT_NAME" = switch.before-unfence ] && [ -e ${hookDir}/fail ]; then echo "router not ready (token ${SECRET})" >&2; exit 7; fi; exit 0`],
          },
          { name: 'notify', url: `http://127.0.0.1:${port}/tandem`, headers: { Authorization: `Bearer ${SECRET}` } },
        ],
      },
    });
    service = res.start(['run', '--config', config]);
    const api = await untilTandem(service, 'the API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
    base = `http://${api}`;
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
  }, 170_000);

  it('tandem repair is audited: action repair, actor, table and the number of keys', async () => {
    await verifiedClean(service, config);
    const c = new pg.Client({ connectionString: newDb.url });
    await c.connect();
    await bypassFence(c);
    await c.query(`UPDATE orders SET total = total + 1000 WHERE id IN (3, 4)`);
    await c.end();
    const repaired = await runTandem(['repair', '--table', 'orders', '--key', '3', '4', '--yes', '--config', config]);
    expect(repaired.code, repaired.stderr).toBe(0);
    expect(await newDb.query(`select id::text, total::text from orders where id in (3, 4) order by id`)).toEqual(await oldDb.query(`select id::text, total::text from orders where id in (3, 4) order by id`));
    const entry = (await auditOf(config)).find((e) => e.action === 'repair');
    expect(entry).toMatchObject({ event: 'done', actor: expect.stringMatching(/^local:/), detail: { table: 'orders', keys: 2, written: 2, shadow: 'new' } });
    expect((entry?.detail?.keysRepaired as Array<{ id: string }>).map((k) => k.id).sort()).toEqual(['3', '4']);
  }, 170_000);

  it('finalize before a cutover is refused (exit 3); the API lets only admin finalize', async () => {
    const r = await runTandem(['finalize', '--yes', '--config', config]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('finalize needs phase cutover');
    const post = (token: string) =>
      fetch(`${base}/api/v1/finalize`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ expectedPhase: 'shadowing' }) });
    expect((await post(OPERATE)).status).toBe(403);
    expect((await post(ADMIN)).status).toBe(409);
    expect((await status()).phase).toBe('shadowing');
  }, 170_000);

  it('a command hook failing on switch.before-unfence backs the cutover out (exit 4), naming the hook; its output keeps the secret hidden', async () => {
    await verifiedClean(service, config, new Date().toISOString());
    writeFileSync(join(hookDir, 'fail'), '');
    try {
      const r = await switchCli('cutover', config);
      expect(r.code, r.stderr).toBe(4);
      expect(r.result).toMatchObject({ result: 'backed-out', phase: 'shadowing', activeSide: 'old' });
      expect(r.result.error?.message).toContain('router-ready');
      expect(r.result.error?.message).toContain('switch.before-unfence');
      expect(r.result.error?.message).toContain('router not ready');
      expect(r.stdout).not.toContain(SECRET);
    } finally {
      rmSync(join(hookDir, 'fail'), { force: true });
    }
    expect(await appWrites(oldDb)).toBe(true);
    expect(await appWrites(newDb)).toBe(false);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
    const backedOut = (await auditOf(config)).find((e) => e.action === 'cutover' && e.event === 'backed-out');
    expect(backedOut?.error?.message).toContain('router-ready');
    expect(JSON.stringify(backedOut)).not.toContain(SECRET);
    await waitUntil('the switch.backed-out webhook', async () => received.some((r) => r.body.includes('"switch.backed-out"')), 30_000);
  }, 170_000);

  it('a webhook hears switch.done with the event as JSON and its Authorization header; the secret is never printed', async () => {
    await verifiedClean(service, config, new Date().toISOString());
    const r = await switchCli('cutover', config);
    expect(r.code, `${r.stderr}\n${r.stdout.slice(0, 2000)}`).toBe(0);
    const done = await waitUntil('the switch.done webhook', async () => received.find((x) => x.body.includes('"switch.done"')), 30_000);
    expect(done.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(done.headers['content-type']).toContain('application/json');
    expect(JSON.parse(done.body)).toMatchObject({ event: 'switch.done', migration, kind: 'cutover', phase: 'cutover', activeSide: 'new', windowMs: expect.any(Number) });
    expect(received.map((x) => (JSON.parse(x.body) as { event: string }).event)).toEqual(expect.arrayContaining(['switch.starting', 'switch.before-unfence', 'switch.done']));
    const shown = [service.output(), r.stdout, r.stderr, (await runTandem(['status', '--json', '--config', config])).stdout, (await runTandem(['audit', '--json', '--config', config])).stdout];
    for (const text of shown) expect(text).not.toContain(SECRET);
    // The failed hook's message was logged by the service, with the secret masked.
    expect(service.output()).toContain('router not ready (token ***)');
  }, 170_000);

  it("finalize after the cutover: the reverse stream stops, new's slot and publication go, old stays fenced; phase finalized", async () => {
    expect((await status()).phase).toBe('cutover');
    const asOperate = await fetch(`${base}/api/v1/finalize`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${OPERATE}` }, body: JSON.stringify({ expectedPhase: 'cutover' }) });
    expect(asOperate.status).toBe(403);
    expect((await status()).phase).toBe('cutover');
    expect((await newDb.query(`select slot_name from pg_replication_slots where slot_name = $1`, [`tandem_${migration}_new`])).length).toBe(1);

    const r = await runTandem(['finalize', '--yes', '--json', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ result: 'done', phase: 'finalized', activeSide: 'new', oldFenced: true });
    expect(await newDb.query(`select slot_name from pg_replication_slots where slot_name like $1`, [`tandem_${migration}%`])).toEqual([]);
    expect(await newDb.query(`select pubname from pg_publication where pubname like $1`, [`tandem_${migration}%`])).toEqual([]);
    expect(await status()).toMatchObject({ phase: 'finalized', activeSide: 'new' });
    expect(await appWriteError(oldDb)).toContain('the active side is new');
    const ref = randomUUID();
    expect(await appWriteError(newDb, ref)).toBeNull();
    await sleep(3_000);
    expect(await hasOrder(oldDb, ref)).toBe(false);
    expect((await auditOf(config)).some((e) => e.action === 'finalize' && e.event === 'done')).toBe(true);
  }, 170_000);
});

describe('teardown before a cutover', () => {
  const res = suiteResources();
  const pgUrl = inject('pgUrl');

  it('refuses without --yes and while the service runs; then removes slots, publications, fences and state, and leaves the data', async () => {
    const oldDb = await createShopDb('pg', pgUrl, 'stold');
    const newDb = await createShopDb('pg', pgUrl, 'stnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1 + g % 5, g, 'old' FROM generate_series(1, 300) g`);
    const migration = uniqueName('swt');
    const config = writeConfig({ migration, old: { url: oldDb.url }, new: { url: newDb.url }, tables: SHOP_TABLES, verify: { interval: '1s' } });
    const service = res.start(['run', '--config', config]);
    await untilTandem(service, 'phase shadowing', async () => (await statusOf(config)).phase === 'shadowing', 90_000);
    await verifiedClean(service, config);
    // Everything Tandem put there, as the checks below look for it after the teardown.
    const tandemObjects = async (db: ShopDb) => ({
      slots: await db.query(`select slot_name from pg_replication_slots where slot_name like $1`, [`tandem_${migration}%`]),
      publications: await db.query(`select pubname from pg_publication where pubname like $1`, [`tandem_${migration}%`]),
      triggers: await db.query(`select tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid where c.relname in ('orders', 'customers') and not t.tgisinternal`),
      schema: await db.query(`select nspname from pg_namespace where nspname = 'tandem'`),
    });
    const before = await tandemObjects(oldDb);
    expect(before.slots.length).toBe(1);
    expect(before.publications.length).toBe(1);
    expect(before.schema.length).toBe(1);
    expect((await tandemObjects(newDb)).triggers.length).toBeGreaterThan(0);
    const counts = async (db: ShopDb) => (await db.query(`select (select count(*) from customers)::text, (select count(*) from orders)::text`))[0];
    const countsBefore = { old: await counts(oldDb), new: await counts(newDb) };
    expect(countsBefore.old).toEqual(['5', '300']);
    expect(countsBefore.new).toEqual(['5', '300']);

    const unconfirmed = await runTandem(['teardown', '--config', config]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain('no terminal to confirm on');
    expect(unconfirmed.stderr).toContain('--yes');
    // The running service uses what teardown would remove: refused, nothing removed.
    const whileRunning = await runTandem(['teardown', '--yes', '--config', config]);
    expect(whileRunning.code).toBe(3);
    expect(whileRunning.stderr).toContain('stop tandem run first');
    expect(await tandemObjects(oldDb)).toEqual(before);

    service.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    const r = await runTandem(['teardown', '--yes', '--json', '--config', config]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { failed: unknown[]; removed: { old: string[]; new: string[] } };
    expect(result.failed).toEqual([]);
    for (const db of [oldDb, newDb]) expect(await tandemObjects(db)).toEqual({ slots: [], publications: [], triggers: [], schema: [] });
    expect({ old: await counts(oldDb), new: await counts(newDb) }).toEqual(countsBefore);
    // New takes writes again: the migration and its fence are gone. (An explicit id: new's sequences were never
    // advanced past the copied rows, which only a cutover does.)
    await newDb.query(`INSERT INTO orders (id, ref, customer_id, total, origin) VALUES (1000000, gen_random_uuid(), 1, 1, 'app')`);
    expect((await statusOf(config)).phase).toBe('setup');
  }, 170_000);
});
