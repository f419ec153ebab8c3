import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, untilTandem, type TandemProcess } from '../harness/tandem-process.js';
import { canonicalJsonText, mysqlRows, NULL_TEXT as NULL, pgRows, waitForSameRows } from '../harness/compare.js';
import { readControlState, writeControlState } from '../harness/control.js';

/**
 * Hazards from /work/shared/HAZARDS.md (H9, H10, H11, H18, H20, identifiers, reverse direction, value round trip),
 * each against real servers with databases of its own. Tandem runs as a real process; every comparison reads both
 * databases directly, never through Tandem.
 */

const pgQ = (name: string) => pg.escapeIdentifier(name);
const myQ = (name: string) => mysql.escapeId(name, true);

type Rows = string[][];

/** Decimal text without insignificant fractional zeros (`1710054000.000000` → `1710054000`). */
const trimDecimal = (s: string): string => (s !== NULL && s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);

describe('replication hazards', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start } = suiteResources();

  const pgDb = async (prefix: string) => {
    const db = await createPgDatabase(pgUrl, prefix);
    dbs.push(db);
    return db;
  };
  const myDb = async (prefix: string) => {
    const db = await createMysqlDatabase(mysqlUrl, prefix);
    dbs.push(db);
    return db;
  };

  const configFile = (migration: string, oldUrl: string, newUrl: string, extra: Record<string, unknown> = {}) =>
    writeConfig({ migration, old: { url: oldUrl }, new: { url: newUrl }, ...extra });

  const run = (config: string, opts: { direction?: 'forward' | 'reverse'; env?: NodeJS.ProcessEnv } = {}) =>
    start(['run', '--config', config, ...(opts.direction ? ['--direction', opts.direction] : [])], { env: opts.env });

  /** SIGTERM, as an operator stops the service: it must finish its batch and exit 0. */
  const stop = async (p: TandemProcess) => {
    p.kill('SIGTERM');
    expect(await p.exited, p.output()).toBe(0);
  };

  /** The exit code, failing the test if the process is still running after `ms`. */
  const exitWithin = async (p: TandemProcess, ms: number): Promise<number | string> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`tandem still running after ${ms} ms:\n${p.output()}`)), ms)));
    try {
      return await Promise.race([p.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  const pgShadowing = (db: PgTestDatabase, migration: string, direction = 'forward') => async () =>
    (await db.admin.query<{ stage: string }>(`select stage from tandem.checkpoint where migration = $1 and direction = $2`, [migration, direction])).rows[0]?.stage === 'streaming';
  const myShadowing = (db: MysqlTestDatabase, migration: string) => async () =>
    (await mysqlRows(db.admin, `SELECT stage FROM tandem_checkpoint WHERE migration = ${mysql.escape(migration)} AND direction = 'forward'`))[0]?.[0] === 'streaming';

  // ------------------------------------------------------------------------------------------------------------
  describe('H10 time zones: Tandem in Asia/Kolkata, the writer in America/New_York, rows around DST changes', () => {
    /** Wall-clock text as a New York client writes it: gaps (spring forward) and repeated hours (fall back). */
    const newYork = [
      '2024-03-10 01:59:59.999999',
      '2024-03-10 02:00:00',
      '2024-03-10 02:30:00.5',
      '2024-03-10 03:00:00',
      '2024-03-10 03:00:00.000001',
      '2024-11-03 00:59:59.999999',
      '2024-11-03 01:00:00',
      '2024-11-03 01:30:00.123456',
      '2024-11-03 01:59:59.999999',
      '2024-11-03 02:00:00',
      '2024-11-03 01:30:00-04',
      '2024-11-03 01:30:00-05',
      '2024-03-10 06:59:59.999999+00',
    ];
    const pgSql = `SELECT id::text, extract(epoch from at)::text, at::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
                          extract(epoch from wall)::text, wall::text, note FROM events`;

    it('keeps instants and wall-clock values exact in backfill and stream, to PostgreSQL and to MariaDB', async () => {
      const [src, dstPg, dstMy] = await Promise.all([pgDb('tz_src'), pgDb('tz_dst'), myDb('tz_dst')]);
      // Servers "in other zones": sessions that do not set a zone get these (Tandem's must not depend on them).
      await src.admin.query(`ALTER DATABASE ${pgQ(src.name)} SET TimeZone = 'Europe/Berlin'`);
      await dstPg.admin.query(`ALTER DATABASE ${pgQ(dstPg.name)} SET TimeZone = 'Pacific/Auckland'`);
      const ddl = `CREATE TABLE events (id integer PRIMARY KEY, at timestamptz, wall timestamp(6), note text)`;
      await src.admin.query(ddl);
      await dstPg.admin.query(ddl);
      await dstMy.admin.query(`CREATE TABLE events (id int PRIMARY KEY, at datetime(6), wall datetime(6), note varchar(100))`);
      await dstMy.admin.query(`SET time_zone = '+00:00'`);

      const writer = new pg.Client({ connectionString: src.url });
      await writer.connect();
      try {
        await writer.query(`SET TimeZone = 'America/New_York'`);
        const insert = (id: number, text: string, note: string) => writer.query(`INSERT INTO events VALUES ($1, $2::text::timestamptz, $2::text::timestamp, $3)`, [id, text, note]);
        for (const [i, text] of newYork.entries()) await insert(i + 1, text, `backfill ${text}`);

        const env = { TZ: 'Asia/Kolkata' };
        const mPg = uniqueName('hz_tz_pg');
        const mMy = uniqueName('hz_tz_my');
        const toPg = run(configFile(mPg, src.url, dstPg.url), { env });
        const toMy = run(configFile(mMy, src.url, dstMy.url), { env });
        const both = [toPg, toMy];
        await untilTandem(both, 'both backfills', async () => (await pgShadowing(dstPg, mPg)()) && (await myShadowing(dstMy, mMy)()));

        for (const [i, text] of newYork.entries()) await insert(100 + i, text, `stream ${text}`);
        // Arithmetic across the DST change is done by the source in the writer's zone; the shadow must get the result.
        await writer.query(`UPDATE events SET at = at + interval '1 day', wall = wall + interval '1 day', note = note || ' +1 day' WHERE id IN (1, 6, 100, 105)`);
        await writer.query('BEGIN');
        await writer.query(`SET LOCAL TimeZone = 'Asia/Kathmandu'`);
        await insert(200, '2024-03-10 12:45:00', 'Kathmandu');
        await insert(201, '2024-11-03 06:15:00.25', 'Kathmandu');
        await writer.query('COMMIT');

        const source = () => pgRows(src.admin, pgSql);
        await waitForSameRows('events on the PostgreSQL shadow', source, () => pgRows(dstPg.admin, pgSql), { procs: both });
        const rows = await source();
        expect(rows).toHaveLength(newYork.length * 2 + 2);
        // Guard against a vacuous pass: the New York interpretation really happened on the source.
        expect(rows.find((r) => r[0] === '103')?.[3]).toBe('2024-03-10 07:00:00.000000');
        expect(rows.find((r) => r[0] === '106')?.[3]).toMatch(/^2024-11-03 0[56]:00:00.000000$/);
        expect(rows.find((r) => r[0] === '112')?.[3]).toBe('2024-03-10 06:59:59.999999');

        // MariaDB datetime(6) holds the UTC wall clock of timestamptz, and the wall clock of timestamp as written.
        const pgForMy = async () =>
          (await pgRows(src.admin, `SELECT id::text, extract(epoch from at)::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
                                           extract(epoch from wall)::text, to_char(wall, 'YYYY-MM-DD HH24:MI:SS.US'), note FROM events`)).map((r) =>
            r.map((v, i) => (i === 1 || i === 3 ? trimDecimal(v) : v)),
          );
        const my = async () =>
          (await mysqlRows(dstMy.admin, `SELECT id, UNIX_TIMESTAMP(at), DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), UNIX_TIMESTAMP(wall),
                                                DATE_FORMAT(wall, '%Y-%m-%d %H:%i:%s.%f'), note FROM events`)).map((r) => r.map((v, i) => (i === 1 || i === 3 ? trimDecimal(v) : v)));
        await waitForSameRows('events on the MariaDB shadow', pgForMy, my, { procs: both });
        await Promise.all([stop(toPg), stop(toMy)]);
      } finally {
        await writer.end();
      }
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('H11 precision: numeric(65,30) and bigint extremes, NaN refused by MariaDB', () => {
    const extremes: Array<[string, string | null, string | null, string | null]> = [
      // id (bigint key), big numeric(65,30), i bigint, z numeric(20,5)
      ['-9223372036854775808', '99999999999999999999999999999999999.999999999999999999999999999999', '9223372036854775807', '1.50000'],
      ['9223372036854775807', '-99999999999999999999999999999999999.999999999999999999999999999999', '-9223372036854775808', '-0.00001'],
      ['0', '0.000000000000000000000000000001', '0', '100.00000'],
      ['1', '-0.000000000000000000000000000001', '-1', '0'],
      ['2', '12345678901234567890.123456789012345678901234567890', '9007199254740993', '999999999999999.99999'],
      ['3', '1.100000000000000000000000000000', '-9007199254740993', null],
      ['4', null, null, '10.10000'],
    ];
    const pgSql = `SELECT id::text, big::text, i::text, z::text FROM nums`;
    const mySql = `SELECT CAST(id AS CHAR), CAST(big AS CHAR), CAST(i AS CHAR), CAST(z AS CHAR) FROM nums`;

    it('round-trips exactly to PostgreSQL and MariaDB; NaN stops MariaDB replication naming table and column', async () => {
      const [src, dstPg, dstMy] = await Promise.all([pgDb('num_src'), pgDb('num_dst'), myDb('num_dst')]);
      for (const db of [src, dstPg]) {
        await db.admin.query(`CREATE TABLE nums (id bigint PRIMARY KEY, big numeric(65,30), i bigint, z numeric(20,5))`);
        await db.admin.query(`CREATE TABLE free (id integer PRIMARY KEY, u numeric)`);
      }
      await dstMy.admin.query(`CREATE TABLE nums (id bigint PRIMARY KEY, big decimal(65,30), i bigint, z decimal(20,5))`);
      const insert = (row: Array<string | null>) => src.admin.query(`INSERT INTO nums VALUES ($1, $2, $3, $4)`, row);
      for (const row of extremes.slice(0, 4)) await insert(row);
      // Unconstrained numeric keeps the scale it was written with (PostgreSQL → PostgreSQL only).
      await src.admin.query(`INSERT INTO free VALUES (1, '1.500'), (2, '-0.000'), (3, '123456789012345678901234567890123456789012345678901234567890.0000000000000000000001')`);

      const mPg = uniqueName('hz_num_pg');
      const mMy = uniqueName('hz_num_my');
      const toPg = run(configFile(mPg, src.url, dstPg.url));
      const toMy = run(configFile(mMy, src.url, dstMy.url, { tables: ['nums'] }));
      const both = [toPg, toMy];
      await untilTandem(both, 'both backfills', async () => (await pgShadowing(dstPg, mPg)()) && (await myShadowing(dstMy, mMy)()));

      for (const row of extremes.slice(4)) await insert(row);
      await src.admin.query(`UPDATE nums SET big = -big, i = -(i + 1) WHERE id = 9223372036854775807`);
      await src.admin.query(`UPDATE nums SET z = z * 10 WHERE id = 0`);
      await src.admin.query(`INSERT INTO free VALUES (4, '0.10'), (5, '-99999999999999999999999999999999999999.999999999999999999999999999999')`);

      const source = () => pgRows(src.admin, pgSql);
      await waitForSameRows('nums on the PostgreSQL shadow', source, () => pgRows(dstPg.admin, pgSql), { procs: both });
      await waitForSameRows('free on the PostgreSQL shadow', () => pgRows(src.admin, `SELECT id::text, u::text FROM free`), () => pgRows(dstPg.admin, `SELECT id::text, u::text FROM free`), { procs: both });
      await waitForSameRows('nums on the MariaDB shadow', source, () => mysqlRows(dstMy.admin, mySql), { procs: both });
      expect((await source()).find((r) => r[0] === '9223372036854775807')).toEqual(['9223372036854775807', '99999999999999999999999999999999999.999999999999999999999999999999', '9223372036854775807', '-0.00001']);

      // NaN: PostgreSQL keeps it; MariaDB cannot, so that replication stops, after applying what came before.
      await src.admin.query(`INSERT INTO nums (id, big) VALUES (1001, '1.5')`);
      await untilTandem(both, 'row 1001 on the MariaDB shadow', async () => (await mysqlRows(dstMy.admin, `SELECT id FROM nums WHERE id = 1001`)).length === 1);
      // Three transactions committed back to back (one round trip), so they tend to share a shadow transaction.
      await src.admin.query(`BEGIN; INSERT INTO nums (id, big) VALUES (1002, '2.5'); COMMIT;
                             BEGIN; INSERT INTO nums (id, big) VALUES (1003, '3.5'); COMMIT;
                             BEGIN; INSERT INTO nums (id, big) VALUES (1004, 'NaN'); COMMIT;`);
      const code = await exitWithin(toMy, 30_000);
      const out = toMy.output();
      expect(code, out).toBe(4);
      expect(out).toContain('nums.big');
      expect(out).toMatch(/NaN/);
      expect(out).toMatch(/cannot be stored/);
      const ids = (await mysqlRows(dstMy.admin, `SELECT CAST(id AS CHAR) FROM nums WHERE id BETWEEN 1001 AND 1004 ORDER BY id`)).map((r) => r[0]);
      expect(ids, `transactions committed before the NaN one are on the shadow\n${out}`).toEqual(['1001', '1002', '1003']);

      await untilTandem([toPg], 'NaN on the PostgreSQL shadow', async () => (await pgRows(dstPg.admin, `SELECT big::text FROM nums WHERE id = 1004`))[0]?.[0] === 'NaN');
      await waitForSameRows('nums on the PostgreSQL shadow after NaN', source, () => pgRows(dstPg.admin, pgSql), { procs: [toPg] });
      await stop(toPg);
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('H9 DDL mid-stream (PostgreSQL → PostgreSQL)', () => {
    const sql = (cols: string) => `SELECT id::text, ${cols} FROM ddl_items`;

    it('stops on ADD COLUMN naming table and column, resumes exactly once the shadow has it; DROP COLUMN continues', async () => {
      const [src, dst] = await Promise.all([pgDb('ddl_src'), pgDb('ddl_dst')]);
      for (const db of [src, dst]) await db.admin.query(`CREATE TABLE ddl_items (id integer PRIMARY KEY, v text)`);
      await src.admin.query(`INSERT INTO ddl_items VALUES (1, 'one'), (2, 'two'), (3, 'three')`);
      const migration = uniqueName('hz_ddl');
      const config = configFile(migration, src.url, dst.url);

      const first = run(config);
      await untilTandem([first], 'backfill', pgShadowing(dst, migration));
      await src.admin.query(`INSERT INTO ddl_items VALUES (4, 'four')`);
      await waitForSameRows('row 4', () => pgRows(src.admin, sql('v')), () => pgRows(dst.admin, sql('v')), { procs: [first] });

      await src.admin.query(`ALTER TABLE ddl_items ADD COLUMN extra text`);
      await src.admin.query(`INSERT INTO ddl_items VALUES (5, 'five', 'E5 ''quoted''')`);
      await src.admin.query(`UPDATE ddl_items SET extra = 'E1' WHERE id = 1`);
      const code = await exitWithin(first, 30_000);
      const out = first.output();
      expect(code, out).toBe(4);
      expect(out).toMatch(/ddl_items/);
      expect(out).toMatch(/\bextra\b/);
      expect(out).toMatch(/ALTER TABLE .*ddl_items.* on the shadow/);
      // Nothing of the new shape was applied without its column.
      expect(await pgRows(dst.admin, `SELECT id::text FROM ddl_items ORDER BY id`)).toEqual([['1'], ['2'], ['3'], ['4']]);

      await dst.admin.query(`ALTER TABLE ddl_items ADD COLUMN extra text`);
      const second = run(config);
      await waitForSameRows('rows with extra', () => pgRows(src.admin, sql('v, extra')), () => pgRows(dst.admin, sql('v, extra')), { procs: [second] });
      expect(await pgRows(dst.admin, sql('extra') + ' WHERE id IN (1, 5) ORDER BY id')).toEqual([['1', 'E1'], ['5', "E5 'quoted'"]]);

      // DROP COLUMN on the source: the shadow keeps its (nullable) column; later rows leave it NULL.
      await src.admin.query(`ALTER TABLE ddl_items DROP COLUMN extra`);
      await src.admin.query(`INSERT INTO ddl_items VALUES (6, 'six')`);
      await src.admin.query(`UPDATE ddl_items SET v = 'TWO' WHERE id = 2`);
      await src.admin.query(`DELETE FROM ddl_items WHERE id = 3`);
      await waitForSameRows('rows after DROP COLUMN', () => pgRows(src.admin, sql('v')), () => pgRows(dst.admin, sql('v')), { procs: [second] });
      expect(await pgRows(dst.admin, sql('v, extra') + ' ORDER BY id')).toEqual([
        ['1', 'one', 'E1'],
        ['2', 'TWO', NULL],
        ['4', 'four', NULL],
        ['5', 'five', "E5 'quoted'"],
        ['6', 'six', NULL],
      ]);
      await stop(second);
    });

    it('stops when a column named __proto__ is added while replicating, even with the shadow given the same column; the way out it names ends with both sides equal', async () => {
      const [src, dst] = await Promise.all([pgDb('ddlproto_src'), pgDb('ddlproto_dst')]);
      for (const db of [src, dst]) {
        await db.admin.query(`CREATE TABLE ddl_notes (id integer PRIMARY KEY, v text)`);
        await db.admin.query(`CREATE TABLE ddl_side (id integer PRIMARY KEY)`);
      }
      await src.admin.query(`INSERT INTO ddl_notes VALUES (1, 'one')`);
      const migration = uniqueName('hz_ddlproto');
      const tandem = run(configFile(migration, src.url, dst.url));
      await untilTandem([tandem], 'backfill', pgShadowing(dst, migration));

      // The operator gives the shadow the column first, as the guard asks for an ordinary new column.
      await dst.admin.query(`ALTER TABLE ddl_notes ADD COLUMN "__proto__" text`);
      await src.admin.query(`ALTER TABLE ddl_notes ADD COLUMN "__proto__" text`);
      await src.admin.query(`INSERT INTO ddl_notes VALUES (2, 'two', 'would be lost')`);
      const code = await exitWithin(tandem, 30_000);
      const out = tandem.output();
      expect(code, out).toBe(4);
      expect(out).toContain('ddl_notes on the active side now has a column named __proto__');
      expect(out).toContain('exclude: [ddl_notes]');
      // Nothing written with the column was applied without its value.
      expect(await pgRows(dst.admin, `SELECT id::text FROM ddl_notes ORDER BY id`)).toEqual([['1']]);

      // The way out the error gives: rename on both sides, one start without the table, then with it and a repair.
      for (const db of [src, dst]) await db.admin.query(`ALTER TABLE ddl_notes RENAME COLUMN "__proto__" TO proto`);
      const without = run(configFile(migration, src.url, dst.url, { exclude: ['ddl_notes'] }));
      await src.admin.query(`INSERT INTO ddl_notes VALUES (3, 'three', 'while left out')`);
      // A row of another table after it: once it is on the shadow, the stream has passed everything before.
      await src.admin.query(`INSERT INTO ddl_side VALUES (1)`);
      const side = `SELECT id::text FROM ddl_side`;
      await waitForSameRows('the other table', () => pgRows(src.admin, side), () => pgRows(dst.admin, side), { procs: [without] });
      await stop(without);
      const config = configFile(migration, src.url, dst.url);
      const back = run(config);
      // Rows written before the table is published again are the repair's to copy: row 4 comes after.
      await src.admin.query(`INSERT INTO ddl_side VALUES (2)`);
      await waitForSameRows('the other table again', () => pgRows(src.admin, side), () => pgRows(dst.admin, side), { procs: [back] });
      await src.admin.query(`INSERT INTO ddl_notes VALUES (4, 'four', 'after')`);
      await waitForSameRows('row 4', () => pgRows(src.admin, `SELECT id::text, v, proto FROM ddl_notes WHERE id = 4`), () => pgRows(dst.admin, `SELECT id::text, v, proto FROM ddl_notes WHERE id = 4`), { procs: [back] });
      const repair = await runTandem(['repair', '--table', 'ddl_notes', '--all', '--yes', '--config', config]);
      expect(repair.code, repair.stderr).toBe(0);
      const all = `SELECT id::text, v, proto FROM ddl_notes ORDER BY id`;
      expect(await pgRows(dst.admin, all)).toEqual(await pgRows(src.admin, all));
      expect(await pgRows(dst.admin, all)).toEqual([
        ['1', 'one', NULL],
        ['2', 'two', 'would be lost'],
        ['3', 'three', 'while left out'],
        ['4', 'four', 'after'],
      ]);
      await stop(back);
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('H18 tables without a primary key', () => {
    it('check fails naming the table; run refuses before touching the source', async () => {
      const [src, dst] = await Promise.all([pgDb('nopk_src'), pgDb('nopk_dst')]);
      for (const db of [src, dst]) {
        await db.admin.query(`CREATE TABLE keyed (id integer PRIMARY KEY, v text)`);
        await db.admin.query(`CREATE TABLE nokey_log (at timestamptz, line text)`);
      }
      await src.admin.query(`INSERT INTO nokey_log VALUES (now(), 'a'), (now(), 'a')`);
      const migration = uniqueName('hz_nopk');
      const config = configFile(migration, src.url, dst.url);

      const check = await runTandem(['check', '--json', '--config', config]);
      expect(check.code).toBe(1);
      const report = JSON.parse(check.stdout) as { checks: Array<{ id: string; status: string; title: string }> };
      expect(report.checks.filter((c) => c.status === 'fail' && c.id === 'postgres.primary_key').map((c) => c.title)).toContain('table nokey_log has no primary key');

      const r = await runTandem(['run', '--config', config], { timeoutMs: 30_000 });
      const out = r.stdout + r.stderr;
      // TANDEM_SCHEMA_UNSUPPORTED: exit code 1 by src/errors.ts (the same as `check` failing on it).
      expect(r.code, out).toBe(1);
      expect(out).toContain('nokey_log');
      expect(out).toContain('exclude: [nokey_log]');
      // Refused before anything was created: no publication, no slot, and the application can still update the table
      // (a publication without a replica identity would make every UPDATE/DELETE on it fail).
      expect((await src.admin.query(`select 1 from pg_publication`)).rowCount).toBe(0);
      expect((await src.admin.query(`select 1 from pg_replication_slots where database = current_database()`)).rowCount).toBe(0);
      await src.admin.query(`UPDATE nokey_log SET line = 'b'`);
      await src.admin.query(`DELETE FROM nokey_log`);
    });

    it('a column named __proto__, whose value no row object can hold, is refused by check and run instead of lost', async () => {
      const [src, dst] = await Promise.all([pgDb('proto_src'), pgDb('proto_dst')]);
      for (const db of [src, dst]) await db.admin.query(`CREATE TABLE notes (id integer PRIMARY KEY, "__proto__" text)`);
      await src.admin.query(`INSERT INTO notes VALUES (1, 'kept')`);
      const config = configFile(uniqueName('hz_proto'), src.url, dst.url);

      const check = await runTandem(['check', '--json', '--config', config]);
      expect(check.code).toBe(1);
      const report = JSON.parse(check.stdout) as { checks: Array<{ id: string; side: string; status: string; title: string; detail: string }> };
      const failed = report.checks.filter((c) => c.status === 'fail' && c.id === 'postgres.column_name');
      // Both sides: each one captures in one of the two directions (before cutover and after).
      expect(failed.map((c) => `${c.side}: ${c.title}`).sort()).toEqual(['new: table notes has a column Tandem cannot carry', 'old: table notes has a column Tandem cannot carry']);
      expect(failed[0]?.detail).toContain('__proto__');

      const r = await runTandem(['run', '--config', config], { timeoutMs: 30_000 });
      const out = r.stdout + r.stderr;
      expect(r.code, out).toBe(1);
      expect(out).toContain('notes has a column named __proto__');
      expect(out).toContain('RENAME COLUMN "__proto__"');
      expect(out).toContain('exclude: [notes]');
      expect((await src.admin.query(`select 1 from pg_replication_slots where database = current_database()`)).rowCount).toBe(0);
      expect((await dst.admin.query(`select count(*)::int AS n from notes`)).rows[0].n).toBe(0);
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('H20 triggers and foreign keys on a PostgreSQL shadow', () => {
    it('an ordinary audit trigger writes nothing during apply, the setting never leaks, ENABLE ALWAYS is reported', async () => {
      const [src, dst] = await Promise.all([pgDb('trg_src'), pgDb('trg_dst')]);
      await src.admin.query(`CREATE TABLE accounts (id integer PRIMARY KEY, owner_id integer, balance numeric(12,2))`);
      await dst.admin.query(`CREATE TABLE owners (id integer PRIMARY KEY)`);
      await dst.admin.query(`CREATE TABLE accounts (id integer PRIMARY KEY, owner_id integer REFERENCES owners(id), balance numeric(12,2))`);
      await dst.admin.query(`CREATE TABLE audit (n bigserial PRIMARY KEY, op text, account_id integer, role text)`);
      await dst.admin.query(`CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO audit (op, account_id, role) VALUES (TG_OP, COALESCE(NEW.id, OLD.id), current_setting('session_replication_role'));
          RETURN NULL;
        END $$`);
      await dst.admin.query(`CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE OR DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_fn()`);
      // Owners exist only on the shadow (and are empty): the foreign key must stay quiet for replicated rows too.
      await src.admin.query(`INSERT INTO accounts SELECT g, g % 3, g * 10 FROM generate_series(1, 20) g`);

      const migration = uniqueName('hz_trg');
      // The shadow's own fence (a statement trigger) is left off here: the test writes to the shadow as an ordinary session below.
      const config = configFile(migration, src.url, dst.url, { tables: ['accounts'], fence: { shadow: false } });
      const tandem = run(config);
      await untilTandem([tandem], 'backfill', pgShadowing(dst, migration));
      await src.admin.query(`INSERT INTO accounts SELECT g, g % 3, g FROM generate_series(21, 40) g`);
      await src.admin.query(`UPDATE accounts SET balance = balance + 1 WHERE id % 2 = 0`);
      await src.admin.query(`DELETE FROM accounts WHERE id % 5 = 0`);
      const sql = `SELECT id::text, owner_id::text, balance::text FROM accounts`;
      await waitForSameRows('accounts on the shadow', () => pgRows(src.admin, sql), () => pgRows(dst.admin, sql), { procs: [tandem] });

      const fresh = async () => {
        const c = new pg.Client({ connectionString: dst.url });
        await c.connect();
        try {
          return (await c.query<{ s: string }>(`SELECT current_setting('session_replication_role') AS s`)).rows[0]?.s;
        } finally {
          await c.end();
        }
      };
      expect(await fresh(), 'a new session while Tandem applies').toBe('origin');
      await stop(tandem);
      expect(await pgRows(dst.admin, `SELECT op, account_id::text FROM audit`)).toEqual([]);
      expect(await fresh(), 'a new session after Tandem ran').toBe('origin');

      // The trigger is live for ordinary sessions (so the empty audit above means something).
      await dst.admin.query(`INSERT INTO owners VALUES (1)`);
      await dst.admin.query(`INSERT INTO accounts VALUES (999, 1, 0)`);
      expect(await pgRows(dst.admin, `SELECT op, account_id::text, role FROM audit`)).toEqual([['INSERT', '999', 'origin']]);
      await dst.admin.query(`DELETE FROM accounts WHERE id = 999`);
      await dst.admin.query(`TRUNCATE audit`);

      await dst.admin.query(`ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_audit`);
      const check = await runTandem(['check', '--json', '--config', config]);
      const report = JSON.parse(check.stdout) as { checks: Array<{ id: string; status: string; side: string; title: string }> };
      const warning = report.checks.find((c) => c.id === 'postgres.trigger_fires_on_apply');
      expect(warning, check.stdout).toMatchObject({ status: 'warn', side: 'new' });
      expect(warning?.title).toContain('accounts_audit');
      expect(warning?.title).toContain('accounts');
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('identifiers that are SQL', () => {
    const table = 'a"; DROP TABLE x;--';
    const bc = 'b`c';
    const values = [`O'Brien \\ "x"`, `'; DROP TABLE x;--`, '`); DROP TABLE x; -- ', '$1 ? :name %s', 'back\\slash\\', 'ünïcödé 😀'];
    const pgSql = `SELECT id::text, ${pgQ(bc)}, ${pgQ('select')} FROM ${pgQ(table)}`;
    const mySql = `SELECT CAST(id AS CHAR), ${myQ(bc)}, ${myQ('select')} FROM ${myQ(table)}`;

    it(`replicate a table named ${table} with columns ${bc} and select, to PostgreSQL and MariaDB; table x is untouched`, async () => {
      const [src, dstPg, dstMy] = await Promise.all([pgDb('id_src'), pgDb('id_dst'), myDb('id_dst')]);
      for (const db of [src, dstPg]) {
        await db.admin.query(`CREATE TABLE ${pgQ(table)} (id integer, ${pgQ(bc)} varchar(60), ${pgQ('select')} text, PRIMARY KEY (id, ${pgQ(bc)}))`);
        await db.admin.query(`CREATE TABLE x (id integer PRIMARY KEY, v text)`);
        await db.admin.query(`INSERT INTO x VALUES (1, 'keep me')`);
      }
      await dstMy.admin.query(`CREATE TABLE ${myQ(table)} (id int, ${myQ(bc)} varchar(60), ${myQ('select')} longtext, PRIMARY KEY (id, ${myQ(bc)}))`);
      await dstMy.admin.query(`CREATE TABLE x (id int PRIMARY KEY, v longtext)`);
      await dstMy.admin.query(`INSERT INTO x VALUES (1, 'keep me')`);

      const insert = (id: number, key: string, v: string | null) => src.admin.query(`INSERT INTO ${pgQ(table)} VALUES ($1, $2, $3)`, [id, key, v]);
      for (const [i, v] of values.entries()) await insert(i + 1, v, v);
      await src.admin.query(`UPDATE ${pgQ(table)} SET ${pgQ('select')} = $1 WHERE id = 2`, [`updated ' " \\ before start`]);
      await src.admin.query(`DELETE FROM ${pgQ(table)} WHERE id = 6`);

      const mPg = uniqueName('hz_ident_pg');
      const mMy = uniqueName('hz_ident_my');
      const toPg = run(configFile(mPg, src.url, dstPg.url, { tables: [table] }));
      const toMy = run(configFile(mMy, src.url, dstMy.url, { tables: [table] }));
      const both = [toPg, toMy];
      await untilTandem(both, 'both backfills', async () => (await pgShadowing(dstPg, mPg)()) && (await myShadowing(dstMy, mMy)()));

      for (const [i, v] of values.entries()) await insert(100 + i, `k${i} ${v}`, `${v} ${v}`);
      await src.admin.query(`UPDATE ${pgQ(table)} SET ${pgQ('select')} = ${pgQ('select')} || $1 WHERE id % 2 = 0`, [` and "more" \\ '`]);
      await src.admin.query(`UPDATE ${pgQ(table)} SET ${pgQ(bc)} = ${pgQ(bc)} || $1 WHERE id % 3 = 1`, ['`']); // key change: delete + insert on the shadow
      await src.admin.query(`DELETE FROM ${pgQ(table)} WHERE id IN (3, 102)`);
      await src.admin.query(`UPDATE ${pgQ(table)} SET ${pgQ('select')} = NULL WHERE id = 104`);

      const source = () => pgRows(src.admin, pgSql);
      await waitForSameRows('rows on the PostgreSQL shadow', source, () => pgRows(dstPg.admin, pgSql), { procs: both });
      await waitForSameRows('rows on the MariaDB shadow', source, () => mysqlRows(dstMy.admin, mySql), { procs: both });
      expect((await source()).length).toBe(values.length * 2 - 3);
      await Promise.all([stop(toPg), stop(toMy)]);

      for (const db of [src, dstPg]) expect(await pgRows(db.admin, `SELECT id::text, v FROM x`)).toEqual([['1', 'keep me']]);
      expect(await mysqlRows(dstMy.admin, `SELECT id, v FROM x`)).toEqual([['1', 'keep me']]);
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('reverse direction (PostgreSQL → PostgreSQL, new is active)', () => {
    it('applies writes on new to old, and old receives nothing else', async () => {
      const [a, b] = await Promise.all([pgDb('rev_old'), pgDb('rev_new')]);
      for (const db of [a, b]) {
        await db.admin.query(`CREATE TABLE rv_items (id integer PRIMARY KEY, v text)`);
        await db.admin.query(`CREATE TABLE rv_pairs (a integer, b text, v text, PRIMARY KEY (a, b))`);
      }
      await b.admin.query(`INSERT INTO rv_items SELECT g, 'item ' || g FROM generate_series(1, 50) g`);
      await b.admin.query(`INSERT INTO rv_pairs SELECT g % 5, 'k' || g, 'v' || g FROM generate_series(1, 30) g`);

      const migration = uniqueName('hz_rev');
      const config = configFile(migration, a.url, b.url);
      // The store decides the direction; `--direction` only asserts, and the wrong one is refused before anything runs.
      await writeControlState(a.url, migration, { phase: 'cutover', direction: 'reverse', activeSide: 'new' });
      const wrong = await runTandem(['run', '--config', config, '--direction', 'forward']);
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toContain('stored direction reverse');
      expect(wrong.stderr).toContain('TANDEM_DIRECTION_MISMATCH');
      const tandem = run(config, { direction: 'reverse' });
      await untilTandem([tandem], 'reverse backfill into old', pgShadowing(a, migration, 'reverse'));

      await b.admin.query(`INSERT INTO rv_items VALUES (100, 'new'), (101, 'newer')`);
      await b.admin.query(`UPDATE rv_items SET v = v || ' edited' WHERE id % 7 = 0`);
      await b.admin.query(`DELETE FROM rv_items WHERE id BETWEEN 10 AND 19`);
      await b.admin.query(`UPDATE rv_pairs SET b = b || '-moved', v = 'moved' WHERE a = 1`);
      await b.admin.query(`DELETE FROM rv_pairs WHERE a = 2`);
      await b.admin.query(`INSERT INTO rv_pairs VALUES (9, 'x', NULL), (9, 'y', 'why')`);
      await b.admin.query(`TRUNCATE rv_items`);
      await b.admin.query(`INSERT INTO rv_items VALUES (1, 'after truncate')`);

      const items = `SELECT id::text, v FROM rv_items`;
      const pairs = `SELECT a::text, b, v FROM rv_pairs`;
      await waitForSameRows('rv_items on old', () => pgRows(b.admin, items), () => pgRows(a.admin, items), { procs: [tandem] });
      await waitForSameRows('rv_pairs on old', () => pgRows(b.admin, pairs), () => pgRows(a.admin, pairs), { procs: [tandem] });
      await stop(tandem);
      expect(await pgRows(a.admin, `SELECT id::text, v FROM rv_items`)).toEqual([['1', 'after truncate']]);

      // The checkpoint lives on old (the shadow) under the reverse direction; the capture slot lives on new only, beside
      // the mirror of the control state (no checkpoint there). Old holds the publication, prepared ahead of a rollback
      // (it costs nothing without a slot, and creating it takes locks a switch should not wait for).
      expect(await pgRows(a.admin, `SELECT direction, stage FROM tandem.checkpoint WHERE migration = '${migration}'`)).toEqual([['reverse', 'streaming']]);
      expect(await pgRows(b.admin, `SELECT to_regclass('tandem.checkpoint')::text`)).toEqual([[NULL]]);
      expect((await readControlState(a.url, migration))?.state).toMatchObject({ direction: 'reverse', activeSide: 'new', phase: 'cutover' });
      expect(await pgRows(b.admin, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`)).toEqual([[`tandem_${migration}_new`]]);
      expect(await pgRows(a.admin, `SELECT slot_name FROM pg_replication_slots WHERE database = current_database()`)).toEqual([]);
      expect(await pgRows(a.admin, `SELECT pubname, tablename FROM pg_publication_tables ORDER BY 2`)).toEqual([
        [`tandem_${migration}`, 'rv_items'],
        [`tandem_${migration}`, 'rv_pairs'],
      ]);
    });
  });

  // ------------------------------------------------------------------------------------------------------------
  describe('value round trip PostgreSQL → MariaDB for each mapped type', () => {
    const columns = ['si', 'i', 'bi', 'n', 'r', 'd', 't', 'vc', 'ch', 'b', 'ts', 'tz', 'dt', 'tm', 'j', 'u', 'bl', 'vb', 'e'] as const;
    type Col = (typeof columns)[number];
    type Input = Partial<Record<Col, string>>;
    const rows: Input[] = [
      {
        si: '-32768', i: '-2147483648', bi: '-9223372036854775808', n: '-99999999999999999999.9999999999', r: '0.1', d: '0.1',
        t: 'emoji 😀🛒👩‍👩‍👧 and e\u0301 n\u0303 a\u0308\u0301', vc: '😀👩‍👩‍👧 café', ch: 'ab', b: 'true', ts: '1000-01-01 00:00:00', tz: '1970-01-01 00:00:00.000001+00',
        dt: '1000-01-01', tm: '00:00:00', j: '{"b": [1, 2.50, {"z": null, "a": "é😀"}], "a": "x\\"y\\\\", "n": 12345678901234567}', u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        bl: '\\x000100ff00', vb: '\\x00', e: 'sad',
      },
      {
        si: '32767', i: '2147483647', bi: '9223372036854775807', n: '99999999999999999999.9999999999', r: '1e38', d: '1e308',
        t: 'combining only \u0301\u0302\u0303 and NFC é vs NFD e\u0301', vc: '12345678901234567890', ch: 'abcde', b: 'false', ts: '9999-12-31 23:59:59.999999',
        tz: '2038-01-19 03:14:08+00', dt: '9999-12-31', tm: '23:59:59.999999', j: '[1, 1.0, 1e2, -0.5, "", true, false, null, {}]', u: '00000000-0000-0000-0000-000000000000',
        bl: `\\x${Buffer.from(Array.from({ length: 256 }, (_, k) => k)).toString('hex')}`, vb: '\\x000000', e: 'happy ☺',
      },
      {
        si: '0', i: '0', bi: '0', n: '0.0000000001', r: '-0', d: '-0', t: '', vc: '', ch: '', b: 'false', ts: '2024-03-10 02:30:00.5', tz: '2024-11-03 01:30:00.123456-04',
        dt: '2024-02-29', tm: '12:00:00.5', j: 'null', u: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF', bl: '\\x', vb: '\\x', e: "it's",
      },
      {},
    ];
    const pgSelect: Record<Col, string> = {
      si: 'si::text', i: 'i::text', bi: 'bi::text', n: 'n::text', r: 'r::text', d: 'd::text',
      t: `encode(convert_to(t, 'UTF8'), 'hex')`, vc: `encode(convert_to(vc, 'UTF8'), 'hex')`, ch: `encode(convert_to(ch::text, 'UTF8'), 'hex')`,
      b: `CASE WHEN b THEN '1' WHEN NOT b THEN '0' END`, ts: `to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US')`, tz: `to_char(tz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`,
      dt: 'dt::text', tm: 'tm::text', j: 'j::text', u: 'u::text', bl: `encode(bl, 'hex')`, vb: `encode(vb, 'hex')`, e: `encode(convert_to(e::text, 'UTF8'), 'hex')`,
    };
    const mySelect: Record<Col, string> = {
      si: 'CAST(si AS CHAR)', i: 'CAST(i AS CHAR)', bi: 'CAST(bi AS CHAR)', n: 'CAST(n AS CHAR)', r: 'CAST(r AS CHAR)', d: 'CAST(d AS CHAR)',
      t: 'LOWER(HEX(t))', vc: 'LOWER(HEX(vc))', ch: 'LOWER(HEX(ch))', b: 'CAST(b AS CHAR)', ts: `DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')`,
      tz: `DATE_FORMAT(tz, '%Y-%m-%d %H:%i:%s.%f')`, dt: 'CAST(dt AS CHAR)', tm: `TIME_FORMAT(tm, '%H:%i:%s.%f')`, j: 'CAST(j AS CHAR)', u: 'u', bl: 'LOWER(HEX(bl))',
      vb: 'LOWER(HEX(vb))', e: 'LOWER(HEX(e))',
    };
    /**
     * Per-type comparison form: floats by value (MariaDB has no negative zero: it stores -0.0 as 0, asserted below),
     * JSON by meaning, times without trailing fractional zeros.
     */
    const canonical = (col: Col, v: string): string => {
      if (v === NULL) return v;
      switch (col) {
        case 'r':
          return String(Math.fround(Number(v)) + 0);
        case 'd':
          return String(Number(v) + 0);
        case 'j':
          return canonicalJsonText(v);
        case 'tm':
          return v.includes('.') ? v.replace(/0+$/, '').replace(/\.$/, '') : v;
        default:
          return v;
      }
    };
    const read = async (rowsOf: () => Promise<Rows>) => (await rowsOf()).map(([id, ...vals]) => [id as string, ...vals.map((v, k) => canonical(columns[k] as Col, v))]);

    it('every column arrives exactly (backfill and stream, insert and update)', async () => {
      const [src, dst] = await Promise.all([pgDb('val_src'), myDb('val_dst')]);
      await src.admin.query(`CREATE TYPE mood AS ENUM ('sad', 'happy ☺', 'it''s')`);
      await src.admin.query(`CREATE TABLE vals (id integer PRIMARY KEY, si smallint, i integer, bi bigint, n numeric(30,10), r real, d double precision,
        t text, vc varchar(20), ch char(5), b boolean, ts timestamp(6), tz timestamptz, dt date, tm time(6), j jsonb, u uuid, bl bytea, vb bytea, e mood)`);
      await dst.admin.query(`CREATE TABLE vals (id int PRIMARY KEY, si smallint, i int, bi bigint, n decimal(30,10), r float, d double,
        t longtext, vc varchar(20), ch char(5), b tinyint(1), ts datetime(6), tz datetime(6), dt date, tm time(6), j json, u char(36), bl longblob, vb varbinary(100), e varchar(20))`);
      const insert = (id: number, row: Input) =>
        src.admin.query(`INSERT INTO vals (id, ${columns.join(', ')}) VALUES ($1, ${columns.map((_, k) => `$${k + 2}`).join(', ')})`, [id, ...columns.map((c) => row[c] ?? null)]);
      for (const [k, row] of rows.entries()) await insert(k + 1, row);

      const migration = uniqueName('hz_vals');
      const tandem = run(configFile(migration, src.url, dst.url));
      await untilTandem([tandem], 'backfill', myShadowing(dst, migration));
      for (const [k, row] of rows.entries()) await insert(k + 101, row);
      // Updates move values between rows, through every column at once.
      await src.admin.query(`UPDATE vals v SET (${columns.join(', ')}) = (SELECT ${columns.join(', ')} FROM vals w WHERE w.id = CASE v.id WHEN 101 THEN 2 WHEN 102 THEN 1 WHEN 104 THEN 3 END) WHERE v.id IN (101, 102, 104)`);
      await src.admin.query(`UPDATE vals SET ${columns.map((c) => `${c} = NULL`).join(', ')} WHERE id = 103`);

      const pgSql = `SELECT id::text, ${columns.map((c) => pgSelect[c]).join(', ')} FROM vals`;
      const mySql = `SELECT CAST(id AS CHAR), ${columns.map((c) => mySelect[c]).join(', ')} FROM vals`;
      await waitForSameRows('vals on MariaDB', () => read(() => pgRows(src.admin, pgSql)), () => read(() => mysqlRows(dst.admin, mySql)), { procs: [tandem] });
      await stop(tandem);

      // Spot checks that the comparison forms above are not vacuous.
      const my = await mysqlRows(dst.admin, `SELECT id, CAST(d AS CHAR), CAST(r AS CHAR), j IS NULL, CAST(bl AS CHAR) IS NULL, u, e FROM vals WHERE id IN (1, 3, 4) ORDER BY id`);
      expect(my[0]?.[1]).toBe('0.1');
      expect(await pgRows(src.admin, `SELECT d::text, r::text FROM vals WHERE id = 3`)).toEqual([['-0', '-0']]);
      expect(my[1]?.slice(1, 3), 'MariaDB cannot hold a negative zero').toEqual(['0', '0']);
      expect(my[1]?.slice(3, 5)).toEqual(['0', '0']); // JSON null and empty bytes are values, not SQL NULL
      expect(my[2]?.slice(3, 5)).toEqual(['1', '1']);
      expect(my[1]?.[5]).toBe('ffffffff-ffff-ffff-ffff-ffffffffffff');
      expect(my[1]?.[6]).toBe("it's");
    });
  });
});
