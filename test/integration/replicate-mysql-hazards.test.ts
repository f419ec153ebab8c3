import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { connectMysql, createMysqlDatabase, createPgDatabase, uniqueName, type MysqlTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, tandemStatus, waitUntil, waitForShadowing } from '../harness/tandem-process.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { startMariadb, type RunningServer } from '../harness/servers.js';
import { comparePositions, parsePosition } from '../../src/engines/mysql/position.js';

/**
 * Hazards with a MariaDB active side, on a throwaway MariaDB of this file's own (GTID domains, a server restart):
 * H8 (two GTID domains, kill -9), H16 (collations and chunk boundaries), H18 (no primary key), H17 (a 1M-row
 * transaction under a capped heap), kill -9 during a backfill under writes, and a source restart while streaming.
 * Both sides are always read directly, never through Tandem.
 */
describe('MariaDB active side: hazards', () => {
  const pgUrl = inject('pgUrl');
  let server: RunningServer;
  const { dbs, servers, start } = suiteResources();
  const run = (config: string, nodeArgs: string[] = []) => start(['run', '--config', config], { nodeArgs });
  const shadowing = (config: string) => waitForShadowing(config, 120_000);
  const mysqlDb = async (prefix: string) => {
    const db = await createMysqlDatabase(server.url, prefix);
    dbs.push(db);
    return db;
  };
  const pgDb = async (prefix: string) => {
    const db = await createPgDatabase(pgUrl, prefix);
    dbs.push(db);
    return db;
  };

  beforeAll(async () => {
    server = await startMariadb();
    servers.push(server);
  });

  it('H8: two GTID domains written interleaved; a checkpoint carries both; kill -9 and restart: every transaction exactly once', async () => {
    const [source, shadow] = [await mysqlDb('src'), await mysqlDb('dst')];
    for (const db of [source, shadow]) {
      await db.admin.query(`CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)`);
      await db.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, domain int NOT NULL, payload text)`);
    }
    await source.admin.query(`INSERT INTO counters VALUES (0, 0), (1, 0)`);
    const config = writeConfig({ migration: uniqueName('gtid'), old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 100 } });
    let tandem = run(config);
    await shadowing(config);

    const perDomain = 1500;
    const writer = async (domain: number) => {
      const c = await connectMysql(source.url);
      await c.query(`SET SESSION gtid_domain_id = ?`, [domain]);
      for (let i = 0; i < perDomain; i++) {
        await c.query('START TRANSACTION');
        await c.query(`UPDATE counters SET n = n + 1 WHERE id = ?`, [domain]);
        await c.query(`INSERT INTO items VALUES (?, ?, REPEAT('x', 50))`, [domain * 1_000_000 + i, domain]);
        await c.query('COMMIT');
      }
      await c.end();
    };
    const writes = Promise.all([writer(0), writer(1)]);
    // A checkpoint taken while both domains advance carries both domains' GTIDs, and orders by file:offset.
    const checkpoints: string[] = [];
    await waitUntil('a checkpoint naming both domains, mid-way', async () => {
      const [rows] = await shadow.admin.query<RowDataPacket[]>(`SELECT position FROM tandem_checkpoint`);
      const p = String(rows[0]?.position ?? '');
      if (p) checkpoints.push(p);
      const applied = Number((await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM items`))[0]?.[0]);
      return applied > 400 && /#0-1-\d+,1-1-\d+$/.test(p);
    }, 60_000, 50);
    tandem.kill('SIGKILL');
    await tandem.exited;
    await writes;
    const last = checkpoints[checkpoints.length - 1] as string;
    const gtid = parsePosition(last).gtid as string;
    expect(gtid.split(',').map((g) => g.split('-')[0])).toEqual(['0', '1']);
    for (let i = 1; i < checkpoints.length; i++) expect(comparePositions(checkpoints[i - 1] as string, checkpoints[i] as string)).toBeLessThanOrEqual(0);
    // The source's own GTID position names both domains too.
    const [pos] = await source.admin.query<RowDataPacket[]>(`SELECT @@GLOBAL.gtid_binlog_pos AS p`);
    expect(String(pos[0]?.p)).toMatch(/^0-1-\d+,1-1-\d+$/);

    tandem = run(config);
    const sums = async (db: MysqlTestDatabase) => (await mysqlRows(db.admin, `SELECT (SELECT GROUP_CONCAT(id, ':', n ORDER BY id) FROM counters), COUNT(*), SUM(domain), SUM(id) FROM items`)).join();
    await waitUntil('the shadow to equal the source', async () => (await sums(shadow)) === (await sums(source)), 90_000, 300);
    expect(await mysqlRows(shadow.admin, `SELECT id, n FROM counters ORDER BY id`)).toEqual([['0', String(perDomain)], ['1', String(perDomain)]]);
    expect(await mysqlRows(shadow.admin, `SELECT domain, COUNT(*) FROM items GROUP BY domain ORDER BY domain`)).toEqual([['0', String(perDomain)], ['1', String(perDomain)]]);
    // The checkpoint after the restart still carries both domains.
    const [after] = await shadow.admin.query<RowDataPacket[]>(`SELECT position FROM tandem_checkpoint`);
    expect(String(after[0]?.position)).toMatch(/#0-1-\d+,1-1-\d+$/);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 240_000);

  it('H8: a source that has logged 30 GTID domains: the whole GTID list fits the checkpoint of a MariaDB shadow', async () => {
    const [source, shadow] = [await mysqlDb('doms'), await mysqlDb('domsdst')];
    for (const db of [source, shadow]) await db.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, domain bigint NOT NULL)`);
    const config = writeConfig({ migration: uniqueName('doms'), old: { url: source.url }, new: { url: shadow.url } });
    const tandem = run(config);
    await shadowing(config);
    const c = await connectMysql(source.url);
    for (let i = 0; i < 30; i++) {
      const domain = 4_000_000_000 + i;
      await c.query(`SET SESSION gtid_domain_id = ?`, [domain]);
      await c.query(`INSERT INTO items VALUES (?, ?)`, [i, domain]);
    }
    await c.end();
    await waitUntil('all 30 rows', async () => (await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM items`))[0]?.[0] === '30', 60_000, 200);
    const position = await waitUntil('a checkpoint naming every domain', async () => {
      const [rows] = await shadow.admin.query<RowDataPacket[]>(`SELECT position FROM tandem_checkpoint`);
      const p = String(rows[0]?.position ?? '');
      return (parsePosition(p).gtid ?? '').split(',').filter((g) => g.startsWith('4000000')).length === 30 ? p : undefined;
    }, 30_000, 200);
    expect(position.length).toBeGreaterThan(255);
    expect(tandem.child.exitCode, tandem.output().slice(-2000)).toBeNull();
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 120_000);

  describe('H16: string primary keys under different collations, backfilled in 2-row chunks', () => {
    // nopad_bin: byte order with trailing spaces significant, so 'a', 'a ' and 'a  ' coexist.
    const nopad = ['a', 'a ', 'a  ', ' a', 'A', 'b', 'ä', 'B', 'a\t', '', 'Z', 'z', 'é', 'e\u0301', '😀', 'ß', 'ss', 'a b', 'ab', '\u00a0a'];
    // utf8mb4_bin is PAD SPACE: 'a' and 'a ' would be the same key; 'a\t' sorts before 'a' there.
    const bin = ['a', 'A', 'b', 'ä', 'B', 'a\t', 'a b', 'ab', 'Z', 'z', 'é', 'e\u0301', '😀', 'ß', 'ss', 'x '];
    // Case- and accent-insensitive PAD SPACE collations: distinct values only.
    const ci = ['apple', 'Banana', 'cherry', 'Ärger', 'x ', 'zebra', 'Éclair', 'éclat', 'Ölung', 'ossa', '😀 smile', 'Apfel', 'b', 'C', 'd d'];
    // latin1_swedish_ci orders å, ä, ö after z: a comparison done in any other collation would cut chunks wrongly.
    const latin = ['a', 'B', 'z', 'ä', 'Ö', 'å', 'x ', 'é', 'c', 'm', 'Zz', 'ø'];
    const mb3 = ci.filter((v) => !v.includes('😀'));
    const tables = {
      k_latin1: { ddl: `k varchar(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci`, values: latin },
      k_utf8mb3: { ddl: `k varchar(20) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci`, values: mb3 },
      k_nopad: { ddl: `k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin`, values: nopad },
      k_bin: { ddl: `k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`, values: bin },
      k_general: { ddl: `k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`, values: ci },
      k_unicode: { ddl: `k varchar(20)`, values: ci }, // the server default, utf8mb4_unicode_ci
      k_pair: { ddl: `k varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci, j varchar(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin`, values: ci },
    };
    type T = keyof typeof tables;
    const names = Object.keys(tables) as T[];

    const fill = async (source: MysqlTestDatabase) => {
      for (const t of names) {
        const pair = t === 'k_pair';
        await source.admin.query(`CREATE TABLE ${t} (${tables[t].ddl}, v int NOT NULL, PRIMARY KEY (${pair ? 'k, j' : 'k'}))`);
        let i = 0;
        for (const k of tables[t].values) {
          if (pair) for (const j of ['a', 'a ', 'A', 'b']) await source.admin.query(`INSERT INTO ${t} VALUES (?, ?, ?)`, [k, j, i++]);
          else await source.admin.query(`INSERT INTO ${t} VALUES (?, ?)`, [k, i++]);
        }
      }
    };
    const sourceRows = async (source: MysqlTestDatabase, t: T) =>
      (await mysqlRows(source.admin, `SELECT LOWER(HEX(CONVERT(k USING utf8mb4))), ${t === 'k_pair' ? 'LOWER(HEX(j))' : "''"}, v FROM ${t}`)).map((r) => r.join('|')).sort();

    it('into PostgreSQL (text keys, default collation) and into MariaDB (same collations): nothing missing, nothing duplicated', async () => {
      const source = await mysqlDb('coll');
      await fill(source);
      for (const t of names) expect((await sourceRows(source, t)).length).toBe(tables[t].values.length * (t === 'k_pair' ? 4 : 1));

      const pgShadow = await pgDb('collpg');
      for (const t of names) await pgShadow.admin.query(`CREATE TABLE ${t} (k text, ${t === 'k_pair' ? 'j text, ' : ''}v integer NOT NULL, PRIMARY KEY (${t === 'k_pair' ? 'k, j' : 'k'}))`);
      const myShadow = await mysqlDb('collmy');
      for (const t of names) await myShadow.admin.query(`CREATE TABLE ${t} (${tables[t].ddl}, v int NOT NULL, PRIMARY KEY (${t === 'k_pair' ? 'k, j' : 'k'}))`);

      const shadows = [
        { label: 'PostgreSQL', url: pgShadow.url, rows: async (t: T) => (await pgRows(pgShadow.admin, `SELECT encode(convert_to(k, 'UTF8'), 'hex'), ${t === 'k_pair' ? "encode(convert_to(j, 'UTF8'), 'hex')" : "''"}, v::text FROM ${t}`)).map((r) => r.join('|')).sort() },
        { label: 'MariaDB', url: myShadow.url, rows: async (t: T) => sourceRows(myShadow, t) },
      ];
      for (const s of shadows) {
        const config = writeConfig({ migration: uniqueName('coll'), old: { url: source.url }, new: { url: s.url }, tables: names, apply: { batchRows: 2 } });
        const tandem = run(config);
        await shadowing(config);
        for (const t of names) expect(await s.rows(t), `${s.label} ${t}`).toEqual(await sourceRows(source, t));
        // Streamed changes to the same keys land on the same rows.
        await source.admin.query(`UPDATE k_nopad SET v = v + 1000 WHERE k IN ('a ', 'A', '')`);
        await source.admin.query(`UPDATE k_general SET v = v + 1000 WHERE k = 'APPLE'`); // matches 'apple' (case-insensitive)
        await waitUntil(`${s.label}: streamed updates`, async () => JSON.stringify(await s.rows('k_general')) === JSON.stringify(await sourceRows(source, 'k_general')) && JSON.stringify(await s.rows('k_nopad')) === JSON.stringify(await sourceRows(source, 'k_nopad')), 30_000, 300);
        tandem.kill('SIGTERM');
        expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
        const progress = s.label === 'MariaDB' ? await mysqlRows(myShadow.admin, `SELECT table_name, rows_copied FROM tandem_backfill ORDER BY table_name`).catch(() => []) : [];
        if (progress.length) for (const [t, n] of progress) expect(Number(n), `${t} rows copied`).toBe((await sourceRows(source, t as T)).length);
      }
    }, 240_000);
  });

  it('H18: a MariaDB table without a primary key is refused by tandem run, naming the table', async () => {
    const [source, shadow] = [await mysqlDb('nopk'), await mysqlDb('nopkdst')];
    await source.admin.query(`CREATE TABLE keyed (id int PRIMARY KEY)`);
    await source.admin.query(`CREATE TABLE page_views (at datetime, path text)`);
    await source.admin.query(`INSERT INTO page_views VALUES (NOW(), '/'), (NOW(), '/')`);
    const config = writeConfig({ migration: uniqueName('nopk'), old: { url: source.url }, new: { url: shadow.url } });
    const tandem = run(config);
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(1);
    expect(tandem.output()).toMatch(/page_views .*no primary key/);
    expect(tandem.output()).not.toMatch(/\bkeyed\b.*no primary key/);
    // Nothing was created on the shadow.
    expect(await mysqlRows(shadow.admin, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()`)).toEqual([['0']]);
  }, 60_000);

  const bigRows = Number(process.env.TANDEM_TEST_BIG_ROWS ?? 1_000_000);
  it(`H17: one ${bigRows.toLocaleString('en')}-row INSERT … SELECT transaction streamed into PostgreSQL with a 96 MB heap`, async () => {
    const source = await mysqlDb('big');
    const shadow = await pgDb('bigpg');
    await source.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, payload varchar(40))`);
    await shadow.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL, payload text)`);
    const config = writeConfig({ migration: uniqueName('big'), old: { url: source.url }, new: { url: shadow.url } });
    const tandem = run(config, ['--max-old-space-size=96']);
    await shadowing(config);
    const started = Date.now();
    await source.admin.query(`INSERT INTO items SELECT seq, seq % 1000, MD5(seq) FROM seq_1_to_${bigRows}`);
    const committed = Date.now();
    await waitUntil('the big transaction to arrive', async () => Number((await pgRows(shadow.admin, `SELECT count(*) FROM items`))[0]?.[0]) === bigRows, 600_000, 1_000);
    const seconds = (Date.now() - committed) / 1000;
    console.log(`[H17] ${bigRows} rows in one transaction: source commit ${((committed - started) / 1000).toFixed(1)} s, applied ${seconds.toFixed(1)} s after commit → ${Math.round(bigRows / seconds)} rows/s (heap 96 MB)`);
    const [src] = await source.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS c, SUM(n) AS s, SUM(id) AS i, SUM(CRC32(payload)) AS h FROM items`);
    const dst = await shadow.admin.query<{ c: string; s: string; i: string }>(`SELECT count(*)::text c, sum(n)::text s, sum(id)::text i FROM items`);
    expect([dst.rows[0]?.c, dst.rows[0]?.s, dst.rows[0]?.i]).toEqual([String(src[0]?.c), String(src[0]?.s), String(src[0]?.i)]);
    expect(await pgRows(shadow.admin, `SELECT payload FROM items WHERE id IN (1, ${bigRows}) ORDER BY id`)).toEqual(await mysqlRows(source.admin, `SELECT payload FROM items WHERE id IN (1, ${bigRows}) ORDER BY id`));
    expect(tandem.child.exitCode, tandem.output().slice(-2000)).toBeNull();
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 900_000);

  it('H17: kill -9 while a 500,000-row transaction is being applied (heap 96 MB), restart: every row exactly once', async () => {
    const source = await mysqlDb('bigkill');
    const shadow = await pgDb('bigkillpg');
    await source.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL)`);
    await shadow.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL)`);
    const config = writeConfig({ migration: uniqueName('bigkill'), old: { url: source.url }, new: { url: shadow.url } });
    let tandem = run(config, ['--max-old-space-size=96']);
    await shadowing(config);
    await source.admin.query(`INSERT INTO items SELECT seq, seq % 1000 FROM seq_1_to_500000`);
    await source.admin.query(`INSERT INTO items VALUES (0, 42)`); // a small transaction after the big one
    // The big transaction is applied in batches inside one shadow transaction: nothing is visible until it commits.
    await new Promise((r) => setTimeout(r, 1_500));
    const before = Number((await pgRows(shadow.admin, `SELECT count(*) FROM items`))[0]?.[0]);
    tandem.kill('SIGKILL');
    await tandem.exited;
    expect(before, 'killed before the big transaction committed on the shadow').toBe(0);
    tandem = run(config, ['--max-old-space-size=96']);
    await waitUntil('every row', async () => (await pgRows(shadow.admin, `SELECT count(*), sum(n), sum(id) FROM items`)).join() === (await mysqlRows(source.admin, `SELECT COUNT(*), SUM(n), SUM(id) FROM items`)).join(), 300_000, 1_000);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 600_000);

  it('kill -9 during a 200,000-row backfill under writes, then restart: tables equal', async () => {
    const [source, shadow] = [await mysqlDb('bfk'), await mysqlDb('bfkdst')];
    for (const db of [source, shadow]) await db.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL, payload varchar(40))`);
    await source.admin.query(`INSERT INTO items SELECT seq, 0, MD5(seq) FROM seq_1_to_200000`);
    const config = writeConfig({ migration: uniqueName('bfk'), old: { url: source.url }, new: { url: shadow.url }, apply: { batchRows: 2000 } });
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      const c = await connectMysql(source.url);
      while (writing) {
        const id = 1 + Math.floor(Math.random() * 220_000);
        await c.query(`INSERT INTO items VALUES (?, 1, 'new') ON DUPLICATE KEY UPDATE n = n + 1, payload = CONCAT('u', n)`, [id]);
        if (writes % 4 === 0) await c.query(`DELETE FROM items WHERE id = ?`, [1 + Math.floor(Math.random() * 220_000)]);
        writes++;
      }
      await c.end();
    })();
    let tandem = run(config);
    const copied = await waitUntil('the backfill to be mid-way', async () => {
      const r = await mysqlRows(shadow.admin, `SELECT SUM(rows_copied) FROM tandem_backfill`);
      const n = Number(r[0]?.[0] ?? 0);
      return n >= 60_000 && n <= 150_000 ? n : undefined;
    }, 120_000, 50);
    tandem.kill('SIGKILL');
    await tandem.exited;
    expect(copied).toBeLessThan(200_000);
    tandem = run(config);
    await shadowing(config);
    expect(tandem.output()).toMatch(/resuming backfill from the last copied chunk/);
    writing = false;
    await writer;
    expect(writes).toBeGreaterThan(50);
    const digest = async (db: MysqlTestDatabase) => (await mysqlRows(db.admin, `SELECT COUNT(*), SUM(id), SUM(n), SUM(CRC32(CONCAT(id, ':', n, ':', payload))) FROM items`)).join();
    await waitUntil('the shadow to equal the source', async () => (await digest(shadow)) === (await digest(source)), 90_000, 500).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: source ${await digest(source)} shadow ${await digest(shadow)}`);
    });
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 300_000);

  it('a source (MariaDB) server restart while Tandem streams: Tandem reconnects by itself and catches up', async () => {
    const source = await mysqlDb('rst');
    const shadow = await pgDb('rstpg');
    await source.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL)`);
    await shadow.admin.query(`CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL)`);
    const config = writeConfig({ migration: uniqueName('rst'), old: { url: source.url }, new: { url: shadow.url } });
    const tandem = run(config);
    await shadowing(config);
    const write = async (from: number, to: number) => {
      const c = await connectMysql(source.url);
      for (let i = from; i < to; i++) await c.query(`INSERT INTO items VALUES (?, ?)`, [i, i % 7]);
      await c.end();
    };
    await write(0, 500);
    await waitUntil('the first rows', async () => (await pgRows(shadow.admin, `SELECT count(*) FROM items`))[0]?.[0] === '500', 30_000);
    await source.admin.end().catch(() => undefined);
    await server.restart();
    // The admin connection died with the server: reopen one for the comparisons.
    const admin = await connectMysql(source.url);
    source.admin = admin;
    await write(500, 1500);
    await admin.query(`UPDATE items SET n = n + 100 WHERE id % 3 = 0`);
    await admin.query(`DELETE FROM items WHERE id % 11 = 0`);
    const digest = async () => (await mysqlRows(admin, `SELECT COUNT(*), SUM(id), SUM(n) FROM items`)).join();
    const shadowDigest = async () => (await pgRows(shadow.admin, `SELECT count(*), sum(id), sum(n) FROM items`)).join();
    await waitUntil('the shadow to catch up after the source restart', async () => (await shadowDigest()) === (await digest()), 90_000, 500);
    expect(tandem.child.exitCode).toBeNull();
    expect(tandem.output()).toMatch(/replication interrupted; reconnecting from the checkpoint/);
    expect((await tandemStatus<{ phase: string }>(config)).phase).toBe('shadowing');
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  }, 180_000);
});
