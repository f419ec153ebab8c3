/**
 * Two-person approval (cutover.approvals: 2) against a running `tandem run` on real PostgreSQL: a switch asked for
 * by one actor waits (pending-approval, exit 3) and runs only when a different actor approves it; the CLI's local
 * operator is one actor and cannot approve its own request; a request expires; the audit log names both actors.
 */
import { userInfo } from 'node:os';
import { beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry, SwitchResult } from '../../src/model/switch.js';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, SHOP_TABLES, switchCli, type ShopDb } from '../harness/switch.js';

const ALICE = 'approvals-alice-token-0123456789';
const BOB = 'approvals-bob-token-0123456789';
const READER = 'approvals-reader-token-0123456789';

describe('two-person approval of switches', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let base = '';
  const migration = uniqueName('appr');
  const local = `local:${userInfo().username}`;

  beforeAll(async () => {
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'aprold');
    const newDb = await createShopDb('pg', server.url, 'aprnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      tables: SHOP_TABLES,
      verify: { interval: '1s' },
      cutover: { maxLag: '60s', approvals: 2, approvalTimeout: '15s' },
      api: {
        tokens: [
          { name: 'alice', token: ALICE, role: 'operate' },
          { name: 'bob', token: BOB, role: 'operate' },
          { name: 'reader', token: READER, role: 'read' },
        ],
      },
    });
    service = res.start(['run', '--config', config]);
    base = `http://${await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined)}`;
  });

  const call = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as SwitchResult & { error?: { code: string; message: string; fix?: string }; status?: string; entries?: AuditEntry[] } };
  };
  const status = async () => (await call('GET', '/api/v1/status', READER)).body as unknown as { phase: string; activeSide: string; verification: { lastCompletePass: string | null } | null };
  const audit = async (requestId: string) => ((await call('GET', '/api/v1/audit', READER)).body.entries ?? []).filter((e) => e.requestId === requestId);

  it('the local operator asks, cannot approve its own request, another token approves and the cutover runs; both audited', { timeout: 240_000 }, async () => {
    await untilTandem(service, 'phase shadowing with a complete verification pass', async () => {
      const s = await status();
      return s.phase === 'shadowing' && !!s.verification?.lastCompletePass;
    }, 120_000);

    const asked = await switchCli('cutover', config);
    expect(asked.code, asked.stderr).toBe(3);
    expect(asked.result).toMatchObject({ result: 'pending-approval', kind: 'cutover', activeSide: 'old', approval: { requestedBy: local, approvedBy: null } });
    const { requestId } = asked.result;
    expect(requestId).toMatch(/^cutover-/);
    expect(asked.result.gates.every((g) => g.ok)).toBe(true);

    const self = await runTandem(['approve', requestId, '--json', '--config', config]);
    expect(self.code).toBe(3);
    expect(self.stderr).toContain('TANDEM_APPROVAL_SELF');
    const readOnly = await call('POST', `/api/v1/approvals/${requestId}`, READER, {});
    expect(readOnly.status).toBe(403);
    expect(readOnly.body.error?.code).toBe('TANDEM_API_FORBIDDEN');
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old' });

    const approved = await call('POST', `/api/v1/approvals/${requestId}`, ALICE, {});
    expect(approved.status, JSON.stringify(approved.body).slice(0, 2000)).toBe(200);
    expect(approved.body).toMatchObject({ requestId, result: 'done', activeSide: 'new', approval: { requestedBy: local, approvedBy: 'alice' } });
    expect(approved.body.certificate?.actor).toBe(local);

    const again = await call('POST', `/api/v1/approvals/${requestId}`, BOB, {});
    expect(again.status).toBe(409);
    expect(again.body.error?.message).toContain('already approved by alice');

    const trail = await audit(requestId);
    expect(trail.map((e) => [e.event, e.actor, e.approvedBy ?? null])).toEqual([
      ['pending-approval', local, null],
      ['refused', local, null],
      ['approved', 'alice', 'alice'],
      ['requested', local, 'alice'],
      ['done', local, 'alice'],
    ]);
    expect(trail.find((e) => e.event === 'refused')?.error?.code).toBe('TANDEM_APPROVAL_SELF');
  });

  it('a request expires: a late approval changes nothing and is refused with TANDEM_APPROVAL_EXPIRED', { timeout: 120_000 }, async () => {
    // The reverse stream starts after the cutover: the gates pass once it streams and its lag is measured.
    await waitUntil('the rollback gates to pass', async () => (await call('POST', '/api/v1/rollback', ALICE, { expectedPhase: 'cutover', allowDrift: true, dryRun: true })).body.gates?.every((g) => g.ok), 90_000, 500);
    const asked = await call('POST', '/api/v1/rollback', ALICE, { expectedPhase: 'cutover', allowDrift: true });
    expect(asked.status, JSON.stringify(asked.body).slice(0, 2000)).toBe(202);
    expect(asked.body).toMatchObject({ result: 'pending-approval', approval: { requestedBy: 'alice' } });
    const { requestId } = asked.body;
    const own = await call('POST', `/api/v1/approvals/${requestId}`, ALICE, {});
    expect(own.status).toBe(403);
    expect(own.body.error?.code).toBe('TANDEM_APPROVAL_SELF');

    await waitUntil('the request to expire', async () => (await call('GET', `/api/v1/approvals/${requestId}`, READER)).body.status === 'expired', 60_000, 500);
    const late = await call('POST', `/api/v1/approvals/${requestId}`, BOB, {});
    expect(late.status).toBe(409);
    expect(late.body.error).toMatchObject({ code: 'TANDEM_APPROVAL_EXPIRED', fix: expect.stringContaining('rollback again') });
    expect(await status()).toMatchObject({ phase: 'cutover', activeSide: 'new' });
    expect((await audit(requestId)).map((e) => [e.event, e.actor])).toEqual([
      ['pending-approval', 'alice'],
      ['refused', 'alice'],
      ['expired', 'bob'],
    ]);
    const unknown = await call('POST', '/api/v1/approvals/rollback-nothing-like-it', BOB, {});
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('TANDEM_APPROVAL_NOT_FOUND');
  });
});
