/**
 * Scenarios for tests of `tandem run` under faults (crashes, restarts, lease takeovers): one PostgreSQL source with an
 * `items` and a `counters` table, a PostgreSQL or MariaDB shadow, a writer of many small transactions whose tally
 * says what the shadow must hold, and direct reads of both sides (never through Tandem) compared by fingerprint.
 */
import { expect } from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { connectMysql, createMysqlDatabase, createPgDatabase, uniqueName, type MysqlTestDatabase, type PgTestDatabase } from './db.js';
import { writeConfig } from './config.js';
import { mysqlRows, pgRows } from './compare.js';
import { alive, startTandem, untilTandem, waitUntil, type TandemProcess } from './tandem-process.js';
import { tempDir } from './temp.js';

// ---------------------------------------------------------------------------------------------------------------
// schema and direct reads

export const PG_SCHEMA = [
  `CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0, v bigint NOT NULL, payload text)`,
  `CREATE TABLE counters (id integer PRIMARY KEY, n bigint NOT NULL)`,
];
export const MYSQL_SCHEMA = [
  `CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, v bigint NOT NULL, payload longtext)`,
  `CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)`,
];
export const COUNTERS = 10;

/**
 * An order-independent content checksum computed identically by both engines: the sum over rows of 60 bits of
 * md5("id:n:v:payload"), next to the count and the sums of n and v. Equal fingerprints mean equal tables (short of
 * an md5 collision) without moving the rows to the test.
 */
export const PG_FINGERPRINT = `select
  (select count(*) from items)::text as count,
  (select coalesce(sum(n), 0) from items)::text as sum_n,
  (select coalesce(sum(v), 0) from items)::text as sum_v,
  (select coalesce(sum(('x' || substr(md5(id || ':' || n || ':' || v || ':' || coalesce(payload, '~')), 1, 15))::bit(60)::bigint), 0) from items)::text as hash,
  (select coalesce(string_agg(id || ':' || n, ',' order by id), '') from counters) as counters`;
export const MYSQL_FINGERPRINT = `SELECT
  (SELECT COUNT(*) FROM items) AS count,
  (SELECT COALESCE(SUM(n), 0) FROM items) AS sum_n,
  (SELECT COALESCE(SUM(v), 0) FROM items) AS sum_v,
  (SELECT COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS(':', id, n, v, COALESCE(payload, '~'))), 1, 15), 16, 10) AS UNSIGNED)), 0) FROM items) AS hash,
  (SELECT COALESCE(GROUP_CONCAT(CONCAT(id, ':', n) ORDER BY id SEPARATOR ','), '') FROM counters) AS counters`;

export interface Fingerprint {
  count: string;
  sum_n: string;
  sum_v: string;
  hash: string;
  counters: string;
}
export const fpText = (f: Fingerprint) => `count=${f.count} sum(n)=${f.sum_n} sum(v)=${f.sum_v} hash=${f.hash} counters=[${f.counters}]`;

export interface CheckpointRow {
  stage: string;
  applied: number;
  position: string;
}

/** One side of the migration, read directly. Reconnects after a server restart. */
export interface Side {
  fingerprint(): Promise<Fingerprint>;
  rows(table: 'items' | 'counters'): Promise<string[][]>;
  checkpoint(migration: string): Promise<CheckpointRow | undefined>;
  close(): Promise<void>;
}

export class PgSide implements Side {
  private client: pg.Client | undefined;
  constructor(readonly url: string) {}

  async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    const c = await this.connect();
    try {
      return (await c.query<R>(sql, params)).rows;
    } catch (err) {
      // A dead connection (shadow restart) is replaced on the next call; reconnecting after any error is cheap.
      if (this.client === c) await this.reset();
      throw err;
    }
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = new pg.Client({ connectionString: this.url });
    c.on('error', () => {
      if (this.client === c) this.client = undefined;
    });
    await c.connect();
    this.client = c;
    return c;
  }

  private async reset(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }

  async fingerprint(): Promise<Fingerprint> {
    return (await this.query<Fingerprint & pg.QueryResultRow>(PG_FINGERPRINT))[0] as Fingerprint;
  }

  async rows(table: 'items' | 'counters'): Promise<string[][]> {
    const sql = table === 'items' ? `select id, n, v, payload from items order by id` : `select id, n from counters order by id`;
    return pgRows(await this.connect(), sql);
  }

  async checkpoint(migration: string): Promise<CheckpointRow | undefined> {
    const r = await this.query<{ stage: string; applied: string; position: string }>(
      `select stage, applied_transactions::text as applied, position from tandem.checkpoint where migration = $1 and direction = 'forward'`,
      [migration],
    );
    return r[0] && { stage: r[0].stage, applied: Number(r[0].applied), position: r[0].position };
  }

  async close(): Promise<void> {
    await this.reset();
  }
}

export class MysqlSide implements Side {
  private conn: mysql.Connection | undefined;
  constructor(readonly url: string) {}

  private async connect(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    const c = await connectMysql(this.url);
    c.on('error', () => {
      if (this.conn === c) this.conn = undefined;
    });
    this.conn = c;
    return c;
  }

  private async run<T>(fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
    const c = await this.connect();
    try {
      return await fn(c);
    } catch (err) {
      if (this.conn === c && /closed state|Connection lost|ECONNRESET|PROTOCOL/i.test(String(err))) {
        this.conn = undefined;
        c.destroy();
      }
      throw err;
    }
  }

  async fingerprint(): Promise<Fingerprint> {
    return this.run(async (c) => {
      await c.query(`SET SESSION group_concat_max_len = 1048576`);
      const [rows] = await c.query<RowDataPacket[]>(MYSQL_FINGERPRINT);
      const r = rows[0] as Record<string, unknown>;
      return { count: String(r.count), sum_n: String(r.sum_n), sum_v: String(r.sum_v), hash: String(r.hash), counters: String(r.counters) };
    });
  }

  async rows(table: 'items' | 'counters'): Promise<string[][]> {
    const sql = table === 'items' ? `SELECT id, n, v, payload FROM items ORDER BY id` : `SELECT id, n FROM counters ORDER BY id`;
    return this.run((c) => mysqlRows(c, sql));
  }

  async checkpoint(migration: string): Promise<CheckpointRow | undefined> {
    return this.run(async (c) => {
      const [rows] = await c.query<RowDataPacket[]>(
        `SELECT stage, applied_transactions AS applied, position FROM tandem_checkpoint WHERE migration = ? AND direction = 'forward'`,
        [migration],
      );
      const r = rows[0];
      return r && { stage: String(r.stage), applied: Number(r.applied), position: String(r.position) };
    });
  }

  async close(): Promise<void> {
    const c = this.conn;
    this.conn = undefined;
    await c?.end().catch(() => c.destroy());
  }
}

// ---------------------------------------------------------------------------------------------------------------
// one migration per test: its databases, config and tandem processes

export interface Scenario {
  migration: string;
  /** The config's state.dir (a local cache only: the truth is in the databases); removed after the test file. */
  stateDir: string;
  shadowUrl: string;
  slot: string;
  source: PgTestDatabase;
  src: PgSide;
  shadow: Side;
  config: string;
  run(opts?: { nodeArgs?: string[] }): TandemProcess;
  cleanup(): Promise<void>;
}

export async function makeScenario(opts: {
  pgUrl: string;
  shadow: { kind: 'pg'; serverUrl: string } | { kind: 'mysql'; serverUrl: string };
  config?: Record<string, unknown>;
}): Promise<Scenario> {
  const migration = uniqueName('crash');
  const source = await createPgDatabase(opts.pgUrl, 'src');
  for (const sql of PG_SCHEMA) await source.admin.query(sql);
  await source.admin.query(`INSERT INTO counters SELECT g, 0 FROM generate_series(0, ${COUNTERS - 1}) g`);
  let shadowDb: PgTestDatabase | MysqlTestDatabase;
  let shadow: Side;
  if (opts.shadow.kind === 'pg') {
    const db = await createPgDatabase(opts.shadow.serverUrl, 'shadow');
    // The shadow's server may be restarted under this connection; an unhandled 'error' event would end the test run.
    db.admin.on('error', () => undefined);
    for (const sql of PG_SCHEMA) await db.admin.query(sql);
    shadowDb = db;
    shadow = new PgSide(db.url);
  } else {
    const db = await createMysqlDatabase(opts.shadow.serverUrl, 'shadow');
    db.admin.on('error', () => undefined);
    for (const sql of MYSQL_SCHEMA) await db.admin.query(sql);
    shadowDb = db;
    shadow = new MysqlSide(db.url);
  }
  const stateDir = tempDir('tandem-state-');
  const config = writeConfig({ migration, old: { url: source.url }, new: { url: shadowDb.url }, tables: ['items', 'counters'], state: { dir: stateDir }, ...opts.config });
  const procs: TandemProcess[] = [];
  const src = new PgSide(source.url);
  const slot = `tandem_${migration}`;
  return {
    migration,
    stateDir,
    shadowUrl: shadowDb.url,
    slot,
    source,
    src,
    shadow,
    config,
    run: (o = {}) => {
      const p = startTandem(['run', '--config', config], { nodeArgs: o.nodeArgs });
      procs.push(p);
      return p;
    },
    cleanup: async () => {
      for (const p of procs) {
        if (alive(p)) {
          p.kill('SIGKILL');
          await p.exited;
        }
      }
      // A killed consumer's walsender goes away by itself; the slot (and so the database) can be dropped after.
      await waitUntil('the slot to be released', async () => (await src.query(`select 1 from pg_replication_slots where slot_name = $1 and active`, [slot])).length === 0, 20_000).catch(() => undefined);
      await src.close();
      await shadow.close();
      await source.drop();
      await shadowDb.drop();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));

export async function waitForStage(s: Scenario, stage: 'backfill' | 'streaming', p: TandemProcess, timeoutMs = 60_000): Promise<CheckpointRow> {
  return untilTandem(p, `checkpoint stage ${stage}`, async () => {
    const cp = await s.shadow.checkpoint(s.migration);
    return cp?.stage === stage ? cp : undefined;
  }, timeoutMs);
}

export async function waitForApplied(s: Scenario, atLeast: number, p: TandemProcess, timeoutMs = 60_000): Promise<CheckpointRow> {
  return untilTandem(p, `applied_transactions ≥ ${atLeast}`, async () => {
    const cp = await s.shadow.checkpoint(s.migration);
    return cp && cp.applied >= atLeast ? cp : undefined;
  }, timeoutMs, 50);
}

/** Waits until the shadow's fingerprint equals the source's, failing with both when it does not get there. */
export async function waitEqual(s: Scenario, p: TandemProcess, timeoutMs = 90_000): Promise<Fingerprint> {
  let last = '';
  try {
    return await untilTandem(p, 'shadow equal to source', async () => {
      const [a, b] = await Promise.all([s.src.fingerprint(), s.shadow.fingerprint()]);
      last = `source ${fpText(a)}\nshadow ${fpText(b)}`;
      return fpText(a) === fpText(b) ? a : undefined;
    }, timeoutMs, 300);
  } catch (err) {
    throw new Error(`${last}\n${String(err)}`);
  }
}

/** Exact row-by-row equality, read directly from both databases. */
export async function expectSameRows(s: Scenario): Promise<void> {
  for (const table of ['items', 'counters'] as const) {
    const [a, b] = await Promise.all([s.src.rows(table), s.shadow.rows(table)]);
    expect(b.length, `${table} row count`).toBe(a.length);
    const diffs: string[] = [];
    for (let i = 0; i < a.length && diffs.length < 5; i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) diffs.push(`${table} #${i}: source ${JSON.stringify(a[i])} shadow ${JSON.stringify(b[i])}`);
    }
    expect(diffs, `${table} rows`).toEqual([]);
  }
}

/** The counters as the test itself committed them: what the shadow must hold, not just what the source holds. */
export function expectedCounters(tally: number[]): string {
  return tally.map((n, id) => `${id}:${n}`).join(',');
}

/**
 * Many small source transactions, each one `counters.n = n + 1` for one counter plus one new `items` row, in a
 * single statement (so a single transaction). The tally is what was committed.
 */
export function startSmallWriter(url: string, firstId: number, pauseMs = 2) {
  const client = new pg.Client({ connectionString: url });
  const tally = new Array<number>(COUNTERS).fill(0);
  let committed = 0;
  let stopping = false;
  const done = (async () => {
    await client.connect();
    try {
      for (let id = firstId; !stopping; id++) {
        const c = id % COUNTERS;
        await client.query(
          `WITH u AS (UPDATE counters SET n = n + 1 WHERE id = $1 RETURNING id)
           INSERT INTO items (id, n, v, payload) SELECT $2::bigint, 0, $2::bigint * 3, 'tx ' || $2::bigint FROM u`,
          [c, id],
        );
        tally[c] = (tally[c] ?? 0) + 1;
        committed++;
        if (pauseMs) await sleep(pauseMs);
      }
    } finally {
      await client.end();
    }
  })();
  return {
    get committed() {
      return committed;
    },
    async stop() {
      stopping = true;
      await done;
      return { tally, committed };
    },
  };
}

export type Writer = ReturnType<typeof startSmallWriter>;

/** Runs `body` while the writer writes, then stops the writer and returns what it committed. */
export async function whileWriting(writer: Writer, body: () => Promise<void>): Promise<{ tally: number[]; committed: number }> {
  try {
    await body();
  } catch (err) {
    await writer.stop().catch(() => undefined);
    throw err;
  }
  return writer.stop();
}

/** Waits until the writer has committed `n` more transactions than it had (a writer must be running). */
export async function writerProgress(w: { committed: number }, n: number): Promise<void> {
  const target = w.committed + n;
  await waitUntil(`the writer to commit ${n} transactions`, async () => w.committed >= target, 30_000, 20);
}

export async function kill9(p: TandemProcess): Promise<void> {
  p.kill('SIGKILL');
  expect(await p.exited).toBe('SIGKILL');
}

export async function sigterm(p: TandemProcess, withinMs = 10_000): Promise<number> {
  const t0 = Date.now();
  p.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(withinMs).then(() => 'timeout')]);
  expect(code, p.output().slice(-3000)).toBe(0);
  return Date.now() - t0;
}

/** The shadow has an apply transaction that has written rows and been open for a while: a large one in flight. */
export async function waitForLongApply(shadow: PgSide, p: TandemProcess, minOpenMs = 150): Promise<void> {
  await untilTandem(p, 'a large apply transaction in flight on the shadow', async () => {
    const r = await shadow.query(
      `select 1 from pg_stat_activity where datname = current_database() and application_name = 'tandem apply'
         and backend_xid is not null and clock_timestamp() - xact_start > $1::interval`,
      [`${minOpenMs} milliseconds`],
    );
    return r.length > 0;
  }, 60_000, 20);
}
