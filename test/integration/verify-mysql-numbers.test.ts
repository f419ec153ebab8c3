import { afterAll, describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase } from '../harness/db.js';
import { runUntilShadowing, waitUntil, suiteResources } from '../harness/tandem-process.js';
import { builtSpec, runVerify } from '../harness/verify.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { VerifyReader, VerifyTable } from '../../src/engines/engine.js';

/**
 * MariaDB integers and decimals whose canonical text depended on how the column is declared: ZEROFILL padding
 * (`00000012.50` is 12.5, as PostgreSQL holds it) and tinyint(1), which is an integer against an integer column
 * (0, 1, 2, -5, 127 against a PostgreSQL smallint) and a boolean only against a boolean (DESIGN.md "Canonical
 * values"). End to end through `tandem run` and `tandem verify`, keys included, in 2-row chunks; and through the
 * readers between two MariaDB databases.
 */
describe('MariaDB ZEROFILL and tinyint(1) in verification', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs } = suiteResources();
  const readers: VerifyReader[] = [];
  afterAll(async () => {
    await Promise.all(readers.map((r) => r.close()));
  });

  const start = (old: string, neu: string) => runUntilShadowing(procs, `num${procs.length}`, old, neu, { verify: { chunkRows: 2 } });

  const byKey = (column: string) => (a: { key: Record<string, string> }, b: { key: Record<string, string> }) => Number(a.key[column]) - Number(b.key[column]);

  it('ZEROFILL, MariaDB → PostgreSQL through tandem run: no drift on equal values, a changed value is drift in its column', { timeout: 300_000 }, async () => {
    const source = await createMysqlDatabase(mysqlUrl, 'zf_src');
    const shadow = await createPgDatabase(pgUrl, 'zf_dst');
    dbs.push(source, shadow);
    await source.admin.query(
      `CREATE TABLE zf (id int(8) unsigned zerofill PRIMARY KEY, d decimal(10,2) zerofill, i int zerofill, b bigint zerofill, s smallint(3) zerofill, f float zerofill, dd double zerofill, m decimal(65,30) zerofill)`,
    );
    await shadow.admin.query(`CREATE TABLE zf (id bigint PRIMARY KEY, d numeric(10,2), i bigint, b numeric(20,0), s integer, f real, dd double precision, m numeric(65,30))`);
    await source.admin.query(
      `INSERT INTO zf VALUES (1, 12.50, 12, 12, 7, 1.5, 2.25, 12.5), (2, 0, 0, 0, 0, 0, 0, 0), (42, 99999999.99, 4294967295, 18446744073709551615, 65535, 3.4e38, 1e300, 0.000000000000000000000000000001),
        (1234, 0.01, 1, 1, 1, 0.1, 0.1, 1), (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    );
    const config = await start(source.url, shadow.url);
    // And through the binlog.
    await source.admin.query(`INSERT INTO zf VALUES (7, 100.10, 100, 100, 100, 100, 100, 100.1), (99999999, 0.50, 5, 5, 5, 0.5, 0.5, 0.5)`);
    await source.admin.query(`UPDATE zf SET d = 10.00, b = 1000 WHERE id = 2`);
    await waitUntil('the streamed rows', async () => (await shadow.admin.query(`SELECT d::text FROM zf WHERE id = 2`)).rows[0]?.d === '10.00' && (await shadow.admin.query(`SELECT count(*)::int AS n FROM zf`)).rows[0]?.n === 7, 60_000);
    expect((await shadow.admin.query(`SELECT d::text, b::text, m::text FROM zf WHERE id = 1`)).rows[0]).toEqual({ d: '12.50', b: '12', m: '12.500000000000000000000000000000' });

    const clean = await runVerify(config);
    expect(clean.report.driftCount, clean.stderr).toBe(0);
    expect(clean.code).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(7);

    await shadow.admin.query(`UPDATE zf SET d = 12.51 WHERE id = 1`);
    await shadow.admin.query(`UPDATE zf SET i = 6, m = 0.5000001 WHERE id = 99999999`);
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    // Keys are canonical too: 1, not 00000001.
    expect([...(drifted.report.tables[0]?.drift ?? [])].sort(byKey('id'))).toEqual([
      { key: { id: '1' }, kind: 'different', columns: ['d'] },
      { key: { id: '99999999' }, kind: 'different', columns: ['i', 'm'] },
    ]);
  });

  it('tinyint(1), MariaDB → PostgreSQL through tandem run: an integer against smallint (keys too), a boolean against boolean', { timeout: 300_000 }, async () => {
    const source = await createMysqlDatabase(mysqlUrl, 'tb_src');
    const shadow = await createPgDatabase(pgUrl, 'tb_dst');
    dbs.push(source, shadow);
    await source.admin.query(`CREATE TABLE tb (id tinyint(1) PRIMARY KEY, v tinyint(1), flag tinyint(1), n int)`);
    await shadow.admin.query(`CREATE TABLE tb (id smallint PRIMARY KEY, v smallint, flag boolean, n integer)`);
    await source.admin.query(`INSERT INTO tb VALUES (0, 0, 0, 10), (1, 1, 1, 11), (2, 2, 1, 12)`);
    const config = await start(source.url, shadow.url);
    await source.admin.query(`INSERT INTO tb VALUES (-5, -5, 0, 13), (127, 127, 1, 14)`);
    await source.admin.query(`UPDATE tb SET n = 22 WHERE id = 2`);
    await waitUntil('the streamed rows', async () => (await shadow.admin.query(`SELECT sum(n)::int AS s FROM tb`)).rows[0]?.s === 70, 60_000);
    expect((await shadow.admin.query(`SELECT id, v, flag FROM tb ORDER BY id`)).rows).toEqual([
      { id: -5, v: -5, flag: false },
      { id: 0, v: 0, flag: false },
      { id: 1, v: 1, flag: true },
      { id: 2, v: 2, flag: true },
      { id: 127, v: 127, flag: true },
    ]);

    const clean = await runVerify(config);
    expect(clean.report.driftCount, clean.stderr).toBe(0);
    expect(clean.code).toBe(0);
    expect(clean.report.tables[0]?.rowsCompared).toBe(5);

    // 2 → 3 is a change (as booleans both were `t`), and so is a boolean flipped.
    await shadow.admin.query(`UPDATE tb SET v = 3 WHERE id = 2`);
    await shadow.admin.query(`UPDATE tb SET v = -6 WHERE id = -5`);
    await shadow.admin.query(`UPDATE tb SET flag = false WHERE id = 127`);
    const drifted = await runVerify(config);
    expect(drifted.code, drifted.stderr).toBe(1);
    expect([...(drifted.report.tables[0]?.drift ?? [])].sort(byKey('id'))).toEqual([
      { key: { id: '-5' }, kind: 'different', columns: ['v'] },
      { key: { id: '2' }, kind: 'different', columns: ['v'] },
      { key: { id: '127' }, kind: 'different', columns: ['flag'] },
    ]);
  });

  async function pairOf(activeUrl: string, shadowUrl: string, table: string): Promise<{ spec: VerifyTable; active: VerifyReader; shadow: VerifyReader }> {
    const spec = await builtSpec(activeUrl, shadowUrl, table);
    const [ea, es] = [engineForUrl(activeUrl), engineForUrl(shadowUrl)];
    const [active, shadow] = await Promise.all([ea.openVerifyReader(activeUrl, { peer: es.kind, zeroDates: 'keep' }), es.openVerifyReader(shadowUrl, { peer: ea.kind, zeroDates: 'keep' })]);
    readers.push(active, shadow);
    return { spec, active, shadow };
  }

  it('MariaDB ↔ MariaDB: ZEROFILL equals the unpadded column; tinyint(1) compares its integers (1 and 2 differ); repair reads unpadded values', { timeout: 120_000 }, async () => {
    const [a, b] = await Promise.all([createMysqlDatabase(mysqlUrl, 'num_a'), createMysqlDatabase(mysqlUrl, 'num_b')]);
    dbs.push(a, b);
    await a.admin.query(`CREATE TABLE n (id int(6) zerofill PRIMARY KEY, d decimal(10,2) zerofill, b bigint zerofill, t tinyint(1))`);
    await b.admin.query(`CREATE TABLE n (id int unsigned PRIMARY KEY, d decimal(10,2) unsigned, b bigint unsigned, t tinyint(1))`);
    const rows = `(1, 12.50, 12, 1), (2, 0, 0, 0), (300, 0.05, 18446744073709551615, 2), (4, NULL, NULL, -5)`;
    await a.admin.query(`INSERT INTO n VALUES ${rows}`);
    await b.admin.query(`INSERT INTO n VALUES ${rows}`);
    const { spec, active, shadow } = await pairOf(a.url, b.url, 'n');
    expect(spec.asInteger).toEqual(['t']);
    const keys = [['1'], ['2'], ['300'], ['4']];
    const [ra, rb] = await Promise.all([active.canonicalRows(spec, keys), shadow.canonicalRows(spec, keys)]);
    expect([...ra.values()].map((r) => r.values).sort((x, y) => Number(x.id) - Number(y.id))).toEqual([
      { id: '1', d: '12.5', b: '12', t: '1' },
      { id: '2', d: '0', b: '0', t: '0' },
      { id: '4', d: null, b: null, t: '-5' },
      { id: '300', d: '0.05', b: '18446744073709551615', t: '2' },
    ]);
    expect(rb).toEqual(ra);
    expect(await shadow.summarize(spec, {})).toEqual(await active.summarize(spec, {}));
    expect(await active.keyAfter(spec, ['2'], 1)).toEqual(['4']);
    // Repair reads what replication would carry: no padding.
    expect((await active.readRows(spec, [['1']]))[0]).toEqual({ id: '1', d: '12.50', b: '12', t: '1' });

    await b.admin.query(`UPDATE n SET t = 1 WHERE id = 300`);
    expect(await shadow.summarize(spec, {})).not.toEqual(await active.summarize(spec, {}));
    const changed = (await shadow.canonicalRows(spec, [['300']])).get('["300"]')?.values;
    expect(changed?.t).toBe('1');
    expect((await active.canonicalRows(spec, [['300']])).get('["300"]')?.values.t).toBe('2');
    await b.admin.query(`UPDATE n SET t = 2 WHERE id = 300`);
    expect(await shadow.summarize(spec, {})).toEqual(await active.summarize(spec, {}));
  });
});
