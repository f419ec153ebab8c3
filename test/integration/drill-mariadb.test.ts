/**
 * `tandem drill` across engines (issue 17), both ways: PostgreSQL old → MariaDB new and MariaDB old →
 * PostgreSQL new, each the default three cycles, under the drill's load writing through the application router; on MariaDB as
 * an application account without SUPER (drill.load: read_only, the fence, does not stop SUPER). No acknowledged
 * write lost, no drift, a window per switch. MariaDB's fence is the server-wide read_only, so every server here is
 * the file's own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startMariadb, startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources } from '../harness/tandem-process.js';
import { createShopDb, type EngineKind, type ShopDb } from '../harness/switch.js';
import type { DrillReport } from '../../src/control/plan-review.js';
import { renderDrillMarkdown } from '../../src/drill/drill.js';

const label = (k: EngineKind) => (k === 'pg' ? 'PostgreSQL' : 'MariaDB');
const startServer = (k: EngineKind) => (k === 'pg' ? startPostgres() : startMariadb());
/** The drill's rows as both engines print them: ref and update count. */
const drillRows = async (db: ShopDb) => (await db.query(db.kind === 'pg' ? `select ref, n::text from drill_orders order by ref` : `SELECT ref, CAST(n AS CHAR) FROM drill_orders ORDER BY ref`)).map((x) => x.join(' '));

function drillAcross(oldKind: EngineKind, newKind: EngineKind, cycles: number): void {
  describe(`tandem drill, ${label(oldKind)} old → ${label(newKind)} new`, () => {
    const res = suiteResources();

    it(`${cycles} cycles under load: no acknowledged write lost, no drift, a window per switch`, { timeout: 720_000 }, async () => {
      const [oldServer, newServer] = await Promise.all([startServer(oldKind), startServer(newKind)]);
      res.servers.push(oldServer, newServer);
      const oldDb = await createShopDb(oldKind, oldServer.url, 'drxold');
      const newDb = await createShopDb(newKind, newServer.url, 'drxnew');
      res.dbs.push(oldDb, newDb);
      const migration = uniqueName('drx');
      const config = writeConfig({
        migration,
        old: { url: oldDb.url },
        new: { url: newDb.url },
        verify: { interval: '1s' },
        discovery: { interval: '1s' },
        cutover: { maxLag: '60s' },
        fence: { shadow: true },
        drill: { staging: true, writers: 2, load: { old: oldDb.appUrl, new: newDb.appUrl } },
      });
      const service = res.start(['run', '--config', config]);
      await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
      await untilTandem(service, 'phase shadowing', async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout).phase === 'shadowing', 120_000);

      const args = cycles === 3 ? [] : ['--cycles', String(cycles)];
      const r = await runTandem(['drill', ...args, '--json', '--config', config], { timeoutMs: 660_000 });
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const report = JSON.parse(r.stdout) as DrillReport;
      mkdirSync('test-artifacts/drill', { recursive: true });
      writeFileSync(`test-artifacts/drill/${oldKind}-${newKind}.md`, renderDrillMarkdown(report));
      console.log(renderDrillMarkdown(report));
      expect(report.verdict).toBe('pass');
      expect(report.cycles.map((c) => c.switch)).toEqual(Array.from({ length: cycles }, () => ['cutover', 'rollback']).flat());
      for (const c of report.cycles) {
        expect(c).toMatchObject({ result: 'done', rowsLost: 0, drift: 0, writesFailed: 0 });
        expect(c.windowMs).toBeGreaterThan(0);
      }
      // The drill's rows, read on both engines: the same refs, updated the same number of times.
      const onOld = await drillRows(oldDb);
      await untilTandem(service, 'the drill table to be equal on both engines', async () => {
        const onNew = await drillRows(newDb);
        return onNew.length >= report.writesAcknowledged && onNew.join('\n') === onOld.join('\n');
      }, 90_000);
    });
  });
}

drillAcross('pg', 'mysql', 3);
drillAcross('mysql', 'pg', 3);
