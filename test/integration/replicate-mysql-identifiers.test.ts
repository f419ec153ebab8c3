import { beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createMysqlDatabase, createPgDatabase, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, waitForShadowing } from '../harness/tandem-process.js';
import { mysqlRows, pgRows, rowTexts, waitForSameRows } from '../harness/compare.js';
import { startMariadb, type RunningServer } from '../harness/servers.js';

/**
 * Security list, "Identifiers", with a MariaDB active side: a table named `a"; DROP TABLE x;--` with a composite
 * primary key over `b`c` and `select` and more columns whose names are SQL, replicated into a PostgreSQL and a
 * MariaDB shadow through backfill and stream (inserts, updates, key moves, deletes) with values that are SQL too.
 * A table `x` stays untouched everywhere; DDL on unrelated tables (whose names and string literals mention the
 * weird table) does not stop replication; ALTER TABLE on the weird table does, naming it. Both sides are read
 * directly, never through Tandem.
 */
const table = 'a"; DROP TABLE x;--';
const bc = 'b`c';
const sel = 'select';
const weird = `we'ird "col"`;
const dollar = '$1 ?';
/** A table that shares the weird table's name as a prefix: DDL on it must not be taken for DDL on the weird one. */
const lookalike = `${table} old`;

const myQ = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const pgQ = (name: string) => pg.escapeIdentifier(name);

const values = [`O'Brien \\ "x"`, `'; DROP TABLE x;--`, '`); DROP TABLE x; -- ', '$1 ? :name %s', 'back\\slash\\', 'ünïcödé 😀', '-- not a comment', '?', '$1', `"; DROP TABLE x;--`, '\\\'', ''];

const mySelect = `SELECT ${myQ(bc)}, CAST(${myQ(sel)} AS CHAR), ${myQ(weird)}, ${myQ(dollar)} FROM ${myQ(table)}`;
const pgSelect = `SELECT ${pgQ(bc)}, ${pgQ(sel)}::text, ${pgQ(weird)}, ${pgQ(dollar)} FROM ${pgQ(table)}`;

describe('MariaDB active side: identifiers that are SQL', () => {
  const pgUrl = inject('pgUrl');
  let server: RunningServer;
  const { dbs, servers, start } = suiteResources();
  const run = (config: string) => start(['run', '--config', config]);
  const shadowing = (config: string) => waitForShadowing(config, 120_000);

  beforeAll(async () => {
    server = await startMariadb();
    servers.push(server);
  });

  it(`replicates ${table} (key ${bc}, ${sel}) into PostgreSQL and MariaDB; unrelated DDL passes; ALTER TABLE on it stops naming it; x untouched`, async () => {
    const [source, myShadow] = [await createMysqlDatabase(server.url, 'idsrc'), await createMysqlDatabase(server.url, 'iddst')];
    const pgShadow = await createPgDatabase(pgUrl, 'iddst');
    dbs.push(source, myShadow, pgShadow);

    const myDdl = `CREATE TABLE ${myQ(table)} (${myQ(bc)} varchar(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL, ${myQ(sel)} int NOT NULL,
      ${myQ(weird)} text, ${myQ(dollar)} varchar(100) NULL, PRIMARY KEY (${myQ(bc)}, ${myQ(sel)}))`;
    for (const db of [source, myShadow]) {
      await db.admin.query(myDdl);
      await db.admin.query(`CREATE TABLE x (id int PRIMARY KEY, v text)`);
      await db.admin.query(`INSERT INTO x VALUES (1, 'keep me')`);
    }
    await pgShadow.admin.query(`CREATE TABLE ${pgQ(table)} (${pgQ(bc)} text, ${pgQ(sel)} integer, ${pgQ(weird)} text, ${pgQ(dollar)} text, PRIMARY KEY (${pgQ(bc)}, ${pgQ(sel)}))`);
    await pgShadow.admin.query(`CREATE TABLE x (id integer PRIMARY KEY, v text)`);
    await pgShadow.admin.query(`INSERT INTO x VALUES (1, 'keep me')`);
    await source.admin.query(`CREATE TABLE ${myQ(lookalike)} (id int PRIMARY KEY)`);

    // Before Tandem starts: backfill material. Values are always parameters.
    const insert = (key: string, n: number, v: string | null, d: string | null) =>
      source.admin.query(`INSERT INTO ${myQ(table)} (${myQ(bc)}, ${myQ(sel)}, ${myQ(weird)}, ${myQ(dollar)}) VALUES (?, ?, ?, ?)`, [key, n, v, d]);
    for (const [i, v] of values.entries()) await insert(v, i + 1, v, `${v}${v}`);
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(weird)} = ? WHERE ${myQ(sel)} = 2`, [`updated ' " \\ \` before start`]);
    await source.admin.query(`DELETE FROM ${myQ(table)} WHERE ${myQ(sel)} = 6`);

    const configs = [
      { label: 'PostgreSQL', url: pgShadow.url, rows: () => pgRows(pgShadow.admin, pgSelect) },
      { label: 'MariaDB', url: myShadow.url, rows: () => mysqlRows(myShadow.admin, mySelect) },
    ].map((s) => ({ ...s, config: writeConfig({ migration: uniqueName('ident'), old: { url: source.url }, new: { url: s.url }, tables: [table] }) }));
    const procsNow = configs.map((c) => run(c.config));
    for (const c of configs) await shadowing(c.config);
    const sourceRows = () => mysqlRows(source.admin, mySelect);
    const untilSame = async (what: string) => {
      for (const c of configs) await waitForSameRows(`${c.label}: ${what}`, sourceRows, c.rows, { procs: procsNow, timeoutMs: 60_000, intervalMs: 300 });
    };
    await untilSame('the backfill');
    expect((await sourceRows()).length).toBe(values.length - 1);

    // The stream: inserts, updates, key moves (both key columns), deletes, NULLs, one multi-statement transaction.
    for (const [i, v] of values.entries()) await insert(`k${i} ${v}`, 100 + i, `${v} ${v}`, v);
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(weird)} = CONCAT(COALESCE(${myQ(weird)}, ''), ?) WHERE ${myQ(sel)} % 2 = 0`, [` and "more" \\ ' ?`]);
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(bc)} = CONCAT(${myQ(bc)}, ?) WHERE ${myQ(sel)} % 3 = 1`, ['`']); // key moves
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(sel)} = ${myQ(sel)} + 1000 WHERE ${myQ(sel)} IN (5, 105)`); // the other key column moves
    await source.admin.query(`DELETE FROM ${myQ(table)} WHERE ${myQ(sel)} IN (3, 102)`);
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(dollar)} = NULL, ${myQ(weird)} = NULL WHERE ${myQ(sel)} = 104`);
    await source.admin.query('START TRANSACTION');
    await insert('$2 -- ?', 500, '$$ quoted $$', '\\0\\n');
    await source.admin.query(`UPDATE ${myQ(table)} SET ${myQ(bc)} = ?, ${myQ(weird)} = ? WHERE ${myQ(sel)} = 500`, ['moved in tx 😀', `it's "moved"`]);
    await source.admin.query(`DELETE FROM ${myQ(table)} WHERE ${myQ(sel)} = 108`);
    await source.admin.query('COMMIT');
    await untilSame('the streamed changes');

    // DDL on tables outside the migration, some naming the weird table (as a prefix, inside string literals and comments).
    await source.admin.query(`CREATE TABLE unrelated (id int PRIMARY KEY, note text)`);
    await source.admin.query(`ALTER TABLE unrelated ADD COLUMN extra varchar(20) NULL COMMENT 'ALTER TABLE \`a"; DROP TABLE x;--\` ADD c int'`);
    await source.admin.query(`ALTER TABLE /* ${myQ(table)} */ unrelated ADD COLUMN more int NULL`);
    await source.admin.query(`ALTER TABLE ${myQ(lookalike)} ADD COLUMN ${myQ(bc)} int NULL`);
    await source.admin.query(`RENAME TABLE ${myQ(lookalike)} TO ${myQ(`${lookalike} 2`)}`);
    await source.admin.query(`INSERT INTO unrelated VALUES (1, 'n', 'e', 2)`);
    await source.admin.query(`DROP TABLE unrelated, ${myQ(`${lookalike} 2`)}`);
    await insert('after unrelated ddl', 600, 'still replicating', null);
    await untilSame('rows written after DDL on unrelated tables');
    for (const p of procsNow) expect(p.child.exitCode, p.output().slice(-2000)).toBeNull();
    const final = rowTexts(await sourceRows());

    // ALTER TABLE on the weird table stops both, naming the table; a row written after it is not applied.
    await source.admin.query(`ALTER TABLE ${myQ(table)} ADD COLUMN ${myQ('new "c"')} int NULL`);
    await insert('after alter', 700, 'must not arrive', null);
    for (const p of procsNow) {
      expect(await p.exited, p.output().slice(-3000)).toBe(4);
      const out = p.output();
      expect(out.includes(`table ${table} changed`) || out.includes(`table ${JSON.stringify(table).slice(1, -1)} changed`), out.slice(-3000)).toBe(true);
    }
    for (const c of configs) expect(rowTexts(await c.rows()), c.label).toEqual(final);

    // x is untouched on every database.
    for (const db of [source, myShadow]) expect(await mysqlRows(db.admin, `SELECT CAST(id AS CHAR), v FROM x`)).toEqual([['1', 'keep me']]);
    expect(await pgRows(pgShadow.admin, `SELECT id::text, v FROM x`)).toEqual([['1', 'keep me']]);
    // Nothing but the weird table and x (and Tandem's own tables) on the shadows.
    expect((await mysqlRows(myShadow.admin, `SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name NOT LIKE 'tandem%' ORDER BY table_name`)).flat().sort()).toEqual([table, 'x'].sort());
    expect((await pgRows(pgShadow.admin, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`)).flat().sort()).toEqual([table, 'x'].sort());
  }, 240_000);
});
