/**
 * `tandem/router` across engines: PostgreSQL old → MariaDB new, the application holding a node-postgres pool for
 * old and a mysql2 pool for new (pgSide, mysqlSide) and writing each side's SQL. Through a cutover and a rollback
 * of a running `tandem run`: no write fails, every acknowledged write is on both sides. MariaDB's fence is the
 * server-wide read_only, so both servers are this test's own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { mysqlSide, pgSide, Router } from 'tandem/router';
import { uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { sleep } from '../harness/scenario.js';
import { startMariadb, startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, waitUntil } from '../harness/tandem-process.js';
import { createShopDb, shopRows, switchCli, SHOP_TABLES } from '../harness/switch.js';

const APP_TOKEN = 'router-mysql-app-token-0123456789';

describe('tandem/router with node-postgres and mysql2 pools, PostgreSQL old → MariaDB new', () => {
  const res = suiteResources();

  it('zero failed writes through cutover and rollback; every acknowledged write on both sides', { timeout: 420_000 }, async () => {
    const [pgServer, mariaServer] = await Promise.all([startPostgres(), startMariadb()]);
    res.servers.push(pgServer, mariaServer);
    const oldDb = await createShopDb('pg', pgServer.url, 'rmold');
    const newDb = await createShopDb('mysql', mariaServer.url, 'rmnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    const migration = uniqueName('rtm');
    const config = writeConfig({
      migration,
      old: { url: oldDb.url },
      new: { url: newDb.url },
      tables: SHOP_TABLES,
      verify: { interval: '1s' },
      fence: { shadow: true },
      cutover: { maxLag: '60s', holdTimeout: '10s' },
      api: { tokens: [{ name: 'shop-app', token: APP_TOKEN, role: 'read' }] },
    });
    const service = res.start(['run', '--config', config]);
    const base = `http://${await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined)}`;

    const oldPool = new pg.Pool({ connectionString: oldDb.appUrl, max: 4 });
    oldPool.on('error', () => undefined);
    const newPool = mysql.createPool({ uri: newDb.appUrl, connectionLimit: 4 });
    res.cleanups.push(async () => {
      await oldPool.end().catch(() => undefined);
      await newPool.end().catch(() => undefined);
    });
    // One application, two drivers: each side's statements in its own dialect.
    const router = new Router<unknown, unknown>({ name: 'shop-mixed', service: { url: base, token: APP_TOKEN }, old: pgSide(oldPool), new: mysqlSide(newPool), source: 'poll' });
    const acked = new Map<string, string>();
    const failures: string[] = [];
    let stopping = false;
    const writer = async (n: number) => {
      for (let i = 0; !stopping; i++) {
        const ref = randomUUID();
        try {
          const side = await router.transaction(async (client, s) => {
            if (s === 'old') {
              const c = client as pg.PoolClient;
              await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES ($1, $2, $3, $4)`, [ref, 1 + ((i + n) % 5), '9.50', s]);
              await c.query(`UPDATE orders SET status = 'placed' WHERE ref = $1`, [ref]);
            } else {
              const c = client as mysql.PoolConnection;
              await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (?, ?, ?, ?)`, [ref, 1 + ((i + n) % 5), '9.50', s]);
              await c.query(`UPDATE orders SET status = 'placed' WHERE ref = ?`, [ref]);
            }
            return s;
          });
          acked.set(ref, side);
        } catch (err) {
          failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
        }
        await sleep(5);
      }
    };
    const writers = [writer(0), writer(1)];
    const moreWrites = async (n: number) => {
      const target = acked.size + n;
      await waitUntil(`${n} more routed writes`, async () => acked.size >= target, 60_000, 20);
    };
    try {
      await moreWrites(30);
      for (const [kind, to] of [['cutover', 'new'], ['rollback', 'old']] as const) {
        await untilTandem(service, `the ${kind} gates to pass`, async () => (await switchCli(kind, config, ['--dry-run'])).code === 0, 180_000);
        const r = await switchCli(kind, config);
        expect(r.code, `${r.stderr}\n${JSON.stringify(r.result).slice(0, 2000)}`).toBe(0);
        expect(r.result).toMatchObject({ result: 'done', activeSide: to });
        await waitUntil(`the router to write to ${to}`, async () => router.activeSide === to, 10_000, 20);
        await moreWrites(30);
      }
    } finally {
      stopping = true;
      await Promise.all(writers);
      await router.close();
    }
    expect(failures, 'writes that failed instead of pausing').toEqual([]);
    expect(new Set(acked.values())).toEqual(new Set(['old', 'new']));
    await untilTandem(service, 'the sides to be equal', async () => {
      const [a, b] = await Promise.all([shopRows(oldDb), shopRows(newDb)]);
      return a.length > 0 && a.join('\n') === b.join('\n');
    }, 120_000);
    for (const db of [oldDb, newDb]) {
      const refs = new Set((await shopRows(db)).map((row) => row.split('|')[1]));
      expect([...acked.keys()].filter((ref) => !refs.has(ref))).toEqual([]);
    }
    console.log(`router (pg + mysql2): ${acked.size} writes, 0 failed`);
  });
});
