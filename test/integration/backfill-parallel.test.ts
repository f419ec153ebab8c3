import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { bypassFence, connectMysql, createMysqlDatabase, createPgDatabase, uniqueName, withDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { startMariadb } from '../harness/servers.js';
import { pgRows, mysqlRows, tablesRows, waitForSameRows } from '../harness/compare.js';
import { suiteResources, tandemStatus, untilTandem, waitForShadowing } from '../harness/tandem-process.js';
import { kill9, randomBetween, sleep } from '../harness/scenario.js';
import { runVerify } from '../harness/verify.js';
import { engineForUrl } from '../../src/engines/registry.js';
import { parsePosition } from '../../src/engines/mysql/position.js';

/**
 * backfill.parallelTables: several tables copied at once, each worker on a connection of its own, while the
 * application keeps writing to every table. Every worker reads the one snapshot the slot was created with, so the
 * stream that follows from the slot's point neither misses nor repeats a change at the seam; a kill -9 while
 * several tables are half copied resumes each from its own last chunk.
 */
const TABLES = { big: 60_000, mid: 30_000, small: 12_000, tiny: 300 } as const;
type Table = keyof typeof TABLES;
const NAMES = Object.keys(TABLES) as Table[];

describe('parallel backfill, PostgreSQL → PostgreSQL', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, start, cleanups } = suiteResources();

  it('copies four tables three at a time under writes to all of them, survives a kill -9 with several tables half copied, and verifies with zero drift', { timeout: 300_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'par_src'), await createPgDatabase(pgUrl, 'par_dst')];
    dbs.push(src, dst);
    await bypassFence(dst.admin);
    for (const t of NAMES) {
      for (const db of [src, dst]) await db.admin.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, n integer NOT NULL, amount numeric(12,2), note text, at timestamptz NOT NULL)`);
      await src.admin.query(`INSERT INTO ${t} SELECT g, 0, g / 100.0, 'row ' || g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' FROM generate_series(1, ${TABLES[t]}) g`);
      await src.admin.query(`ANALYZE ${t}`);
    }
    const migration = `par_${process.pid}`;
    // Throttled so the copy lasts about ten seconds, long enough to be watched and killed with several tables in
    // progress (chunks of 10k / 3 rows).
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, api: { listen: '127.0.0.1:0' }, backfill: { parallelTables: 3, rowsPerSecond: 10_000 } });

    const writerClient = new pg.Client({ connectionString: src.url });
    await writerClient.connect();
    cleanups.push(() => writerClient.end());
    let stopping = false;
    let ops = 0;
    const next: Record<Table, number> = { big: TABLES.big + 1, mid: TABLES.mid + 1, small: TABLES.small + 1, tiny: TABLES.tiny + 1 };
    const writer = (async () => {
      while (!stopping) {
        const t = NAMES[ops % NAMES.length] as Table;
        const id = randomBetween(1, next[t] - 1);
        const r = Math.random();
        // Each transaction touches two tables, so a row copied by one worker and a row copied by another change together.
        const other = NAMES[(ops + 1) % NAMES.length] as Table;
        await writerClient.query('BEGIN');
        if (r < 0.6) await writerClient.query(`UPDATE ${t} SET n = n + 1, amount = amount + 0.01, at = now() WHERE id = $1`, [id]);
        else if (r < 0.85) await writerClient.query(`INSERT INTO ${t} VALUES ($1, 0, 1.5, 'new', now())`, [next[t]++]);
        else await writerClient.query(`DELETE FROM ${t} WHERE id = $1`, [id]);
        await writerClient.query(`UPDATE ${other} SET n = n + 1 WHERE id = $1`, [randomBetween(1, next[other] - 1)]);
        await writerClient.query('COMMIT');
        ops++;
        await sleep(1);
      }
    })();

    const shadow = new pg.Client({ connectionString: dst.url });
    await shadow.connect();
    cleanups.push(() => shadow.end());
    const progress = async () => (await shadow.query<{ table_name: string; rows_copied: string; done: boolean }>(`select table_name, rows_copied::text, done from tandem.backfill where migration = $1`, [migration]).catch(() => ({ rows: [] }))).rows;
    const total = Object.values(TABLES).reduce((a, b) => a + b, 0);
    try {
      let p = start(['run', '--config', config]);
      // The live status names the tables being copied and the bound.
      const live = await untilTandem(p, 'status to show tables copied at once', async () => {
        const s = await tandemStatus<{ backfill: { parallelTables: number; currentTables: string[] } | null }>(config).catch(() => undefined);
        return s?.backfill && s.backfill.currentTables.length > 1 ? s.backfill : undefined;
      }, 60_000, 100);
      expect(live.parallelTables).toBe(3);
      expect(live.currentTables.length).toBeLessThanOrEqual(3);

      // Kill while at least two tables are partly copied (neither empty nor done).
      const inProgress = await untilTandem(p, 'two tables half copied', async () => {
        const rows = await progress();
        const half = rows.filter((r) => Number(r.rows_copied) > 0 && !r.done);
        return half.length >= 2 ? rows : undefined;
      }, 90_000, 20);
      await kill9(p);
      const after = await progress();
      const copied = after.reduce((n, r) => n + Number(r.rows_copied), 0);
      console.log(`[parallel] killed with ${JSON.stringify(inProgress)} in progress; ${copied} of ${total} rows copied; writer ops ${ops}`);
      expect(copied).toBeLessThan(total);
      expect((await shadow.query<{ stage: string }>(`select stage from tandem.checkpoint where migration = $1`, [migration])).rows[0]?.stage).toBe('backfill');
      // Each table's progress says exactly how many rows its committed chunks hold (none lost, none doubled by a worker).
      for (const r of after) expect(Number((await shadow.query<{ n: string }>(`select count(*)::text n from ${pg.escapeIdentifier(r.table_name)}`)).rows[0]?.n), r.table_name).toBe(Number(r.rows_copied));

      p = start(['run', '--config', config]);
      await waitForShadowing(config, 120_000);
      const opsAtShadowing = ops;
      await untilTandem(p, 'more writes after the backfill', async () => ops >= opsAtShadowing + 200, 30_000, 20);
      stopping = true;
      await writer;
      const read = (db: typeof src) => () => tablesRows(NAMES, (t) => pgRows(db.admin, `select id::text, n::text, amount::text, note, at::text from ${t}`));
      await waitForSameRows('the shadow to equal the source', read(src), read(dst), { procs: [p], timeoutMs: 90_000 });
      const v = await runVerify(config);
      expect(v.code, v.stderr).toBe(0);
      expect(v.report.driftCount).toBe(0);
      expect(v.report.tables.reduce((n, t) => n + t.rowsCompared, 0)).toBeGreaterThan(total / 2);
    } finally {
      stopping = true;
      await writer;
    }
  });
});

describe('readers of one backfill snapshot', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, servers } = suiteResources();

  it('PostgreSQL: every reader imports the slot\'s snapshot, so all of them see the data as of the slot, not later writes', async () => {
    const db = await createPgDatabase(pgUrl, 'snap_pg');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    await db.admin.query(`INSERT INTO t SELECT g FROM generate_series(1, 100) g`);
    const source = engineForUrl(db.url).captureSource({ url: db.url, migration: `snap_${process.pid}`, side: 'old', tables: ['t'] });
    const handle = await source.createSlotWithSnapshot({ readers: 3 });
    try {
      expect(handle.readers).toBe(3);
      await db.admin.query(`INSERT INTO t SELECT g FROM generate_series(101, 150) g`);
      const readers = await Promise.all([0, 1, 2].map(() => source.openReader(handle.snapshot)));
      await db.admin.query(`DELETE FROM t WHERE id <= 10`);
      for (const r of readers) {
        const rows = await r.readChunk('t', ['id'], ['id'], undefined, 1_000);
        expect(rows.map((x) => x.id)).toEqual(Array.from({ length: 100 }, (_, i) => String(i + 1)));
        await r.close();
      }
    } finally {
      await handle.release();
      await source.dropSlot();
    }
  });

  it('MariaDB: every reader opens its snapshot while commits are held, so under three writers each one holds exactly the transactions before the handle\'s binlog position', { timeout: 120_000 }, async () => {
    const db = await createMysqlDatabase(mysqlUrl, 'snap_my');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    await db.admin.query(`INSERT INTO t SELECT seq FROM seq_1_to_100`);
    const source = engineForUrl(db.url).captureSource({ url: db.url, migration: `snap_${process.pid}`, side: 'old', tables: ['t'] });
    const count = async (snapshot: string) => {
      const r = await source.openReader(snapshot);
      try {
        return (await r.readChunk('t', ['id'], ['id'], undefined, 1_000_000)).length;
      } finally {
        await r.close();
      }
    };

    // A quiet source: every reader asked for shares the snapshot.
    const quiet = await source.createSlotWithSnapshot({ readers: 3 });
    try {
      expect(quiet.readers).toBe(3);
      await db.admin.query(`INSERT INTO t SELECT seq FROM seq_101_to_150`);
      expect([await count(quiet.snapshot), await count(quiet.snapshot), await count(quiet.snapshot)]).toEqual([100, 100, 100]);
      // No more readers than were opened and proven.
      await expect(source.openReader(quiet.snapshot)).rejects.toThrow(/every connection of it is already reading/);
    } finally {
      await quiet.release();
    }

    // A busy source: three writers of single-row transactions. Each snapshot must hold exactly the transactions
    // whose commit (Xid event) lies before its position: one fewer is a row the stream, starting there, never
    // brings. MariaDB's binlog_snapshot_position alone missed one in about 120 snapshots here.
    await db.admin.query(`FLUSH BINARY LOGS`);
    const first = (await mysqlRows(db.admin, `SHOW MASTER STATUS`))[0]?.[0] as string;
    const writers = await Promise.all([0, 1, 2].map(() => connectMysql(db.url)));
    let stop = false;
    let next = 1_000;
    const writes = writers.map(async (w) => {
      while (!stop) await w.query(`INSERT INTO t VALUES (?)`, [next++]);
    });
    const seen: { file: string; offset: number; counts: number[] }[] = [];
    try {
      for (let round = 0; round < 60; round++) {
        const h = await source.createSlotWithSnapshot({ readers: 3 });
        try {
          expect(h.readers).toBe(3);
          const counts: number[] = [];
          for (let i = 0; i < h.readers; i++) counts.push(await count(h.snapshot));
          const { file, offset } = parsePosition(h.position);
          seen.push({ file, offset, counts });
        } finally {
          await h.release();
        }
      }
    } finally {
      stop = true;
      await Promise.all(writes);
      await Promise.all(writers.map((w) => w.end()));
    }
    // The server is shared with other test files: only transactions that wrote this database's t count.
    const files = (await mysqlRows(db.admin, `SHOW BINARY LOGS`)).map((r) => r[0] as string).filter((f) => f >= first);
    const commits = new Map<string, number[]>();
    for (const f of files) {
      const ends: number[] = [];
      let ours = false;
      // Columns: Log_name, Pos, Event_type, Server_id, End_log_pos, Info.
      for (const e of await mysqlRows(db.admin, `SHOW BINLOG EVENTS IN ${mysql.escape(f)}`)) {
        if (e[2] === 'Gtid') ours = false;
        if (e[2] === 'Table_map' && e[5]?.endsWith(`(${db.name}.t)`)) ours = true;
        if (e[2] === 'Xid' && ours) ends.push(Number(e[4]));
      }
      commits.set(f, ends);
    }
    const earlierFiles = (f: string) => files.filter((x) => x < f).reduce((n, x) => n + (commits.get(x)?.length ?? 0), 0);
    const wrong = seen
      .map((s) => ({ ...s, expected: 150 + earlierFiles(s.file) + (commits.get(s.file) ?? []).filter((end) => end <= s.offset).length }))
      .filter((s) => s.counts.some((c) => c !== s.expected));
    expect(wrong, 'snapshots whose rows do not match the transactions before their binlog position').toEqual([]);
    expect(Math.max(...seen.map((s) => s.counts[0] ?? 0))).toBeGreaterThan(150);
    expect((await mysqlRows(db.admin, `SELECT COUNT(*) FROM t`))[0]?.[0]).toBe(String(150 + next - 1_000));
  });

  it('MariaDB: while a backup holds commits, the snapshot waits for it at most 20 s, then fails retriably and says so', { timeout: 90_000 }, async () => {
    // A server of its own: the backup below holds every commit of its server for 20 s.
    const server = await startMariadb();
    servers.push(server);
    const db = await createMysqlDatabase(server.url, 'snap_backup');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    const source = engineForUrl(db.url).captureSource({ url: db.url, migration: `snap_${process.pid}`, side: 'old', tables: ['t'] });
    const backup = await connectMysql(db.url);
    try {
      // What mariadb-backup holds while it copies the last files.
      await backup.query(`BACKUP STAGE START`);
      await backup.query(`BACKUP STAGE BLOCK_COMMIT`);
      const err = await source.createSlotWithSnapshot({ readers: 2 }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'TANDEM_CONNECT_FAILED', retriable: true });
      expect(String((err as Error).message)).toMatch(/could not hold commits within 20 s: a long DDL statement or a backup/);
    } finally {
      await backup.query(`BACKUP STAGE END`);
      await backup.end();
    }
    // Once the backup is done, the snapshot opens.
    const h = await source.createSlotWithSnapshot({ readers: 2 });
    expect(h.readers).toBe(2);
    await h.release();
  });

  it('MariaDB: a user without RELOAD gets the GRANT to run, not a snapshot whose position may be wrong', async () => {
    const db = await createMysqlDatabase(mysqlUrl, 'snap_noreload');
    dbs.push(db);
    await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    const user = uniqueName('noreload');
    await db.admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'pw-${user}'`);
    try {
      await db.admin.query(`GRANT SELECT ON ${mysql.escapeId(db.name)}.* TO '${user}'@'%'`);
      await db.admin.query(`GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '${user}'@'%'`);
      const url = withDatabase(mysqlUrl, db.name, { name: user, password: `pw-${user}` });
      const source = engineForUrl(url).captureSource({ url, migration: `snap_${process.pid}`, side: 'old', tables: ['t'] });
      const err = await source.createSlotWithSnapshot({ readers: 2 }).then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'TANDEM_PRIVILEGE_MISSING', fix: `GRANT RELOAD ON *.* TO '${user}'@'%';` });
      expect(String((err as Error).message)).toContain('needs RELOAD');
      // No connection is left behind holding anything: the account can be dropped and the table written at once.
      await db.admin.query(`INSERT INTO t VALUES (1)`);
    } finally {
      await db.admin.query(`DROP USER '${user}'@'%'`);
    }
  });
});
