import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, waitUntil, waitForShadowing } from '../harness/tandem-process.js';
import { pgRows } from '../harness/compare.js';

/**
 * H2 with a MariaDB active side: the binlog connection is cut (KILL of its dump thread) while a large transaction
 * streams. Tandem must reconnect by itself and end with no row missing and none twice.
 */
describe('MariaDB active side: replication connection cut mid-transaction', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start } = suiteResources();
  let source: MysqlTestDatabase;
  let shadow: PgTestDatabase;
  beforeAll(async () => {
    [source, shadow] = await Promise.all([createMysqlDatabase(mysqlUrl, 'cutsrc'), createPgDatabase(pgUrl, 'cutdst')]);
    dbs.push(source, shadow);
    await source.admin.query(`CREATE TABLE rows_in (id bigint PRIMARY KEY, v varchar(64) NOT NULL, n int NOT NULL)`);
    await shadow.admin.query(`CREATE TABLE rows_in (id bigint PRIMARY KEY, v varchar(64) NOT NULL, n int NOT NULL)`);
  });

  it('reconnects after its binlog dump thread is killed and applies the transaction exactly once', async () => {
    const config = writeConfig({ migration: 'cut_my', old: { url: source.url }, new: { url: shadow.url } });
    const tandem = start(['run', '--config', config]);
    await waitForShadowing(config, 60_000);

    // MariaDB's SEQUENCE engine generates the rows: one 200,000-row transaction.
    await source.admin.query(`INSERT INTO rows_in SELECT seq, MD5(seq), 0 FROM seq_1_to_200000`);
    // The dump thread serves Tandem's binlog connection; killing it cuts the stream inside the transaction's events.
    const [threads] = await source.admin.query<RowDataPacket[]>(`SELECT id FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'`);
    expect(threads.length).toBeGreaterThan(0);
    for (const t of threads) await source.admin.query(`KILL ${Number(t.id)}`);
    for (let i = 1; i <= 20; i++) await source.admin.query(`UPDATE rows_in SET n = n + 1 WHERE id <= 100`);

    await waitUntil('the shadow to hold every row with exact counters', async () => {
      const [r] = await pgRows(shadow.admin, `SELECT count(*)::text, coalesce(sum(n), 0)::text FROM rows_in`);
      return r?.[0] === '200000' && r?.[1] === '2000';
    }, 180_000, 500);
    expect(tandem.child.exitCode).toBeNull();
    const [again] = await source.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM information_schema.processlist WHERE command LIKE 'Binlog Dump%'`);
    expect(Number(again[0]?.n)).toBeGreaterThan(0);
    const sample = await pgRows(shadow.admin, `SELECT id::text, v, n::text FROM rows_in WHERE id IN (1, 100, 101, 200000) ORDER BY rows_in.id`);
    expect(sample).toEqual([
      ['1', 'c4ca4238a0b923820dcc509a6f75849b', '20'],
      ['100', 'f899139df5e1059396431415e770c6dd', '20'],
      ['101', '38b3eff8baf56627478ec76a704e9b52', '0'],
      ['200000', expect.any(String), '0'],
    ]);
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-2000)).toBe(0);
  });
});
