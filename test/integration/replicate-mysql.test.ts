import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { connectMysql, createMysqlDatabase, createPgDatabase, uniqueName, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, tandemStatus, waitUntil, waitForShadowing } from '../harness/tandem-process.js';
import { mysqlRows, pgRows, sameRows, tablesRows, waitForSameRows } from '../harness/compare.js';
import { startMariadb, type RunningServer } from '../harness/servers.js';
import { MysqlCapture } from '../../src/engines/mysql/capture.js';
import type { CaptureEvent, Row } from '../../src/model/change.js';

/**
 * Replication from a MariaDB active side (binlog capture) into a MariaDB and a PostgreSQL shadow, plus its hazards:
 * DDL on the source (H9), partial row images (H4), purged binlogs (H7), kill -9 (H1), backfill under writes (H25).
 * Both sides are always read directly, never through Tandem.
 */
const sourceDdl = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name varchar(200), price decimal(12,2), qty int, active tinyint(1), created datetime(6),
     ts timestamp(6) NULL DEFAULT NULL, day date, note text, big bigint unsigned, f float, d double, bits bit(5), bin varbinary(20),
     js json, e enum('small','large'), latin varchar(50) CHARACTER SET latin1)`,
  `CREATE TABLE pairs (a int, b varchar(100), v text, PRIMARY KEY (a, b))`,
];
const pgDdl = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(12,2), qty integer, active boolean, created timestamp(6),
     ts timestamptz, day date, note text, big numeric(20), f real, d double precision, bits bit(5), bin bytea, js jsonb, e text, latin text)`,
  `CREATE TABLE pairs (a integer, b text, v text, PRIMARY KEY (a, b))`,
];
const mysqlSelect = {
  items: `SELECT id, name, price, qty, active, DATE_FORMAT(created, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f'), day, note, big, f, d,
                 LPAD(BIN(bits), 5, '0'), LOWER(HEX(bin)), CONCAT(js), e, latin FROM items`,
  pairs: `SELECT a, b, v FROM pairs`,
};
const pgSelect = {
  items: `SELECT id::text, name, price::text, qty::text, CASE WHEN active THEN '1' WHEN NOT active THEN '0' END, to_char(created, 'YYYY-MM-DD HH24:MI:SS.US'),
                 to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), day::text, note, big::text, f::text, d::text, bits::text, encode(bin, 'hex'), js::text, e, latin FROM items`,
  pairs: `SELECT a::text, b, v FROM pairs`,
};
type Table = keyof typeof mysqlSelect;
const tables = Object.keys(mysqlSelect) as Table[];
const unicode = ['emoji 😀🛒 and 𝄞', 'combining e\u0301 and n\u0303', '漢字かな', 'zero-width\u200bjoiner', "quote ' and \\ backslash"];

/** A row with every column set, the same in both engines' text. */
const itemValues = (id: string) =>
  `(${id}, CONCAT('item ', ${id}), ${id} * 1.25, ${id} % 7, ${id} % 2, TIMESTAMP('2024-01-01 00:00:00') + INTERVAL ${id} MINUTE + INTERVAL 123 MICROSECOND,
    TIMESTAMP('2024-03-31 01:00:00.5') + INTERVAL ${id} SECOND, DATE('2024-01-01') + INTERVAL ${id} % 300 DAY, NULL, 18446744073709551615 - ${id},
    ${id} * 0.25, ${id} / 8, ${id} % 32, UNHEX(LPAD(HEX(${id}), 8, '0')), JSON_OBJECT('n', ${id}), IF(${id} % 2, 'small', 'large'), 'café crème')`;

describe('replication from MariaDB', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, servers, start } = suiteResources();
  const run = (config: string) => start(['run', '--config', config]);

  async function scenario(source: MysqlTestDatabase, readShadow: (t: Table) => Promise<string[][]>, config: string, label: string, sameServer = false) {
    const sourceRows = () => tablesRows(tables, (t) => mysqlRows(source.admin, mysqlSelect[t]));
    const shadowRows = () => tablesRows(tables, readShadow);
    // Rows present before Tandem starts arrive through the backfill, while a writer keeps changing them (H25).
    await source.admin.query(`INSERT INTO items SELECT ${itemValues('seq').replace(/^\(|\)$/g, '')} FROM seq_1_to_20000`);
    await source.admin.query(`INSERT INTO pairs SELECT seq % 7, CONCAT('pre-', seq), CONCAT('v', seq) FROM seq_1_to_1200`);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      const c = await connectMysql(source.url);
      while (writing) {
        const id = 1 + Math.floor(Math.random() * 25_000);
        await c.query(`INSERT INTO items VALUES ${itemValues(String(id))} ON DUPLICATE KEY UPDATE qty = qty + 1, name = CONCAT(name, '+')`);
        if (writes % 5 === 0) await c.query(`DELETE FROM items WHERE id = ?`, [1 + Math.floor(Math.random() * 25_000)]);
        writes++;
      }
      await c.end();
    })();

    const tandem = run(config);
    try {
      await waitForShadowing(config, 120_000);
      await new Promise((r) => setTimeout(r, 500));
      writing = false;
      await writer;
      expect(writes).toBeGreaterThan(10);
      await waitForSameRows('the shadow to catch up with the writes made during the backfill', sourceRows, shadowRows, { timeoutMs: 60_000, intervalMs: 300 });

      // Streamed changes: NULLs, 4-byte UTF-8, updates, deletes, composite-key changes, TRUNCATE.
      for (const [i, text] of unicode.entries()) {
        await source.admin.query(`INSERT INTO items (id, name, note) VALUES (?, ?, ?)`, [100_000 + i, text, text]);
      }
      await source.admin.query(`UPDATE items SET name = CONCAT(name, ' (edited)'), price = price + 0.01, active = 1 - active, ts = NULL WHERE id % 10 = 0`);
      await source.admin.query(`DELETE FROM items WHERE id BETWEEN 500 AND 599`);
      await source.admin.query(`INSERT INTO pairs SELECT seq, CONCAT('k', seq), CONCAT('v', seq) FROM seq_1_to_50`);
      await source.admin.query(`UPDATE pairs SET b = CONCAT(b, '-moved') WHERE a <= 5`);
      await source.admin.query(`TRUNCATE TABLE pairs`);
      await source.admin.query(`INSERT INTO pairs VALUES (1, 'after truncate', NULL)`);
      // Multi-table transactions arrive whole.
      for (let i = 0; i < 50; i++) {
        await source.admin.query('START TRANSACTION');
        await source.admin.query(`INSERT INTO items (id, name) VALUES (?, 'paired')`, [200_000 + i]);
        await source.admin.query(`INSERT INTO pairs VALUES (?, 'paired', 'x')`, [200_000 + i]);
        await source.admin.query('COMMIT');
      }
      await waitForSameRows('the streamed changes to arrive', sourceRows, shadowRows, { timeoutMs: 60_000, intervalMs: 300 });

      // One 100,000-row transaction.
      const started = Date.now();
      await source.admin.query(`INSERT INTO items (id, name, price, qty, active, created, big, f, d, js) SELECT 1000000 + seq, MD5(seq), seq / 100, seq, 1, NOW(6), seq, 0.5, 0.125, '{"k": 1}' FROM seq_1_to_100000`);
      const inserted = Date.now();
      await waitUntil('the 100k-row transaction to arrive', async () => Number((await readShadow('items')).filter((r) => Number(r[0]) > 1_000_000).length) === 100_000, 180_000, 250);
      const seconds = (Date.now() - inserted) / 1000;
      console.log(`[${label}] 100,000-row transaction: source commit took ${((inserted - started) / 1000).toFixed(1)} s, applied ${seconds.toFixed(1)} s after commit → ${Math.round(100_000 / seconds)} rows/s`);
      expect(sameRows(await sourceRows(), await shadowRows())).toBe(true);

      // Lag reaches zero once the shadow holds everything: the lag reported covers only binlog written after the last
      // change reached the shadow. Other databases on the shared server may write meanwhile; Tandem steps past their
      // events (idle positions), so only what they wrote since counts. A MariaDB shadow on the same server writes
      // its own checkpoints into the same binlog, so there the lag settles at about one checkpoint transaction.
      const binlog = new MysqlCapture(source.url, label, ['items', 'pairs']);
      const caughtUp = await binlog.currentPosition();
      const quiet = sameServer ? 2_000 : 0;
      let last: { bytes: number | null; seconds: number | null; since: number } | undefined;
      try {
        await waitUntil('lag to reach zero', async () => {
          const s = await tandemStatus<{ lag: { bytes: number | null; seconds: number | null } }>(config);
          const since = binlog.distance(caughtUp, await binlog.currentPosition());
          last = { ...s.lag, since };
          return s.lag.seconds === 0 && s.lag.bytes !== null && s.lag.bytes <= since + quiet;
        }, 30_000, 500);
      } catch (err) {
        throw new Error(`${(err as Error).message}; last status lag ${JSON.stringify(last)}`);
      }
    } finally {
      writing = false;
      tandem.kill('SIGTERM');
      expect(await tandem.exited, tandem.output().slice(-3000)).toBe(0);
    }
  }

  describe('to MariaDB', () => {
    let source: MysqlTestDatabase;
    let shadow: MysqlTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'src'), createMysqlDatabase(mysqlUrl, 'dst')]);
      dbs.push(source, shadow);
      for (const sql of sourceDdl) {
        await source.admin.query(sql);
        await shadow.admin.query(sql);
      }
    });

    it('backfills under writes, then streams every operation, Unicode, NULLs, TRUNCATE, multi-table and 100k-row transactions', async () => {
      const config = writeConfig({ migration: uniqueName('my2my'), old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 500 } });
      await scenario(source, (t) => mysqlRows(shadow.admin, mysqlSelect[t]), config, 'MariaDB → MariaDB', true);
    }, 400_000);
  });

  describe('to PostgreSQL', () => {
    let source: MysqlTestDatabase;
    let shadow: PgTestDatabase;
    beforeAll(async () => {
      [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'src'), createPgDatabase(pgUrl, 'dst')]);
      dbs.push(source, shadow);
      for (const sql of sourceDdl) await source.admin.query(sql);
      for (const sql of pgDdl) await shadow.admin.query(sql);
    });

    it('applies the same changes with types mapped', async () => {
      const config = writeConfig({ migration: uniqueName('my2pg'), old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 500 } });
      await scenario(source, (t) => pgRows(shadow.admin, pgSelect[t]), config, 'MariaDB → PostgreSQL');
    }, 400_000);
  });

  describe('values', () => {
    let source: MysqlTestDatabase;
    beforeAll(async () => {
      source = await createMysqlDatabase(mysqlUrl, 'vals');
      dbs.push(source);
      for (const sql of sourceDdl) await source.admin.query(sql);
    });

    it('backfill reads and the binlog produce identical neutral values for the same row', async () => {
      const capture = new MysqlCapture(source.url, 'values', ['items']);
      await capture.prepare(['items']);
      const from = await capture.currentPosition();
      await source.admin.query(`INSERT INTO items VALUES ${itemValues('7')}, ${itemValues('8')}`);
      await source.admin.query(
        `INSERT INTO items VALUES (9, '😀 four bytes', 99999999.99, -2147483648, 127, '1000-01-01 00:00:00.000001', '2038-01-19 03:14:07.999999', '9999-12-31', '', 18446744073709551615,
           3.4028234e38, 1.7976931348623157e308, b'10101', x'00ff00', '{"b": [1, 2.50], "a": null}', 'large', 'Ä ß €')`,
      );
      await source.admin.query(`INSERT INTO items (id) VALUES (10)`);
      const events: CaptureEvent[] = [];
      const stream = await capture.start(from, { push: (e) => events.push(e), isFull: () => false, waitForRoom: async () => undefined });
      await waitUntil('the binlog rows', async () => events.filter((e) => e.kind === 'commit').length >= 3, 20_000, 50);
      await stream.stop();
      const fromBinlog = new Map<string, Row>();
      for (const e of events) if (e.kind === 'change' && e.change.op === 'insert') fromBinlog.set(String(e.change.after?.id), e.change.after as Row);
      const reader = await capture.openReader(undefined);
      const fromReader = await reader.readChunk('items', [], ['id'], undefined, 100);
      await reader.close();
      expect(fromReader.map((r) => r.id)).toEqual(['7', '8', '9', '10']);
      for (const row of fromReader) expect(fromBinlog.get(String(row.id)), `row ${String(row.id)}`).toEqual(row);
      const nine = fromReader[2] as Row;
      expect(nine).toMatchObject({ big: '18446744073709551615', qty: '-2147483648', price: '99999999.99', bits: '10101', f: '3.4028235e+38', name: '😀 four bytes', latin: 'Ä ß €' });
      expect(nine.bin).toEqual(Buffer.from([0, 255, 0]));
      const kinds = events.map((e) => e.kind);
      expect(kinds.slice(0, 3)).toEqual(['relation', 'begin', 'change']);
      // begin positions order the transactions; each commit ends where its transaction's position says
      const positions = events.filter((e) => e.kind === 'begin' || e.kind === 'commit').map((e) => (e as { position: string }).position);
      for (let i = 1; i < positions.length; i++) expect(capture.comparePositions(positions[i - 1] as string, positions[i] as string)).toBeLessThanOrEqual(0);
    });
  });

  describe('hazards', () => {
    /** A fresh source and shadow per test: each test's migration backfills into empty tables. */
    const pair = async () => {
      const [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'src'), createMysqlDatabase(mysqlUrl, 'dst')]);
      dbs.push(source, shadow);
      for (const db of [source, shadow]) {
        await db.admin.query(`CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)`);
        await db.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, payload text)`);
      }
      await source.admin.query(`INSERT INTO counters SELECT seq, 0 FROM seq_0_to_9`);
      return { source, shadow };
    };

    const counters = async (db: MysqlTestDatabase) => (await mysqlRows(db.admin, `SELECT id, n FROM counters ORDER BY id`)).map((r) => r.join(':')).join(',');

    it('H1: kill -9 of tandem run mid-stream, restart: every transaction applied exactly once', async () => {
      const { source, shadow } = await pair();
      const config = writeConfig({ migration: uniqueName('kill'), old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 200 } });
      let tandem = run(config);
      await waitForShadowing(config, 60_000);
      const c = await connectMysql(source.url);
      let committed = 0;
      const writes = (async () => {
        for (let i = 0; i < 3000; i++) {
          await c.query('START TRANSACTION');
          await c.query(`UPDATE counters SET n = n + 1 WHERE id = ?`, [i % 10]);
          await c.query(`INSERT INTO items VALUES (?, ?, REPEAT('x', 100))`, [i, i]);
          await c.query('COMMIT');
          committed++;
        }
      })();
      await waitUntil('some transactions applied', async () => Number((await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM items`))[0]?.[0]) > 300, 60_000, 50);
      tandem.kill('SIGKILL');
      await tandem.exited;
      await writes;
      await c.end();
      expect(committed).toBe(3000);
      tandem = run(config);
      await waitUntil('the shadow to equal the source', async () => (await counters(shadow)) === (await counters(source)) && (await mysqlRows(shadow.admin, `SELECT COUNT(*), SUM(n) FROM items`)).join() === (await mysqlRows(source.admin, `SELECT COUNT(*), SUM(n) FROM items`)).join(), 60_000, 300);
      expect(await counters(shadow)).toBe('0:300,1:300,2:300,3:300,4:300,5:300,6:300,7:300,8:300,9:300');
      tandem.kill('SIGTERM');
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
    }, 180_000);

    it('H9: DDL on the source stops replication naming the statement; after the same change on the shadow, a restart resumes', async () => {
      const { source, shadow } = await pair();
      const config = writeConfig({ migration: uniqueName('ddl'), old: { url: source.url }, new: { url: shadow.url } });
      let tandem = run(config);
      await waitForShadowing(config, 60_000);
      await source.admin.query(`INSERT INTO items VALUES (50000, 1, 'before ddl')`);
      await source.admin.query(`ALTER TABLE items ADD COLUMN extra varchar(20) NULL`);
      await source.admin.query(`INSERT INTO items VALUES (50001, 1, 'after ddl', 'new column')`);
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toContain('ALTER TABLE items ADD COLUMN extra varchar(20) NULL');
      expect(tandem.output()).toMatch(/shadow lacks extra/);
      expect(await mysqlRows(shadow.admin, `SELECT payload FROM items WHERE id >= 50000`)).toEqual([['before ddl']]);

      await shadow.admin.query(`ALTER TABLE items ADD COLUMN extra varchar(20) NULL`);
      tandem = run(config);
      await waitUntil('the row written after the DDL', async () => (await mysqlRows(shadow.admin, `SELECT extra FROM items WHERE id = 50001`))[0]?.[0] === 'new column', 60_000);
      tandem.kill('SIGTERM');
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
    }, 180_000);

    it('H9: a column named __proto__ added on the source stops replication even when the shadow has it too', async () => {
      const { source, shadow } = await pair();
      const config = writeConfig({ migration: uniqueName('ddlproto'), old: { url: source.url }, new: { url: shadow.url } });
      const tandem = run(config);
      await waitForShadowing(config, 60_000);
      await shadow.admin.query('ALTER TABLE items ADD COLUMN `__proto__` varchar(20) NULL');
      await source.admin.query('ALTER TABLE items ADD COLUMN `__proto__` varchar(20) NULL');
      await source.admin.query(`INSERT INTO items VALUES (50002, 1, 'after ddl', 'would be lost')`);
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toContain('items on the active side now has a column named __proto__');
      expect(await mysqlRows(shadow.admin, `SELECT id FROM items WHERE id = 50002`)).toEqual([]);
    }, 120_000);

    it('H4: a session logging MINIMAL row images stops replication before a partial row is applied', async () => {
      const { source, shadow } = await pair();
      const config = writeConfig({ migration: uniqueName('img'), old: { url: source.url }, new: { url: shadow.url }, tables: ['counters'] });
      const tandem = run(config);
      await waitForShadowing(config, 60_000);
      const before = await counters(shadow);
      const c = await connectMysql(source.url);
      await c.query(`SET SESSION binlog_row_image = MINIMAL`);
      await c.query(`UPDATE counters SET n = n + 1000 WHERE id = 3`);
      await c.end();
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toMatch(/UPDATE of counters .* carries only some of the table's columns/);
      expect(await counters(shadow)).toBe(before);
    }, 120_000);
  });

  describe('H7: binlog purged past the checkpoint', () => {
    let server: RunningServer;
    let source: MysqlTestDatabase;
    let shadow: MysqlTestDatabase;
    beforeAll(async () => {
      server = await startMariadb();
      servers.push(server);
      [source, shadow] = await Promise.all([createMysqlDatabase(server.url, 'src'), createMysqlDatabase(server.url, 'dst')]);
      dbs.push(source, shadow);
      for (const db of [source, shadow]) await db.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, v text)`);
    });

    it('refuses to continue and names the missing file', async () => {
      const config = writeConfig({ migration: uniqueName('purge'), old: { url: source.url }, new: { url: shadow.url } });
      let tandem = run(config);
      await waitForShadowing(config, 60_000);
      await source.admin.query(`INSERT INTO items VALUES (1, 'a')`);
      await waitUntil('row 1', async () => (await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM items`))[0]?.[0] === '1', 30_000);
      tandem.kill('SIGTERM');
      expect(await tandem.exited).toBe(0);
      const [cp] = await shadow.admin.query<RowDataPacket[]>(`SELECT position FROM tandem_checkpoint`);
      const file = String(cp[0]?.position).split(':')[0] as string;
      await source.admin.query(`INSERT INTO items SELECT seq, 'later' FROM seq_2_to_1000`);
      // MariaDB keeps a binlog until its binlog checkpoint has passed it (the engine made its commits durable), so
      // PURGE may leave the newest old file for a moment: rotate and purge until the checkpoint's file is gone.
      await waitUntil(`binlog ${file} to be purged`, async () => {
        await source.admin.query(`FLUSH BINARY LOGS`);
        await source.admin.query(`PURGE BINARY LOGS BEFORE NOW() + INTERVAL 1 SECOND`);
        const [logs] = await source.admin.query<RowDataPacket[]>(`SHOW BINARY LOGS`);
        return !logs.some((l) => l.Log_name === file);
      }, 30_000, 1_000);
      tandem = run(config);
      expect(await tandem.exited, tandem.output().slice(-2000)).toBe(4);
      expect(tandem.output()).toMatch(/is no longer on the active side .* it was purged/);
      expect(tandem.output()).toContain(`binlog file ${file}`);
      expect(tandem.output()).toMatch(/tandem backfill --yes/);
    }, 120_000);
  });
});
