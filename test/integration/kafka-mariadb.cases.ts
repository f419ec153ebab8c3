/**
 * MariaDB → PostgreSQL through the Kafka transport (issue 15): Tandem copies, then Debezium's MariaDB connector,
 * created stopped with its offset set to the copy's binlog position, captures into the ordered topic Tandem applies.
 */
import mysql from 'mysql2/promise';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureKafka, startAtomicWriter, type AtomicSession } from '../harness/kafka.js';
import { runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { tempDir } from '../harness/temp.js';
import { startMariadb } from '../harness/servers.js';
import { createShopDb, shopRows, startShopLoad, type LoadSummary, type ShopDb } from '../harness/switch.js';
import { suiteResources, untilTandem, waitForShadowing, waitUntil, type TandemProcess } from '../harness/tandem-process.js';

const TABLES = ['customers', 'orders', 'tally'];

/**
 * The load's errors on the active side. Its misrouted client also writes to the PostgreSQL shadow, where the fence
 * refuses it: what happens there is the fence's tests' business.
 */
const ownErrors = (summary: LoadSummary) => summary.errors.filter((e) => e.startsWith('old:'));

/** Orders and the tally bumped in one transaction each, on MariaDB. */
const mariadbAtomic = (url: string) => async (): Promise<AtomicSession> => {
  const c = await mysql.createConnection({ uri: url });
  c.on('error', () => undefined);
  return {
    writeOne: async () => {
      await c.beginTransaction();
      await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES (UUID(), 9, 1.25, 'old')`);
      await c.query(`INSERT INTO tally VALUES (1, 1) ON DUPLICATE KEY UPDATE orders = orders + 1`);
      await c.commit();
    },
    end: () => c.end(),
  };
};

describe('Kafka transport, MariaDB → PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const res = suiteResources();
  let old: ShopDb;
  let neu: ShopDb;
  let config: string;
  let tandem: TandemProcess;

  beforeAll(async () => {
    await ensureKafka();
    // A MariaDB of its own: Debezium reads the whole binlog of the server, and on the shared one every other test
    // file's writes pass through it too (under the full suite it fell minutes behind).
    const mariadb = await startMariadb();
    res.servers.push(mariadb);
    [old, neu] = await Promise.all([createShopDb('mysql', mariadb.url, 'kmy_old'), createShopDb('pg', pgUrl, 'kmy_new')]);
    res.dbs.push(old, neu);
    await old.query(`CREATE TABLE tally (id int PRIMARY KEY, orders bigint NOT NULL)`);
    await neu.query(`CREATE TABLE tally (id int PRIMARY KEY, orders bigint NOT NULL)`);
    await old.query(`INSERT INTO customers (name) VALUES ('a'), ('b'), ('c'), ('d'), ('e'), ('f'), ('g'), ('h'), ('i')`);
    await old.query(`INSERT INTO tally VALUES (1, 0)`);
    config = writeConfig({
      migration: `kmy_${Date.now().toString(36)}`,
      old: { url: old.url },
      new: { url: neu.url },
      tables: TABLES,
      transport: { kind: 'kafka' },
      state: { dir: tempDir('tandem-state-') },
      // The shadow is PostgreSQL, whose fence (triggers on these tables) touches no other test: fenced, the load's
      // misrouted client cannot write to it. Unfenced (the harness's default with a MariaDB side), its updates of
      // replicated orders split the sides now and then (seen: two orders 'paid' on the shadow only).
      fence: { shadow: true },
    });
    res.cleanups.push(() => runTandem(['connectors', 'delete', '--config', config]));
  }, 600_000);

  const invariant = async (db: ShopDb) => {
    const [row] = await db.query(
      db.kind === 'pg'
        ? `select (select count(*) from orders where customer_id = 9)::text, coalesce((select orders from tally where id = 1), 0)::text`
        : `SELECT CAST((SELECT COUNT(*) FROM orders WHERE customer_id = 9) AS CHAR), CAST(COALESCE((SELECT orders FROM tally WHERE id = 1), 0) AS CHAR)`,
    );
    return row as string[];
  };

  it('streams the shop load with multi-table transactions applied atomically, sides equal at the end', async () => {
    // Rows written during the copy and before the connector starts are the seam: none may be missing or doubled.
    const early = startAtomicWriter(mariadbAtomic(old.url));
    tandem = res.start(['run', '--config', config]);
    await waitForShadowing(config);
    const load = startShopLoad({ old, new: neu }, () => 'old', 2);
    const atomic = startAtomicWriter(mariadbAtomic(old.url));
    const observed = new Set<string>();
    await untilTandem(tandem, 'the shadow to follow the load through Kafka', async () => {
      const [orders, tally] = await invariant(neu);
      expect(orders).toBe(tally);
      observed.add(orders as string);
      return observed.size >= 5 && Number(orders) > 50;
    }, 180_000, 50);
    await atomic.stop();
    await early.stop();
    expect(ownErrors(await load.stop())).toEqual([]);
    const source = await invariant(old);
    expect(source[0]).toBe(source[1]);
    await untilTandem(tandem, 'the sides to be equal', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 180_000, 300);
    await waitUntil('the tally to arrive', async () => (await invariant(neu))[1] === source[1], 60_000);
    expect(await invariant(neu)).toEqual(source);
  }, 600_000);

  it('tandem check finds both Debezium plugins and a schema history topic that keeps every record', async () => {
    const run = await runTandem(['check', '--json', '--config', config]);
    const report = JSON.parse(run.stdout) as { checks: Array<{ id: string; status: string; side: string; detail: string }> };
    const kafka = new Map(report.checks.filter((c) => c.side === 'kafka').map((c) => [c.id, c]));
    expect([...kafka.values()].filter((c) => c.status !== 'pass')).toEqual([]);
    expect(kafka.get('kafka.plugin.mariadb')?.detail).toContain('captures old');
    expect(kafka.get('kafka.plugin.postgres')?.detail).toContain('captures new');
    // Debezium created it at the connector's first start, with infinite retention.
    expect(kafka.get('kafka.schema_history_old')?.detail).toMatch(/schema-history: retention forever, retention.bytes=-1, cleanup.policy=delete, 1 partition/);
  }, 120_000);

  it('kill -9 of tandem mid-stream, then a restart: sides equal, nothing lost or doubled', async () => {
    const load = startShopLoad({ old, new: neu }, () => 'old', 2);
    const atomic = startAtomicWriter(mariadbAtomic(old.url));
    await load.waitForWrites(100);
    tandem.kill('SIGKILL');
    await tandem.exited;
    await load.waitForWrites(100);
    tandem = res.start(['run', '--config', config]);
    await load.waitForWrites(50);
    await atomic.stop();
    expect(ownErrors(await load.stop())).toEqual([]);
    const source = await invariant(old);
    expect(source[0]).toBe(source[1]);
    await untilTandem(tandem, 'the sides to be equal after the restart', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 180_000, 300);
    await waitUntil('the tally to arrive', async () => (await invariant(neu))[1] === source[1], 60_000);
    expect(await invariant(neu)).toEqual(source);
    type Report = { status: { connector: { state: string } }; offsets: { offsets: Array<{ offset: Record<string, unknown> }> } };
    // Another Kafka test file may be restarting Connect right now: ask until it answers.
    const report = await waitUntil('the connector status', async () => {
      const status = await runTandem(['connectors', 'status', '--json', '--config', config]);
      const r = status.code === 0 ? (JSON.parse(status.stdout) as Report) : undefined;
      return r?.status.connector.state === 'RUNNING' ? r : undefined;
    }, 120_000, 1_000);
    expect(report.offsets.offsets[0]?.offset).toHaveProperty('file');
  }, 600_000);
});
