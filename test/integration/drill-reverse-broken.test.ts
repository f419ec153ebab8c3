/**
 * A drill whose reverse stream cannot work (issue 17): new's server runs with wal_level=replica, so after a cutover
 * nothing could carry new's writes back to old. The drill must fail on the cutover's capture-prerequisites gate,
 * naming it and wal_level, before any traffic moved: exit 3, no switch made, old still active, the failure audited.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, type ShopDb } from '../harness/switch.js';
import type { DrillReport } from '../../src/control/plan-review.js';

describe('tandem drill with the reverse stream broken on purpose', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  const migration = uniqueName('drbrk');

  beforeAll(async () => {
    const [oldServer, newServer] = await Promise.all([startPostgres(), startPostgres({ settings: { wal_level: 'replica' } })]);
    res.servers.push(oldServer, newServer);
    oldDb = await createShopDb('pg', oldServer.url, 'drbold');
    const newDb = await createShopDb('pg', newServer.url, 'drbnew');
    res.dbs.push(oldDb, newDb);
    config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      verify: { interval: '1s' },
      discovery: { interval: '1s' },
      cutover: { maxLag: '60s' },
      drill: { staging: true, writers: 1 },
    });
    service = res.start(['run', '--config', config]);
    await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
  });

  it('fails on the capture-prerequisites gate, naming wal_level, before any traffic moved', { timeout: 240_000 }, async () => {
    const status = async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { phase: string; activeSide: string };
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 120_000);
    const r = await runTandem(['drill', '--json', '--wait', '15', '--config', config], { timeoutMs: 200_000 });
    expect(r.code, r.stderr).toBe(3);
    const report = JSON.parse(r.stdout) as DrillReport;
    expect(report.verdict).toBe('fail');
    expect(report.cycles).toEqual([]);
    expect(report.reasons.join('\n')).toMatch(/the cutover of cycle 1 was not attempted: .*capture-prerequisites.*wal_level/);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
    const audit = (await runTandem(['audit', '--json', '--config', config])).stdout;
    expect(audit).toContain('"action": "drill"');
    expect(audit).toContain('"event": "failed"');
    expect(audit).not.toMatch(/"action": "cutover"/);
  });
});
