import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { exitWithin, suiteResources, tandemStatus, waitUntil, waitForShadowing, type TandemProcess } from '../harness/tandem-process.js';
import { mysqlRows, pgRows, sameRows, tablesRows, waitForSameRows } from '../harness/compare.js';

/**
 * Every kind of change a shop makes, from a PostgreSQL active side, applied to a PostgreSQL and a MariaDB shadow.
 * Rows are compared by reading both databases directly.
 */
const sourceDdl = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12,2), qty integer, active boolean, created timestamptz, day date, note text)`,
  `CREATE TABLE pairs (a integer, b text, v text, PRIMARY KEY (a, b))`,
  `CREATE TABLE docs (id integer PRIMARY KEY, body text, tag text)`,
  // Stored out of line without compression, so an UPDATE of another column sends "unchanged TOAST" for body.
  `ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL`,
];
const mysqlDdl = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name longtext, price decimal(12,2), qty int, active tinyint(1), created datetime(6), day date, note longtext)`,
  `CREATE TABLE pairs (a int, b varchar(100), v longtext, PRIMARY KEY (a, b))`,
  `CREATE TABLE docs (id int PRIMARY KEY, body longtext, tag longtext)`,
];

const pgSelect = {
  items: `SELECT id::text, name, price::text, qty::text, CASE WHEN active THEN '1' WHEN NOT active THEN '0' END,
                 to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), day::text, note FROM items`,
  pairs: `SELECT a::text, b, v FROM pairs`,
  docs: `SELECT id::text, md5(body), length(body)::text, tag FROM docs`,
};
const mysqlSelect = {
  items: `SELECT id, name, price, qty, active, DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s.%f'), day, note FROM items`,
  pairs: `SELECT a, b, v FROM pairs`,
  docs: `SELECT id, MD5(body), CHAR_LENGTH(body), tag FROM docs`,
};

const unicode = ['emoji 😀🛒', 'combining e\u0301 and n\u0303', '漢字かな', 'zero-width\u200bjoiner', "quote ' and \\ backslash"];

type Table = keyof typeof pgSelect;
const tables = Object.keys(pgSelect) as Table[];

async function runScenario(
  source: PgTestDatabase,
  readShadow: (table: Table) => Promise<string[][]>,
  config: string,
  checkpointApplied: () => Promise<number>,
  start: (args: string[]) => TandemProcess,
) {
  const readSource = async (t: Table) => pgRows(source.admin, pgSelect[t]);
  const sourceRows = () => tablesRows(tables, readSource);
  const shadowRows = () => tablesRows(tables, readShadow);
  // Rows present before Tandem starts arrive through the backfill.
  await source.admin.query(`INSERT INTO items SELECT g, 'item ' || g, g * 1.25, g % 7, g % 2 = 0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute 0.000123 s', date '2024-01-01' + g % 300, NULL FROM generate_series(1, 2000) g`);
  // More rows than one chunk, with a composite key, so backfill resumes chunks on (a, b).
  await source.admin.query(`INSERT INTO pairs SELECT g % 7, 'pre-' || g, 'v' || g FROM generate_series(1, 1200) g`);
  const big = randomBytes(15_000).toString('base64');
  await source.admin.query(`INSERT INTO docs VALUES (1, $1, 'first')`, [big]);

  const tandem = start(['run', '--config', config]);
  try {
    await waitForShadowing(config, 60_000);
    expect(sameRows(await sourceRows(), await shadowRows())).toBe(true);

    // Streamed changes: NULLs, Unicode, updates, deletes, a key change on a composite key, a TOAST-unchanged update.
    for (const [i, text] of unicode.entries()) {
      await source.admin.query(`INSERT INTO items VALUES ($1, $2, NULL, NULL, NULL, NULL, NULL, $2)`, [10_000 + i, text]);
    }
    await source.admin.query(`UPDATE items SET name = name || ' (edited)', price = price + 0.01, active = NOT active WHERE id % 10 = 0`);
    await source.admin.query(`DELETE FROM items WHERE id BETWEEN 500 AND 599`);
    await source.admin.query(`INSERT INTO pairs SELECT g, 'k' || g, 'v' || g FROM generate_series(1, 50) g`);
    // A key change together with an unchanged TOAST value.
    await source.admin.query(`UPDATE docs SET id = 2 WHERE id = 1`);
    await source.admin.query(`UPDATE docs SET id = 1 WHERE id = 2`);
    await source.admin.query(`UPDATE pairs SET b = b || '-moved' WHERE a <= 5`);
    await source.admin.query(`UPDATE docs SET tag = 'second' WHERE id = 1`);
    await source.admin.query(`TRUNCATE pairs`);
    await source.admin.query(`INSERT INTO pairs VALUES (1, 'after truncate', NULL)`);

    // Multi-table transactions must be applied atomically: the shadow never shows one table's half.
    const before = await checkpointApplied();
    for (let i = 0; i < 100; i++) {
      await source.admin.query('BEGIN');
      await source.admin.query(`INSERT INTO items (id, name) VALUES ($1, 'paired')`, [20_000 + i]);
      await source.admin.query(`INSERT INTO pairs VALUES ($1, 'paired', 'x')`, [20_000 + i]);
      await source.admin.query('COMMIT');
    }
    let observations = 0;
    await waitUntil('paired transactions to arrive', async () => {
      const [items, pairs] = await Promise.all([readShadow('items'), readShadow('pairs')]);
      const nItems = items.filter((r) => r[1] === 'paired').length;
      const nPairs = pairs.filter((r) => r[1] === 'paired').length;
      observations++;
      // Read separately, so allow the one in flight between the two reads; never more.
      expect(Math.abs(nItems - nPairs)).toBeLessThanOrEqual(1);
      return nItems === 100 && nPairs === 100;
    }, 60_000, 20);
    expect(observations).toBeGreaterThan(0);
    expect(await checkpointApplied()).toBeGreaterThan(before);

    // One 200,000-row transaction.
    await source.admin.query(`INSERT INTO items (id, name, price, qty, active, created) SELECT 100000 + g, md5(g::text), g / 100.0, g, true, now() FROM generate_series(1, 200000) g`);
    await waitForSameRows('the shadow to equal the source', sourceRows, shadowRows, { timeoutMs: 180_000, intervalMs: 500 });

    const docs = await readShadow('docs');
    expect(docs).toEqual([['1', expect.any(String), String(big.length), 'second']]);
    expect(docs[0]?.[1]).toBe((await readSource('docs'))[0]?.[1]);
  } finally {
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-3000)).toBe(0);
  }
}

describe('replication from PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start } = suiteResources();

  describe('to PostgreSQL', () => {
    let source: PgTestDatabase;
    let shadow: PgTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await Promise.all([createPgDatabase(pgUrl, 'src'), createPgDatabase(pgUrl, 'dst')]);
      dbs.push(source, shadow);
      for (const sql of sourceDdl) {
        await source.admin.query(sql);
        await shadow.admin.query(sql);
      }
    });

    it('applies inserts, updates, deletes, truncates, NULLs, Unicode, TOAST, atomic multi-table and 200k-row transactions', async () => {
      const config = writeConfig({ migration: 'ops_pg', old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 500 } });
      await runScenario(
        source,
        (t) => pgRows(shadow.admin, pgSelect[t]),
        config,
        async () => Number((await shadow.admin.query(`select applied_transactions from tandem.checkpoint`)).rows[0]?.applied_transactions ?? 0),
        start,
      );
      const status = await tandemStatus(config);
      expect(status).toMatchObject({ phase: 'shadowing', direction: 'forward', activeSide: 'old', running: false });
      expect((status.lag as { bytes: number }).bytes).toBeTypeOf('number');
      expect(status.appliedTransactions).toBeGreaterThan(100);
      expect((status.backfill as { rowsCopied: number }).rowsCopied).toBe(3201);
    }, 300_000);
  });

  /**
   * A source and a shadow, the source committing as a shop's server does by default (each commit's WAL written at
   * once): the walsender then sends every transaction on its own, followed by a keepalive that says nothing more is
   * waiting.
   */
  const shopPair = async (): Promise<[PgTestDatabase, PgTestDatabase]> => {
    const pair = await Promise.all([createPgDatabase(pgUrl, 'src'), createPgDatabase(pgUrl, 'dst')]);
    dbs.push(...pair);
    await pair[0].admin.query(`ALTER DATABASE ${pair[0].name} SET synchronous_commit = on`);
    return pair;
  };

  describe('a busy stream of small transactions', () => {
    let source: PgTestDatabase;
    let shadow: PgTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await shopPair();
      for (const db of [source, shadow]) await db.admin.query(`CREATE TABLE events (id bigint PRIMARY KEY, writer int NOT NULL, note text)`);
    });

    it('shares shadow commits, and a lone transaction is never held for the commit delay', async () => {
      // A delay far longer than the test may wait: a group held for it is still bounded by batchTime (200 ms).
      const config = writeConfig({ migration: 'group_pg', old: { url: source.url }, new: { url: shadow.url }, apply: { commitDelay: '60s' } });
      const tandem = start(['run', '--config', config]);
      const writers = await Promise.all(Array.from({ length: 4 }, async () => {
        const c = new pg.Client({ connectionString: source.url });
        await c.connect();
        return c;
      }));
      try {
        await waitForShadowing(config, 60_000);
        // 400 single-row transactions from 4 sessions, back to back.
        await Promise.all(writers.map(async (c, w) => {
          for (let i = 0; i < 100; i++) await c.query(`INSERT INTO events VALUES ($1, $2, repeat('x', 200))`, [w * 1000 + i, w]);
        }));
        const count = async () => Number((await shadow.admin.query(`select count(*) as n from events`)).rows[0]?.n);
        await waitUntil('the burst to arrive', async () => (await count()) === 400, 60_000, 50);
        // Rows written by one shadow transaction share its transaction id.
        const shadowTransactions = Number((await shadow.admin.query(`select count(distinct xmin::text) as n from events`)).rows[0]?.n);
        expect(shadowTransactions).toBeLessThan(40);
        expect(await pgRows(shadow.admin, `select id::text, writer::text, note from events order by id`)).toEqual(await pgRows(source.admin, `select id::text, writer::text, note from events order by id`));

        // After a pause, one transaction alone: applied without waiting for the 60 s delay.
        await new Promise((r) => setTimeout(r, 1_000));
        await source.admin.query(`INSERT INTO events VALUES (9999, 9, 'alone')`);
        await waitUntil('the lone transaction to arrive', async () => (await count()) === 401, 10_000, 50);
      } finally {
        await Promise.all(writers.map((c) => c.end()));
        tandem.kill('SIGTERM');
        expect(await tandem.exited, tandem.output().slice(-3000)).toBe(0);
      }
    }, 120_000);
  });

  describe('a transaction the shadow refuses, inside a held group', () => {
    let source: PgTestDatabase;
    let shadow: PgTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await shopPair();
      await source.admin.query(`CREATE TABLE payments (id int PRIMARY KEY, note text NOT NULL)`);
      // The shadow alone refuses one value: the source accepts it, so only apply can fail on it.
      await shadow.admin.query(`CREATE TABLE payments (id int PRIMARY KEY, note text NOT NULL CONSTRAINT payments_note_ok CHECK (note <> 'refused'))`);
    });

    it('commits the transactions before it, stops at it naming table, key and constraint, and applies nothing after it', async () => {
      // Groups are held for up to batchTime: the burst below shares one group, and the refused row fails in it, not
      // in a transaction of its own.
      const config = writeConfig({ migration: 'refused_pg', old: { url: source.url }, new: { url: shadow.url }, apply: { commitDelay: '60s', batchTime: '2s' } });
      const tandem = start(['run', '--config', config]);
      const writer = new pg.Client({ connectionString: source.url });
      await writer.connect();
      try {
        await waitForShadowing(config, 60_000);
        await writer.query(`INSERT INTO payments VALUES (1, 'first')`);
        await waitUntil('the first payment to arrive', async () => (await pgRows(shadow.admin, `select id from payments`)).length === 1, 10_000, 20);
        // Transactions of 40 rows of 1 kB, back to back: 2–5 are fine, 6 holds one row the shadow refuses, 7 comes
        // after it.
        const note = (id: number) => `payment ${id} ${'.'.repeat(1000)}`;
        for (let tx = 2; tx <= 7; tx++) {
          const ids = Array.from({ length: 40 }, (_, j) => tx * 1000 + j);
          await writer.query(`INSERT INTO payments SELECT id, CASE WHEN id = 6017 THEN 'refused' ELSE 'payment ' || id || ' ' || repeat('.', 1000) END FROM unnest($1::int[]) id`, [ids]);
        }
        expect(await exitWithin(tandem, 60_000), tandem.output().slice(-3000)).toBe(4);
        const output = tandem.output();
        expect(output).toContain('TANDEM_APPLY_FAILED');
        expect(output).toContain('payments_note_ok');
        expect(output).toContain('{"id":"6017"}');
        // It failed in a group of several transactions, which was taken apart to commit the good ones.
        expect(output).toContain('applying the group one transaction at a time');
        // Everything before the refused transaction is on the shadow, committed; nothing of it or after it.
        expect(await pgRows(shadow.admin, `select id::text, note from payments order by id`)).toEqual([
          ['1', 'first'],
          ...[2, 3, 4, 5].flatMap((tx) => Array.from({ length: 40 }, (_, j) => [String(tx * 1000 + j), note(tx * 1000 + j)])),
        ]);
        // Restarted, it stops at the same transaction again: nothing was skipped.
        const again = start(['run', '--config', config]);
        expect(await exitWithin(again, 60_000), again.output().slice(-3000)).toBe(4);
        expect(again.output()).toContain('payments_note_ok');
        expect(await pgRows(shadow.admin, `select count(*)::text from payments`)).toEqual([['161']]);
      } finally {
        await writer.end();
      }
    }, 180_000);
  });

  describe('to MariaDB', () => {
    let source: PgTestDatabase;
    let shadow: MysqlTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await Promise.all([createPgDatabase(pgUrl, 'src'), createMysqlDatabase(mysqlUrl, 'dst')]);
      dbs.push(source, shadow);
      for (const sql of sourceDdl) await source.admin.query(sql);
      for (const sql of mysqlDdl) await shadow.admin.query(sql);
    });

    it('applies the same changes with types mapped', async () => {
      const config = writeConfig({ migration: 'ops_my', old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 500 } });
      await runScenario(
        source,
        (t) => mysqlRows(shadow.admin, mysqlSelect[t]),
        config,
        async () => Number((await mysqlRows(shadow.admin, `select applied_transactions from tandem_checkpoint`))[0]?.[0] ?? 0),
        start,
      );
    }, 300_000);
  });
});
