import { describe, expect, inject, it } from 'vitest';
import { bypassFence, createMysqlDatabase, createPgDatabase } from '../harness/db.js';
import { runVerify } from '../harness/verify.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, waitForShadowing } from '../harness/tandem-process.js';

/**
 * Verification hazards end to end, through `tandem run` and `tandem verify`: zero dates under the configured policy
 * (H13), MySQL FLOAT against PostgreSQL real (H14), JSON stored differently by each engine (H15), and string keys
 * that collations order and compare differently, in 2-row chunks (H16). Each also proves a real change is found.
 */
describe('verification hazards', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs, start: startProcess } = suiteResources();

  async function start(old: string, neu: string, extra: Record<string, unknown>): Promise<string> {
    const config = writeConfig({ migration: `hz${procs.length}`, old: { url: old }, new: { url: neu }, api: { listen: '127.0.0.1:0' }, ...extra });
    startProcess(['run', '--config', config]);
    await waitForShadowing(config);
    return config;
  }

  it('MariaDB → PostgreSQL: zero dates as NULL (H13), FLOAT vs real and double (H14), JSON normal forms (H15): no false drift, real changes found', { timeout: 300_000 }, async () => {
    const source = await createMysqlDatabase(mysqlUrl, 'hz_src');
    const shadow = await createPgDatabase(pgUrl, 'hz_dst');
    await bypassFence(shadow.admin);
    dbs.push(source, shadow);
    await source.admin.query(`SET SESSION sql_mode = ''`);
    await source.admin.query(`CREATE TABLE h (id int PRIMARY KEY, f float, f8 float, d double, dt datetime(6), dd date, js json, note varchar(20))`);
    await source.admin.query(
      `INSERT INTO h VALUES
        (1, 0.1, 0.1, 0.1, '0000-00-00 00:00:00', '0000-00-00', '{"b": 1, "a": [52.0, {"y": 1, "x": 2}]}', 'zero'),
        (2, 3.4028234e38, 123.456, 1e100, '2022-11-00 10:00:00', '2022-11-00', '{"a":[52,{"x":2,"y":1}],"b":1.0}', 'partial'),
        (3, -1.5e-7, 16777217, 5e-324, '2024-02-29 23:59:59.999999', '2024-02-29', '{"emoji": "😀", "nested": {"z": null, "a": true}}', 'real'),
        (4, 0, NULL, -0, NULL, NULL, '[]', NULL)`,
    );
    await shadow.admin.query(`CREATE TABLE h (id integer PRIMARY KEY, f real, f8 double precision, d double precision, dt timestamp(6), dd date, js jsonb, note text)`);
    const config = await start(source.url, shadow.url, { values: { zeroDates: 'null' } });

    const clean = await runVerify(config);
    expect(clean.report.driftCount).toBe(0);
    expect(clean.code).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(4);

    // JSON rewritten on the shadow with other key order and white space is still equal (H15)…
    await shadow.admin.query(`UPDATE h SET js = '{ "a" : [ 52.00, { "x" : 2, "y" : 1 } ], "b" : 1 }' WHERE id = 1`);
    expect((await runVerify(config)).report.driftCount).toBe(0);
    // …while real changes are found, each in its column: a float (H14), a JSON value (H15), and a date where the
    // policy says the zero date became NULL (H13).
    await shadow.admin.query(`UPDATE h SET f = 0.2 WHERE id = 1`);
    await shadow.admin.query(`UPDATE h SET js = '{"a": [52.5, {"x": 2, "y": 1}], "b": 1}' WHERE id = 2`);
    await shadow.admin.query(`UPDATE h SET dd = '2022-11-01' WHERE id = 2`);
    // A FLOAT replicated into double precision holds the float32's shortest text; compared at float32 precision.
    await shadow.admin.query(`UPDATE h SET f8 = 16777218 WHERE id = 3`);
    const drifted = await runVerify(config);
    expect(drifted.code).toBe(1);
    const drift = [...(drifted.report.tables[0]?.drift ?? [])].sort((a, b) => Number(a.key.id) - Number(b.key.id));
    expect(drift).toEqual([
      { key: { id: '1' }, kind: 'different', columns: ['f'] },
      { key: { id: '2' }, kind: 'different', columns: ['dd', 'js'] },
      { key: { id: '3' }, kind: 'different', columns: ['f8'] },
    ]);
  });

  it('PostgreSQL → MariaDB: string keys ordered by bytes in 2-row chunks agree across collations (H16)', { timeout: 300_000 }, async () => {
    const source = await createPgDatabase(pgUrl, 'hz16_src');
    const shadow = await createMysqlDatabase(mysqlUrl, 'hz16_dst');
    dbs.push(source, shadow);
    const keys = ['a', 'a ', 'A', 'b', 'B', 'é', 'e\u0301', 'E', '😀', '', ' ', 'a\t', 'Z', 'zz', '~', 'ß', 'ss'];
    await source.admin.query(`CREATE TABLE k (s text PRIMARY KEY, v integer)`);
    for (const [i, k] of keys.entries()) await source.admin.query(`INSERT INTO k VALUES ($1, $2)`, [k, i]);
    await shadow.admin.query(`CREATE TABLE k (s varchar(20) COLLATE utf8mb4_nopad_bin PRIMARY KEY, v int)`);
    const config = await start(source.url, shadow.url, { verify: { chunkRows: 2 } });

    const clean = await runVerify(config);
    expect(clean.report.driftCount).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(keys.length);
    expect(clean.code).toBe(0);

    await shadow.admin.query(`DELETE FROM k WHERE s = 'a '`);
    await shadow.admin.query(`UPDATE k SET v = -1 WHERE s = 'é'`);
    const drifted = await runVerify(config);
    expect(drifted.code).toBe(1);
    const drift = [...(drifted.report.tables[0]?.drift ?? [])].sort((a, b) => a.key.s!.localeCompare(b.key.s!));
    expect(drift).toEqual([
      { key: { s: 'a ' }, kind: 'missing', columns: [] },
      { key: { s: 'é' }, kind: 'different', columns: ['v'] },
    ]);
  });
});
