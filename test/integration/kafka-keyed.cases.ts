/**
 * H22: `transport.kafka.ordering: key` — a change topic of four partitions, one apply lane each (real broker, Connect
 * worker and Debezium PostgreSQL connector). One key updated 1,000 times and parent/child pairs written in one
 * transaction each land in different partitions; each key's changes must still arrive in order, the pairs whole once
 * the lanes caught up, and a kill -9 of Tandem mid-stream must resume every lane exactly where it was.
 */
import kafkajs from 'kafkajs';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureKafka } from '../harness/kafka.js';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, runTandem, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { startMariadb } from '../harness/servers.js';
import { writeConfig } from '../harness/config.js';
import { tempDir } from '../harness/temp.js';
import { runVerify } from '../harness/verify.js';
import { switchCli } from '../harness/switch.js';
import { suiteResources, untilTandem, waitForShadowing, type TandemProcess } from '../harness/tandem-process.js';

const SCHEMA = [
  `CREATE TABLE items (id int PRIMARY KEY, v bigint NOT NULL, note text)`,
  `CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL)`,
  `CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES parent (id), qty int NOT NULL)`,
  // Every insert and update of an item, counted by an ALWAYS trigger (it fires for Tandem's apply on the shadow too,
  // and a rolled-back apply takes its count back): equal counts mean each change was applied exactly once.
  `CREATE TABLE seen (id int NOT NULL, op text NOT NULL)`,
  `CREATE FUNCTION note_item() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO seen VALUES (NEW.id, TG_OP); RETURN NULL; END $$`,
  `CREATE TRIGGER note_item AFTER INSERT OR UPDATE ON items FOR EACH ROW EXECUTE FUNCTION note_item()`,
  `ALTER TABLE items ENABLE ALWAYS TRIGGER note_item`,
];
const TABLES = ['items', 'parent', 'child'];
const UPDATES = 1_000;
const PAIRS = 300;

async function rows(db: PgTestDatabase, table: string): Promise<string[]> {
  return (await db.admin.query({ text: `SELECT * FROM ${table} ORDER BY 1`, rowMode: 'array' })).rows.map((r: unknown[]) => JSON.stringify(r));
}

async function sameTables(a: PgTestDatabase, b: PgTestDatabase): Promise<boolean> {
  for (const t of TABLES) if (JSON.stringify(await rows(a, t)) !== JSON.stringify(await rows(b, t))) return false;
  return true;
}

describe('Kafka transport, ordering: key (H22)', () => {
  const pgUrl = inject('pgUrl');
  const res = suiteResources();
  let old: PgTestDatabase;
  let neu: PgTestDatabase;
  let config: string;
  let migration: string;
  let tandem: TandemProcess;

  beforeAll(async () => {
    await ensureKafka();
    [old, neu] = await Promise.all([createPgDatabase(pgUrl, 'kkey_old'), createPgDatabase(pgUrl, 'kkey_new')]);
    res.dbs.push(old, neu);
    for (const db of [old, neu]) for (const sql of SCHEMA) await db.admin.query(sql);
    migration = `kkey_${Date.now().toString(36)}`;
    config = writeConfig({
      migration,
      old: { url: old.url },
      new: { url: neu.url },
      tables: TABLES,
      transport: { kind: 'kafka', kafka: { ordering: 'key', partitions: 4 } },
      state: { dir: tempDir('tandem-state-') },
    });
    res.cleanups.push(() => runTandem(['connectors', 'delete', '--config', config]));
  }, 600_000);

  it('one key updated 1,000 times and parent/child pairs over four partitions: each key in order, pairs whole, exactly once across a kill -9', async () => {
    tandem = res.start(['run', '--config', config]);
    await waitForShadowing(config);
    await old.admin.query(`INSERT INTO items SELECT g, 0, 'item ' || g FROM generate_series(1, 50) g`);

    // One client updates key 1 a thousand times, each update its own transaction; another writes parent/child pairs
    // (a parent and two children per transaction), deletes older pairs and touches other items meanwhile.
    const hot = new pg.Client({ connectionString: old.url });
    const pairs = new pg.Client({ connectionString: old.url });
    for (const c of [hot, pairs]) c.on('error', () => undefined);
    await Promise.all([hot.connect(), pairs.connect()]);
    let updates = 0;
    const hotDone = (async () => {
      for (let i = 0; i < UPDATES; i++) {
        await hot.query(`UPDATE items SET v = v + 1, note = 'hot ' || (v + 1) WHERE id = 1`);
        updates++;
        // Paced, so the kill below lands while the key's updates are still arriving.
        await new Promise((r) => setTimeout(r, 15));
      }
    })();
    const pairsDone = (async () => {
      for (let i = 1; i <= PAIRS; i++) {
        await pairs.query('BEGIN');
        await pairs.query(`INSERT INTO parent VALUES ($1::int, 'p' || $1::int)`, [i]);
        await pairs.query(`INSERT INTO child VALUES ($1::int * 2, $1::int, 1), ($1::int * 2 + 1, $1::int, 2)`, [i]);
        await pairs.query(`UPDATE items SET v = v + 1 WHERE id = $1::int`, [2 + (i % 49)]);
        await pairs.query('COMMIT');
        if (i % 10 === 0) {
          // A pair goes again: children first, as the foreign key demands on the source.
          await pairs.query('BEGIN');
          await pairs.query(`DELETE FROM child WHERE parent_id = $1::int`, [i - 5]);
          await pairs.query(`DELETE FROM parent WHERE id = $1::int`, [i - 5]);
          await pairs.query('COMMIT');
        }
      }
    })();

    // Killed while the lanes apply: some of the hot key's updates on the shadow, others not yet.
    await untilTandem(tandem, 'the shadow to apply part of the hot key', async () => {
      const r = await neu.admin.query(`SELECT v FROM items WHERE id = 1`);
      if (updates >= UPDATES - 100) throw new Error(`the writer finished (${updates} updates) before the shadow applied 100 of them`);
      return Number(r.rows[0]?.v ?? 0) >= 100;
    }, 180_000, 20);
    tandem.kill('SIGKILL');
    await tandem.exited;
    tandem = res.start(['run', '--config', config]);
    await Promise.all([hotDone, pairsDone]);
    const beforeLast = (await old.admin.query(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0]?.lsn as string;
    await old.admin.query(`UPDATE items SET v = v + 1 WHERE id = 50`);
    await Promise.all([hot.end(), pairs.end()]);

    await untilTandem(tandem, 'the lanes to catch up', () => sameTables(old, neu), 240_000, 300);
    const [hotRow] = (await neu.admin.query(`SELECT v, note FROM items WHERE id = 1`)).rows as Array<{ v: string; note: string }>;
    expect(hotRow).toEqual({ v: String(UPDATES), note: `hot ${UPDATES}` });
    expect(await rows(neu, 'parent')).toHaveLength(PAIRS - PAIRS / 10);
    // Every child's parent is there.
    expect((await neu.admin.query(`SELECT count(*)::int AS n FROM child c LEFT JOIN parent p ON p.id = c.parent_id WHERE p.id IS NULL`)).rows[0]).toEqual({ n: 0 });
    // Each insert and update of every item applied once on the shadow, as on the source, across the kill.
    const seen = async (db: PgTestDatabase) => (await db.admin.query({ text: `SELECT id, op, count(*) FROM seen GROUP BY 1, 2 ORDER BY 1, 2`, rowMode: 'array' })).rows.map((r: unknown[]) => r.join(' '));
    expect(await seen(neu)).toEqual(await seen(old));
    expect(await seen(neu)).toContain(`1 UPDATE ${UPDATES}`);

    // The changes really went through several partitions, each lane checkpointing its own.
    const admin = new kafkajs.Kafka({ brokers: ['127.0.0.1:9092'], logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(`tandem-${migration.replace(/_/g, '-')}-old.changes`);
      expect(offsets).toHaveLength(4);
      expect(offsets.filter((p) => Number(p.high) > 100).length).toBeGreaterThan(1);
    } finally {
      await admin.disconnect();
    }
    const lanes = (await neu.admin.query(`SELECT direction, transport_offset FROM tandem.checkpoint WHERE migration = $1 ORDER BY direction`, [migration])).rows as Array<{ direction: string; transport_offset: string | null }>;
    expect(lanes.map((l) => l.direction)).toEqual(['forward', 'forward#0', 'forward#1', 'forward#2', 'forward#3']);
    expect(lanes[0]?.transport_offset).toBe('lanes:4');
    // The direction's own checkpoint (what verification and status read) passes the last write once the lanes did.
    await untilTandem(tandem, 'the common position to pass the last write', async () => {
      const r = await neu.admin.query(`SELECT position FROM tandem.checkpoint WHERE migration = $1 AND direction = 'forward'`, [migration]);
      const position = r.rows[0]?.position as string;
      return (await neu.admin.query(`SELECT $1::pg_lsn > $2::pg_lsn AS ok`, [position, beforeLast])).rows[0]?.ok === true;
    }, 60_000, 500);

    const verified = await runVerify(config);
    expect(verified.report.driftCount).toBe(0);
    expect(verified.code).toBe(0);
  }, 900_000);

  it('tandem check warns what ordering: key gives up; a cutover is refused by the transport gate, naming ordering: transaction', async () => {
    const run = await runTandem(['check', '--json', '--config', config]);
    const checks = (JSON.parse(run.stdout) as { checks: Array<{ id: string; status: string; detail?: string; message?: string }> }).checks;
    const ordering = checks.find((c) => c.id === 'kafka.ordering');
    expect(ordering?.status).toBe('warn');
    expect(JSON.stringify(ordering)).toMatch(/cross-row atomicity/);
    expect(checks.find((c) => c.id === 'kafka.topic_old')?.status).toBe('pass');

    // A table with a unique index besides its key: refused by tandem check and by tandem run, before any copy.
    for (const db of [old, neu]) await db.admin.query(`CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE)`);
    const withAccounts = writeConfig({
      migration: `${migration}_u`,
      old: { url: old.url },
      new: { url: neu.url },
      tables: [...TABLES, 'accounts'],
      transport: { kind: 'kafka', kafka: { ordering: 'key', partitions: 4 } },
      state: { dir: tempDir('tandem-state-') },
    });
    const refused = await runTandem(['check', '--json', '--config', withAccounts]);
    const unique = (JSON.parse(refused.stdout) as { checks: Array<{ id: string; status: string; detail: string; fix: string }> }).checks.find((c) => c.id === 'kafka.ordering_unique');
    expect(unique).toMatchObject({ status: 'fail' });
    expect(unique?.detail).toContain('accounts (accounts_email_key)');
    expect(unique?.fix).toMatch(/ordering: transaction/);
    const run2 = await runTandem(['run', '--config', withAccounts], { timeoutMs: 60_000 });
    expect(run2.code).not.toBe(0);
    expect(run2.stderr).toMatch(/ordering: key cannot apply to new: unique index\(es\) besides the primary key on accounts \(accounts_email_key\)/);
    expect((await neu.admin.query(`SELECT count(*)::int AS n FROM tandem.checkpoint WHERE migration = $1`, [`${migration}_u`])).rows[0]).toEqual({ n: 0 });

    const cutover = await switchCli('cutover', config, ['--yes']);
    expect(cutover.code).not.toBe(0);
    expect(`${cutover.stdout}${cutover.stderr}`).toMatch(/ordering: key/);
    // Nothing changed: old is still the active side, and the lanes go on.
    await old.admin.query(`UPDATE items SET v = v + 1 WHERE id = 2`);
    await untilTandem(tandem, 'the lanes to apply after the refused cutover', () => sameTables(old, neu), 60_000, 300);
  }, 300_000);
});

describe('Kafka transport, ordering: key, MariaDB → PostgreSQL (H22)', () => {
  const pgUrl = inject('pgUrl');
  const res = suiteResources();
  let old: MysqlTestDatabase;
  let neu: PgTestDatabase;
  let config: string;
  let migration: string;

  beforeAll(async () => {
    await ensureKafka();
    // A MariaDB of its own: Debezium reads the whole binlog of the server (see kafka-mariadb.cases.ts).
    const mariadb = await startMariadb();
    res.servers.push(mariadb);
    [old, neu] = await Promise.all([createMysqlDatabase(mariadb.url, 'kkmy_old'), createPgDatabase(pgUrl, 'kkmy_new')]);
    res.dbs.push(old, neu);
    for (const sql of [
      `CREATE TABLE items (id int PRIMARY KEY, v bigint NOT NULL, note text)`,
      `CREATE TABLE parent (id int PRIMARY KEY, name text NOT NULL)`,
      `CREATE TABLE child (id int PRIMARY KEY, parent_id int NOT NULL, qty int NOT NULL, FOREIGN KEY (parent_id) REFERENCES parent (id))`,
    ]) await old.admin.query(sql);
    for (const sql of SCHEMA.slice(0, 3)) await neu.admin.query(sql);
    migration = `kkmy_${Date.now().toString(36)}`;
    config = writeConfig({
      migration,
      old: { url: old.url },
      new: { url: neu.url },
      tables: TABLES,
      transport: { kind: 'kafka', kafka: { ordering: 'key', partitions: 3 } },
      state: { dir: tempDir('tandem-state-') },
      fence: { shadow: true },
    });
    res.cleanups.push(() => runTandem(['connectors', 'delete', '--config', config]));
  }, 600_000);

  it('one key updated 300 times and parent/child pairs over three partitions: final state equal, the common binlog position past the last write', async () => {
    const tandem = res.start(['run', '--config', config]);
    await waitForShadowing(config);
    const q = (sql: string, params: unknown[] = []) => old.admin.query(sql, params);
    await q(`INSERT INTO items VALUES (1, 0, 'item 1'), (2, 0, 'item 2'), (3, 0, 'item 3')`);
    const hot = (async () => {
      const c = await mysql.createConnection(old.url);
      try {
        for (let i = 0; i < 300; i++) await c.query(`UPDATE items SET v = v + 1, note = CONCAT('hot ', v) WHERE id = 1`);
      } finally {
        await c.end();
      }
    })();
    for (let i = 1; i <= 100; i++) {
      await q('BEGIN');
      await q(`INSERT INTO parent VALUES (?, ?)`, [i, `p${i}`]);
      await q(`INSERT INTO child VALUES (?, ?, 1), (?, ?, 2)`, [i * 2, i, i * 2 + 1, i]);
      await q(`UPDATE items SET v = v + 1 WHERE id = ?`, [2 + (i % 2)]);
      await q('COMMIT');
      if (i % 10 === 0) {
        await q('BEGIN');
        await q(`DELETE FROM child WHERE parent_id = ?`, [i - 5]);
        await q(`DELETE FROM parent WHERE id = ?`, [i - 5]);
        await q('COMMIT');
      }
    }
    await hot;
    const [[status]] = (await q(`SHOW MASTER STATUS`)) as unknown as [[{ File: string; Position: number }]];
    await q(`UPDATE items SET v = v + 1 WHERE id = 3`);

    await untilTandem(tandem, 'the lanes to catch up', async () => {
      const r = await neu.admin.query(`SELECT (SELECT v FROM items WHERE id = 1)::int AS hot, (SELECT v FROM items WHERE id = 3)::int AS last, (SELECT count(*) FROM parent)::int AS parents, (SELECT count(*) FROM child)::int AS children`);
      return JSON.stringify(r.rows[0]) === JSON.stringify({ hot: 300, last: 51, parents: 90, children: 180 });
    }, 240_000, 300);
    const [hotRow] = (await neu.admin.query(`SELECT note FROM items WHERE id = 1`)).rows as Array<{ note: string }>;
    expect(hotRow?.note).toBe('hot 300');
    // The direction's common position, taken from the binlog position Connect stored, passes the last write.
    await untilTandem(tandem, 'the common position to pass the last write', async () => {
      const r = await neu.admin.query(`SELECT position FROM tandem.checkpoint WHERE migration = $1 AND direction = 'forward'`, [migration]);
      const m = /^([^:]+):(\d+)/.exec(String(r.rows[0]?.position ?? ''));
      return m !== null && (m[1] as string) >= status.File && (m[1] !== status.File || Number(m[2]) >= status.Position);
    }, 60_000, 500);
    const verified = await runVerify(config);
    expect(verified.report.driftCount).toBe(0);
    expect(verified.code).toBe(0);
  }, 600_000);
});
