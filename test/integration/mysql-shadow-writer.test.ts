import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RowDataPacket } from 'mysql2/promise';
import { createMysqlDatabase, type MysqlTestDatabase } from '../harness/db.js';
import { suiteResources } from '../harness/tandem-process.js';
import { MysqlShadowWriter } from '../../src/engines/mysql/shadow.js';
import { mysqlEngine } from '../../src/engines/mysql/index.js';
import type { Change } from '../../src/model/change.js';

/**
 * Apply regroups a shadow transaction's changes table by table. A MySQL/MariaDB trigger fires for Tandem's writes
 * too (there is no replica role), so a table with a trigger keeps the source's order: the trigger sees it.
 */
describe('MysqlShadowWriter order across tables', () => {
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, cleanups } = suiteResources();
  let db: MysqlTestDatabase;
  let writer: MysqlShadowWriter;
  beforeAll(async () => {
    db = await createMysqlDatabase(mysqlUrl, 'order');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE orders (id bigint PRIMARY KEY, code varchar(20) UNIQUE)`);
    await db.admin.query(`CREATE TABLE order_lines (order_id bigint, line int, PRIMARY KEY (order_id, line))`);
    await db.admin.query(`CREATE TABLE seen (of_id bigint, orders_then bigint)`);
    await db.admin.query(`CREATE TABLE audited (id bigint PRIMARY KEY)`);
    await db.admin.query(`CREATE TRIGGER note_seen BEFORE INSERT ON audited FOR EACH ROW INSERT INTO seen VALUES (NEW.id, (SELECT count(*) FROM orders))`);
    writer = await MysqlShadowWriter.open({ url: db.url, migration: 'o', direction: 'forward', maxRows: 5000 });
    cleanups.push(() => writer.close());
    await writer.prepare(['orders', 'order_lines', 'audited']);
  });

  const commit = (n: number) => writer.commit({ sourcePosition: `binlog.000001:${n}`, transportOffset: null, commitTime: null, appliedTransactions: n, stage: 'streaming', idlePosition: null });

  it('ends with the rows the source order gives, a unique value moved between rows included', async () => {
    const changes: Change[] = [];
    for (let i = 1; i <= 30; i++) {
      changes.push({ op: 'insert', table: 'orders', after: { id: String(i), code: `c${i}` } });
      changes.push({ op: 'insert', table: 'order_lines', after: { order_id: String(i), line: '1' } });
    }
    changes.push({ op: 'update', table: 'orders', before: { id: '1' }, after: { id: '1', code: null } });
    changes.push({ op: 'insert', table: 'orders', after: { id: '31', code: 'c1' } });
    changes.push({ op: 'truncate', tables: ['order_lines'] });
    changes.push({ op: 'insert', table: 'order_lines', after: { order_id: '3', line: '9' } });
    await writer.begin();
    await writer.apply(changes);
    await commit(1);
    const [orders] = await db.admin.query<RowDataPacket[]>(`SELECT id, code FROM orders WHERE id IN (1, 30, 31) ORDER BY id`);
    expect(orders.map((r) => [String(r.id), r.code])).toEqual([['1', null], ['30', 'c30'], ['31', 'c1']]);
    const [lines] = await db.admin.query<RowDataPacket[]>(`SELECT order_id, line FROM order_lines`);
    expect(lines.map((r) => [String(r.order_id), Number(r.line)])).toEqual([['3', 9]]);
  });

  it('applies in source order where a trigger fires for replicated rows', async () => {
    await db.admin.query(`DELETE FROM orders`);
    const changes: Change[] = [];
    for (let i = 1; i <= 5; i++) {
      changes.push({ op: 'insert', table: 'orders', after: { id: String(100 + i), code: null } });
      changes.push({ op: 'insert', table: 'audited', after: { id: String(i) } });
    }
    await writer.begin();
    await writer.apply(changes);
    await commit(2);
    const [seen] = await db.admin.query<RowDataPacket[]>(`SELECT of_id, orders_then FROM seen ORDER BY of_id`);
    expect(seen.map((r) => [Number(r.of_id), Number(r.orders_then)])).toEqual([1, 2, 3, 4, 5].map((i) => [i, i]));
  });
});

/**
 * A group's last statements, the lease guard, the checkpoint and COMMIT travel in one round trip (applyAndCommit).
 * Its errors must still say what failed: a change the shadow rejects is named by its table and nothing of the group
 * commits; a lost lease is a lost lease, not an apply error.
 */
describe('MysqlShadowWriter applyAndCommit', () => {
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, cleanups } = suiteResources();
  let db: MysqlTestDatabase;
  const cp = (n: number) => ({ sourcePosition: `binlog.000001:${n}`, transportOffset: null, commitTime: null, appliedTransactions: n, stage: 'streaming' as const, idlePosition: null });
  const row = (id: number, v: string): Change => ({ op: 'insert', table: 'g', after: { id: String(id), v } });
  const count = async () => Number(((await db.admin.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM g`))[0][0] as { n: unknown }).n);
  beforeAll(async () => {
    db = await createMysqlDatabase(mysqlUrl, 'group');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE g (id bigint PRIMARY KEY, v varchar(10), CONSTRAINT v_not_bad CHECK (v <> 'bad'))`);
  });

  it('commits the changes with the checkpoint; a rejected change names its table and commits nothing; a lost lease says so', async () => {
    const writer = await mysqlEngine.openShadowWriter({ url: db.url, migration: 'g', direction: 'forward', maxRows: 5000, epoch: 1 });
    cleanups.push(() => writer.close());
    await writer.prepare(['g']);
    await db.admin.query(`INSERT INTO tandem_lease (migration, epoch, guard_epoch) VALUES ('g', 1, 1)`);

    await writer.begin();
    await writer.applyAndCommit([row(1, 'a'), row(2, 'b')], cp(1));
    expect(await count()).toBe(2);
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('binlog.000001:1');

    await writer.begin();
    const rejected = await writer.applyAndCommit([row(3, 'c'), row(4, 'bad')], cp(2)).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ code: 'TANDEM_APPLY_FAILED' });
    expect(String((rejected as Error).message)).toMatch(/applying changes to g on the shadow failed: .*v_not_bad/);
    await writer.rollback();
    expect(await count()).toBe(2);
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('binlog.000001:1');

    await db.admin.query(`UPDATE tandem_lease SET epoch = 2, guard_epoch = 2 WHERE migration = 'g'`);
    await writer.begin();
    await expect(writer.applyAndCommit([row(5, 'e')], cp(3))).rejects.toMatchObject({ code: 'TANDEM_LEASE_LOST' });
    await writer.rollback();
    expect(await count()).toBe(2);
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('binlog.000001:1');
  });
});
