/**
 * API hardening as a client meets it: the API over TLS (api.tls), tokens configured as SHA-256 digests, and a
 * per-token rate limit on the routes that act — against a running `tandem run` on real PostgreSQL.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTandem } from '../harness/db.js';
import { readLeaseRow } from '../harness/control.js';
import { makeScenario, waitForStage, type Scenario } from '../harness/scenario.js';
import { waitUntil, type TandemProcess } from '../harness/tandem-process.js';

const tlsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'tls');
const CERT = join(tlsDir, 'cert.pem');
const READ_TOKEN = 'hashed-read-token-0123456789abcdef';
const OPERATE_TOKEN = 'hashed-operate-token-0123456789abcdef';
const OTHER_OPERATE = 'plain-operate-token-0123456789abcdef';
const sha256 = (t: string) => `sha256:${createHash('sha256').update(t).digest('hex')}`;

/** An HTTPS request trusting only the test certificate. */
function call(base: string, method: string, path: string, token?: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, ca: readFileSync(CERT), headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('API hardening: TLS, hashed tokens, rate limit', () => {
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
          tls: { cert: CERT, key: join(tlsDir, 'key.pem') },
          rateLimit: { max: 3, window: '10m' },
          tokens: [
            { name: 'grafana', token: sha256(READ_TOKEN), role: 'read' },
            { name: 'oncall', token: sha256(OPERATE_TOKEN), role: 'operate' },
            { name: 'deputy', token: OTHER_OPERATE, role: 'operate' },
          ],
        },
      },
    });
    p = s.run();
    await waitForStage(s, 'streaming', p);
    base = await waitUntil('the lease to name the API address', async () => (await readLeaseRow(s.source.url, s.migration))?.api, 30_000);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('serves over TLS only, records an https address, and the CLI reaches it', async () => {
    expect(base).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await call(base, 'GET', '/api/v1/status', READ_TOKEN);
    expect(ok.status).toBe(200);
    // Plain HTTP on the same port gets no API answer.
    const plain = await fetch(base.replace('https://', 'http://') + '/api/v1/status', { headers: { authorization: `Bearer ${READ_TOKEN}` } }).then((r) => r.status, () => 'refused');
    expect(plain === 'refused' || plain === 400).toBe(true);
    // An untrusted certificate is refused by a client that checks it.
    const untrusted = await fetch(`${base}/livez`).then(() => 'accepted', () => 'refused');
    expect(untrusted).toBe('refused');
    const cli = await runTandem(['status', '--json', '--config', s.config], { env: { NODE_EXTRA_CA_CERTS: CERT } });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ phase: 'shadowing' });
  });

  it('a token configured as sha256:<hex> authenticates with the token, never with its digest', async () => {
    expect(readFileSync(s.config, 'utf8')).not.toContain(READ_TOKEN);
    expect((await call(base, 'GET', '/api/v1/status', READ_TOKEN)).status).toBe(200);
    expect((await call(base, 'GET', '/api/v1/status', sha256(READ_TOKEN))).status).toBe(401);
    expect((await call(base, 'GET', '/api/v1/status', sha256(READ_TOKEN).slice(7))).status).toBe(401);
    const forbidden = await call(base, 'POST', '/api/v1/verify', READ_TOKEN, '{}');
    expect(forbidden.status).toBe(403);
    expect(forbidden.json).toMatchObject({ error: { message: expect.stringContaining('grafana') } });
  });

  it('rate-limits each token on its own: the fourth request in the window gets 429 with retry-after; another token still passes', async () => {
    for (let i = 0; i < 3; i++) expect((await call(base, 'POST', '/api/v1/verify', OPERATE_TOKEN, '{}')).status).toBe(202);
    const limited = await call(base, 'POST', '/api/v1/verify', OPERATE_TOKEN, '{}');
    expect(limited.status).toBe(429);
    expect(limited.json).toMatchObject({ error: { code: 'TANDEM_API_RATE_LIMITED', message: expect.stringContaining('oncall'), fix: expect.stringContaining('api.rateLimit') } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await call(base, 'POST', '/api/v1/verify', OTHER_OPERATE, '{}')).status).toBe(202);
    // Reads are not limited.
    for (let i = 0; i < 5; i++) expect((await call(base, 'GET', '/api/v1/status', OPERATE_TOKEN)).status).toBe(200);
  });

  it('a token written as sha256: with a malformed digest is a configuration error naming the fix', async () => {
    const bad = s.config.replace(/\.yaml$/, '-bad.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, readFileSync(s.config, 'utf8').replace(sha256(READ_TOKEN), `sha256:${'z'.repeat(64)}`));
    const r = await runTandem(['status', '--json', '--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sha256: followed by 64 lower-case hex digits');
  });
});
