/**
 * PostgreSQL → PostgreSQL through the Kafka transport (issue 15): Debezium in Kafka Connect captures from Tandem's
 * own slot, Tandem applies from the one ordered topic. Real broker, Connect worker and connector (deploy/kafka).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import kafkajs from 'kafkajs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { CONNECT_URL, RUN_DIR, kafkaKill, kafkaUp } from '../../scripts/kafka-stack.js';
import { ensureKafka, startAtomicWriter, type AtomicSession } from '../harness/kafka.js';
import { runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { freePort } from '../harness/servers.js';
import { tempDir } from '../harness/temp.js';
import { runVerify } from '../harness/verify.js';
import { waitForSameRows } from '../harness/compare.js';
import { createShopDb, shopRows, startShopLoad, type ShopDb } from '../harness/switch.js';
import { suiteResources, untilTandem, waitForShadowing, waitUntil, type TandemProcess } from '../harness/tandem-process.js';

const PASSWORD = 'Kafka-Planted-Pw-7x9';
const TABLES = ['customers', 'orders', 'tally', 'kinds'];

/** Values whose Debezium encodings differ from PostgreSQL's text: each must arrive as the embedded capture sends it. */
const KINDS = `CREATE TABLE kinds (id bigint PRIMARY KEY, n numeric(40,10), big bigint, r real, d double precision, b boolean, ts timestamp(6),
  tz timestamptz, dt date, tm time(6), j jsonb, js json, bin bytea, long text, u uuid, iv interval, note text)`;

/** On each side: a tally that every shop transaction bumps with its order (one source transaction, two tables). */
async function addTally(db: ShopDb): Promise<void> {
  await db.query(`CREATE TABLE tally (id int PRIMARY KEY, orders bigint NOT NULL)`);
}

/**
 * Row events seen per order, counted by an ALWAYS trigger (it fires for Tandem's apply on the shadow too, and a
 * rolled-back apply takes its count back): equal counts on both sides mean each change was applied exactly once.
 */
async function countEvents(db: ShopDb): Promise<void> {
  await db.query(`CREATE TABLE seen (ref uuid, op text)`);
  await db.query(`CREATE FUNCTION note_event() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO seen VALUES (NEW.ref, TG_OP); RETURN NULL; END $$`);
  await db.query(`CREATE TRIGGER note_event AFTER INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION note_event()`);
  await db.query(`ALTER TABLE orders ENABLE ALWAYS TRIGGER note_event`);
}

async function seenCounts(db: ShopDb): Promise<string[]> {
  return (await db.query(`select ref::text, count(*)::text from seen group by ref order by ref`)).map((r) => r.join(' '));
}

/** Orders and the tally bumped in one transaction each, on PostgreSQL (`orders` rows per transaction, one by default). */
const postgresAtomic = (url: string, orders = 1) => async (): Promise<AtomicSession> => {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  return {
    writeOne: async () => {
      await c.query('BEGIN');
      await c.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 9, 1.25, 'old' FROM generate_series(1, $1::int)`, [orders]);
      await c.query(`INSERT INTO tally VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET orders = tally.orders + $1`, [orders]);
      await c.query('COMMIT');
    },
    end: () => c.end(),
  };
};

describe('Kafka transport, PostgreSQL → PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const res = suiteResources();
  let old: ShopDb;
  let neu: ShopDb;
  let base: Record<string, unknown>;
  let config: string;
  let port: number;
  let tandem: TandemProcess;
  const logs: string[] = [];

  beforeAll(async () => {
    await ensureKafka();
    [old, neu] = await Promise.all([createShopDb('pg', pgUrl, 'kpg_old'), createShopDb('pg', pgUrl, 'kpg_new')]);
    res.dbs.push(old, neu);
    for (const db of [old, neu]) {
      await addTally(db);
      await countEvents(db);
    }
    await old.query(`INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 20) g`);
    await old.query(`INSERT INTO tally VALUES (1, 0)`);
    for (const db of [old, neu]) await db.query(KINDS);
    // Stored out of line, so an UPDATE of another column sends it as Debezium's "unavailable" placeholder (H3).
    await old.query(`ALTER TABLE kinds ALTER COLUMN long SET STORAGE EXTERNAL`);
    port = await freePort();
    base = {
      migration: `kpg_${Date.now().toString(36)}`,
      old: { url: old.url.replace('postgres@', `postgres:${PASSWORD}@`) },
      new: { url: neu.url },
      tables: TABLES,
      transport: { kind: 'kafka' },
      state: { dir: tempDir('tandem-state-') },
      api: { listen: `127.0.0.1:${port}` },
    };
    config = writeConfig(base);
    res.cleanups.push(() => runTandem(['connectors', 'delete', '--config', config]));
  }, 600_000);

  /** Orders of the atomic writer, and the tally it bumped with each. */
  const invariant = async (db: ShopDb) => {
    const [row] = await db.query(`select (select count(*) from orders where customer_id = 9)::text, coalesce((select orders from tally where id = 1), 0)::text`);
    return row as string[];
  };
  const shadowInvariant = () => invariant(neu);

  it('streams the shop load with multi-table transactions applied atomically, sides equal at the end', async () => {
    tandem = res.start(['run', '--config', config]);
    await waitForShadowing(config);
    const load = startShopLoad({ old, new: neu }, () => 'old', 2);
    const atomic = startAtomicWriter(postgresAtomic(old.url));
    // While the load runs, every read of the shadow sees whole source transactions only.
    const observed = new Set<string>();
    await untilTandem(tandem, 'the shadow to follow the load through Kafka', async () => {
      const [orders, tally] = await shadowInvariant();
      expect(orders).toBe(tally);
      observed.add(orders as string);
      return observed.size >= 5 && Number(orders) > 50;
    }, 180_000, 50);
    const written = await atomic.stop();
    const summary = await load.stop();
    expect(summary.errors).toEqual([]);
    await untilTandem(tandem, 'the sides to be equal', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 180_000, 300);
    await waitUntil('the tally to arrive', async () => (await shadowInvariant())[1] === String(written), 60_000);
    expect(await shadowInvariant()).toEqual([String(written), String(written)]);
    expect(await seenCounts(neu)).toEqual(await seenCounts(old));
  }, 600_000);

  it('tandem check: brokers, Connect, the plugins and the change topic pass; a wrong Connect URL and a bad topic fail with their fixes', async () => {
    const run = await runTandem(['check', '--json', '--config', config]);
    const report = JSON.parse(run.stdout) as { checks: Array<{ id: string; status: string; side: string; fix?: string }> };
    const kafka = report.checks.filter((c) => c.side === 'kafka');
    expect(kafka.map((c) => `${c.id} ${c.status}`)).toEqual(['kafka.brokers pass', 'kafka.ordering pass', 'kafka.connect pass', 'kafka.plugin.postgres pass', 'kafka.topic_old pass', 'kafka.topic_new pass']);
    const text = await runTandem(['check', '--config', config]);
    expect(text.stdout).toMatch(/Kafka transport\n\s+PASS\s+Kafka brokers reachable/);
    expect(text.stdout).toMatch(/PASS\s+change topic of old — tandem-kpg-\S+-old\.changes: 1 partition, cleanup\.policy=delete, retention 7d/);

    // A change topic someone created by hand: three partitions, compacted, an hour's retention, a size limit.
    const prefix = `tandem-kchk-${Date.now().toString(36)}`;
    const admin = new kafkajs.Kafka({ brokers: ['127.0.0.1:9092'], logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const configEntries = [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'retention.ms', value: '3600000' },
        { name: 'retention.bytes', value: '1048576' },
      ];
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: `${prefix}-old.changes`, numPartitions: 3, configEntries }] });
      const bad = writeConfig({ ...base, transport: { kind: 'kafka', kafka: { prefix, connectUrl: `http://127.0.0.1:${await freePort()}` } } });
      const failed = await runTandem(['check', '--json', '--config', bad]);
      expect(failed.code).toBe(1);
      const items = (JSON.parse(failed.stdout) as typeof report).checks.filter((c) => c.side === 'kafka');
      expect(items.map((c) => `${c.id} ${c.status}`)).toEqual([
        'kafka.brokers pass',
        'kafka.ordering pass',
        'kafka.connect fail',
        'kafka.topic_old.partitions fail',
        'kafka.topic_old.cleanup fail',
        'kafka.topic_old.retention fail',
        'kafka.topic_old.retention_bytes warn',
        'kafka.topic_new pass',
      ]);
      const human = await runTandem(['check', '--config', bad]);
      expect(human.stdout).toMatch(/FAIL\s+cannot reach Kafka Connect — http:\/\/127\.0\.0\.1:\d+: .*\n\s+fix: start Kafka Connect/);
      expect(human.stdout).toMatch(/FAIL\s+change topic of old keeps events 1h — .*\n\s+fix: kafka-configs\.sh .* --add-config retention\.ms=604800000/);
      expect(human.stdout).toContain(`--entity-name ${prefix}-old.changes --add-config cleanup.policy=delete`);
      for (const out of [run.stdout, text.stdout, failed.stdout, human.stdout, human.stderr]) expect(out).not.toContain(PASSWORD);
    } finally {
      await admin.deleteTopics({ topics: [`${prefix}-old.changes`] }).catch(() => undefined);
      await admin.disconnect();
    }
  }, 300_000);

  it('kill -9 of tandem mid-stream, then a restart: every change applied exactly once', async () => {
    const load = startShopLoad({ old, new: neu }, () => 'old', 2);
    const atomic = startAtomicWriter(postgresAtomic(old.url));
    await load.waitForWrites(100);
    // Killed while transactions are arriving, some applied and some not yet.
    const [before] = await shadowInvariant();
    await untilTandem(tandem, 'the shadow to apply more', async () => Number((await shadowInvariant())[0]) > Number(before), 120_000, 50);
    logs.push(tandem.output());
    tandem.kill('SIGKILL');
    await tandem.exited;
    await load.waitForWrites(100);
    tandem = res.start(['run', '--config', config]);
    await load.waitForWrites(50);
    expect(await atomic.stop()).toBeGreaterThan(0);
    const summary = await load.stop();
    expect(summary.errors).toEqual([]);
    const source = await invariant(old);
    expect(source[0]).toBe(source[1]);
    await untilTandem(tandem, 'the sides to be equal after the restart', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 180_000, 300);
    await waitUntil('the tally to arrive', async () => (await shadowInvariant())[1] === source[1], 60_000);
    expect(await shadowInvariant()).toEqual(source);
    // Each insert and update of every order happened once on the shadow, as on the source.
    expect(await seenCounts(neu)).toEqual(await seenCounts(old));
  }, 600_000);

  it('a kill -9 of the Connect worker inside a transaction: the events it sends again are applied once', async () => {
    const { name } = JSON.parse((await runTandem(['connectors', 'render', '--json', '--config', config])).stdout) as { name: string };
    const load = startShopLoad({ old, new: neu }, () => 'old', 1);
    const atomic = startAtomicWriter(postgresAtomic(old.url));
    await load.waitForWrites(50);
    // Transactions of 20 000 orders: Debezium takes seconds to write one into the topic while Connect stores its
    // source offset every second, so the worker is killed with that offset inside a transaction. The restarted
    // connector then sends that transaction's tail again without its BEGIN, under new Kafka offsets (seen in the
    // topic: the remaining events and END of a transaction Tandem had already applied, after later transactions).
    const big = await postgresAtomic(old.url, 20_000)();
    let stored: Record<string, unknown> | undefined;
    for (let attempt = 0; attempt < 5 && !stored; attempt++) {
      await big.writeOne();
      stored = await waitUntil('Connect to store an offset inside the large transaction', async () => {
        const offsets = (await (await fetch(`${CONNECT_URL}/connectors/${name}/offsets`)).json()) as { offsets: Array<{ offset: Record<string, unknown> }> };
        const offset = offsets.offsets[0]?.offset;
        // Stored at a BEGIN or a row event: the restarted connector resumes after it, inside that transaction.
        return offset && offset.transaction_id && offset.messageType !== 'COMMIT' ? offset : undefined;
      }, 20_000, 50).catch(() => undefined);
    }
    expect(stored, 'an offset inside a transaction').toBeDefined();
    expect(kafkaKill('connect')).toBeDefined();
    await big.end();
    await load.waitForWrites(50);
    await kafkaUp();
    await load.waitForWrites(50);
    expect(await atomic.stop()).toBeGreaterThan(0);
    expect((await load.stop()).errors).toEqual([]);
    const source = await invariant(old);
    expect(source[0]).toBe(source[1]);
    await untilTandem(tandem, 'the sides to be equal after the Connect restart', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 240_000, 300);
    await waitUntil('the tally to arrive', async () => (await shadowInvariant())[1] === source[1], 60_000);
    expect(await shadowInvariant()).toEqual(source);
    // Each insert and update of every order happened once on the shadow, as on the source.
    expect(await seenCounts(neu)).toEqual(await seenCounts(old));
    // The restart did send events again, and Tandem recognised them.
    expect(tandem.output()).toContain('dropped change events Debezium sent again');
  }, 600_000);

  it('a kill -9 of the broker mid-stream: every change applied exactly once', async () => {
    const load = startShopLoad({ old, new: neu }, () => 'old', 1);
    const atomic = startAtomicWriter(postgresAtomic(old.url));
    await load.waitForWrites(100);
    expect(kafkaKill('broker')).toBeDefined();
    await load.waitForWrites(50);
    await kafkaUp();
    await load.waitForWrites(50);
    expect(await atomic.stop()).toBeGreaterThan(0);
    expect((await load.stop()).errors).toEqual([]);
    const source = await invariant(old);
    await untilTandem(tandem, 'the sides to be equal after the restart', async () => JSON.stringify(await shopRows(old)) === JSON.stringify(await shopRows(neu)), 240_000, 300);
    await waitUntil('the tally to arrive', async () => (await shadowInvariant())[1] === source[1], 60_000);
    expect(await shadowInvariant()).toEqual(source);
    expect(await seenCounts(neu)).toEqual(await seenCounts(old));
  }, 600_000);

  it('converts Debezium encodings to the same values: verify finds no drift, unchanged TOAST values stay intact', async () => {
    await old.query(`INSERT INTO kinds VALUES
      (1, -123456789012345678901234567890.0123456789, 9223372036854775807, 0.1, 1e-300, true, '0001-01-01 00:00:00', '2024-03-10 02:30:00.123456+05:30',
       '1900-02-28', '23:59:59.999999', '{"b": [1, 2.50], "a": null}', '{"z": 1,  "a": 2}', '\\x00ff10', (SELECT string_agg(md5(g::text), '') FROM generate_series(1, 400) g),
       'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 year 2 mons 3 days 04:05:06.789', 'x'),
      (2, 0.5, -9223372036854775808, -3.4e38, 1.7976931348623157e308, false, '1969-12-31 23:59:59.999999', '1970-01-01 00:00:00+00',
       '2024-02-29', '00:00:00', '[]', 'null', '\\x', '', '00000000-0000-0000-0000-000000000000', '-1 days +00:00:01', NULL),
      (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'gone soon')`);
    await old.query(`UPDATE kinds SET note = 'touched' WHERE id = 1`);
    await old.query(`DELETE FROM kinds WHERE id = 3`);
    const read = (db: ShopDb) => db.query(`select id::text, n::text, big::text, r::text, d::text, b::text, ts::text, tz::text, dt::text, tm::text, j::text, js::text, encode(bin, 'hex'), md5(long), u::text, iv::text, note from kinds order by id`);
    await waitForSameRows('the kinds to arrive', () => read(old), () => read(neu), { procs: [tandem], timeoutMs: 60_000 });
    expect((await read(neu))[0]?.[13]).not.toBe('∅');
    const verify = await runVerify(config, ['--table', 'kinds']);
    expect(verify.report.driftCount, verify.stderr).toBe(0);
    expect(verify.code).toBe(0);
  }, 300_000);

  it('keeps the planted password out of rendered configs, connector status, logs and metrics', async () => {
    const render = await runTandem(['connectors', 'render', '--config', config]);
    expect(render.code).toBe(0);
    expect(render.stdout).toContain('database.password=${file:');
    const renderJson = await runTandem(['connectors', 'render', '--json', '--config', config]);
    expect(JSON.parse(renderJson.stdout).config['slot.name']).toMatch(/^tandem_kpg_/);
    const status = await runTandem(['connectors', 'status', '--json', '--config', config]);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as { exists: boolean; status: { connector: { state: string } }; offsets: { offsets: Array<{ offset: Record<string, unknown> }> } };
    expect(report.status.connector.state).toBe('RUNNING');
    expect(report.offsets.offsets[0]?.offset).toHaveProperty('lsn');
    const human = await runTandem(['connectors', 'status', '--config', config]);
    // Caught up: no lag in the topic; the connector and its task run; the Connect restart's copies were counted.
    const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const metrics = await waitUntil('the Kafka lag metrics to reach 0', async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return metric(text, 'tandem_kafka_lag_offsets') === 0 && metric(text, 'tandem_kafka_lag_seconds') === 0 ? text : undefined;
    }, 60_000, 500);
    expect(metrics).toContain('tandem_applied_transactions');
    const name = (JSON.parse(renderJson.stdout) as { name: string }).name;
    expect(metrics).toContain(`tandem_kafka_connector_state{connector="${name}",state="RUNNING",migration=`);
    expect(metrics).toContain(`tandem_kafka_task_state{connector="${name}",task="0",state="RUNNING",migration=`);
    expect(metric(metrics, 'tandem_kafka_records_read_total')).toBeGreaterThan(1000);
    expect(metric(metrics, 'tandem_kafka_redelivered_records_total')).toBeGreaterThan(0);
    expect(metric(metrics, 'tandem_kafka_retention_headroom_offsets')).toBeGreaterThan(1000);
    const storedConfig = await (await fetch(`http://127.0.0.1:8083/connectors/${report.status ? (JSON.parse(renderJson.stdout) as { name: string }).name : ''}/config`)).text();
    const connectLog = readFileSync(join(RUN_DIR, 'connect.log'), 'utf8');
    for (const text of [render.stdout, render.stderr, renderJson.stdout, status.stdout, status.stderr, human.stdout, metrics, storedConfig, connectLog, ...logs, tandem.output()]) {
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encodeURIComponent(PASSWORD));
    }
  }, 300_000);
});
