import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { createPgDatabase, runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, tandemStatus, waitForShadowing, waitUntil } from '../harness/tandem-process.js';
import { pgRows } from '../harness/compare.js';
import { runVerify, type VerifyReport } from '../harness/verify.js';

/**
 * No false alarms: a heavy write load against an in-sync pair for more than a minute, with hot rows changing all the
 * time, while `tandem run` verifies continuously and `tandem verify` runs again and again, reports zero drift.
 * H23: while apply is stopped, rows that differ are never called drift however long it takes; the decision waits
 * for the shadow's checkpoint (a log position) to pass the active side's position.
 */
const LOAD_MS = 65_000;

describe('verification under load', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, start } = suiteResources();

  it('reports zero drift during a minute of heavy writes, and waits for positions, not clocks (H23)', { timeout: 400_000 }, async () => {
    const source = await createPgDatabase(pgUrl, 'load_src');
    const shadow = await createPgDatabase(pgUrl, 'load_dst');
    dbs.push(source, shadow);
    const ddl = [
      `CREATE TABLE stock (sku text PRIMARY KEY, qty integer NOT NULL, price numeric(10,2), meta jsonb, seen timestamptz)`,
      `CREATE TABLE moves (id bigint PRIMARY KEY, sku text NOT NULL, delta integer, at timestamptz(6))`,
    ];
    for (const sql of ddl) {
      await source.admin.query(sql);
      await shadow.admin.query(sql);
    }
    await source.admin.query(`INSERT INTO stock SELECT 'sku-' || g, g % 50, g * 0.5, jsonb_build_object('g', g, 'tags', jsonb_build_array('a', 'b')), now() FROM generate_series(1, 20000) g`);
    await source.admin.query(`INSERT INTO moves SELECT g, 'sku-' || (g % 20000 + 1), g % 7 - 3, now() FROM generate_series(1, 20000) g`);
    const config = writeConfig({
      migration: 'load',
      old: { url: source.url },
      new: { url: shadow.url },
      api: { listen: '127.0.0.1:0' },
      verify: { interval: '1s', rowsPerSecond: 200000, chunkRows: 2000 },
    });
    const run = start(['run', '--config', config]);
    await waitForShadowing(config);

    // Four writers: new moves, stock updates (a hot set of 20 rows takes most of them), deletes and re-inserts.
    const pool = new pg.Pool({ connectionString: source.url, max: 4 });
    const stop = Date.now() + LOAD_MS;
    let transactions = 0;
    let nextId = 100_000;
    const writer = async (w: number) => {
      while (Date.now() < stop) {
        const c = await pool.connect();
        try {
          await c.query('BEGIN');
          const id = nextId++;
          const hot = `sku-${(id % 20) + 1}`;
          const cold = `sku-${(id * 7919) % 20000 + 1}`;
          await c.query(`INSERT INTO moves VALUES ($1, $2, $3, clock_timestamp())`, [id, hot, (id % 11) - 5]);
          await c.query(`UPDATE stock SET qty = qty + 1, seen = clock_timestamp(), meta = jsonb_set(meta, '{w}', to_jsonb($2::int)) WHERE sku = $1`, [hot, w]);
          if (id % 5 === 0) await c.query(`UPDATE stock SET price = price + 0.01 WHERE sku = $1`, [cold]);
          if (id % 13 === 0) await c.query(`DELETE FROM moves WHERE id = $1`, [id - 50]);
          if (id % 17 === 0) await c.query(`DELETE FROM stock WHERE sku = $1`, [cold]);
          if (id % 19 === 0) await c.query(`INSERT INTO stock VALUES ($1, 1, 1.00, '{"new": true}', now()) ON CONFLICT (sku) DO UPDATE SET qty = stock.qty + 1`, [`sku-${(id * 31) % 20000 + 1}`]);
          await c.query('COMMIT');
          transactions++;
        } finally {
          c.release();
        }
      }
    };
    const writers = Promise.all([0, 1, 2, 3].map(writer));

    const reports: Array<{ code: number | null; report: VerifyReport }> = [];
    while (Date.now() < stop - 5_000) reports.push(await runVerify(config));
    await writers;
    await pool.end();

    expect(transactions).toBeGreaterThan(5_000);
    expect(reports.length).toBeGreaterThanOrEqual(2);
    for (const { code, report } of reports) {
      expect(report.driftCount).toBe(0);
      expect(code).toBe(0);
      expect(report.tables.find((t) => t.table === 'moves')?.rowsCompared).toBeGreaterThan(20_000);
    }
    const status = await tandemStatus<{ verification: { driftCount: number; lastCompletePass: string | null } }>(config);
    expect(status.verification.driftCount).toBe(0);
    expect(status.verification.lastCompletePass).not.toBeNull();

    // After the load: caught up and equal, read directly.
    expect((await runVerify(config)).code).toBe(0);
    for (const sql of [`SELECT sku, qty::text, price::text, meta::text, seen::text FROM stock ORDER BY sku`, `SELECT id::text, sku, delta::text, at::text FROM moves ORDER BY id`]) {
      expect(await pgRows(shadow.admin, sql)).toEqual(await pgRows(source.admin, sql));
    }

    // H23: stop apply, change rows on the active side. They differ, but the checkpoint never passes the position,
    // so verify cannot call them drift: it reports them unconfirmed and exits 4, however long it waited.
    run.kill('SIGSTOP');
    try {
      await source.admin.query(`INSERT INTO stock VALUES ('h23-a', 1, 1, '{}', now()), ('h23-b', 2, 2, '{}', now())`);
      await source.admin.query(`INSERT INTO moves VALUES (999999999, 'sku-1', 0, now())`);
      const paused = await runVerify(config, ['--settle', '3s']);
      const report = paused.report;
      expect(report.driftCount).toBe(0);
      expect(report.unconfirmedCount).toBe(3);
      // Named, so an operator can look at them.
      expect(report.tables.find((t) => t.table === 'stock')?.unconfirmed?.keys.sort((a, b) => String(a.sku).localeCompare(String(b.sku)))).toEqual([{ sku: 'h23-a' }, { sku: 'h23-b' }]);
      expect(report.tables.find((t) => t.table === 'moves')?.unconfirmed?.keys).toEqual([{ id: '999999999' }]);
      expect(paused.code).toBe(4);
      expect(paused.stderr).toContain('could not be confirmed');
    } finally {
      run.kill('SIGCONT');
    }
    await waitUntil('verify to pass once apply resumes', async () => (await runTandem(['verify', '--config', config], { timeoutMs: 120_000 })).code === 0, 90_000);
  });
});
