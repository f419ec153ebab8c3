import { describe, expect, inject, it } from 'vitest';
import { createPgDatabase, runTandem } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { pgRows } from '../harness/compare.js';
import { suiteResources } from '../harness/tandem-process.js';

/**
 * backfill.rowsPerSecond keeps the initial copy of a production database under a rate, on both copy paths (the
 * PostgreSQL → PostgreSQL bulk path for identical column types, and the row path with every value checked).
 * The limit is a floor on the copy's duration: a busy machine only makes the copy slower, never faster.
 */
describe('a throttled backfill', () => {
  const pgUrl = inject('pgUrl');
  const { dbs } = suiteResources();

  for (const [path, shadowType] of [['bulk', 'numeric(12,2)'], ['row by row', 'numeric(14,2)']] as const) {
    it(`stays under backfill.rowsPerSecond (${path}) and copies every row`, async () => {
      const [src, dst] = [await createPgDatabase(pgUrl, 'thr_src'), await createPgDatabase(pgUrl, 'thr_dst')];
      dbs.push(src, dst);
      await src.admin.query(`CREATE TABLE items (id int PRIMARY KEY, price numeric(12,2), name text)`);
      await dst.admin.query(`CREATE TABLE items (id int PRIMARY KEY, price ${shadowType}, name text)`);
      await src.admin.query(`INSERT INTO items SELECT g, g / 100.0, 'item ' || g FROM generate_series(1, 6000) g`);
      const limit = 2_000;
      const config = writeConfig({ migration: `thr_${path === 'bulk' ? 'b' : 'r'}_${process.pid}`, old: { url: src.url }, new: { url: dst.url }, backfill: { rowsPerSecond: limit } });
      const r = await runTandem(['backfill', '--yes', '--config', config], { timeoutMs: 120_000, env: { TANDEM_LOG_LEVEL: 'info' } });
      expect(r.code, r.stderr).toBe(0);
      // The copy's own duration, from its log (the command's start-up is not the copy).
      const at = (msg: string) => {
        const line = `${r.stdout}\n${r.stderr}`.split('\n').find((l) => l.includes(msg));
        expect(line, `log line "${msg}" in:\n${r.stderr.slice(-2000)}`).toBeDefined();
        return (JSON.parse(line as string) as { time: number }).time;
      };
      const seconds = (at('backfill complete') - at('backfill started')) / 1000;
      expect(await pgRows(dst.admin, `SELECT count(*)::text, sum(price)::text FROM items`)).toEqual(await pgRows(src.admin, `SELECT count(*)::text, sum(price)::text FROM items`));
      // 6,000 rows at 2,000 rows/s, with at most one second's rows as a burst: at least 2 s of copying.
      expect(seconds).toBeGreaterThanOrEqual((6_000 - limit) / limit);
      const status = JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { backfill: { rowsCopied: number; rowsPerSecondLimit: number | null } };
      expect(status.backfill).toMatchObject({ rowsCopied: 6_000, rowsPerSecondLimit: limit });
    });
  }
});

describe('a throttled parallel backfill', () => {
  const pgUrl = inject('pgUrl');
  const { dbs } = suiteResources();

  it('keeps the total of every worker under backfill.rowsPerSecond', async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'thrp_src'), await createPgDatabase(pgUrl, 'thrp_dst')];
    dbs.push(src, dst);
    for (const t of ['a', 'b', 'c']) {
      for (const db of [src, dst]) await db.admin.query(`CREATE TABLE ${t} (id int PRIMARY KEY, price numeric(12,2), name text)`);
      await src.admin.query(`INSERT INTO ${t} SELECT g, g / 100.0, 'item ' || g FROM generate_series(1, 3000) g`);
    }
    const limit = 2_000;
    const config = writeConfig({ migration: `thrp_${process.pid}`, old: { url: src.url }, new: { url: dst.url }, backfill: { rowsPerSecond: limit, parallelTables: 3 } });
    const r = await runTandem(['backfill', '--yes', '--config', config], { timeoutMs: 120_000, env: { TANDEM_LOG_LEVEL: 'info' } });
    expect(r.code, r.stderr).toBe(0);
    const lines = `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: number; msg: string; workers?: number });
    const at = (msg: string) => {
      const line = lines.find((l) => l.msg.includes(msg));
      expect(line, `log line "${msg}" in:\n${r.stderr.slice(-2000)}`).toBeDefined();
      return (line as { time: number }).time;
    };
    // Three workers really ran (else this would only repeat the test above).
    expect(lines.find((l) => l.msg.includes('copying tables in parallel'))?.workers).toBe(3);
    const seconds = (at('backfill complete') - at('backfill started')) / 1000;
    for (const t of ['a', 'b', 'c']) expect(await pgRows(dst.admin, `SELECT count(*)::text, sum(price)::text FROM ${t}`)).toEqual(await pgRows(src.admin, `SELECT count(*)::text, sum(price)::text FROM ${t}`));
    // 9,000 rows at 2,000 rows/s in total, with at most one second's rows as a burst: at least 3.5 s of copying.
    expect(seconds).toBeGreaterThanOrEqual((9_000 - limit) / limit);
    const status = JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { backfill: { rowsCopied: number; rowsPerSecondLimit: number | null; parallelTables: number } };
    expect(status.backfill).toMatchObject({ rowsCopied: 9_000, rowsPerSecondLimit: limit, parallelTables: 3 });
  });
});
