/**
 * The demo: starts its own throwaway databases, runs Tandem against them as a user would, and says what it did.
 * First the point of the product: a live PostgreSQL shop is cut over to a new database and rolled back while orders
 * keep arriving (writers follow the active side through the API; a misrouted writer shows the fence), with each
 * switch's window and certificate, and both sides shown equal with no acknowledged write lost. Then the preflight
 * (`tandem check`) against a correct pair and a misconfigured one, a live PostgreSQL shop replicated into MariaDB
 * with drift planted, found and repaired there, and finally a live MariaDB shop migrated into an empty PostgreSQL
 * database (schema translated by `tandem schema --apply`). The servers are stopped and their directories removed
 * at the end, whatever happened, and the configuration and state folders when the process exits.
 *
 * `npm run demo -- --dashboard` instead leaves the first pair (shop_old → shop_new) replicating under live orders and
 * prints the dashboard's URL and tokens, until Ctrl-C: watch lag, plant drift, cut over and roll back in the browser.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { startMariadb, startPostgres, writeTempFile, type RunningServer } from '../test/harness/servers.js';
import { tempDir } from '../test/harness/temp.js';
import { shopMysql, shopPostgres } from '../test/harness/fixtures.js';
import { SHOP_DDL, SHOP_TABLES, lostWrites, shopRows, sideSummary, startRouter, startShopLoad, writtenSideChanges, type SideName } from '../bench/shop-load.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'tandem.js');
const began = Date.now();
/** A section heading, with the seconds since the demo started (a switch should be seen within the first minute). */
const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m  [${Math.round((Date.now() - began) / 1000)} s]\n`);

/**
 * Runs a tandem command as a user would and shows its output; `keep` shortens a long report to the lines that
 * matter here (the command and its exit code are always shown).
 */
function tandem(args: string[], keep?: (line: string) => boolean): number {
  process.stdout.write(`$ tandem ${args.join(' ')}\n`);
  if (!keep) {
    const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
    process.stdout.write(`(exit code ${r.status})\n`);
    return r.status ?? -1;
  }
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  const kept = lines.filter(keep);
  process.stdout.write(`${kept.join('\n')}\n${kept.length < lines.length ? `(${lines.length - kept.length} more lines of the report left out here)\n` : ''}(exit code ${r.status})\n`);
  return r.status ?? -1;
}

/** Of a `tandem status` report: where the migration stands. */
const statusLines = (line: string) => /^(phase|direction|lag|verification)\s/.test(line);

/** Of a `tandem check` report: the failures with their fixes, and the verdict. */
function checkLines(): (line: string) => boolean {
  let afterFail = false;
  return (line) => {
    const fail = /^\s*FAIL\s/.test(line);
    const keep = fail || (afterFail && /^\s*fix/.test(line)) || /^(Ready|Not ready)/.test(line);
    afterFail = fail || (afterFail && /^\s*fix/.test(line));
    return keep;
  };
}

async function main(): Promise<void> {
  say('Starting throwaway servers: PostgreSQL (wal_level=logical), MariaDB (binlog ROW, FULL, GTID), PostgreSQL (wal_level=replica)');
  // The switch needs only the first server: it runs while the other two are still starting.
  const starting = [startPostgres(), startMariadb(), startPostgres({ settings: { wal_level: 'replica' } })] as const;
  // Marked handled now (a server that fails to start while the switch runs must not end the process unhandled);
  // each is still awaited below, and whatever started is stopped in `finally`.
  for (const p of starting) p.catch(() => undefined);
  try {
    const pgGood = await starting[0];
    say('1. Cutover and rollback under live orders: PostgreSQL shop_old (old) → PostgreSQL shop_new (new)');
    const sw = await switchDemo(pgGood);

    const [maria, pgBad] = await Promise.all([starting[1], starting[2]]);
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

    say('2. Preflight of a correct pair: PostgreSQL shop (old) → MariaDB shop (new)');
    const good = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgGood.url}/shop` }, new: { url: `${maria.url}/shop` }, state: { dir: tempDir('tandem-demo-') }, api: { listen: '127.0.0.1:0' } }));
    const goodCode = tandem(['check', '--config', good], checkLines());

    say('3. Preflight of a misconfigured pair: old has wal_level=replica and a table without a primary key');
    const shop = new pg.Client({ connectionString: `${pgBad.url}/shop` });
    await shop.connect();
    await shop.query('CREATE TABLE page_views (at timestamptz, path text)');
    await shop.end();
    const bad = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgBad.url}/shop` }, new: { url: `${maria.url}/shop` } }));
    const badCode = tandem(['check', '--config', bad], checkLines());

    say('4. Replication: tandem run copies the PostgreSQL shop into MariaDB, then streams orders as they are placed');
    const live = new pg.Client({ connectionString: `${pgGood.url}/shop` });
    await live.connect();
    live.on('error', (e) => process.stderr.write(`live connection error: ${String(e)}\n`));
    await live.query(`INSERT INTO customers (id, email, name) SELECT g, 'customer' || g || '@example.com', 'Customer ' || g FROM generate_series(3, 5000) g`);
    process.stdout.write(`$ tandem run --config ${good}   (in the background)\n`);
    const runner = spawn(process.execPath, [cli, 'run', '--config', good], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    let orderId = 0;
    const started = Date.now();
    while (Date.now() - started < 3000) {
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
    tandem(['status', '--config', good], statusLines);

    say("5. Drift: tandem verify compares both shops chunk by chunk; rows changed behind Tandem's back are found and repaired");
    const verifyClean = tandem(['verify', '--config', good], (l) => /drift/.test(l));
    await shadowDb.query(`UPDATE orders SET total = total + 1 WHERE id = 1`);
    await shadowDb.query(`DELETE FROM order_items WHERE order_id = 2`);
    process.stdout.write(`(on MariaDB, behind Tandem's back: order 1's total changed, order 2's item deleted)\n`);
    const verifyDrift = tandem(['verify', '--config', good]);
    const repairCodes = [tandem(['repair', '--table', 'orders', '--all', '--yes', '--config', good]), tandem(['repair', '--table', 'order_items', '--all', '--yes', '--config', good])];
    const verifyRepaired = tandem(['verify', '--config', good], (l) => /drift/.test(l));
    const drift = { found: verifyClean === 0 && verifyDrift === 1, repaired: repairCodes.every((c) => c === 0) && verifyRepaired === 0 };
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
    await shadowDb.end();
    await live.end();
    const replicated = seen === expected;

    say('6. MariaDB → PostgreSQL migration with live writes: tandem schema --apply, then tandem run while orders arrive');
    const mig = await mariadbToPostgres(maria, pgGood);

    say('What happened');
    process.stdout.write(
      [
        ...sw.summary,
        `- The correct pair passed every prerequisite (exit ${goodCode}): logical decoding, slots, privileges, binlog settings, schemas.`,
        `- The misconfigured pair was refused (exit ${badCode}) with each problem named and its exact fix.`,
        `- Replication ${replicated ? 'kept MariaDB equal to PostgreSQL' : 'did NOT catch up in time'}: a consistent backfill of 5,000 customers, then ${orderId} live orders streamed transaction by transaction.`,
        `- Verification: ${drift.found ? 'in sync (exit 0), then the two rows changed on MariaDB were reported with their keys and columns (exit 1)' : 'did NOT report what was expected'}; \`tandem repair\` ${drift.repaired ? 'made them equal again (verify exit 0)' : 'did NOT make them equal'}.`,
        `- MariaDB → PostgreSQL: \`tandem schema --apply\` created the shop in an empty PostgreSQL database (exit ${mig.schemaCode}); replication ${mig.caughtUp ? 'caught up' : 'did NOT catch up in time'} with ${mig.orders} live orders written to MariaDB.`,
        '- Exit codes: 0 fine, 1 a check failed, 2 usage/config error, 3 refused by a safety gate, 4 runtime failure.',
        '',
      ].join('\n'),
    );
    if (!sw.ok || goodCode !== 0 || badCode !== 1 || !replicated || !drift.found || !drift.repaired || mig.schemaCode !== 0 || !mig.caughtUp) process.exitCode = 1;
  } finally {
    const started = await Promise.allSettled(starting);
    await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
  }
}

interface SwitchJson {
  result: string;
  windowMs: number | null;
  activeSide: SideName;
  gates: Array<{ name: string; ok: boolean; value: unknown; threshold: unknown }>;
  certificate: { hashedSide: SideName; to: SideName; tables: Array<{ table: string; rows: number; chunks: Array<{ hash: string }> }>; counters: Array<{ table: string; column: string; next: string }> } | null;
  error?: { message: string; fix?: string };
}

/** shop_old and shop_new on one server, the shop's tables on both and 1,000 customers on old; their URLs. */
async function createShopPair(server: RunningServer): Promise<Record<SideName, string>> {
  const admin = new pg.Client({ connectionString: `${server.url}/postgres` });
  await admin.connect();
  for (const db of ['shop_old', 'shop_new']) await admin.query(`CREATE DATABASE ${db}`);
  await admin.end();
  const urls: Record<SideName, string> = { old: `${server.url}/shop_old`, new: `${server.url}/shop_new` };
  for (const side of ['old', 'new'] as const) {
    const c = new pg.Client({ connectionString: urls[side] });
    await c.connect();
    for (const sql of SHOP_DDL) await c.query(sql);
    if (side === 'old') await c.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 1000) g`);
    await c.end();
  }
  return urls;
}

/**
 * Step 1, the product's point: a live shop on PostgreSQL (old) is cut over to a second database (new) and rolled
 * back while three writer clients place orders on whichever side the service's API calls active and a fourth,
 * misrouted, keeps writing to the other side. Afterwards both sides must be equal and hold every write a database
 * acknowledged.
 */
async function switchDemo(server: RunningServer): Promise<{ ok: boolean; summary: string[] }> {
  const urls = await createShopPair(server);
  const readToken = 'demo-router-read-token-0123';
  const config = writeTempFile(
    'tandem.yaml',
    stringify({
      migration: 'shop_switch',
      old: { url: urls.old },
      new: { url: urls.new },
      tables: SHOP_TABLES,
      state: { dir: tempDir('tandem-demo-') },
      // A pass every second: each switch wants a complete, clean verification of the new direction first.
      verify: { interval: '1s' },
      api: { listen: '127.0.0.1:0', tokens: [{ name: 'router', token: readToken, role: 'read' }] },
    }),
  );
  process.stdout.write(`shop_old holds 1,000 customers; shop_new has the same empty tables\n$ tandem run --config ${config}   (in the background)\n`);
  const runner = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
  let runnerLog = '';
  runner.stderr.on('data', (d: Buffer) => (runnerLog = (runnerLog + d.toString()).slice(-3000)));
  let router: ReturnType<typeof startRouter> | undefined;
  let load: ReturnType<typeof startShopLoad> | undefined;
  const wait = async (what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe().catch(() => false))) {
      if (Date.now() > deadline || runner.exitCode !== null) throw new Error(`timed out waiting for ${what}; tandem run's last output:\n${runnerLog}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    let api = '';
    await wait('tandem run to publish its API', async () => {
      const c = new pg.Client({ connectionString: urls.old });
      await c.connect();
      try {
        api = (await c.query<{ api: string | null }>(`SELECT api FROM tandem.lease WHERE migration = 'shop_switch'`)).rows[0]?.api ?? '';
      } finally {
        await c.end();
      }
      return api !== '';
    });
    const status = async () =>
      (await (await fetch(`http://${api}/api/v1/status`, { headers: { authorization: `Bearer ${readToken}` } })).json()) as {
        phase: string;
        verification: { lastCompletePass: string | null; driftCount: number; unconfirmedCount: number } | null;
        rollback: { ready: boolean; reasons: string[] } | null;
      };
    await wait('phase shadowing', async () => (await status()).phase === 'shadowing');
    router = startRouter(api, readToken);
    load = startShopLoad(urls, router.activeSide);
    process.stdout.write(`replicating; 3 clients place orders on the side GET /api/v1/status calls active, a 4th (misrouted) writes to the other side\n`);
    await load.waitForWrites(200);
    const windows: number[] = [];
    let since = new Date(0).toISOString();
    for (const kind of ['cutover', 'rollback'] as const) {
      const to: SideName = kind === 'cutover' ? 'new' : 'old';
      // The verification gate wants a complete, clean pass of the current direction: wait for it rather than be refused.
      await wait('a complete, clean verification', async () => {
        const v = (await status()).verification;
        return !!v?.lastCompletePass && v.lastCompletePass > since && v.driftCount === 0 && v.unconfirmedCount === 0;
      }, 90_000);
      if (kind === 'rollback') {
        // "Safe to roll back?" is a live fact after a cutover: the reverse stream runs, its lag is measured and low.
        const ready = await wait('rollback.ready', async () => (await status()).rollback?.ready === true, 30_000).then(() => true, () => false);
        const r = (await status()).rollback;
        process.stdout.write(`safe to roll back? (status rollback.ready) ${ready ? 'yes' : `no: ${r?.reasons.join('; ') ?? 'not reported'}`}\n`);
      }
      const args = [kind, '--yes', '--json', '--config', config];
      process.stdout.write(`$ tandem ${args.join(' ')}\n`);
      const started = performance.now();
      // Not spawnSync: the writers and the router run in this process and must keep running during the switch.
      const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('exit', (status) => resolve({ status, stdout, stderr }));
      });
      const tookS = ((performance.now() - started) / 1000).toFixed(1);
      let r: SwitchJson;
      try {
        r = JSON.parse(run.stdout) as SwitchJson;
      } catch {
        throw new Error(`tandem ${kind} printed no result (exit ${run.status}): ${run.stderr}`);
      }
      if (r.result !== 'done' || r.windowMs === null) {
        process.stdout.write(`${kind} ${r.result} (exit ${run.status}): ${r.error?.message ?? ''}\n`);
        return { ok: false, summary: [`- The ${kind} did NOT complete: ${r.result}.`] };
      }
      windows.push(r.windowMs);
      const lag = r.gates.find((g) => g.name === 'lag');
      process.stdout.write(`${kind} done in ${tookS} s (exit ${run.status}): ${r.activeSide} is active; write-unavailability window ${r.windowMs} ms\n`);
      process.stdout.write(`  gates passed: ${r.gates.map((g) => (g.name === 'lag' ? `lag ${String(lag?.value)} s ≤ ${String(lag?.threshold)} s` : g.name)).join(', ')}\n`);
      const c = r.certificate;
      if (c) {
        process.stdout.write(`  certificate (${c.hashedSide} at the drained point): ${c.tables.map((t) => `${t.table} ${t.rows.toLocaleString('en')} rows hash ${t.chunks.map((ch) => ch.hash).join(',').slice(0, 12)}`).join('; ')}\n`);
        if (c.counters.length) process.stdout.write(`  counters advanced on ${c.to}: ${c.counters.map((k) => `${k.table}.${k.column} → ${k.next}`).join(', ')}\n`);
      }
      since = new Date().toISOString();
      // The application follows: its writers see the new active side through the API and write there.
      await wait(`writes acknowledged by ${to}`, async () => load?.summary.acks.some((a) => a.side === to && !a.misrouted && a.at > started) ?? false, 30_000);
      await load.waitForWrites(100);
    }
    const summary = await load.stop();
    load = undefined;
    let lines: Record<SideName, string[]> = { old: [], new: [] };
    await wait('the sides to be equal', async () => {
      lines = { old: await shopRows(urls.old), new: await shopRows(urls.new) };
      return lines.old.join('\n') === lines.new.join('\n');
    });
    const sides = { old: sideSummary(lines.old), new: sideSummary(lines.new) };
    const lost = { old: lostWrites(summary, lines.old), new: lostWrites(summary, lines.new) };
    const lostCount = lost.old.orders.length + lost.old.updates.length + lost.new.orders.length + lost.new.updates.length;
    const changes = await writtenSideChanges(urls.old);
    const refusedMisrouted = summary.refusedMisrouted.old + summary.refusedMisrouted.new;
    const refusedFollowing = summary.refusedFollowing.old + summary.refusedFollowing.new;
    for (const side of ['old', 'new'] as const) {
      const x = sides[side];
      process.stdout.write(`${side.padEnd(3)}: ${x.customers.toLocaleString('en')} customers, ${x.orders.toLocaleString('en')} orders, content hash ${x.hash}\n`);
    }
    process.stdout.write(
      [
        `acknowledged writes: ${summary.acks.length.toLocaleString('en')} (${summary.orders.size.toLocaleString('en')} orders placed, ${summary.paid.size.toLocaleString('en')} paid); missing on old: ${lost.old.orders.length + lost.old.updates.length}, on new: ${lost.new.orders.length + lost.new.updates.length}`,
        `the fenced side refused ${refusedMisrouted} writes of the misrouted client (old ${summary.refusedMisrouted.old}, new ${summary.refusedMisrouted.new}), and ${refusedFollowing} writes the other clients sent during the windows (they tried again)`,
        `orders in server-clock order changed written side ${changes} times for 2 switches: the two sides never took writes at the same time`,
        '',
      ].join('\n'),
    );
    const ok = sides.old.hash === sides.new.hash && lostCount === 0 && summary.errors.length === 0 && changes === 2;
    return {
      ok,
      summary: [
        `- Cutover and rollback under live orders: windows of ${windows.join(' and ')} ms; ${ok ? 'both sides equal (same counts and content hash) with none of' : 'the sides were NOT equal or writes were lost, of'} ${summary.acks.length.toLocaleString('en')} acknowledged writes lost; the fence refused ${refusedMisrouted} misrouted writes.${summary.errors.length ? ` Errors: ${summary.errors.slice(0, 3).join('; ')}` : ''}`,
      ],
    };
  } finally {
    router?.stop();
    await load?.stop();
    if (runner.exitCode === null && runner.signalCode === null) {
      const exited = new Promise((r) => runner.once('exit', r));
      runner.kill('SIGTERM');
      await exited;
    }
  }
}

/** Step 6: a live MariaDB shop (old) migrated into an empty PostgreSQL database (new). */
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
    stringify({ migration: 'shop_to_pg', old: { url: `${maria.url}/shop_live` }, new: { url: `${pgServer.url}/shop_pg` }, state: { dir: tempDir('tandem-demo-') }, api: { listen: '127.0.0.1:0' } }),
  );
  const schemaCode = tandem(['schema', '--apply', '--yes', '--config', config], (l) => /^(CREATE TABLE|-- applied|--\s+(created|already))/.test(l));
  let orders = 0;
  let caughtUp = false;
  if (schemaCode === 0) {
    process.stdout.write(`$ tandem run --config ${config}   (in the background)\n`);
    const runner = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    const started = Date.now();
    while (Date.now() - started < 3000) {
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
    tandem(['status', '--config', config], statusLines);
    runner.kill('SIGTERM');
    await new Promise((r) => runner.once('exit', r));
    await shadow.end();
  }
  await src.end();
  return { schemaCode, caughtUp, orders };
}

/**
 * `--dashboard`: the switch demo's pair, replicating under live orders (one client following the active side, one
 * misrouted) for as long as the operator watches. The tokens are made up for this run and printed: it is a demo on
 * loopback, and the dashboard's login form is where they go.
 */
async function dashboardDemo(): Promise<void> {
  say('Starting a throwaway PostgreSQL server (wal_level=logical)');
  const server = await startPostgres();
  let runner: ReturnType<typeof spawn> | undefined;
  let router: ReturnType<typeof startRouter> | undefined;
  let load: ReturnType<typeof startShopLoad> | undefined;
  try {
    const urls = await createShopPair(server);
    const tokens = { read: `read-${randomBytes(12).toString('hex')}`, operate: `operate-${randomBytes(12).toString('hex')}` };
    const config = writeTempFile(
      'tandem.yaml',
      stringify({
        migration: 'shop_switch',
        old: { url: urls.old },
        new: { url: urls.new },
        tables: SHOP_TABLES,
        state: { dir: tempDir('tandem-demo-') },
        verify: { interval: '2s' },
        api: { listen: '127.0.0.1:0', tokens: [{ name: 'viewer', token: tokens.read, role: 'read' }, { name: 'operator', token: tokens.operate, role: 'operate' }] },
      }),
    );
    process.stdout.write(`$ tandem run --config ${config}   (in the background)\n`);
    const child = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    runner = child;
    let api = '';
    for (let i = 0; i < 600 && !api; i++) {
      if (child.exitCode !== null) throw new Error(`tandem run exited (code ${child.exitCode}) before publishing its API`);
      const c = new pg.Client({ connectionString: urls.old });
      await c.connect();
      try {
        api = (await c.query<{ api: string | null }>(`SELECT api FROM tandem.lease WHERE migration = 'shop_switch'`).catch(() => ({ rows: [] as Array<{ api: string | null }> }))).rows[0]?.api ?? '';
      } finally {
        await c.end();
      }
      if (!api) await new Promise((r) => setTimeout(r, 100));
    }
    if (!api) throw new Error('tandem run did not publish its API within a minute');
    // The application goes live once the shadow is copied and fenced: a misrouted write landing on new before the
    // first copy would make tandem run refuse a shadow that is not empty.
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`tandem run exited (code ${child.exitCode}) before the shadow was copied`);
      const r = await fetch(`http://${api}/api/v1/status`, { headers: { authorization: `Bearer ${tokens.read}` } }).catch(() => undefined);
      if (r?.ok && ((await r.json()) as { phase?: string }).phase === 'shadowing') break;
      if (i >= 600) throw new Error('tandem run did not finish copying the shadow within a minute');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The application: follows the active side through the API, as the switch demo's writers do.
    router = startRouter(api, tokens.read, 250);
    load = startShopLoad(urls, router.activeSide, 1);
    say('The dashboard');
    process.stdout.write(
      [
        `open          http://${api}/`,
        `log in with   ${tokens.operate}   (role operate: may cut over and roll back)`,
        `or            ${tokens.read}   (role read: watches only)`,
        '',
        'Orders arrive on the active side all the time (a second, misrouted client keeps hitting the fenced side).',
        'To plant a drift on the shadow (shop_new while old is active), behind Tandem\'s back:',
        `  psql '${urls.new}' -c "BEGIN; SET LOCAL session_replication_role = replica; UPDATE orders SET total = total + 1 WHERE id = (SELECT min(id) FROM orders); COMMIT"`,
        '',
        'Ctrl-C stops the demo and removes its server.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
      child.once('exit', (code) => {
        process.stdout.write(`tandem run exited (code ${code})\n`);
        resolve();
      });
    });
    // A second Ctrl-C while cleaning up ends the process at once.
    process.once('SIGINT', () => process.exit(130));
    say('Stopping');
  } finally {
    router?.stop();
    await load?.stop().catch(() => undefined);
    if (runner && runner.exitCode === null) {
      const exited = new Promise((r) => runner?.once('exit', r));
      runner.kill('SIGTERM');
      await exited;
    }
    await server.stop();
  }
}

if (process.argv.includes('--dashboard')) await dashboardDemo();
else await main();
