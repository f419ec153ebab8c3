/**
 * The switch across engines, as operators use it (`tandem cutover`, `tandem rollback` against a running `tandem
 * run`): PostgreSQL old → MariaDB new and MariaDB old → PostgreSQL new, cutover → rollback → cutover under the shop
 * load whose writers follow the active side through the API while one misrouted client keeps writing to the other
 * side. After each switch: the new direction carries writes, the fenced side refuses the misrouted writes, and at
 * the end every acknowledged write is on both sides, the sides are equal, the data shows one writable side at a
 * time, and no insert hit a duplicate key (H19: the switch advances sequences and AUTO_INCREMENT across engines).
 * MariaDB's fence is the server-wide read_only, so each test runs a MariaDB of its own; PostgreSQL too, so that no
 * other test's open transaction delays the slot a switch creates.
 */
import { describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/db.js';
import { engineLabel, runService, server, switchesUnderLoad } from '../harness/switch-load.js';
import { suiteResources, untilTandem, waitUntil } from '../harness/tandem-process.js';
import { createShopDb, shopRows, startShopLoad, switchCli, type EngineKind } from '../harness/switch.js';

function switchesBetween(oldKind: EngineKind, newKind: EngineKind): void {
  describe(`cutover and rollback, ${engineLabel(oldKind)} old → ${engineLabel(newKind)} new, under load`, () => {
    const res = suiteResources();

    it('cutover, rollback and cutover again: every acknowledged write on both sides, the sides equal, the fenced side refusing, counters advanced', { timeout: 480_000 }, () =>
      switchesUnderLoad(res, { oldKind, newKind, switches: [['cutover', 'new'], ['rollback', 'old'], ['cutover', 'new']] }));
  });
}

switchesBetween('pg', 'mysql');
switchesBetween('mysql', 'pg');

describe('the cutover gate, a MariaDB new without a binary log', () => {
  const res = suiteResources();

  it('refuses the cutover (exit 3), naming the binary log, and changes nothing', { timeout: 300_000 }, async () => {
    const [pgServer, mariadb] = await Promise.all([server(res, 'pg'), server(res, 'mysql', { binlog: false })]);
    const oldDb = await createShopDb('pg', pgServer.url, 'swgold');
    const newDb = await createShopDb('mysql', mariadb.url, 'swgnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) VALUES ('customer 1'), ('customer 2')`);
    const migration = uniqueName('swg');
    const { config, service, status } = await runService(res, oldDb, newDb, migration);
    await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
    const since = new Date().toISOString();
    await untilTandem(service, 'a complete, clean verification', async () => {
      const s = await status();
      return s.verification?.lastCompletePass && s.verification.lastCompletePass > since && s.verification.driftCount === 0;
    }, 90_000);

    const r = await switchCli('cutover', config);
    expect(r.code, r.stderr).toBe(3);
    expect(r.result.result).toBe('refused');
    const gate = r.result.gates.find((g) => g.name === 'capture-prerequisites');
    expect(gate?.ok).toBe(false);
    expect(gate?.value).toContain('mysql.log_bin');
    expect(gate?.detail).toMatch(/new: log_bin = OFF \(fix: set log_bin = /);
    // The other gates passed: the binary log alone stopped it.
    expect(r.result.gates.filter((g) => !g.ok).map((g) => g.name)).toEqual(['capture-prerequisites']);

    // Nothing changed: still shadowing with old active, old takes the application's writes, new is still fenced.
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old', direction: 'forward' });
    const load = startShopLoad({ old: oldDb, new: newDb }, () => 'old', 1);
    try {
      await load.waitForWrites(20);
      await waitUntil('the fenced new side to refuse a misrouted write', async () => load.summary.refused.new > 0, 30_000);
    } finally {
      await load.stop();
    }
    expect(load.summary.errors).toEqual([]);
    expect(load.summary.refused.old).toBe(0);
    const written = [...load.summary.acked.keys()];
    await untilTandem(service, 'the writes on old to reach new', async () => {
      const there = new Set((await shopRows(newDb)).map((row) => row.split('|')[1]));
      return written.every((ref) => there.has(ref));
    }, 60_000);
  });
});
