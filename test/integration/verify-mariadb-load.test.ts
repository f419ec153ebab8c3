import { describe, expect, inject, it } from 'vitest';
import mysql from 'mysql2/promise';
import { bypassFence, createMysqlDatabase, createPgDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, waitForShadowing } from '../harness/tandem-process.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { runVerify, type VerifyReport } from '../harness/verify.js';

/**
 * Across engines under load: MariaDB → PostgreSQL with writers changing hot rows (floats, decimals, JSON,
 * microsecond datetimes) while `tandem verify` runs again and again: no drift. Then the source's own tables go quiet
 * while a sibling database on the same server keeps writing to the binlog: drift injected on the shadow is still
 * confirmed within seconds (the checkpoint's idle position moves past the sibling's events), not left unconfirmed.
 */
const LOAD_MS = 30_000;

describe('verification under load, MariaDB → PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start } = suiteResources();

  it('reports no drift while rows change, and confirms real drift while only a sibling database writes', { timeout: 300_000 }, async () => {
    const source = await createMysqlDatabase(mysqlUrl, 'myload_src');
    const sibling = await createMysqlDatabase(mysqlUrl, 'myload_sib');
    const shadow = await createPgDatabase(pgUrl, 'myload_dst');
    await bypassFence(shadow.admin);
    dbs.push(source, sibling, shadow);
    await source.admin.query(`CREATE TABLE stock (id int PRIMARY KEY, qty int NOT NULL, price decimal(12,3), f float, js json, at datetime(6), note varchar(40))`);
    await source.admin.query(
      `INSERT INTO stock SELECT seq, seq % 50, seq * 0.125, seq / 7, JSON_OBJECT('g', seq, 'tags', JSON_ARRAY('a', 'b')), '2024-03-31 01:30:00' + INTERVAL seq SECOND, CONCAT('n', seq) FROM seq_1_to_5000`,
    );
    await sibling.admin.query(`CREATE TABLE noise (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20))`);
    await shadow.admin.query(`CREATE TABLE stock (id integer PRIMARY KEY, qty integer NOT NULL, price numeric(12,3), f real, js jsonb, at timestamp(6), note text)`);
    const config = writeConfig({
      migration: 'myload',
      old: { url: source.url },
      new: { url: shadow.url },
      api: { listen: '127.0.0.1:0' },
      verify: { interval: '2s', chunkRows: 1000 },
    });
    start(['run', '--config', config]);
    await waitForShadowing(config);

    const pool = mysql.createPool({ uri: source.url, connectionLimit: 2 });
    const stop = Date.now() + LOAD_MS;
    let transactions = 0;
    let n = 0;
    const writer = async () => {
      while (Date.now() < stop) {
        const i = n++;
        const c = await pool.getConnection();
        try {
          await c.query('BEGIN');
          await c.query(`UPDATE stock SET qty = qty + 1, f = f + 0.1, at = UTC_TIMESTAMP(6), js = JSON_SET(js, '$.w', ?) WHERE id = ?`, [i, (i % 10) + 1]);
          await c.query(`UPDATE stock SET price = price + 0.001 WHERE id = ?`, [((i * 7919) % 5000) + 1]);
          if (i % 3 === 0) await c.query(`INSERT INTO stock VALUES (?, 1, 0.5, 0.1, '{"new": true}', UTC_TIMESTAMP(6), NULL)`, [100_000 + i]);
          if (i % 7 === 0) await c.query(`DELETE FROM stock WHERE id = ?`, [100_000 + i - 6]);
          await c.query('COMMIT');
          transactions++;
        } finally {
          c.release();
        }
      }
    };
    const writers = Promise.all([writer(), writer()]);
    const reports: VerifyReport[] = [];
    while (Date.now() < stop - 3_000) {
      const r = await runVerify(config);
      expect(r.code, r.stderr).toBe(0);
      reports.push(r.report);
    }
    await writers;
    await pool.end();
    expect(transactions).toBeGreaterThan(1_000);
    expect(reports.length).toBeGreaterThanOrEqual(2);
    for (const report of reports) expect(report.driftCount).toBe(0);

    // Only the sibling database writes from here on; the source's tables stay still.
    let noise = true;
    const noiseWriter = (async () => {
      while (noise) await sibling.admin.query(`INSERT INTO noise (v) VALUES ('x')`);
    })();
    try {
      await shadow.admin.query(`UPDATE stock SET note = 'drifted' WHERE id = 4321`);
      const drifted = await runVerify(config, ['--settle', '20s']);
      expect(drifted.code, drifted.stderr).toBe(1);
      expect(drifted.report.unconfirmedCount).toBe(0);
      expect(drifted.report.tables[0]?.drift).toEqual([{ key: { id: '4321' }, kind: 'different', columns: ['note'] }]);
    } finally {
      noise = false;
      await noiseWriter;
    }
    await shadow.admin.query(`UPDATE stock SET note = 'n4321' WHERE id = 4321`);
    expect((await runVerify(config)).code).toBe(0);
    // Read directly: the last state of the load is on the shadow, value for value.
    expect(await pgRows(shadow.admin, `SELECT id::text, qty::text, price::text, note FROM stock ORDER BY stock.id`)).toEqual(
      await mysqlRows(source.admin, `SELECT id, qty, price, note FROM stock ORDER BY id`),
    );
  });
});
