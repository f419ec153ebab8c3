/**
 * Crash, disconnect and restart hazards of `tandem run` (HAZARDS.md H1, H2, H5, H6, H17, H25), against real servers.
 *
 * Every check reads both databases directly (never through Tandem) and asserts what an operator would: exact row
 * counts, exact row contents, and per-row counters that only end up right if every source transaction was applied
 * exactly once (`n = n + 1` applied twice or skipped shows up in `n`, in `sum(n)` and in the counters table).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { startMariadb, startPostgres, type RunningServer } from '../harness/servers.js';
import { startTandem, waitUntil, type TandemProcess } from '../harness/tandem-process.js';

// ---------------------------------------------------------------------------------------------------------------
// schema and direct reads

const PG_SCHEMA = [
  `CREATE TABLE items (id bigint PRIMARY KEY, n integer NOT NULL DEFAULT 0, v bigint NOT NULL, payload text)`,
  `CREATE TABLE counters (id integer PRIMARY KEY, n bigint NOT NULL)`,
];
const MYSQL_SCHEMA = [
  `CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0, v bigint NOT NULL, payload longtext)`,
  `CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL)`,
];
const COUNTERS = 10;

/**
 * An order-independent content checksum computed identically by both engines: the sum over rows of 60 bits of
 * md5("id:n:v:payload"), next to the count and the sums of n and v. Equal fingerprints mean equal tables (short of
 * an md5 collision) without moving the rows to the test.
 */
const PG_FINGERPRINT = `select
  (select count(*) from items)::text as count,
  (select coalesce(sum(n), 0) from items)::text as sum_n,
  (select coalesce(sum(v), 0) from items)::text as sum_v,
  (select coalesce(sum(('x' || substr(md5(id || ':' || n || ':' || v || ':' || coalesce(payload, '~')), 1, 15))::bit(60)::bigint), 0) from items)::text as hash,
  (select coalesce(string_agg(id || ':' || n, ',' order by id), '') from counters) as counters`;
const MYSQL_FINGERPRINT = `SELECT
  (SELECT COUNT(*) FROM items) AS count,
  (SELECT COALESCE(SUM(n), 0) FROM items) AS sum_n,
  (SELECT COALESCE(SUM(v), 0) FROM items) AS sum_v,
  (SELECT COALESCE(SUM(CAST(CONV(SUBSTR(MD5(CONCAT_WS(':', id, n, v, COALESCE(payload, '~'))), 1, 15), 16, 10) AS UNSIGNED)), 0) FROM items) AS hash,
  (SELECT COALESCE(GROUP_CONCAT(CONCAT(id, ':', n) ORDER BY id SEPARATOR ','), '') FROM counters) AS counters`;

interface Fingerprint {
  count: string;
  sum_n: string;
  sum_v: string;
  hash: string;
  counters: string;
}
const fpText = (f: Fingerprint) => `count=${f.count} sum(n)=${f.sum_n} sum(v)=${f.sum_v} hash=${f.hash} counters=[${f.counters}]`;

interface CheckpointRow {
  phase: string;
  applied: number;
  position: string;
}

/** One side of the migration, read directly. Reconnects after a server restart. */
interface Side {
  fingerprint(): Promise<Fingerprint>;
  rows(table: 'items' | 'counters'): Promise<string[][]>;
  checkpoint(migration: string): Promise<CheckpointRow | undefined>;
  close(): Promise<void>;
}

class PgSide implements Side {
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
    const r = await this.query<{ phase: string; applied: string; position: string }>(
      `select phase, applied_transactions::text as applied, position from tandem.checkpoint where migration = $1 and direction = 'forward'`,
      [migration],
    );
    return r[0] && { phase: r[0].phase, applied: Number(r[0].applied), position: r[0].position };
  }

  async close(): Promise<void> {
    await this.reset();
  }
}

class MysqlSide implements Side {
  private conn: mysql.Connection | undefined;
  constructor(readonly url: string) {}

  private async connect(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    const u = new URL(this.url);
    const c = await mysql.createConnection({
      host: u.hostname,
      port: Number(u.port),
      user: decodeURIComponent(u.username || 'root'),
      password: decodeURIComponent(u.password),
      database: u.pathname.slice(1),
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
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
        `SELECT phase, applied_transactions AS applied, position FROM tandem_checkpoint WHERE migration = ? AND direction = 'forward'`,
        [migration],
      );
      const r = rows[0];
      return r && { phase: String(r.phase), applied: Number(r.applied), position: String(r.position) };
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

interface Scenario {
  migration: string;
  slot: string;
  source: PgTestDatabase;
  src: PgSide;
  shadow: Side;
  config: string;
  run(opts?: { nodeArgs?: string[] }): TandemProcess;
  cleanup(): Promise<void>;
}

async function makeScenario(opts: {
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
  const stateDir = mkdtempSync(join(tmpdir(), 'tandem-state-'));
  const config = writeConfig({ migration, old: { url: source.url }, new: { url: shadowDb.url }, tables: ['items', 'counters'], state: { dir: stateDir }, ...opts.config });
  const procs: TandemProcess[] = [];
  const src = new PgSide(source.url);
  const slot = `tandem_${migration}`;
  return {
    migration,
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
        if (p.child.exitCode === null && p.child.signalCode === null) {
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
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const randomBetween = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const alive = (p: TandemProcess) => p.child.exitCode === null && p.child.signalCode === null;

/** waitUntil for a condition that needs `p` running: fails at once if it exits, and shows its output on timeout. */
async function untilTandem<T>(p: TandemProcess, what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  try {
    return await waitUntil(
      what,
      async () => {
        if (!alive(p)) throw new Error(`tandem exited (${String(p.child.exitCode ?? p.child.signalCode)})`);
        return probe();
      },
      timeoutMs,
      intervalMs,
    );
  } catch (err) {
    throw new Error(`${String(err)}\ntandem output (tail):\n${p.output().slice(-4000)}`);
  }
}

async function waitForPhase(s: Scenario, phase: string, p: TandemProcess, timeoutMs = 60_000): Promise<CheckpointRow> {
  return untilTandem(p, `phase ${phase}`, async () => {
    const cp = await s.shadow.checkpoint(s.migration);
    return cp?.phase === phase ? cp : undefined;
  }, timeoutMs);
}

async function waitForApplied(s: Scenario, atLeast: number, p: TandemProcess, timeoutMs = 60_000): Promise<CheckpointRow> {
  return untilTandem(p, `applied_transactions ≥ ${atLeast}`, async () => {
    const cp = await s.shadow.checkpoint(s.migration);
    return cp && cp.applied >= atLeast ? cp : undefined;
  }, timeoutMs, 50);
}

/** Waits until the shadow's fingerprint equals the source's, failing with both when it does not get there. */
async function waitEqual(s: Scenario, p: TandemProcess, timeoutMs = 90_000): Promise<Fingerprint> {
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
async function expectSameRows(s: Scenario): Promise<void> {
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
function expectedCounters(tally: number[]): string {
  return tally.map((n, id) => `${id}:${n}`).join(',');
}

/**
 * Many small source transactions, each one `counters.n = n + 1` for one counter plus one new `items` row, in a
 * single statement (so a single transaction). The tally is what was committed.
 */
function startSmallWriter(url: string, firstId: number, pauseMs = 2) {
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

type Writer = ReturnType<typeof startSmallWriter>;

/** Runs `body` while the writer writes, then stops the writer and returns what it committed. */
async function whileWriting(writer: Writer, body: () => Promise<void>): Promise<{ tally: number[]; committed: number }> {
  try {
    await body();
  } catch (err) {
    await writer.stop().catch(() => undefined);
    throw err;
  }
  return writer.stop();
}

/** Waits until the writer has committed `n` more transactions than it had (a writer must be running). */
async function writerProgress(w: { committed: number }, n: number): Promise<void> {
  const target = w.committed + n;
  await waitUntil(`the writer to commit ${n} transactions`, async () => w.committed >= target, 30_000, 20);
}

async function kill9(p: TandemProcess): Promise<void> {
  p.kill('SIGKILL');
  expect(await p.exited).toBe('SIGKILL');
}

async function sigterm(p: TandemProcess, withinMs = 10_000): Promise<number> {
  const t0 = Date.now();
  p.kill('SIGTERM');
  const code = await Promise.race([p.exited, sleep(withinMs).then(() => 'timeout')]);
  expect(code, p.output().slice(-3000)).toBe(0);
  return Date.now() - t0;
}

/** The shadow has an apply transaction that has written rows and been open for a while: a large one in flight. */
async function waitForLongApply(shadow: PgSide, p: TandemProcess, minOpenMs = 150): Promise<void> {
  await untilTandem(p, 'a large apply transaction in flight on the shadow', async () => {
    const r = await shadow.query(
      `select 1 from pg_stat_activity where datname = current_database() and application_name = 'tandem apply'
         and backend_xid is not null and clock_timestamp() - xact_start > $1::interval`,
      [`${minOpenMs} milliseconds`],
    );
    return r.length > 0;
  }, 60_000, 20);
}

// ---------------------------------------------------------------------------------------------------------------

describe('H1: kill -9 in the middle of a 100,000-row transaction (PostgreSQL → PostgreSQL)', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    // A small queue makes the source transaction's commit arrive late, so the kill lands well inside it.
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl }, config: { transport: { queueChanges: 10_000 } } });
  });
  afterAll(async () => s?.cleanup());

  it('restarts from the checkpoint with every row once and every n = n + 1 counted exactly once', async () => {
    const shadow = s.shadow as PgSide;
    let p = s.run();
    await waitForPhase(s, 'shadowing', p);

    // Undisturbed first: how long 100,000 rows in one transaction take to apply, and how long the shadow
    // transaction holding them stays open (the window the kill below has to land in).
    const t0 = Date.now();
    await s.source.admin.query(`INSERT INTO items SELECT g, 0, g * 7, repeat(md5(g::text), 2) FROM generate_series(1, 100000) g`);
    await waitForLongApply(shadow, p);
    const tOpen = Date.now();
    await untilTandem(p, '100,000 rows on the shadow', async () => (await shadow.query<{ n: string }>(`select count(*)::text as n from items`))[0]?.n === '100000', 90_000, 20);
    const applyMs = Date.now() - t0;
    const windowMs = Date.now() - tOpen;
    console.log(`[H1] 100,000-row transaction applied in ${applyMs} ms (source commit → visible on the shadow; shadow transaction open ≥ ${windowMs + 150} ms)`);

    // Then: a second 100,000-row transaction and a series of n = n + 1 updates, killed while it is being applied.
    const before = (await s.shadow.checkpoint(s.migration))?.applied ?? 0;
    await s.source.admin.query(`INSERT INTO items SELECT g, 0, g * 7, repeat(md5(g::text), 2) FROM generate_series(100001, 200000) g`);
    const updates = (async () => {
      const c = new pg.Client({ connectionString: s.source.url });
      await c.connect();
      for (let i = 0; i < 10; i++) await c.query(`UPDATE items SET n = n + 1 WHERE id <= 2000 OR id > 198000`);
      for (let i = 0; i < 20; i++) await c.query(`UPDATE items SET n = n + 1 WHERE id = 150000`);
      await c.end();
    })();
    await waitForLongApply(shadow, p);
    const delay = randomBetween(0, Math.floor(windowMs / 2));
    await sleep(delay);
    await kill9(p);
    await updates;
    const atKill = await s.shadow.checkpoint(s.migration);
    const secondBatch = Number((await shadow.query<{ n: string }>(`select count(*)::text as n from items where id > 100000`))[0]?.n);
    console.log(`[H1] killed ${delay} ms into the apply; applied_transactions ${before} → ${atKill?.applied}; rows of the second batch on the shadow: ${secondBatch}`);
    // The kill landed inside the big transaction: none of it is on the shadow (it commits with its checkpoint).
    expect(secondBatch).toBe(0);
    expect(atKill?.applied).toBe(before);

    p = s.run();
    const fp = await waitEqual(s, p);
    expect(fp.count).toBe('200000');
    // n: 10 for ids ≤ 2000 and > 198000 (4,000 rows), 20 for id 150000, 0 elsewhere.
    expect(fp.sum_n).toBe(String(4000 * 10 + 20));
    expect(fp.sum_v).toBe(String((7 * 200000 * 200001) / 2));
    const wrong = await shadow.query<{ n: string }>(
      `select count(*)::text as n from items where n <> case when id <= 2000 or id > 198000 then 10 when id = 150000 then 20 else 0 end`,
    );
    expect(wrong[0]?.n).toBe('0');
    await expectSameRows(s);
    const cp = await s.shadow.checkpoint(s.migration);
    // 2 inserts + 30 updates, each counted once.
    expect(cp?.applied).toBe(32);
    await sigterm(p);
  }, 180_000);
});

describe('H1: kill -9 at random moments of a stream of small transactions', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
  });
  afterAll(async () => s?.cleanup());

  it('after three kills and restarts every counter increment is applied exactly once', async () => {
    let p = s.run();
    await waitForPhase(s, 'shadowing', p);
    const writer = startSmallWriter(s.source.url, 1);
    const { tally, committed } = await whileWriting(writer, async () => {
      for (let round = 1; round <= 3; round++) {
        const cp = await s.shadow.checkpoint(s.migration);
        await waitForApplied(s, (cp?.applied ?? 0) + 1, p);
        const delay = randomBetween(200, 1500);
        await sleep(delay);
        await kill9(p);
        const after = await s.shadow.checkpoint(s.migration);
        console.log(`[H1 small] round ${round}: killed after ${delay} ms at applied_transactions ${after?.applied}, writer at ${writer.committed}`);
        p = s.run();
      }
      await writerProgress(writer, 100);
    });
    const fp = await waitEqual(s, p);
    expect(fp.count).toBe(String(committed));
    expect(fp.counters).toBe(expectedCounters(tally));
    await expectSameRows(s);
    const cp = await s.shadow.checkpoint(s.migration);
    expect(cp?.applied).toBe(committed);
    await sigterm(p);
  }, 120_000);
});

describe('H25: kill -9 in the middle of a backfill while the source keeps changing', () => {
  const pgUrl = inject('pgUrl');
  const total = 300_000;
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl }, config: { apply: { batchRows: 2000 } } });
    await s.source.admin.query(`INSERT INTO items SELECT g, 0, g, 'row ' || g FROM generate_series(1, ${total}) g`);
    await s.source.admin.query(`ANALYZE items`);
  });
  afterAll(async () => s?.cleanup());

  it('resumes the copy from the last chunk and ends equal, counters included', async () => {
    const shadow = s.shadow as PgSide;
    // Updates, inserts and deletes on the source all through the backfill, the kills and the resumed backfill.
    const client = new pg.Client({ connectionString: s.source.url });
    await client.connect();
    let stopping = false;
    let ops = 0;
    const writer = (async () => {
      let next = total + 1;
      while (!stopping) {
        const r = Math.random();
        const id = randomBetween(1, next - 1);
        if (r < 0.6) await client.query(`UPDATE items SET n = n + 1, v = v + 1 WHERE id = $1`, [id]);
        else if (r < 0.85) await client.query(`INSERT INTO items (id, n, v, payload) VALUES ($1, 0, $1, 'new')`, [next++]);
        else await client.query(`DELETE FROM items WHERE id = $1`, [id]);
        // One transaction that moves many rows at once, now and then.
        if (ops % 500 === 0) await client.query(`UPDATE items SET n = n + 1 WHERE id % 997 = $1`, [ops % 997]);
        ops++;
        await sleep(1);
      }
    })();
    const copied = async () => Number((await shadow.query<{ n: string }>(`select coalesce(sum(rows_copied), 0)::text as n from tandem.backfill where migration = $1`, [s.migration]))[0]?.n);

    let p = s.run();
    try {
      for (const [lo, hi] of [
        [20_000, 100_000],
        [130_000, 230_000],
      ] as const) {
        const target = randomBetween(lo, hi);
        const at = await untilTandem(p, `backfill to pass ${target} rows`, async () => {
          const n = await copied();
          return n >= target ? n : undefined;
        }, 60_000, 25);
        await kill9(p);
        const cp = await s.shadow.checkpoint(s.migration);
        const n = await copied();
        console.log(`[H25] killed the backfill at ${n} of ~${total} rows copied (target ${target}, seen ${at}); writer ops so far ${ops}`);
        expect(cp?.phase).toBe('backfill');
        expect(n).toBeGreaterThanOrEqual(1);
        expect(n).toBeLessThan(total);
        p = s.run();
      }
      await waitForPhase(s, 'shadowing', p, 90_000);
      const opsAtShadowing = ops;
      await waitUntil('more writes after the backfill', async () => ops >= opsAtShadowing + 200, 30_000, 20);
    } finally {
      stopping = true;
      await writer;
      await client.end();
    }
    console.log(`[H25] writer ops: ${ops}`);
    await waitEqual(s, p);
    await expectSameRows(s);
    await sigterm(p);
  }, 180_000);
});

describe('H2: the replication connection is cut in the middle of a 100,000-row transaction', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl }, config: { transport: { queueChanges: 10_000 } } });
  });
  afterAll(async () => s?.cleanup());

  it('reconnects by itself and ends with no row missing and none twice', async () => {
    const shadow = s.shadow as PgSide;
    const p = s.run();
    await waitForPhase(s, 'shadowing', p);
    const walsender = async () =>
      (await s.src.query<{ pid: number }>(`select active_pid as pid from pg_replication_slots where slot_name = $1 and active`, [s.slot]))[0]?.pid;
    const first = await untilTandem(p, 'the walsender', walsender, 30_000, 50);

    await s.source.admin.query(`INSERT INTO items SELECT g, 1, g * 3, repeat(md5(g::text), 2) FROM generate_series(1, 100000) g`);
    await s.source.admin.query(`UPDATE items SET n = n + 1 WHERE id % 100 = 0`);
    await waitForLongApply(shadow, p);
    await sleep(randomBetween(0, 300));
    const cut = await s.src.query<{ ok: boolean }>(`select pg_terminate_backend(active_pid) as ok from pg_replication_slots where slot_name = $1 and active`, [s.slot]);
    expect(cut[0]?.ok).toBe(true);
    const cp = await s.shadow.checkpoint(s.migration);
    console.log(`[H2] cut walsender ${first}; applied_transactions at the cut: ${cp?.applied}`);
    // The cut came before the 100,000-row transaction was committed on the shadow.
    expect(cp?.applied).toBe(0);

    const second = await untilTandem(p, 'a new walsender', async () => {
      const pid = await walsender();
      return pid && pid !== first ? pid : undefined;
    }, 60_000, 100);
    expect(second).not.toBe(first);
    const fp = await waitEqual(s, p);
    expect(alive(p)).toBe(true);
    expect(p.output()).toMatch(/reconnecting from the checkpoint/);
    expect(fp.count).toBe('100000');
    expect(fp.sum_n).toBe(String(100000 + 1000));
    expect(fp.sum_v).toBe(String((3 * 100000 * 100001) / 2));
    await expectSameRows(s);
    expect((await s.shadow.checkpoint(s.migration))?.applied).toBe(2);
    await sigterm(p);
  }, 120_000);
});

describe('shadow server restarts while Tandem runs', () => {
  const pgUrl = inject('pgUrl');

  for (const kind of ['pg', 'mysql'] as const) {
    const label = kind === 'pg' ? 'PostgreSQL' : 'MariaDB';
    describe(`${label} shadow`, () => {
      let server: RunningServer;
      let s: Scenario;
      beforeAll(async () => {
        // A server of its own, so restarting it touches nothing else.
        server = kind === 'pg' ? await startPostgres() : await startMariadb();
        s = await makeScenario({ pgUrl, shadow: { kind, serverUrl: server.url } });
      });
      afterAll(async () => {
        await s?.cleanup();
        await server?.stop();
      });

      it('waits, reconnects and catches up with writes made during the restart', async () => {
        const p = s.run();
        await waitForPhase(s, 'shadowing', p);
        const writer = startSmallWriter(s.source.url, 1);
        const { tally, committed } = await whileWriting(writer, async () => {
          const cp = await s.shadow.checkpoint(s.migration);
          await waitForApplied(s, (cp?.applied ?? 0) + 20, p);
          const t0 = Date.now();
          await server.restart();
          console.log(`[shadow restart, ${label}] server restarted in ${Date.now() - t0} ms; writer at ${writer.committed}`);
          const after = writer.committed;
          await untilTandem(p, 'writes applied after the restart', async () => {
            const c = await s.shadow.checkpoint(s.migration);
            return c && c.applied > after + 20;
          }, 60_000);
        });
        const fp = await waitEqual(s, p);
        expect(alive(p)).toBe(true);
        expect(p.output()).toMatch(/reconnecting from the checkpoint/);
        expect(fp.count).toBe(String(committed));
        expect(fp.counters).toBe(expectedCounters(tally));
        await expectSameRows(s);
        expect((await s.shadow.checkpoint(s.migration))?.applied).toBe(committed);
        await sigterm(p);
      }, 150_000);
    });
  }
});

describe('H6: the slot is dropped while Tandem is stopped', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
  });
  afterAll(async () => s?.cleanup());

  it('refuses to continue (exit 4), says to run tandem backfill, and leaves the shadow untouched', async () => {
    const shadow = s.shadow as PgSide;
    await s.source.admin.query(`INSERT INTO items SELECT g, 0, g, 'before' FROM generate_series(1, 100) g`);
    let p = s.run();
    await waitForPhase(s, 'shadowing', p);
    await s.source.admin.query(`UPDATE items SET n = n + 1 WHERE id <= 10`);
    await waitEqual(s, p);
    await sigterm(p);

    await waitUntil('the slot to be released', async () => (await s.src.query(`select 1 from pg_replication_slots where slot_name = $1 and active`, [s.slot])).length === 0, 20_000);
    await s.src.query(`select pg_drop_replication_slot($1)`, [s.slot]);
    await s.source.admin.query(`INSERT INTO items VALUES (101, 0, 101, 'after the slot was dropped')`);
    const checkpointSql = `select position, phase, applied_transactions::text, idle_position, updated_at::text from tandem.checkpoint where migration = $1`;
    const [fpBefore, cpBefore] = await Promise.all([s.shadow.fingerprint(), shadow.query(checkpointSql, [s.migration])]);

    p = s.run();
    const code = await Promise.race([p.exited, sleep(60_000).then(() => 'still running after 60 s')]);
    expect(code, p.output()).toBe(4);
    expect(p.output()).toMatch(/replication slot (is gone|.*no longer exists)/);
    expect(p.output()).toMatch(/tandem backfill/);
    // Nothing applied, nothing recorded, and no new slot quietly created in its place.
    expect(fpText(await s.shadow.fingerprint())).toBe(fpText(fpBefore));
    expect(await shadow.query(checkpointSql, [s.migration])).toEqual(cpBefore);
    expect(fpBefore.count).toBe('100');
    expect(await s.src.query(`select 1 from pg_replication_slots where slot_name = $1`, [s.slot])).toEqual([]);
  }, 120_000);
});

describe('H5: writes only to a sibling database still advance the slot', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  let sibling: PgTestDatabase;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
    sibling = await createPgDatabase(pgUrl, 'sibling');
    await sibling.admin.query(`CREATE TABLE noise (id bigserial PRIMARY KEY, payload text)`);
  });
  afterAll(async () => {
    await s?.cleanup();
    await sibling?.drop();
  });

  it("moves confirmed_flush_lsn forward while the migration's database is quiet, and reports retained WAL", async () => {
    const p = s.run();
    await waitForPhase(s, 'shadowing', p);
    await waitUntil('the slot to be in use', async () => (await s.src.query(`select 1 from pg_replication_slots where slot_name = $1 and active`, [s.slot])).length > 0, 30_000);
    const confirmed = async () => (await s.src.query<{ lsn: string }>(`select confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`, [s.slot]))[0]?.lsn as string;
    const initial = await confirmed();
    const applied = (await s.shadow.checkpoint(s.migration))?.applied;

    let stopping = false;
    let writes = 0;
    const noise = (async () => {
      while (!stopping) {
        await sibling.admin.query(`INSERT INTO noise (payload) SELECT repeat('x', 200) FROM generate_series(1, 50)`);
        writes++;
        await sleep(20);
      }
    })();
    const reached = async (mark: string) =>
      waitUntil(`confirmed_flush_lsn ≥ ${mark}`, async () => {
        const r = await s.src.query<{ ok: boolean; lsn: string }>(
          `select confirmed_flush_lsn >= $2::pg_lsn as ok, confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = $1`,
          [s.slot, mark],
        );
        return r[0]?.ok ? r[0].lsn : undefined;
      }, 20_000, 200);
    try {
      const t0 = Date.now();
      await waitUntil('sibling writes', async () => writes >= 20, 10_000, 20);
      const mark1 = (await sibling.admin.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`)).rows[0]?.lsn as string;
      const lsn1 = await reached(mark1);
      // And again: it keeps advancing (idle positions are acknowledged every ~5 s), not just once.
      const mark2 = (await sibling.admin.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`)).rows[0]?.lsn as string;
      const lsn2 = await reached(mark2);
      console.log(`[H5] confirmed_flush_lsn ${initial} → ${lsn1} → ${lsn2} in ${Date.now() - t0} ms of sibling-only writes (${writes} transactions)`);
    } finally {
      stopping = true;
      await noise;
    }
    // The quiet database really was quiet: nothing was applied.
    expect((await s.shadow.checkpoint(s.migration))?.applied).toBe(applied);

    const status = await runTandem(['status', '--json', '--config', s.config]);
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as { phase: string; slot: { exists: boolean; retainedWalBytes: unknown } | null };
    expect(report.phase).toBe('shadowing');
    expect(report.slot?.exists).toBe(true);
    expect(typeof report.slot?.retainedWalBytes).toBe('number');
    console.log(`[H5] tandem status: slot retains ${String(report.slot?.retainedWalBytes)} bytes of WAL`);
    await sigterm(p);
  }, 120_000);
});

describe('SIGTERM during a stream of small transactions', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
  });
  afterAll(async () => s?.cleanup());

  it('exits 0 within a few seconds and a restart ends equal', async () => {
    let p = s.run();
    await waitForPhase(s, 'shadowing', p);
    const writer = startSmallWriter(s.source.url, 1);
    const { tally, committed } = await whileWriting(writer, async () => {
      const cp = await s.shadow.checkpoint(s.migration);
      await waitForApplied(s, (cp?.applied ?? 0) + 50, p);
      const ms = await sigterm(p, 5_000);
      console.log(`[SIGTERM] exited 0 in ${ms} ms; writer at ${writer.committed}`);
      expect(ms).toBeLessThan(5_000);
      await writerProgress(writer, 100);
      p = s.run();
      await writerProgress(writer, 100);
    });
    const fp = await waitEqual(s, p);
    expect(fp.count).toBe(String(committed));
    expect(fp.counters).toBe(expectedCounters(tally));
    await expectSameRows(s);
    expect((await s.shadow.checkpoint(s.migration))?.applied).toBe(committed);
    await sigterm(p);
  }, 120_000);
});

describe('H17: a 1,000,000-row transaction with the heap capped at 96 MB', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
  });
  afterAll(async () => s?.cleanup());

  it('applies it in bounded memory, every row exactly once', async () => {
    const rows = 1_000_000;
    const p = s.run({ nodeArgs: ['--max-old-space-size=96'] });
    const pid = p.child.pid as number;
    let peakKb = 0;
    const readPeak = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        if (m) peakKb = Math.max(peakKb, Number(m[1]));
      } catch {
        // the process has gone
      }
    };
    const poll = setInterval(readPeak, 100);
    try {
      const cp = await waitForPhase(s, 'shadowing', p);
      const t0 = Date.now();
      await s.source.admin.query(`INSERT INTO items SELECT g, 0, g, rpad(md5(g::text), 100, md5((-g)::text)) FROM generate_series(1, ${rows}) g`);
      const tCommit = Date.now();
      await waitForApplied(s, cp.applied + 1, p, 240_000);
      const tApplied = Date.now();
      readPeak();
      expect(alive(p), p.output().slice(-3000)).toBe(true);
      const fp = await waitEqual(s, p);
      expect(fp.count).toBe(String(rows));
      expect(fp.sum_v).toBe(String((rows * (rows + 1)) / 2));
      expect(fp.sum_n).toBe('0');
      expect(fpText(await s.shadow.fingerprint())).toBe(fpText(await s.src.fingerprint()));
      console.log(
        `[H17] 1,000,000-row transaction: source insert ${tCommit - t0} ms, applied ${tApplied - tCommit} ms after the source commit ` +
          `(${Math.round(rows / ((tApplied - tCommit) / 1000))} rows/s); peak RSS (VmHWM) ${(peakKb / 1024).toFixed(1)} MiB with --max-old-space-size=96`,
      );
      expect(p.output()).not.toMatch(/heap out of memory|Allocation failed/);
      // A sanity bound, not a target: a buffered 1M-row transaction would need several times this.
      expect(peakKb / 1024).toBeLessThan(400);
      await sigterm(p);
    } finally {
      clearInterval(poll);
    }
  }, 300_000);
});
