/**
 * The control API of `tandem run` as a client meets it: bearer tokens with roles, JSON errors with a code and a
 * fix, the status report identical to `tandem status --json`, and no token or password in any response or log.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTandem } from '../harness/db.js';
import { readLeaseRow } from '../harness/control.js';
import { makeScenario, waitForStage, type Scenario } from '../harness/scenario.js';
import { waitUntil, type TandemProcess } from '../harness/tandem-process.js';

const PASSWORD = 'Api-Planted-Pw-7731';
const READ_TOKEN = 'read-token-0123456789abcdef';
const OPERATE_TOKEN = 'operate-token-0123456789abcdef';

describe('control API', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  let p: TandemProcess;
  let base = '';
  beforeAll(async () => {
    s = await makeScenario({
      pgUrl,
      shadow: { kind: 'pg', serverUrl: pgUrl },
      config: {
        api: {
          listen: '127.0.0.1:0',
          tokens: [
            { name: 'grafana', token: READ_TOKEN, role: 'read' },
            { name: 'oncall', token: OPERATE_TOKEN, role: 'operate' },
          ],
        },
      },
    });
    // A password on old's URL (the test server trusts local logins, so it is never checked) that must never leave the process.
    const { readFileSync, writeFileSync } = await import('node:fs');
    writeFileSync(s.config, readFileSync(s.config, 'utf8').replace('postgres://postgres@', `postgres://postgres:${PASSWORD}@`));
    p = s.run();
    await waitForStage(s, 'streaming', p);
    const api = await waitUntil('the lease to name the API address', async () => (await readLeaseRow(s.source.url, s.migration))?.api, 30_000);
    base = `http://${api}`;
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  const call = async (method: string, path: string, token?: string, body?: string) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body,
    });
    const text = await res.text();
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(READ_TOKEN);
    expect(text).not.toContain(OPERATE_TOKEN);
    return { status: res.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };

  it('401 without a token, 403 for a weaker role, 200/202 with the right one; errors are JSON with code and fix', async () => {
    const none = await call('GET', '/api/v1/status');
    expect(none.status).toBe(401);
    expect(none.json()).toMatchObject({ error: { code: 'TANDEM_API_UNAUTHORIZED', fix: expect.stringContaining('api.tokens') } });
    const wrong = await call('GET', '/api/v1/status', 'not-a-token-at-all-0000');
    expect(wrong.status).toBe(401);

    const forbidden = await call('POST', '/api/v1/verify', READ_TOKEN, '{}');
    expect(forbidden.status).toBe(403);
    expect(forbidden.json()).toMatchObject({ error: { code: 'TANDEM_API_FORBIDDEN', message: expect.stringContaining('grafana') } });

    const accepted = await call('POST', '/api/v1/verify', OPERATE_TOKEN, '{}');
    expect(accepted.status).toBe(202);
    expect(accepted.json()).toEqual({ accepted: true, by: 'oncall' });

    const badBody = await call('POST', '/api/v1/verify', OPERATE_TOKEN, '{"tables": ');
    expect(badBody.status).toBe(400);
    expect(badBody.json()).toMatchObject({ error: { code: 'TANDEM_API_BAD_REQUEST' } });
    const unknownField = await call('POST', '/api/v1/verify', OPERATE_TOKEN, '{"everything": true}');
    expect(unknownField.status).toBe(400);

    const missing = await call('GET', '/api/v1/nothing-here', READ_TOKEN);
    expect(missing.status).toBe(404);
    expect(missing.json()).toMatchObject({ error: { code: 'TANDEM_API_NOT_FOUND' } });

    const drift = await call('GET', '/api/v1/drift', READ_TOKEN);
    expect(drift.status).toBe(200);
    expect(drift.json()).toMatchObject({ direction: 'forward', driftCount: 0 });
  });

  it('GET /api/v1/status is the report of tandem status --json; probes and metrics answer without a token', async () => {
    const api = await call('GET', '/api/v1/status', READ_TOKEN);
    expect(api.status).toBe(200);
    const cli = await runTandem(['status', '--json', '--config', s.config]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).not.toContain(PASSWORD);
    const a = api.json();
    const c = JSON.parse(cli.stdout) as Record<string, unknown>;
    expect(Object.keys(c).sort()).toEqual(Object.keys(a).sort());
    for (const key of ['migration', 'phase', 'direction', 'activeSide', 'running', 'pid', 'stateSource']) expect(c[key], key).toEqual(a[key]);
    expect(a).toMatchObject({ phase: 'shadowing', running: true, pid: p.child.pid });

    expect((await call('GET', '/livez')).status).toBe(200);
    const ready = await call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json()).toMatchObject({ ready: true });
    // The version comes from package.json, found from wherever the running build is (the bundled CLI's dist/cli/).
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await call('GET', '/metrics')).text).toMatch(new RegExp(`tandem_build_info\\{[^}]*version="${version.replace(/\./g, '\\.')}"`));
  });

  it('never writes a token or the password to its log', async () => {
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const out = p.output();
    expect(out).not.toContain(PASSWORD);
    expect(out).not.toContain(READ_TOKEN);
    expect(out).not.toContain(OPERATE_TOKEN);
  });
});
