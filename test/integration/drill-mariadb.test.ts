/**
 * `tandem drill` across engines (issue 17): PostgreSQL old → MariaDB new, two cutover → rollback cycles under the
 * drill's load, which writes to MariaDB as an application account without SUPER (drill.load.new: read_only, the
 * fence, does not stop SUPER). No acknowledged write lost, no drift, a window per switch. MariaDB's fence is the
 * server-wide read_only, so both servers are this file's own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startMariadb, startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources } from '../harness/tandem-process.js';
import { createShopDb } from '../harness/switch.js';
import type { DrillReport } from '../../src/control/plan-review.js';
import { renderDrillMarkdown } from '../../src/drill/drill.js';

describe('tandem drill, PostgreSQL old → MariaDB new', () => {
  const res = suiteResources();

  it('two cycles under load: no acknowledged write lost, no drift, a window per switch', { timeout: 600_000 }, async () => {
    const [pgServer, mariadb] = await Promise.all([startPostgres(), startMariadb()]);
    res.servers.push(pgServer, mariadb);
    const oldDb = await createShopDb('pg', pgServer.url, 'drxold');
    const newDb = await createShopDb('mysql', mariadb.url, 'drxnew');
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
      drill: { staging: true, writers: 2, load: { new: newDb.appUrl } },
    });
    const service = res.start(['run', '--config', config]);
    await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
    await untilTandem(service, 'phase shadowing', async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout).phase === 'shadowing', 120_000);

    const r = await runTandem(['drill', '--cycles', '2', '--json', '--config', config], { timeoutMs: 540_000 });
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const report = JSON.parse(r.stdout) as DrillReport;
    mkdirSync('test-artifacts/drill', { recursive: true });
    writeFileSync('test-artifacts/drill/pg-mariadb.md', renderDrillMarkdown(report));
    expect(report.verdict).toBe('pass');
    expect(report.cycles.map((c) => c.switch)).toEqual(['cutover', 'rollback', 'cutover', 'rollback']);
    for (const c of report.cycles) {
      expect(c).toMatchObject({ result: 'done', rowsLost: 0, drift: 0, writesFailed: 0 });
      expect(c.windowMs).toBeGreaterThan(0);
    }
    // The drill's rows, read on both engines: the same refs, updated the same number of times.
    const pgRows = (await oldDb.query(`select ref, n::text from drill_orders order by ref`)).map((x) => x.join(' '));
    await untilTandem(service, 'the drill table to be equal on both engines', async () => {
      const my = (await newDb.query(`SELECT ref, CAST(n AS CHAR) FROM drill_orders ORDER BY ref`)).map((x) => x.join(' '));
      return my.length >= report.writesAcknowledged && my.join('\n') === pgRows.join('\n');
    }, 90_000);
  });
});
