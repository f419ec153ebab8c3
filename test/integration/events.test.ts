/**
 * The live events and the dashboard's session against a running `tandem run` (PostgreSQL → PostgreSQL on a server
 * of this file's own: the switch creates a slot, which waits for every open transaction on the cluster):
 * - a client that reconnects with Last-Event-ID gets exactly the events a client that stayed connected saw;
 * - an id the service cannot resume from gets an explicit reset;
 * - a cutover and a rollback show up as phase changes, each switch step, and the result with window and certificate;
 * - the session cookie's attributes, CSRF on cookie-authenticated POSTs, logout, bearer tokens still working;
 * - bad input to every route is a 4xx JSON error naming the field, never a 500 (an audit entry announced that the
 *   store does not hold is a 404).
 */
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { sigterm } from '../harness/scenario.js';
import { startPostgres } from '../harness/servers.js';
import { suiteResources, untilTandem, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, SHOP_TABLES, type ShopDb } from '../harness/switch.js';
import { openEvents } from '../harness/events.js';

const READ = 'events-read-token-0123456789';
const OPERATE = 'events-operate-token-0123456789';
const ADMIN = 'events-admin-token-0123456789';

const seqOf = (id: string | null) => Number((id ?? '').split('-')[1]);

describe('live events, sessions and bad input', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let service: TandemProcess;
  let base = '';
  const migration = uniqueName('ev');

  beforeAll(async () => {
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'evold');
    newDb = await createShopDb('pg', server.url, 'evnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    const config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      tables: SHOP_TABLES,
      verify: { interval: '1s' },
      cutover: { maxLag: '60s' },
      api: { listen: '127.0.0.1:0', tokens: [{ name: 'watcher', token: READ, role: 'read' }, { name: 'oncall', token: OPERATE, role: 'operate' }, { name: 'root', token: ADMIN, role: 'admin' }] },
    });
    service = res.start(['run', '--config', config]);
    const api = await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
    base = `http://${api}`;
  });

  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const call = async (method: string, path: string, opts: { headers?: Record<string, string>; body?: string } = {}) => {
    const r = await fetch(`${base}${path}`, { method, headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers }, body: opts.body });
    const text = await r.text();
    expect(text).not.toContain(READ);
    expect(text).not.toContain(OPERATE);
    expect(text).not.toContain(ADMIN);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON: the assertions on json say so
    }
    return { status: r.status, headers: r.headers, json };
  };
  const status = async () => (await call('GET', '/api/v1/status', { headers: bearer(READ) })).json as { phase: string; activeSide: string; verification: { lastCompletePass: string | null; driftCount: number } | null };
  const verifiedAfter = (since: string) =>
    untilTandem(service, `a complete, clean verification after ${since}`, async () => {
      const s = await status();
      return s.verification?.lastCompletePass && s.verification.lastCompletePass > since && s.verification.driftCount === 0;
    }, 90_000);

  it('a client resuming with Last-Event-ID gets every event a connected client saw, in order, none twice', { timeout: 180_000 }, async () => {
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
    const steady = openEvents(base, bearer(READ));
    await steady.ready;
    expect(steady.status()).toBe(200);
    const hello = await steady.waitFor('hello', (e) => e.type === 'hello');
    const leaving = openEvents(base, bearer(READ));
    await leaving.ready;
    const left = await leaving.waitFor('hello of the client that leaves', (e) => e.type === 'hello');
    leaving.close();

    // Events while it is away: dry runs (audit entries), a verification pass, writes.
    for (let n = 0; n < 4; n++) expect((await call('POST', '/api/v1/cutover', { headers: bearer(OPERATE), body: JSON.stringify({ expectedPhase: 'shadowing', dryRun: true }) })).status).toBe(200);
    expect((await call('POST', '/api/v1/verify', { headers: bearer(OPERATE), body: '{}' })).status).toBe(202);
    await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1, g, 'old' FROM generate_series(1, 20) g`);
    await steady.waitFor('a verification pass after the writes', (e) => e.type === 'verification.pass' && seqOf(e.id) > seqOf(hello.id), 90_000);
    await waitUntil('four dry-run audit events', async () => steady.withIds().filter((e) => e.type === 'audit').length >= 4);

    const back = openEvents(base, { ...bearer(READ), 'last-event-id': left.id as string });
    await back.ready;
    const seen = steady.withIds().filter((e) => seqOf(e.id) > seqOf(left.id));
    const lastSeen = seen.at(-1)?.id as string;
    await back.waitFor('the resumed stream to reach the last event seen', (e) => e.id === lastSeen);
    const resumed = back.withIds().filter((e) => seqOf(e.id) <= seqOf(lastSeen));
    expect(back.events.some((e) => e.type === 'reset')).toBe(false);
    expect(resumed.map((e) => e.id)).toEqual(seen.map((e) => e.id));
    expect(resumed.map((e) => e.data)).toEqual(seen.map((e) => e.data));
    // Ids increase by one: the steady client itself missed nothing either.
    expect(seen.map((e) => seqOf(e.id))).toEqual(seen.map((_, n) => seqOf(left.id) + 1 + n));
    expect(seen.filter((e) => e.type === 'audit').map((e) => (e.data.entry as { event: string }).event)).toEqual(expect.arrayContaining(['dry-run', 'dry-run', 'dry-run', 'dry-run']));
    steady.close();
    back.close();
  });

  it('an id the service cannot resume from gets a reset event, never a silent gap; a malformed id is a 400 naming the header', async () => {
    const stale = openEvents(base, { ...bearer(READ), 'last-event-id': '0badc0de-3' });
    await stale.ready;
    const reset = await stale.waitFor('a reset', (e) => e.type === 'reset');
    expect(reset.data.reason).toMatch(/reload the state/);
    expect(reset.id).toMatch(/^[0-9a-f]+-\d+$/);
    stale.close();
    const bad = await call('GET', '/api/v1/events', { headers: { ...bearer(READ), 'last-event-id': 'not an id' } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { code: 'TANDEM_API_BAD_REQUEST', field: 'last-event-id' } });
    expect((await call('GET', '/api/v1/events')).status).toBe(401);
  });

  it('a cutover and a rollback stream their phases, every step as it happens, and the window and certificate', { timeout: 300_000 }, async () => {
    const stream = openEvents(base, bearer(READ));
    await stream.ready;
    for (const [kind, to, phase] of [['cutover', 'new', 'cutover'], ['rollback', 'old', 'shadowing']] as const) {
      await verifiedAfter(new Date(Date.now() - 1000).toISOString());
      const from = stream.events.length;
      const r = await call('POST', `/api/v1/${kind}`, { headers: bearer(OPERATE), body: JSON.stringify({ expectedPhase: kind === 'cutover' ? 'shadowing' : 'cutover' }) });
      expect(r.status, JSON.stringify(r.json).slice(0, 2000)).toBe(200);
      const result = await stream.waitFor(`the ${kind} result`, (e) => e.type === 'switch.result' && e.data.kind === kind && stream.events.indexOf(e) >= from);
      expect(result.data).toMatchObject({ result: 'done', activeSide: to, phase, requestId: r.json.requestId });
      expect(result.data.windowMs).toBe(r.json.windowMs);
      expect((result.data.certificate as { tables: Array<{ table: string }> }).tables.map((t) => t.table).sort()).toEqual([...SHOP_TABLES].sort());
      const mine = stream.events.slice(from);
      const steps = mine.filter((e) => e.type === 'switch.step' && e.data.requestId === r.json.requestId).map((e) => e.data.step);
      expect(steps).toEqual(['intent', 'fencing', 'fenced', 'drained', 'checkpointed', 'unfencing']);
      const phases = mine.filter((e) => e.type === 'phase').map((e) => `${String(e.data.phase)}/${String(e.data.activeSide)}`);
      // The switching phase keeps the side that was active; the phase after it names the new one.
      expect(phases).toEqual([kind === 'cutover' ? 'cutting-over/old' : 'rolling-back/new', `${phase}/${to}`]);
      // Steps arrive before the result, in the order they happened.
      const order = mine.filter((e) => e.type === 'switch.step' || e.type === 'switch.result').map((e) => e.type);
      expect(order.at(-1)).toBe('switch.result');
    }
    stream.close();
  });

  it('a drift planted on the shadow is announced as found, with the count', { timeout: 180_000 }, async () => {
    const stream = openEvents(base, bearer(READ));
    await stream.ready;
    await stream.waitFor('hello', (e) => e.type === 'hello');
    // Behind Tandem's back on new (the shadow again after the rollback): the fence lets a replica-role session through.
    const client = new pg.Client({ connectionString: newDb.url });
    await client.connect();
    try {
      await client.query(`BEGIN; SET LOCAL session_replication_role = replica; UPDATE customers SET name = 'planted' WHERE id = (SELECT min(id) FROM customers); COMMIT`);
    } finally {
      await client.end();
    }
    const found = await stream.waitFor('a drift event', (e) => e.type === 'drift', 120_000);
    expect(found.data).toMatchObject({ state: 'found', driftCount: 1, previous: 0 });
    const drift = (await call('GET', '/api/v1/drift', { headers: bearer(READ) })).json as { tables: Array<{ table: string; drift: Array<{ kind: string }> }> };
    expect(drift.tables.find((t) => t.table === 'customers')?.drift.map((d) => d.kind)).toEqual(['different']);
    stream.close();
  });

  it('the session: a token becomes an HttpOnly SameSite=Strict cookie; cookie POSTs need the CSRF header; logout ends it', async () => {
    const login = await call('POST', '/api/v1/session', { body: JSON.stringify({ token: OPERATE }) });
    expect(login.status).toBe(200);
    expect(login.json).toMatchObject({ actor: 'oncall', role: 'operate', csrfToken: expect.any(String) });
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^tandem_session=[\w-]{30,};/);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Strict/i);
    expect(setCookie).toMatch(/Path=\//);
    expect(setCookie).not.toMatch(/Secure/i); // plain HTTP here
    const cookie = setCookie.split(';')[0] as string;
    const csrf = login.json.csrfToken as string;

    expect((await call('GET', '/api/v1/status', { headers: { cookie } })).status).toBe(200);
    expect((await call('GET', '/api/v1/session', { headers: { cookie } })).json).toMatchObject({ role: 'operate', csrfToken: csrf });
    const noCsrf = await call('POST', '/api/v1/verify', { headers: { cookie }, body: '{}' });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.json).toMatchObject({ error: { code: 'TANDEM_API_FORBIDDEN', message: expect.stringContaining('x-csrf-token') } });
    expect((await call('POST', '/api/v1/verify', { headers: { cookie, 'x-csrf-token': 'wrong' }, body: '{}' })).status).toBe(403);
    expect((await call('POST', '/api/v1/verify', { headers: { cookie, 'x-csrf-token': csrf }, body: '{}' })).status).toBe(202);
    // Events over the cookie: what the browser's EventSource uses.
    const viaCookie = openEvents(base, { cookie });
    await viaCookie.ready;
    expect(viaCookie.status()).toBe(200);
    viaCookie.close();

    expect((await call('POST', '/api/v1/session', { body: JSON.stringify({ token: 'not-a-token-0000000000' }) })).status).toBe(401);
    expect((await call('DELETE', '/api/v1/session', { headers: { cookie } })).status).toBe(403);
    const out = await call('DELETE', '/api/v1/session', { headers: { cookie, 'x-csrf-token': csrf } });
    expect(out.json).toEqual({ loggedOut: true });
    expect((await call('GET', '/api/v1/status', { headers: { cookie } })).status).toBe(401);
    // Bearer tokens are untouched by any of it.
    expect((await call('GET', '/api/v1/status', { headers: bearer(READ) })).status).toBe(200);
  });

  it('bad input to every route is a 4xx JSON error naming the field, never a 500', async () => {
    const posts: Array<[string, Record<string, string>]> = [
      ['/api/v1/verify', bearer(OPERATE)],
      ['/api/v1/cutover', bearer(OPERATE)],
      ['/api/v1/rollback', bearer(OPERATE)],
      ['/api/v1/finalize', bearer(ADMIN)],
      ['/api/v1/session', {}],
    ];
    const huge = JSON.stringify({ expectedPhase: 'shadowing', padding: 'x'.repeat(200_000) });
    for (const [path, headers] of posts) {
      const badJson = await call('POST', path, { headers, body: '{"expectedPhase": ' });
      expect(badJson.status, path).toBe(400);
      expect(badJson.json, path).toMatchObject({ error: { code: 'TANDEM_API_BAD_REQUEST', field: 'body' } });
      const tooBig = await call('POST', path, { headers, body: huge });
      expect(tooBig.status, path).toBe(413);
      expect(tooBig.json, path).toMatchObject({ error: { field: 'body' } });
      const unknown = await call('POST', path, { headers, body: JSON.stringify({ expectedPhase: 'shadowing', token: 'x', colour: 'red' }) });
      expect(unknown.status, path).toBe(400);
      expect(unknown.json, path).toMatchObject({ error: { code: 'TANDEM_API_BAD_REQUEST', field: expect.stringMatching(/^body\.(colour|expectedPhase|token)$/) } });
      const form = await call('POST', path, { headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' });
      expect(form.status, path).toBe(415);
      expect(form.json, path).toMatchObject({ error: { field: 'content-type' } });
    }
    const wrongType = await call('POST', '/api/v1/cutover', { headers: bearer(OPERATE), body: JSON.stringify({ expectedPhase: 'shadowing', dryRun: 'yes' }) });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json).toMatchObject({ error: { field: 'body.dryRun', message: 'body.dryRun must be boolean' } });
    const coerced = await call('POST', '/api/v1/cutover', { headers: bearer(OPERATE), body: JSON.stringify({ expectedPhase: 'shadowing', dryRun: 'true' }) });
    expect(coerced.json).toMatchObject({ error: { field: 'body.dryRun', message: 'body.dryRun must be boolean' } });
    const badEnum = await call('POST', '/api/v1/rollback', { headers: bearer(OPERATE), body: JSON.stringify({ expectedPhase: 'sideways' }) });
    expect(badEnum.status).toBe(400);
    expect(badEnum.json).toMatchObject({ error: { field: 'body.expectedPhase', message: expect.stringContaining('"shadowing"') } });
    const finalizeType = await call('POST', '/api/v1/finalize', { headers: bearer(ADMIN), body: JSON.stringify({ expectedPhase: 'cutover', unfenceOld: 'yes' }) });
    expect(finalizeType.json).toMatchObject({ error: { field: 'body.unfenceOld', message: 'body.unfenceOld must be boolean' } });
    // The role is checked before the body is read: a weaker token learns nothing about the body.
    expect((await call('POST', '/api/v1/finalize', { headers: bearer(OPERATE), body: '{"expectedPhase": ' })).status).toBe(403);
    const missing = await call('POST', '/api/v1/cutover', { headers: bearer(OPERATE), body: '{}' });
    expect(missing.json).toMatchObject({ error: { field: 'body.expectedPhase', message: 'body.expectedPhase is required' } });
    const arrayBody = await call('POST', '/api/v1/cutover', { headers: bearer(OPERATE), body: '[1,2]' });
    expect(arrayBody.status).toBe(400);
    expect(arrayBody.json).toMatchObject({ error: { field: 'body' } });
    const tokenType = await call('POST', '/api/v1/session', { body: JSON.stringify({ token: 42 }) });
    expect(tokenType.json).toMatchObject({ error: { field: 'body.token', message: 'body.token must be string' } });
    const emptyJson = await call('POST', '/api/v1/verify', { headers: bearer(OPERATE), body: '' });
    expect(emptyJson.status).toBe(400);
    expect(emptyJson.json).toMatchObject({ error: { field: 'body' } });
    // Announcing an audit entry names one the store holds; the body never supplies it.
    const announceMissing = await call('POST', '/api/v1/audit/announce', { headers: bearer(OPERATE), body: JSON.stringify({ at: '2026-12-01T00:00:00.000Z' }) });
    expect(announceMissing.json).toMatchObject({ error: { field: 'body.requestId', message: 'body.requestId is required' } });
    const announceNone = await call('POST', '/api/v1/audit/announce', { headers: bearer(OPERATE), body: JSON.stringify({ at: '2026-12-01T00:00:00.000Z', requestId: 'no-such-request' }) });
    expect(announceNone.status).toBe(404);
    expect(announceNone.json).toMatchObject({ error: { code: 'TANDEM_API_NOT_FOUND' } });
    expect((await call('POST', '/api/v1/audit/announce', { headers: bearer(READ), body: JSON.stringify({ at: 'x', requestId: 'y' }) })).status).toBe(403);
    const badKind = await call('GET', '/api/v1/gates/sideways', { headers: bearer(READ) });
    expect(badKind.status).toBe(400);
    expect(badKind.json).toMatchObject({ error: { field: 'params.kind', message: expect.stringContaining('"cutover"') } });
    expect((await call('GET', '/api/v1/gates/cutover', { headers: bearer(READ) })).json).toMatchObject({ kind: 'cutover', gates: expect.any(Array) });
    for (const path of ['/api/v1/status', '/api/v1/drift', '/api/v1/audit', '/api/v1/samples', '/livez', '/readyz', '/metrics', '/']) {
      const r = await call('GET', `${path}?unexpected=%ZZ&x[]=1`, { headers: bearer(READ) });
      expect(r.status, path).toBeLessThan(500);
    }
    expect((await call('GET', '/ui/..%2f..%2fpackage.json')).status).toBe(404);
    // Still serving after all of it.
    expect((await call('GET', '/livez')).status).toBe(200);
  });

  it('a service with dashboards connected still stops cleanly on SIGTERM: the event streams are ended, not waited for', async () => {
    const streams = [openEvents(base, bearer(READ)), openEvents(base, bearer(READ))];
    await Promise.all(streams.map((st) => st.ready));
    await Promise.all(streams.map((st) => st.waitFor('hello', (e) => e.type === 'hello')));
    await sigterm(service, 60_000);
  });
});
