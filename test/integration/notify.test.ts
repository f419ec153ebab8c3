/**
 * Notification webhooks (notify.webhooks) against real local HTTP receivers and a running `tandem run` on real
 * PostgreSQL: drift planted on the shadow is announced with its table and kind; a cutover is announced when
 * requested and when done, in Slack's shape and as JSON, each to the receivers whose events filter wants it; a
 * receiver that fails is retried until it takes the message; a receiver that hangs does not delay the switch; the
 * webhook's secret path and header never appear in the service's output.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/db.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { switchCli, type ShopDb } from '../harness/switch.js';
import { startShopService } from '../harness/shop-service.js';
import { webhookReceiver as receiver, type Received } from '../harness/webhook.js';

const HOOK_SECRET = 'hook-header-secret-5521';
const SLACK_PATH = '/services/T0001/B0002/slackpathsecret8841';

describe('notification webhooks', () => {
  const res = suiteResources();
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  const migration = uniqueName('ntf');
  let slack: Awaited<ReturnType<typeof receiver>>;
  let json: Awaited<ReturnType<typeof receiver>>;
  let hanging: Awaited<ReturnType<typeof receiver>>;

  beforeAll(async () => {
    slack = await receiver({ statuses: [500, 503] });
    json = await receiver();
    hanging = await receiver({ hang: true });
    for (const r of [slack, json, hanging]) res.cleanups.push(() => new Promise<void>((resolve) => r.server.close(() => resolve())));
    for (const r of [slack, json, hanging]) res.cleanups.push(async () => r.server.closeAllConnections());
    ({ newDb, config, service } = await startShopService(res, {
      migration,
      prefix: 'ntf',
      config: {
        notify: {
          interval: '500ms',
          webhooks: [
            { name: 'ops-slack', url: `${slack.url}${SLACK_PATH}`, format: 'slack', events: ['switch.requested', 'switch.done'] },
            { url: `${json.url}/tandem`, format: 'json', headers: { authorization: `Bearer ${HOOK_SECRET}` } },
            { name: 'slow-receiver', url: `${hanging.url}/x`, timeout: '10m', retries: 0 },
          ],
        },
      },
    }));
  });

  const events = (r: { got: Received[] }) => r.got.map((g) => g.body.event ?? g.body.text);

  it('drift found, switch requested and done, rollback: Slack text and JSON, filtered, retried, never blocking, secrets kept', { timeout: 360_000 }, async () => {
    await untilTandem(service, 'a complete verification pass', async () => {
      const r = await switchCli('cutover', config, ['--dry-run']);
      return r.code === 0;
    }, 120_000);
    // Drift planted on the shadow (the fence's trigger bypassed as a replica session would be).
    await newDb.query(`SET session_replication_role = replica`);
    await newDb.query(`INSERT INTO customers (id, name) VALUES (9001, 'planted')`);
    await newDb.query(`SET session_replication_role = origin`);
    const drift = await untilTandem(service, 'drift.found on the JSON receiver', async () => json.got.find((g) => g.body.event === 'drift.found'), 90_000);
    expect(drift.body).toMatchObject({ event: 'drift.found', migration, detail: { tables: [expect.objectContaining({ table: 'customers', rows: 1, kinds: expect.objectContaining({ extra: 1 }) })] } });
    expect(String(drift.body.text)).toContain('customers 1 row(s) (1 extra)');
    expect(drift.path).toBe('/tandem');
    expect(drift.headers.authorization).toBe(`Bearer ${HOOK_SECRET}`);

    const cut = await switchCli('cutover', config, ['--allow-drift']);
    expect(cut.code, cut.stderr).toBe(0);
    // The hanging receiver never answers (timeout 10 min): had the switch waited for it, the CLI would have timed out.
    expect(hanging.attempts()).toBeGreaterThan(0);
    const { requestId } = cut.result;

    await waitUntil('switch.done on both receivers, and the retried request on Slack', async () => json.got.some((g) => g.body.event === 'switch.done') && slack.got.length >= 2, 60_000);
    const done = json.got.find((g) => g.body.event === 'switch.done') as Received;
    expect(done.body).toMatchObject({ detail: { requestId, kind: 'cutover', activeSide: 'new' } });
    expect(json.got.find((g) => g.body.event === 'switch.requested')?.body.text).toContain('cutover requested by local:');
    // Slack's shape: only `text`; its filter let the two switch events through and nothing else; it failed twice first.
    expect(slack.got.map((g) => Object.keys(g.body))).toEqual([['text'], ['text']]);
    // Retries can deliver the request after the done: the order is not asserted.
    const texts = slack.got.map((g) => String(g.body.text)).sort();
    expect(texts[0]).toMatch(new RegExp(`^\\[tandem \\w+\\] cutover ${requestId} done: new is active`));
    expect(texts[1]).toMatch(/^\[tandem \w+\] cutover requested by local:/);
    expect(slack.attempts()).toBe(4);
    expect(slack.got[0]?.path).toBe(SLACK_PATH);
    expect(events(json)).not.toContain('rollback');

    // A rollback is announced as such (besides its switch.done); the Slack receiver's filter leaves `rollback` out.
    await untilTandem(service, 'the rollback gates to pass', async () => (await switchCli('rollback', config, ['--dry-run', '--allow-drift'])).code === 0, 120_000);
    const back = await switchCli('rollback', config, ['--allow-drift']);
    expect(back.code, back.stderr).toBe(0);
    const rolledBack = await waitUntil('the rollback notification', async () => json.got.find((g) => g.body.event === 'rollback'), 60_000);
    expect(rolledBack.body).toMatchObject({ detail: { requestId: back.result.requestId, kind: 'rollback', activeSide: 'old' } });
    expect(String(rolledBack.body.text)).toContain('old is active again');
    await waitUntil('the rollback on Slack', async () => slack.got.length >= 4, 60_000);
    expect(slack.got.map((g) => String(g.body.text)).filter((t) => t.includes('ROLLBACK'))).toEqual([]);

    const output = service.output();
    expect(output).toContain('notification to ops-slack failed; retrying');
    expect(output).not.toContain(HOOK_SECRET);
    expect(output).not.toContain('slackpathsecret8841');
  });
});
