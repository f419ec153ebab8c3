import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createPgDatabase, type PgTestDatabase } from '../harness/db.js';
import { suiteResources } from '../harness/tandem-process.js';
import { PgShadowWriter } from '../../src/engines/postgres/shadow.js';
import { postgresEngine } from '../../src/engines/postgres/index.js';
import type { Change } from '../../src/model/change.js';

/** The PostgreSQL apply path on its own, against a real server: bulk (COPY) runs and their idempotent fallback. */
describe('PgShadowWriter bulk apply', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, cleanups } = suiteResources();
  let db: PgTestDatabase;
  let writer: PgShadowWriter;
  beforeAll(async () => {
    db = await createPgDatabase(pgUrl, 'writer');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text, b bytea)`);
    writer = await PgShadowWriter.open({ url: db.url, migration: 'w', direction: 'forward', maxRows: 5000 });
    cleanups.push(() => writer.close());
    await writer.prepare(['t']);
  });

  const inserts = (from: number, to: number, tag: string): Change[] =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ op: 'insert', table: 't', after: { id: String(from + i), v: `${tag}\t"${from + i}"\\\n`, b: Buffer.from([0, from + i, 255]) } }));

  it('loads a large run of inserts through COPY with exact values, and replays over existing rows as upserts', async () => {
    await writer.begin();
    await writer.apply(inserts(1, 800, 'first'));
    await writer.commit({ sourcePosition: '0/1', transportOffset: null, commitTime: null, appliedTransactions: 1, stage: 'streaming', idlePosition: null });
    // Half of these exist already (a replay over a resumed backfill): the plain insert conflicts, the upsert wins.
    await writer.begin();
    await writer.apply(inserts(401, 1200, 'second'));
    await writer.commit({ sourcePosition: '0/2', transportOffset: null, commitTime: null, appliedTransactions: 2, stage: 'streaming', idlePosition: null });
    const r = await db.admin.query<{ n: string; firsts: string; seconds: string; ok: boolean }>(
      `select count(*)::text n, count(*) filter (where v like 'first%')::text firsts, count(*) filter (where v like 'second%')::text seconds,
              bool_and(v = (case when id <= 400 then 'first' else 'second' end) || E'\\t"' || id || E'"\\\\\\n' and b = decode('00' || lpad(to_hex(id % 256), 2, '0') || 'ff', 'hex')) ok
         from t`,
    );
    expect(r.rows[0]).toEqual({ n: '1200', firsts: '400', seconds: '800', ok: true });
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('0/2');
  });
});

/**
 * Apply regroups a shadow transaction's changes table by table (few multi-row statements for a busy shop's
 * interleaved rows). Nothing may observe the difference: the tables end as the source's order makes them, and a
 * trigger that fires for replicated rows (ENABLE ALWAYS) sees the source's order.
 */
describe('PgShadowWriter order across tables', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, cleanups } = suiteResources();
  let db: PgTestDatabase;
  let writer: PgShadowWriter;
  beforeAll(async () => {
    db = await createPgDatabase(pgUrl, 'order');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE orders (id bigint PRIMARY KEY, status text NOT NULL, code text UNIQUE)`);
    await db.admin.query(`CREATE TABLE lines (order_id bigint REFERENCES orders (id), line int, PRIMARY KEY (order_id, line))`);
    // Records, for each line applied, how many orders the shadow held at that moment.
    await db.admin.query(`CREATE TABLE seen (line_of bigint, orders_then bigint)`);
    await db.admin.query(`CREATE TABLE audited (id bigint PRIMARY KEY)`);
    await db.admin.query(`CREATE FUNCTION note_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO seen VALUES (NEW.id, (SELECT count(*) FROM orders)); RETURN NEW; END $$`);
    await db.admin.query(`CREATE TRIGGER note_seen BEFORE INSERT OR UPDATE ON audited FOR EACH ROW EXECUTE FUNCTION note_seen()`);
    await db.admin.query(`ALTER TABLE audited ENABLE ALWAYS TRIGGER note_seen`);
    writer = await PgShadowWriter.open({ url: db.url, migration: 'o', direction: 'forward', maxRows: 5000 });
    cleanups.push(() => writer.close());
    await writer.prepare(['orders', 'lines', 'audited']);
  });

  const commit = (n: number) => writer.commit({ sourcePosition: `0/${n}`, transportOffset: null, commitTime: null, appliedTransactions: n, stage: 'streaming', idlePosition: null });

  it('ends with the rows the source order gives: a unique value moved between orders, deletes and re-inserts, truncates', async () => {
    const changes: Change[] = [];
    for (let i = 1; i <= 50; i++) {
      changes.push({ op: 'insert', table: 'orders', after: { id: String(i), status: 'new', code: `c${i}` } });
      changes.push({ op: 'insert', table: 'lines', after: { order_id: String(i), line: '1' } });
      changes.push({ op: 'insert', table: 'lines', after: { order_id: String(i), line: '2' } });
    }
    // Code c1 moves from order 1 to order 51: order 1 gives it up first (a unique key, in one table's order).
    changes.push({ op: 'update', table: 'orders', before: { id: '1' }, after: { id: '1', status: 'paid', code: null } });
    changes.push({ op: 'delete', table: 'lines', before: { order_id: '2', line: '2' } });
    changes.push({ op: 'insert', table: 'orders', after: { id: '51', status: 'new', code: 'c1' } });
    changes.push({ op: 'insert', table: 'lines', after: { order_id: '2', line: '2' } });
    changes.push({ op: 'truncate', tables: ['lines'] });
    changes.push({ op: 'insert', table: 'lines', after: { order_id: '3', line: '9' } });
    changes.push({ op: 'delete', table: 'orders', before: { id: '4' } });
    await writer.begin();
    await writer.apply(changes);
    await commit(1);
    const orders = await db.admin.query<{ id: string; status: string; code: string | null }>(`select id::text, status, code from orders where id in (1, 4, 50, 51) order by id`);
    expect(orders.rows).toEqual([
      { id: '1', status: 'paid', code: null },
      { id: '50', status: 'new', code: 'c50' },
      { id: '51', status: 'new', code: 'c1' },
    ]);
    expect((await db.admin.query(`select order_id::text, line from lines`)).rows).toEqual([{ order_id: '3', line: 9 }]);
  });

  it('applies in source order where a trigger fires for replicated rows', async () => {
    await db.admin.query(`TRUNCATE orders, lines, seen`);
    const changes: Change[] = [];
    for (let i = 1; i <= 5; i++) {
      changes.push({ op: 'insert', table: 'orders', after: { id: String(100 + i), status: 'new', code: null } });
      changes.push({ op: 'insert', table: 'audited', after: { id: String(i) } });
    }
    await writer.begin();
    await writer.apply(changes);
    await commit(2);
    // In source order, audited row i was applied after exactly i orders.
    expect((await db.admin.query(`select line_of::text, orders_then::text from seen order by line_of`)).rows).toEqual(
      [1, 2, 3, 4, 5].map((i) => ({ line_of: String(i), orders_then: String(i) })),
    );
    // Every write reaches the trigger, none collapsed: a row inserted then updated twice in one batch fires it three times.
    await db.admin.query(`TRUNCATE seen`);
    await writer.begin();
    await writer.apply([
      { op: 'insert', table: 'audited', after: { id: '9' } },
      { op: 'update', table: 'audited', before: { id: '9' }, after: { id: '9' } },
      { op: 'update', table: 'audited', before: { id: '9' }, after: { id: '9' } },
    ]);
    await commit(3);
    expect((await db.admin.query(`select count(*)::text as n from seen where line_of = 9`)).rows).toEqual([{ n: '3' }]);
  });
});

/**
 * A group's last statements, the lease guard, the checkpoint and COMMIT travel in one round trip (applyAndCommit).
 * Its errors must still say what failed: a change the shadow rejects is named by its table and nothing of the group
 * commits; a lost lease is a lost lease, not an apply error.
 */
describe('PgShadowWriter applyAndCommit', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, cleanups } = suiteResources();
  let db: PgTestDatabase;
  const cp = (n: number) => ({ sourcePosition: `0/${n}`, transportOffset: null, commitTime: null, appliedTransactions: n, stage: 'streaming' as const, idlePosition: null });
  const row = (id: number, v: string): Change => ({ op: 'insert', table: 'g', after: { id: String(id), v } });
  beforeAll(async () => {
    db = await createPgDatabase(pgUrl, 'group');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE g (id bigint PRIMARY KEY, v text CONSTRAINT v_not_bad CHECK (v <> 'bad'))`);
  });

  it('commits the changes with the checkpoint; a rejected change names its table and commits nothing; a lost lease says so', async () => {
    const writer = await postgresEngine.openShadowWriter({ url: db.url, migration: 'g', direction: 'forward', maxRows: 5000, epoch: 1 });
    cleanups.push(() => writer.close());
    await writer.prepare(['g']);
    await db.admin.query(`INSERT INTO tandem.lease (migration, epoch, guard_epoch) VALUES ('g', 1, 1)`);

    await writer.begin();
    await writer.applyAndCommit([row(1, 'a'), row(2, 'b')], cp(1));
    expect((await db.admin.query(`select id::text, v from g order by id`)).rows).toEqual([{ id: '1', v: 'a' }, { id: '2', v: 'b' }]);
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('0/1');

    await writer.begin();
    const rejected = await writer.applyAndCommit([row(3, 'c'), row(4, 'bad')], cp(2)).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ code: 'TANDEM_APPLY_FAILED' });
    expect(String((rejected as Error).message)).toMatch(/applying changes to g on the shadow failed: .*v_not_bad/);
    await writer.rollback();
    expect((await db.admin.query(`select count(*)::int n from g`)).rows[0]).toEqual({ n: 2 });
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('0/1');

    // Another holder took the lease (epoch 2): this writer's group is refused whole.
    await db.admin.query(`UPDATE tandem.lease SET epoch = 2, guard_epoch = 2 WHERE migration = 'g'`);
    await writer.begin();
    await expect(writer.applyAndCommit([row(5, 'e')], cp(3))).rejects.toMatchObject({ code: 'TANDEM_LEASE_LOST' });
    await writer.rollback();
    expect((await db.admin.query(`select count(*)::int n from g`)).rows[0]).toEqual({ n: 2 });
    expect((await writer.readCheckpoint())?.sourcePosition).toBe('0/1');
  });
});
