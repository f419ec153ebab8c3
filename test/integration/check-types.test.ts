import { describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { checkItems as runCheck } from '../harness/check.js';
import { mysqlRows, pgRows, waitForSameRows } from '../harness/compare.js';
import { startTandem, suiteResources, waitForShadowing, waitUntil } from '../harness/tandem-process.js';

describe('MariaDB tinyint(1) into a PostgreSQL boolean', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs } = suiteResources();

  it('tandem check counts the rows outside 0/1 per column and fails with the fix; the fix makes it pass', async () => {
    const old = await createMysqlDatabase(mysqlUrl, 'bool_old');
    const neu = await createPgDatabase(pgUrl, 'bool_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE TABLE flags (id int PRIMARY KEY, active tinyint(1) NOT NULL DEFAULT 1, vip tinyint(1), level tinyint(1))`);
    await old.admin.query(`INSERT INTO flags VALUES (1, 1, 0, 1), (2, 2, 1, 0), (3, -1, NULL, 0), (4, 0, 1, 7)`);
    await neu.admin.query(`CREATE TABLE flags (id integer PRIMARY KEY, active boolean NOT NULL DEFAULT true, vip boolean, level smallint)`);
    const config = writeConfig({ migration: 'bools', old: { url: old.url }, new: { url: neu.url } });

    const { code, checks } = await runCheck(config);
    expect(code).toBe(1);
    const booleans = checks.filter((c) => c.id === 'mysql.boolean_values');
    // level is smallint on the shadow: 7 is just a number there.
    expect(booleans.map((c) => [c.status, c.side, c.title])).toEqual([['fail', 'old', 'flags.active holds values other than 0 and 1, which a PostgreSQL boolean cannot store']]);
    expect(booleans[0]?.detail).toBe('2 row(s) of flags hold a value other than 0, 1 or NULL in active (tinyint(1)); its column on new (the shadow) is boolean, so replication would stop at the first of them');
    expect(booleans[0]?.fix).toBe(
      'make the column on new an integer: ALTER TABLE "flags" ALTER COLUMN "active" DROP DEFAULT, ALTER COLUMN "active" TYPE smallint USING "active"::int; (then give it its default again, as a number) or fix the rows on old: UPDATE `flags` SET `active` = 1 WHERE `active` NOT IN (0, 1);',
    );

    const fix = booleans[0]?.fix ?? '';
    await neu.admin.query(fix.slice(fix.indexOf('ALTER TABLE'), fix.indexOf(';') + 1));
    const after = await runCheck(config);
    expect(after.failures, after.stderr).toEqual([]);
    expect(after.checks.filter((c) => c.id === 'mysql.boolean_values').map((c) => [c.status, c.detail])).toEqual([
      ['pass', '1 tinyint(1) column(s) with a boolean shadow column hold only 0, 1 or NULL'],
    ]);
  });
});

describe('values new holds that old could not take, for the reverse stream after cutover', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs } = suiteResources();

  it('MariaDB new, PostgreSQL old: tandem check fails naming new, the table, the column and the fix, labelled for after cutover; the fix makes it pass', async () => {
    const old = await createPgDatabase(pgUrl, 'rev_old');
    const neu = await createMysqlDatabase(mysqlUrl, 'rev_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE TABLE events (id integer PRIMARY KEY, happened_on date, at timestamp(6), flag boolean)`);
    await old.admin.query(`INSERT INTO events VALUES (1, '2024-01-01', '2024-01-01 10:00:00', true)`);
    await neu.admin.query(`CREATE TABLE events (id int PRIMARY KEY, happened_on date NULL, at datetime(6) NULL, flag tinyint(1))`);
    // Written as an application with a lax sql_mode can on new (the default mode refuses zero dates).
    await neu.admin.query(`SET SESSION sql_mode = ''`);
    await neu.admin.query(`INSERT INTO events VALUES (1, '2024-01-01', '2024-01-01 10:00:00', 1), (2, '0000-00-00', '2024-05-00 08:00:00', 0), (3, '2024-11-00', NULL, 2)`);
    const config = writeConfig({ migration: 'revvals', old: { url: old.url }, new: { url: neu.url } });

    const { code, checks, failures } = await runCheck(config);
    expect(code).toBe(1);
    expect(failures.map((f) => [f.id, f.side, f.title])).toEqual([
      ['mysql.zero_dates_reverse', 'new', 'after cutover (new → old): events.happened_on holds zero dates, which PostgreSQL cannot store'],
      ['mysql.zero_dates_reverse', 'new', 'after cutover (new → old): events.at holds zero dates, which PostgreSQL cannot store'],
      ['mysql.boolean_values_reverse', 'new', 'after cutover (new → old): events.flag holds values other than 0 and 1, which a PostgreSQL boolean cannot store'],
    ]);
    expect(failures[0]?.detail).toBe('2 row(s) of events hold a zero date (0000-00-00, or month or day 00) in happened_on (date)');
    expect(failures[0]?.fix).toBe(
      'set values.zeroDates: null in tandem.yaml (or TANDEM_VALUES_ZERO_DATES=null) to write them as NULL (the column on old must be nullable), or fix the rows on new: UPDATE `events` SET `happened_on` = NULL WHERE MONTH(`happened_on`) = 0 OR DAYOFMONTH(`happened_on`) = 0;',
    );
    expect(failures[2]?.detail).toBe('1 row(s) of events hold a value other than 0, 1 or NULL in flag (tinyint(1)); its column on old (the shadow) is boolean, so replication would stop at the first of them');
    expect(failures[2]?.fix).toBe('make the column on old an integer: ALTER TABLE "events" ALTER COLUMN "flag" TYPE smallint USING "flag"::int; or fix the rows on new: UPDATE `events` SET `flag` = 1 WHERE `flag` NOT IN (0, 1);');
    // The forward stream's own value checks are not these: old (PostgreSQL) holds nothing new could not take.
    expect(checks.filter((c) => /^mysql\.(zero_dates|boolean_values)$/.test(c.id))).toEqual([]);
    // The text report shows them under new, saying when they matter.
    const text = await runTandem(['check', '--config', config]);
    expect(text.stdout).toMatch(/new side\n[\s\S]*FAIL {2}after cutover \(new → old\): events\.happened_on holds zero dates/);

    // The fixes as the report gives them, run on new.
    for (const f of failures) {
      const fix = f.fix ?? '';
      await neu.admin.query(fix.slice(fix.indexOf('UPDATE'), fix.lastIndexOf(';') + 1));
    }
    const after = await runCheck(config);
    expect(after.failures, after.stderr).toEqual([]);
    expect(after.checks.filter((c) => c.id.endsWith('_reverse') && c.side === 'new').map((c) => [c.status, c.title])).toEqual([
      ['pass', 'after cutover (new → old): no zero date the shadow cannot hold'],
      ['pass', 'after cutover (new → old): tinyint(1) values fit PostgreSQL boolean'],
    ]);
  });
});

describe('PostgreSQL domains map as their base types', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();
  const ddl = [
    `CREATE DOMAIN posint AS integer CHECK (VALUE > 0)`,
    `CREATE DOMAIN code AS varchar(12) NOT NULL`,
    `CREATE DOMAIN shortcode AS code`,
    `CREATE TABLE orders (id posint PRIMARY KEY, qty posint NOT NULL, ref shortcode, note text)`,
  ];

  it('PostgreSQL → MariaDB: tandem schema maps a domain over int as int (its constraints named as lost), check passes, run replicates', { timeout: 300_000 }, async () => {
    const old = await createPgDatabase(pgUrl, 'dom_old');
    const neu = await createMysqlDatabase(mysqlUrl, 'dom_new');
    dbs.push(old, neu);
    for (const sql of ddl) await old.admin.query(sql);
    await old.admin.query(`INSERT INTO orders VALUES (1, 5, 'A-1', 'x'), (2, 7, 'B-2', NULL)`);
    const config = writeConfig({ migration: 'doms', old: { url: old.url }, new: { url: neu.url } });

    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('`id` int NOT NULL');
    expect(applied.stdout).toContain('`qty` int NOT NULL');
    expect(applied.stdout).toContain('`ref` varchar(12) NULL');
    expect(applied.stdout).toContain('-- warning: column id: domain posint becomes int; its constraints (CHECK, NOT NULL, default) are not carried over');
    expect(applied.stdout).toContain('-- warning: column ref: domain shortcode becomes varchar(12)');
    expect(applied.stdout).not.toMatch(/isEnum|Tandem can map/);

    const checked = await runCheck(config);
    expect(checked.failures, checked.stderr).toEqual([]);
    expect(checked.code).toBe(0);

    const tandem = startTandem(['run', '--config', config]);
    procs.push(tandem);
    await waitForShadowing(config);
    await old.admin.query(`INSERT INTO orders VALUES (3, 9, 'C-3', 'streamed')`);
    await old.admin.query(`UPDATE orders SET qty = 6 WHERE id = 1`);
    const rows = () => mysqlRows(neu.admin, `SELECT id, qty, COALESCE(ref, '∅'), COALESCE(note, '∅') FROM orders ORDER BY id`);
    await waitUntil('the rows on the shadow', async () => (await rows()).length === 3 && (await rows())[0]?.[1] === '6', 90_000).catch((err: unknown) => {
      throw new Error(`${String(err)}; tandem: ${tandem.output().slice(-2000)}`);
    });
    expect(await rows()).toEqual([
      ['1', '6', 'A-1', 'x'],
      ['2', '7', 'B-2', '∅'],
      ['3', '9', 'C-3', 'streamed'],
    ]);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  });

  it('PostgreSQL → PostgreSQL: tandem schema --apply creates the domain with its constraints, and check passes', async () => {
    const old = await createPgDatabase(pgUrl, 'dom_same_old');
    const neu = await createPgDatabase(pgUrl, 'dom_same_new');
    dbs.push(old, neu);
    for (const sql of ddl.slice(0, 2)) await old.admin.query(sql);
    await old.admin.query(`CREATE TABLE orders (id posint PRIMARY KEY, qty posint NOT NULL, ref code)`);
    const config = writeConfig({ migration: 'domsame', old: { url: old.url }, new: { url: neu.url } });
    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('CREATE DOMAIN "posint" AS integer CONSTRAINT "posint_check" CHECK ((VALUE > 0));');
    expect(applied.stdout).toContain('CREATE DOMAIN "code" AS character varying(12) NOT NULL;');
    expect(applied.stdout).toContain('"qty" "posint" NOT NULL');
    await expect(neu.admin.query(`INSERT INTO orders VALUES (1, 0, 'x')`)).rejects.toThrow(/posint_check/);
    const checked = await runCheck(config);
    expect(checked.failures, checked.stderr).toEqual([]);
  });

  it('PostgreSQL → MariaDB: domains over bytea, numeric, timestamptz and a domain over a domain stream as their base types (inserts and updates equal the source)', { timeout: 300_000 }, async () => {
    const old = await createPgDatabase(pgUrl, 'dom_stream_old');
    const neu = await createMysqlDatabase(mysqlUrl, 'dom_stream_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE DOMAIN blob AS bytea`);
    await old.admin.query(`CREATE DOMAIN small_blob AS blob CHECK (octet_length(VALUE) < 100)`);
    await old.admin.query(`CREATE DOMAIN amount AS numeric(12,4) CHECK (VALUE >= 0)`);
    await old.admin.query(`CREATE DOMAIN happened AS timestamptz`);
    await old.admin.query(`CREATE DOMAIN seen AS happened`);
    await old.admin.query(`CREATE TABLE files (id integer PRIMARY KEY, body blob, thumb small_blob, price amount, at happened, last_seen seen)`);
    const row = (id: number, bytes: string, price: string, at: string) =>
      old.admin.query(`INSERT INTO files VALUES ($1, decode($2, 'hex'), decode($2, 'hex') || '\\xff'::bytea, $3, $4::timestamptz, $4::timestamptz + interval '1 day')`, [id, bytes, price, at]);
    await row(1, '0102', '12.5', '2024-02-29 23:59:59.123456+00');
    await row(2, '', '0', '1999-12-31 12:00:00+05:30');
    await old.admin.query(`INSERT INTO files VALUES (3, NULL, NULL, NULL, NULL, NULL)`);
    const config = writeConfig({ migration: 'domstream', old: { url: old.url }, new: { url: neu.url } });
    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('`body` longblob NULL');
    const checked = await runCheck(config);
    expect(checked.failures, checked.stderr).toEqual([]);

    const tandem = startTandem(['run', '--config', config]);
    procs.push(tandem);
    await waitForShadowing(config);
    // While streaming: the stream's first relation message for files names the domains, not their base types.
    await row(4, '00ff10', '99999999.9999', '2038-01-19 03:14:08.5+00');
    await row(5, '5c78', '0.0001', '1970-01-01 00:00:00+00');
    await old.admin.query(`UPDATE files SET body = '\\xdeadbeef', thumb = '\\xbeef', price = 7.25, at = '2030-06-01 08:00:00.000001+00', last_seen = '2030-06-02 09:00:00+02' WHERE id = 1`);
    await old.admin.query(`UPDATE files SET body = '\\x00', thumb = '\\x', price = 1, at = '2001-01-01 00:00:00+00', last_seen = '2001-01-01 00:00:00+00' WHERE id = 3`);
    await old.admin.query(`UPDATE files SET body = NULL, price = NULL WHERE id = 2`);

    const source = () =>
      pgRows(old.admin, `SELECT id::text, encode(body, 'hex'), encode(thumb, 'hex'), price::text, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM files ORDER BY id`);
    const shadow = () =>
      mysqlRows(neu.admin, `SELECT id, LOWER(HEX(body)), LOWER(HEX(thumb)), price, DATE_FORMAT(at, '%Y-%m-%d %H:%i:%s.%f'), DATE_FORMAT(last_seen, '%Y-%m-%d %H:%i:%s.%f') FROM files ORDER BY id`);
    await waitForSameRows('the streamed domain values on the shadow', source, shadow, { procs: [tandem], timeoutMs: 60_000 });
    expect(await shadow()).toEqual(await source());
    // The values, spelled out: bytes as bytes (not their hex text), decimals exact, times in UTC.
    expect((await shadow()).find((r) => r[0] === '1')).toEqual(['1', 'deadbeef', 'beef', '7.2500', '2030-06-01 08:00:00.000001', '2030-06-02 07:00:00.000000']);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  });

  it('a composite type is refused in user terms, naming the column', async () => {
    const old = await createPgDatabase(pgUrl, 'comp_old');
    const neu = await createMysqlDatabase(mysqlUrl, 'comp_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE TYPE pair AS (a integer, b integer)`);
    await old.admin.query(`CREATE TABLE pairs (id integer PRIMARY KEY, p pair)`);
    const config = writeConfig({ migration: 'comp', old: { url: old.url }, new: { url: neu.url } });
    const r = await runTandem(['schema', '--config', config]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'column pairs.p (pair) does not map to mysql: postgres type pair is not one Tandem maps (composite, range and extension types are not mapped, only built-in types, enums and domains over them); exclude the table or change the column type',
    );
    expect(r.stderr).not.toMatch(/isEnum/);
  });
});

describe('MariaDB inet6 and inet4 into PostgreSQL inet', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();

  it('tandem schema proposes inet, check passes, and run carries every address exactly (backfill and stream)', { timeout: 300_000 }, async () => {
    const old = await createMysqlDatabase(mysqlUrl, 'inet_old');
    const neu = await createPgDatabase(pgUrl, 'inet_new');
    dbs.push(old, neu);
    await old.admin.query(`CREATE TABLE hosts (id int PRIMARY KEY, a6 inet6, a4 inet4)`);
    const addresses6 = ['::ffff:10.0.0.1', '2001:db8::1:0:0:1', '::1.2.3.4', '::', '::1', 'fe80::1', '1:2:3:4:5:6:7:8', '::ffff:0:102:304', '2001:db8::', '::2:0:0', '64:ff9b::102:304'];
    const addresses4 = ['10.0.0.1', '0.0.0.0', '255.255.255.255', '192.168.1.20'];
    const insert = async (from: number, n: number) => {
      for (let i = from; i < from + n; i++) {
        await old.admin.query(`INSERT INTO hosts VALUES (?, ?, ?)`, [i, addresses6[i % addresses6.length], i % 3 === 0 ? null : addresses4[i % addresses4.length]]);
      }
    };
    await insert(0, 11);
    const config = writeConfig({ migration: 'inets', old: { url: old.url }, new: { url: neu.url } });

    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('"a6" inet');
    expect(applied.stdout).toContain('"a4" inet');
    const checked = await runCheck(config);
    expect(checked.failures, checked.stderr).toEqual([]);

    const tandem = startTandem(['run', '--config', config]);
    procs.push(tandem);
    await waitForShadowing(config);
    await insert(11, 11);
    await old.admin.query(`UPDATE hosts SET a6 = '2001:db8::42' WHERE id = 1`);
    const mine = () => mysqlRows(old.admin, `SELECT id, COALESCE(CAST(a6 AS CHAR), '∅'), COALESCE(CAST(a4 AS CHAR), '∅') FROM hosts ORDER BY id`);
    const theirs = () => pgRows(neu.admin, `SELECT id::text, COALESCE(host(a6), '∅'), COALESCE(host(a4), '∅') FROM hosts ORDER BY hosts.id`);
    await waitUntil('the addresses on the shadow', async () => JSON.stringify(await mine()) === JSON.stringify(await theirs()), 90_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; shadow: ${JSON.stringify(await theirs())}; tandem: ${tandem.output().slice(-2000)}`);
    });
    expect((await theirs()).length).toBe(22);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  });
});
