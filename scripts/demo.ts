/**
 * The demo: starts its own throwaway databases, runs Tandem against them as a user would, and says what it did.
 * It runs the preflight (`tandem check`) against a correct pair and a misconfigured one, then replicates a live
 * PostgreSQL shop into MariaDB while orders keep arriving, finds and repairs drift planted on the MariaDB side, and finally migrates a live MariaDB shop into an empty
 * PostgreSQL database (schema translated by `tandem schema --apply`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { startMariadb, startPostgres, writeTempFile, type RunningServer } from '../test/harness/servers.js';
import { shopMysql, shopPostgres } from '../test/harness/fixtures.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

function tandem(args: string[]): number {
  process.stdout.write(`$ tandem ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  process.stdout.write(`(exit code ${r.status})\n`);
  return r.status ?? -1;
}

async function main(): Promise<void> {
  const servers: RunningServer[] = [];
  try {
    say('Starting throwaway servers: PostgreSQL (wal_level=logical), MariaDB (binlog ROW, FULL, GTID), PostgreSQL (wal_level=replica)');
    const [pgGood, maria, pgBad] = await Promise.all([startPostgres(), startMariadb(), startPostgres({ settings: { wal_level: 'replica' } })]);
    servers.push(pgGood, maria, pgBad);

    for (const server of [pgGood, pgBad]) {
      const c = new pg.Client({ connectionString: `${server.url}/postgres` });
      await c.connect();
      await c.query('CREATE DATABASE shop');
      await c.end();
      const shop = new pg.Client({ connectionString: `${server.url}/shop` });
      await shop.connect();
      for (const sql of shopPostgres) await shop.query(sql);
      await shop.query(`INSERT INTO customers (id, email, name) VALUES (1, 'ada@example.com', 'Ada'), (2, 'linus@example.com', 'Linus')`);
      await shop.end();
    }
    const m = await mysql.createConnection({ host: '127.0.0.1', port: maria.port, user: 'root' });
    await m.query('CREATE DATABASE shop CHARACTER SET utf8mb4');
    await m.query('USE shop');
    for (const sql of shopMysql) await m.query(sql);
    await m.end();

    say('1. A correct pair: PostgreSQL shop (old) → MariaDB shop (new)');
    const good = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgGood.url}/shop` }, new: { url: `${maria.url}/shop` }, state: { dir: mkdtempSync(join(tmpdir(), 'tandem-demo-')) } }));
    const goodCode = tandem(['check', '--config', good]);

    say('2. A misconfigured pair: old has wal_level=replica and a table without a primary key');
    const shop = new pg.Client({ connectionString: `${pgBad.url}/shop` });
    await shop.connect();
    await shop.query('CREATE TABLE page_views (at timestamptz, path text)');
    await shop.end();
    const bad = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgBad.url}/shop` }, new: { url: `${maria.url}/shop` } }));
    const badCode = tandem(['check', '--config', bad]);

    say('3. Replication: tandem run copies the PostgreSQL shop into MariaDB, then streams orders as they are placed');
    const live = new pg.Client({ connectionString: `${pgGood.url}/shop` });
    await live.connect();
    live.on('error', (e) => process.stderr.write(`live connection error: ${String(e)}\n`));
    await live.query(`INSERT INTO customers (id, email, name) SELECT g, 'customer' || g || '@example.com', 'Customer ' || g FROM generate_series(3, 5000) g`);
    process.stdout.write(`$ tandem run --config ${good}   (in the background)\n`);
    const runner = spawn(process.execPath, [cli, 'run', '--config', good], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    let orderId = 0;
    const started = Date.now();
    while (Date.now() - started < 5000) {
      orderId++;
      await live.query('BEGIN');
      await live.query(`INSERT INTO orders (id, customer_id, total, placed_at) VALUES ($1, $2, $3, now())`, [orderId, (orderId % 5000) + 1, (orderId % 90) + 9.99]);
      await live.query(`INSERT INTO order_items (order_id, line_no, sku, qty, attrs) VALUES ($1, 1, $2, 1, '{"gift": false}')`, [orderId, `SKU-${orderId}`]);
      if (orderId % 3 === 0) await live.query(`UPDATE orders SET paid = true WHERE id = $1`, [orderId]);
      await live.query('COMMIT');
    }
    const shadowDb = await mysql.createConnection({ host: '127.0.0.1', port: maria.port, user: 'root', database: 'shop' });
    const counts = async () => {
      const [rows] = await shadowDb.query<mysql.RowDataPacket[]>(`SELECT (SELECT COUNT(*) FROM customers) c, (SELECT COUNT(*) FROM orders) o, (SELECT SUM(paid) FROM orders) p`);
      return `${rows[0]?.c} customers, ${rows[0]?.o} orders, ${rows[0]?.p ?? 0} paid`;
    };
    const src = await live.query<{ s: string }>(`SELECT (SELECT count(*) FROM customers) || ' customers, ' || (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM orders WHERE paid) || ' paid' AS s`);
    const expected = src.rows[0]?.s ?? '';
    let seen = '';
    for (let i = 0; i < 300 && seen !== expected; i++) {
      seen = await counts();
      if (seen !== expected) await new Promise((r) => setTimeout(r, 100));
    }
    process.stdout.write(`PostgreSQL (old): ${expected}\nMariaDB    (new): ${seen}\n`);
    tandem(['status', '--config', good]);

    say("3b. Drift: tandem verify compares both shops chunk by chunk; rows changed behind Tandem's back are found and repaired");
    const verifyClean = tandem(['verify', '--config', good]);
    await shadowDb.query(`UPDATE orders SET total = total + 1 WHERE id = 1`);
    await shadowDb.query(`DELETE FROM order_items WHERE order_id = 2`);
    process.stdout.write(`(on MariaDB, behind Tandem's back: order 1's total changed, order 2's item deleted)\n`);
    const verifyDrift = tandem(['verify', '--config', good]);
    const repairCodes = [tandem(['repair', '--table', 'orders', '--all', '--yes', '--config', good]), tandem(['repair', '--table', 'order_items', '--all', '--yes', '--config', good])];
    const verifyRepaired = tandem(['verify', '--config', good]);
    const drift = { found: verifyClean === 0 && verifyDrift === 1, repaired: repairCodes.every((c) => c === 0) && verifyRepaired === 0 };
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
    await shadowDb.end();
    await live.end();
    const replicated = seen === expected;

    say('4. MariaDB → PostgreSQL migration with live writes: tandem schema --apply, then tandem run while orders arrive');
    const mig = await mariadbToPostgres(maria, pgGood);

    say('What happened');
    process.stdout.write(
      [
        `- The correct pair passed every prerequisite (exit ${goodCode}): logical decoding, slots, privileges, binlog settings, schemas.`,
        `- The misconfigured pair was refused (exit ${badCode}) with each problem named and its exact fix.`,
        `- Replication ${replicated ? 'kept MariaDB equal to PostgreSQL' : 'did NOT catch up in time'}: a consistent backfill of 5,000 customers, then ${orderId} live orders streamed transaction by transaction.`,
        `- Verification: ${drift.found ? 'in sync (exit 0), then the two rows changed on MariaDB were reported with their keys and columns (exit 1)' : 'did NOT report what was expected'}; \`tandem repair\` ${drift.repaired ? 'made them equal again (verify exit 0)' : 'did NOT make them equal'}.`,
        `- MariaDB → PostgreSQL: \`tandem schema --apply\` created the shop in an empty PostgreSQL database (exit ${mig.schemaCode}); replication ${mig.caughtUp ? 'caught up' : 'did NOT catch up in time'} with ${mig.orders} live orders written to MariaDB.`,
        '- Exit codes: 0 fine, 1 a check failed, 2 usage/config error, 3 refused by a safety gate, 4 runtime failure.',
        '',
      ].join('\n'),
    );
    if (goodCode !== 0 || badCode !== 1 || !replicated || !drift.found || !drift.repaired || mig.schemaCode !== 0 || !mig.caughtUp) process.exitCode = 1;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** Step 4: a live MariaDB shop (old) migrated into an empty PostgreSQL database (new). */
async function mariadbToPostgres(maria: RunningServer, pgServer: RunningServer): Promise<{ schemaCode: number; caughtUp: boolean; orders: number }> {
  const src = await mysql.createConnection({ host: '127.0.0.1', port: maria.port, user: 'root' });
  await src.query('CREATE DATABASE shop_live CHARACTER SET utf8mb4');
  await src.query('USE shop_live');
  for (const sql of shopMysql) await src.query(sql);
  await src.query(`INSERT INTO customers (id, email, name) SELECT seq, CONCAT('customer', seq, '@example.com'), CONCAT('Customer ', seq) FROM seq_1_to_5000`);
  const admin = new pg.Client({ connectionString: `${pgServer.url}/postgres` });
  await admin.connect();
  await admin.query('CREATE DATABASE shop_pg');
  await admin.end();
  const config = writeTempFile(
    'tandem.yaml',
    stringify({ migration: 'shop_to_pg', old: { url: `${maria.url}/shop_live` }, new: { url: `${pgServer.url}/shop_pg` }, state: { dir: mkdtempSync(join(tmpdir(), 'tandem-demo-')) } }),
  );
  const schemaCode = tandem(['schema', '--apply', '--yes', '--config', config]);
  let orders = 0;
  let caughtUp = false;
  if (schemaCode === 0) {
    process.stdout.write(`$ tandem run --config ${config}   (in the background)\n`);
    const runner = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    const started = Date.now();
    while (Date.now() - started < 5000) {
      orders++;
      await src.query('START TRANSACTION');
      await src.query(`INSERT INTO orders (id, customer_id, total, placed_at) VALUES (?, ?, ?, NOW(6))`, [orders, (orders % 5000) + 1, (orders % 90) + 9.99]);
      await src.query(`INSERT INTO order_items (order_id, line_no, sku, qty, attrs) VALUES (?, 1, ?, 1, '{"gift": true}')`, [orders, `SKU-${orders}`]);
      if (orders % 3 === 0) await src.query(`UPDATE orders SET paid = 1 WHERE id = ?`, [orders]);
      await src.query('COMMIT');
    }
    const [rows] = await src.query<mysql.RowDataPacket[]>(`SELECT CONCAT((SELECT COUNT(*) FROM customers), ' customers, ', (SELECT COUNT(*) FROM orders), ' orders, ', (SELECT COUNT(*) FROM order_items), ' items, ', (SELECT COUNT(*) FROM orders WHERE paid), ' paid') AS s`);
    const expected = String(rows[0]?.s ?? '');
    const shadow = new pg.Client({ connectionString: `${pgServer.url}/shop_pg` });
    await shadow.connect();
    const counts = async () => {
      try {
        const r = await shadow.query<{ s: string }>(`SELECT (SELECT count(*) FROM customers) || ' customers, ' || (SELECT count(*) FROM orders) || ' orders, ' || (SELECT count(*) FROM order_items) || ' items, ' || (SELECT count(*) FROM orders WHERE paid) || ' paid' AS s`);
        return r.rows[0]?.s ?? '';
      } catch {
        return '';
      }
    };
    let seen = '';
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (seen = await counts()) !== expected) await new Promise((r) => setTimeout(r, 100));
    caughtUp = seen === expected;
    process.stdout.write(`MariaDB    (old): ${expected}\nPostgreSQL (new): ${seen}\n`);
    tandem(['status', '--config', config]);
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
    await shadow.end();
  }
  await src.end();
  return { schemaCode, caughtUp, orders };
}

await main();
