/**
 * `kill -9` of the service at every step of a cutover and of a rollback, then a restart: the switch completes when
 * it reached the point of no return (`checkpointed`) and backs out before it, deterministically; no acknowledged
 * write is lost, the sides end equal, and the data shows that at no instant were both sides writable (the side
 * written to changes exactly once per completed switch). A shop load with a misrouted client runs throughout.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { sleep } from '../harness/scenario.js';
import { startPostgres } from '../harness/servers.js';
import { tempDir } from '../harness/temp.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, shopRows, startRouter, startShopLoad, writtenSideChanges, SHOP_TABLES, type ShopDb } from '../harness/switch.js';

const READ = 'crash-read-token-0123456789';
const CRASH_HOOK = fileURLToPath(new URL('../harness/crash-at.mjs', import.meta.url));
const BEFORE = ['intent', 'fencing', 'fenced', 'drained'];
const AFTER = ['checkpointed', 'unfencing', 'unfenced', 'recorded'];

describe('kill -9 at every step of the switch, PostgreSQL → PostgreSQL', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let api: string | undefined;
  let router: ReturnType<typeof startRouter>;
  let load: ReturnType<typeof startShopLoad>;
  let completed = 0;
  const outcomes: string[] = [];
  const migration = uniqueName('swk');
  const crashFile = join(tempDir('tandem-crash-'), 'step');

  const start = async () => {
    service = res.start(['run', '--config', config], { nodeArgs: ['--import', CRASH_HOOK], env: { TANDEM_TEST_CRASH_FILE: crashFile } });
    api = await untilTandem(service, 'the service to publish its API', async () => {
      const lease = await readLeaseRow(oldDb.url, migration);
      return lease && lease.pid === service.child.pid ? lease.api : undefined;
    });
  };
  const status = async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { phase: string; activeSide: string; switch: unknown; verification: { lastCompletePass: string | null; driftCount: number } | null };
  const clean = (what: string) =>
    untilTandem(service, what, async () => {
      const s = await status();
      return s.verification?.lastCompletePass && s.verification.driftCount === 0 && !s.switch;
    }, 90_000);

  beforeAll(async () => {
    // A server of its own: a transaction another test file leaves open on a shared server would delay the slot
    // this test's switches create on new.
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'skold');
    newDb = await createShopDb('pg', server.url, 'sknew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    config = writeConfig({ migration, old: { url: oldDb.url }, new: { url: newDb.url }, tables: SHOP_TABLES, verify: { interval: '1s' }, lease: { ttl: '3s' },
      // The lag gate has its own test (switch-gates); here a busy machine must not refuse the switch under test.
      cutover: { maxLag: '120s' }, api: { tokens: [{ name: 'router', token: READ, role: 'read' }] } });
    await start();
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
    router = startRouter(() => (api ? `http://${api}` : undefined), READ);
    load = startShopLoad({ old: oldDb, new: newDb }, router.activeSide);
    await load.waitForWrites(30);
  });
  afterAll(async () => {
    router?.stop();
    await load?.stop();
  });

  for (const kind of ['cutover', 'rollback'] as const) {
    if (kind === 'rollback') {
      it('a normal cutover, so that rollbacks can be killed', { timeout: 300_000 }, async () => {
        await clean('a clean verification');
        const r = await runTandem(['cutover', '--yes', '--json', '--config', config], { timeoutMs: 60_000 });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        completed++;
      });
    }
    const from = kind === 'cutover' ? 'old' : 'new';
    const to = kind === 'cutover' ? 'new' : 'old';
    for (const step of [...BEFORE, ...AFTER]) {
      const expected = AFTER.includes(step) ? to : from;
      it(`${kind} killed at ${step}: ${expected === to ? 'completes' : 'backs out'} after the restart`, { timeout: 300_000 }, async () => {
        // A complete, clean verification is a gate (the one on record counts, as for the gate).
        await clean('a clean verification');
        expect((await status()).activeSide).toBe(from);
        writeFileSync(crashFile, step);
        let r: Awaited<ReturnType<typeof runTandem>>;
        try {
          r = await runTandem([kind, '--yes', '--json', '--config', config], { timeoutMs: 120_000 });
        } finally {
          // Disarmed whatever happened: a switch that never reached the step must not be killed by a later one.
          rmSync(crashFile, { force: true });
        }
        const exited = await Promise.race([service.exited, sleep(15_000).then(() => 'still running')]);
        expect(exited, `tandem ${kind} did not reach ${step}: ${r.stdout}${r.stderr}`).toBe('SIGKILL');
        await start();
        const settled = await waitUntil(`the ${kind} killed at ${step} to settle`, async () => {
          const s = await status();
          return s.switch === null && (s.phase === 'shadowing' || s.phase === 'cutover') ? s : undefined;
        }, 60_000);
        expect(settled.activeSide, `${kind} killed at ${step}`).toBe(expected);
        outcomes.push(`${kind}@${step}→${settled.activeSide}`);
        if (expected === to) {
          completed++;
          // The switch went through: switch back normally, so the next step starts from the same side.
          // (A completed switch clears the old direction's results, so any pass on record is a new one.)
          await clean('a clean verification in the new direction');
          const back = await runTandem([kind === 'cutover' ? 'rollback' : 'cutover', '--yes', '--json', '--config', config], { timeoutMs: 60_000 });
          expect(back.code, back.stdout + back.stderr).toBe(0);
          completed++;
        }
        await load.waitForWrites(20);
      });
    }
  }

  it('nothing acknowledged is lost, the sides end equal, and the written side changed once per completed switch', { timeout: 300_000 }, async () => {
    const summary = await load.stop();
    await untilTandem(service, 'the sides to be equal', async () => {
      const [a, b] = await Promise.all([shopRows(oldDb), shopRows(newDb)]);
      return a.join('\n') === b.join('\n');
    }, 90_000);
    const rows = new Set((await shopRows(oldDb)).map((r) => r.split('|')[1]));
    expect([...summary.acked.keys()].filter((ref) => !rows.has(ref)), 'acknowledged writes lost').toEqual([]);
    expect(summary.errors).toEqual([]);
    const { changes, timeline } = await writtenSideChanges(oldDb);
    expect(changes, `${outcomes.join(', ')}; written sides: ${timeline.join(' → ')}`).toBe(completed);
    const audit = JSON.parse((await runTandem(['audit', '--json', '--config', config])).stdout) as { entries: Array<{ event: string }> };
    expect(audit.entries.filter((e) => e.event === 'recovered-backed-out')).toHaveLength(BEFORE.length * 2);
    expect(audit.entries.filter((e) => e.event === 'recovered-done')).toHaveLength(AFTER.length * 2);
  });
});
