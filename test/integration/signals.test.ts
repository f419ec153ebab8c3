/**
 * What Tandem reports, compared with what is true, measured independently by the test: marker rows with commit
 * times read on the source's clock, row counts, process states, the databases' own views. Under load, while the
 * shadow is held back, and after each fault an operator meets.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { bypassFence, createMysqlDatabase, createPgDatabase, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { mysqlRows, pgRows, waitForSameRows } from '../harness/compare.js';
import { startPostgres, type RunningServer } from '../harness/servers.js';
import { startTandem, suiteResources, waitForShadowing, waitUntil, type TandemProcess } from '../harness/tandem-process.js';

const metric = (text: string, name: string, labels = ''): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.trim().split(/\s+/).pop()) : undefined;
};

interface Status {
  phase: string;
  running: boolean;
  readable: boolean;
  lastKnownAt: string | null;
  service: { state: string; renewedAgoMs: number; pid: number } | null;
  lastStop: { clean: boolean; code?: string; message?: string; fix?: string; at: string } | null;
  lag: { seconds: number | null; bytes: number | null };
  lastError: string | null;
  errors: string[];
  verification: { lastCompletePass: string | null; unconfirmedCount: number; tables: Array<{ table: string; state: string }> } | null;
}
const status = async (config: string) => {
  const r = await runTandem(['status', '--json', '--config', config]);
  return { code: r.code, s: JSON.parse(r.stdout) as Status };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An order-placing load: each transaction an order with a 2–6 kB note and JSON, 1–4 lines and a stock update. */
function shopLoad(url: string, clients: number) {
  let stop = false;
  let committed = 0;
  const run = async (n: number) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      for (let i = 0; !stop; i++) {
        const id = n * 10_000_000 + i;
        const lines = 1 + (i % 4);
        await c.query(
          `BEGIN;
           INSERT INTO orders VALUES (${id}, repeat(md5(random()::text), ${64 + (i % 128)}), '{"channel": "web", "n": ${i}}');
           INSERT INTO order_lines SELECT ${id}, g, 'sku-' || (g * 7 + ${i}) % 500, g FROM generate_series(1, ${lines}) g;
           UPDATE stock SET qty = qty - 1 WHERE sku = 'sku-' || ${i % 500};
           COMMIT`,
        );
        committed++;
      }
    } finally {
      await c.end();
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, n) => run(n)));
  return {
    get committed() {
      return committed;
    },
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

const SHOP = [
  `CREATE TABLE orders (id bigint PRIMARY KEY, note text, doc jsonb)`,
  `CREATE TABLE order_lines (order_id bigint, line int, sku text, qty int, PRIMARY KEY (order_id, line))`,
  `CREATE TABLE stock (sku text PRIMARY KEY, qty int)`,
  `CREATE TABLE markers (id bigint PRIMARY KEY, at timestamptz NOT NULL)`,
];

describe('signals that match reality', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs, servers } = suiteResources();
  const run = (config: string, env?: NodeJS.ProcessEnv): TandemProcess => {
    const p = startTandem(['run', '--config', config], { env });
    procs.push(p);
    return p;
  };
  const scrape = async (oldUrl: string, migration: string) => {
    const api = (await readLeaseRow(oldUrl, migration))?.api;
    const res = await fetch(`http://${api}/metrics`);
    return res.text();
  };

  it('lag in seconds follows the true lag of marker rows under a shop load and while the shadow is held back', { timeout: 240_000 }, async () => {
    // A server of its own: the shadow is held back by a lock inside an open transaction, which on a shared server
    // would delay every other test's replication slot creation.
    const server = await startPostgres();
    servers.push(server);
    const [src, dst] = [await createPgDatabase(server.url, 'lag_src'), await createPgDatabase(server.url, 'lag_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) for (const sql of SHOP) await db.admin.query(sql);
    await src.admin.query(`INSERT INTO stock SELECT 'sku-' || g, 1000000 FROM generate_series(0, 499) g`);
    const migration = uniqueName('lag');
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, verify: { rowsPerSecond: 1000 } });
    run(config);
    await waitForShadowing(config);
    const load = shopLoad(src.url, 4);
    // Markers: one row every 100 ms, its commit time read on the source's clock.
    let markerId = 0;
    let stopMarkers = false;
    const markers = (async () => {
      while (!stopMarkers) {
        await src.admin.query(`INSERT INTO markers VALUES ($1, clock_timestamp())`, [++markerId]);
        await sleep(100);
      }
    })();
    /** True lag now: the source's clock minus the commit time of the oldest marker the shadow does not have yet. */
    const trueLag = async (): Promise<number> => {
      const applied = Number((await dst.admin.query<{ m: string }>(`select coalesce(max(id), 0)::text as m from markers`)).rows[0]?.m);
      const r = await src.admin.query<{ lag: string | null }>(`select extract(epoch from clock_timestamp() - min(at))::text as lag from markers where id > $1`, [applied]);
      return Number(r.rows[0]?.lag ?? 0);
    };
    const samples: Array<{ reported: number; truth: number; phase: string }> = [];
    const observe = async (phase: string, ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const before = await trueLag();
        const reported = metric(await scrape(src.url, migration), 'tandem_lag_seconds');
        const after = await trueLag();
        if (reported !== undefined) samples.push({ reported, truth: (before + after) / 2, phase });
        await sleep(400);
      }
    };
    try {
      await observe('load', 10_000);
      // Hold the shadow back: apply waits behind an exclusive lock for 10 s while the load goes on.
      const blocker = new pg.Client({ connectionString: dst.url });
      await blocker.connect();
      await blocker.query('BEGIN; LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      await observe('held back', 10_000);
      await blocker.query('COMMIT');
      await blocker.end();
      await observe('catching up', 15_000);
    } finally {
      stopMarkers = true;
      await markers;
      await load.stop();
    }
    const table = samples.map((s) => `${s.phase.padEnd(12)} true ${s.truth.toFixed(2)} s, reported ${s.reported.toFixed(2)} s`).join('\n');
    console.log(`[lag] ${load.committed} order transactions; samples:\n${table}`);
    // The old definition said ~0 while 20k transactions waited: a reported lag far below the truth is the failure.
    for (const s of samples) expect(s.reported, table).toBeGreaterThanOrEqual(s.truth - 1.5);
    for (const s of samples) expect(s.reported, table).toBeLessThanOrEqual(s.truth + 1.5 + s.truth * 0.2);
    expect(Math.max(...samples.filter((s) => s.phase === 'held back').map((s) => s.reported))).toBeGreaterThan(7);
  });

  it('during the backfill, lag seconds is unknown (absent) and lag bytes is the stream\'s real distance, never 0', { timeout: 180_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'bf_src'), await createPgDatabase(pgUrl, 'bf_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE big (id bigint PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 300000) g`);
    const migration = uniqueName('bf');
    // Throttled, so the copy (a bulk COPY pipe here, seconds unthrottled) lasts long enough to be sampled.
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, apply: { batchRows: 500 }, backfill: { rowsPerSecond: 20_000 } });
    run(config);
    await waitUntil('the backfill to start', async () => (await dst.admin.query(`select 1 from tandem.checkpoint`).catch(() => ({ rowCount: 0 }))).rowCount === 1, 60_000);
    // Writes during the backfill: the slot's unread WAL grows.
    await src.admin.query(`UPDATE big SET v = v || 'y' WHERE id <= 50000`);
    // The sampler reads the slot's distance every few seconds: wait for a sample taken after the UPDATE, while the
    // copy (300k rows at 20k rows/s) still has rows to go.
    const text = await waitUntil('a metrics sample during the backfill that counts the UPDATE', async () => {
      const t = await scrape(src.url, migration);
      const copied = metric(t, 'tandem_backfill_rows_copied');
      if (copied === undefined || copied >= 250_000) return undefined;
      return (metric(t, 'tandem_lag_bytes') ?? 0) > 1_000_000 ? t : undefined;
    }, 30_000, 250);
    expect(metric(text, 'tandem_lag_seconds')).toBeUndefined();
    expect(metric(text, 'tandem_backfill_rows_copied')).toBeLessThan(300_000);
    const { s } = await status(config);
    expect(s.lag.seconds).toBeNull();
  });

  it('a paused (SIGSTOP) service reads as not responding, with its age, and status exits 4', { timeout: 120_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'hang_src'), await createPgDatabase(pgUrl, 'hang_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text)`);
    // Renewed every 10 s; not renewed for two intervals reads as not responding, well before the lease expires.
    const config = writeConfig({ migration: uniqueName('hang'), old: { url: src.url }, new: { url: dst.url }, lease: { ttl: '30s' } });
    const p = run(config);
    await waitForShadowing(config);
    p.kill('SIGSTOP');
    try {
      await sleep(23_000);
      const { code, s } = await status(config);
      expect(code).toBe(4);
      expect(s.service?.state).toBe('not-responding');
      expect(s.service?.renewedAgoMs).toBeGreaterThan(20_000);
      expect(s.running).toBe(false);
      expect(s.lag.seconds).toBeNull();
      const text = (await runTandem(['status', '--config', config])).stdout;
      expect(text).toMatch(/NOT RESPONDING: pid \d+ .* has not renewed it for \d+\.\d s/);
    } finally {
      p.kill('SIGCONT');
    }
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('a shadow that cannot be reached reads as unreachable with the last known figures and their age (exit 4), not as a new migration', { timeout: 120_000 }, async () => {
    let server: RunningServer | undefined = await startPostgres();
    try {
      const src = await createPgDatabase(pgUrl, 'unr_src');
      dbs.push(src);
      const admin = new pg.Client({ connectionString: `${server.url}/postgres` });
      await admin.connect();
      await admin.query('CREATE DATABASE shadow');
      await admin.end();
      const dstUrl = `${server.url}/shadow`;
      const c = new pg.Client({ connectionString: dstUrl });
      await c.connect();
      await c.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text)`);
      await c.end();
      await src.admin.query(`CREATE TABLE t (id bigint PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 10) g`);
      const config = writeConfig({ migration: uniqueName('unr'), old: { url: src.url }, new: { url: dstUrl } });
      const p = run(config);
      await waitForShadowing(config);
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      const before = await status(config);
      expect(before.code).toBe(0);
      expect(before.s.phase).toBe('shadowing');
      await server.stop();
      server = undefined;
      const { code, s } = await status(config);
      expect(code).toBe(4);
      expect(s.readable).toBe(false);
      expect(s.phase).toBe('shadowing');
      expect(s.lastKnownAt).not.toBeNull();
      expect(s.errors.join(' ')).toMatch(/cannot connect to PostgreSQL/);
      const text = (await runTandem(['status', '--config', config])).stdout;
      expect(text).toMatch(/last known +figures above from/);
    } finally {
      await server?.stop();
    }
  });

  it('stops read as what happened: kill -9, a fatal stop (code, fix, time, exit 4), a clean stop (no error)', { timeout: 120_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'stop_src'), await createMysqlDatabase(mysqlUrl, 'stop_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE n (id int PRIMARY KEY, x double precision)`);
    await dst.admin.query(`CREATE TABLE n (id int PRIMARY KEY, x double)`);
    const config = writeConfig({ migration: uniqueName('stop'), old: { url: src.url }, new: { url: dst.url } });
    let p = run(config);
    await waitForShadowing(config);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    let { code, s } = await status(config);
    expect(code).toBe(0);
    expect(s.lastStop?.clean).toBe(true);
    expect(s.lastError).toBeNull();
    expect(JSON.stringify(s)).not.toContain('aborted');

    p = run(config);
    await waitUntil('running', async () => (await status(config)).s.running, 30_000);
    p.kill('SIGKILL');
    await p.exited;
    ({ code, s } = await status(config));
    expect(code).toBe(4);
    expect(s.service?.state).toBe('gone');
    expect((await runTandem(['status', '--config', config])).stdout).toMatch(/not running: pid \d+ on .* is gone \(killed or crashed\) since about \d{4}-/);

    // A value MariaDB cannot hold stops the service: status shows the code, the fix and when, and exits 4.
    p = run(config);
    await waitUntil('running', async () => (await status(config)).s.running, 30_000);
    await src.admin.query(`INSERT INTO n VALUES (1, 1.5), (2, 'NaN')`);
    expect(await p.exited).toBe(4);
    // One structured record says why, with code, fix and where (the same text follows for people).
    const record = p
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r.level === 50);
    expect(record).toMatchObject({ code: 'TANDEM_VALUE_UNSUPPORTED', table: 'n', column: 'x', key: { id: '2' }, position: expect.stringMatching(/^[0-9A-F]+\/[0-9A-F]+$/) });
    expect(record?.fix).toBeTruthy();
    ({ code, s } = await status(config));
    expect(code).toBe(4);
    expect(s.lastStop).toMatchObject({ clean: false, code: 'TANDEM_VALUE_UNSUPPORTED', fix: expect.any(String) });
    expect((await runTandem(['status', '--config', config])).stdout).toMatch(/STOPPED BY AN ERROR at \d{4}-.*TANDEM_VALUE_UNSUPPORTED[\s\S]*fix: /);
  });

  it('verification accounting: unconfirmed rows are not a clean pass; tables never compared say so; a re-copy forgets old results', { timeout: 180_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'acc_src'), await createPgDatabase(pgUrl, 'acc_dst')];
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO a SELECT g, 'v' FROM generate_series(1, 100) g; INSERT INTO b SELECT g, 'v' FROM generate_series(1, 100) g`);
    const config = writeConfig({ migration: uniqueName('acc'), old: { url: src.url }, new: { url: dst.url }, verify: { interval: '1h' } });
    const p = run(config);
    await waitForShadowing(config);
    await waitUntil('a first complete pass', async () => (await status(config)).s.verification?.lastCompletePass, 60_000);

    // The shadow held back: a change on the source cannot be confirmed within --settle.
    const blocker = new pg.Client({ connectionString: dst.url });
    await blocker.connect();
    // EXCLUSIVE blocks Tandem's writes to b, not reads of it.
    await blocker.query('BEGIN; LOCK TABLE b IN EXCLUSIVE MODE');
    await src.admin.query(`UPDATE b SET v = 'changed' WHERE id = 5`);
    const r = await runTandem(['verify', '--json', '--table', 'b', '--settle', '3s', '--config', config]);
    await blocker.query('ROLLBACK');
    await blocker.end();
    expect(r.code).toBe(4);
    let { s } = await status(config);
    expect(s.verification?.tables.find((t) => t.table === 'b')?.state).toBe('unconfirmed');
    expect(s.verification?.unconfirmedCount).toBe(1);
    expect((await runTandem(['status', '--config', config])).stdout).toMatch(/1 row\(s\) differ UNCONFIRMED/);

    // A table that joins later has never been compared: the last complete pass of every table is unknown then.
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    const again = await runTandem(['backfill', '--yes', '--config', config], { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    ({ s } = await status(config));
    expect(s.verification?.lastCompletePass).toBeNull();
    expect(s.verification?.tables.map((t) => t.state)).toEqual(['never', 'never']);
  });

  it('a MariaDB source exports binlog headroom and retention instead of a slot\'s retained WAL; unknowns are absent at start', { timeout: 120_000 }, async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'bl_src'), await createPgDatabase(pgUrl, 'bl_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    await dst.admin.query(`CREATE TABLE t (id int PRIMARY KEY)`);
    const migration = uniqueName('bl');
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, verify: { interval: '1h', rowsPerSecond: 1 } });
    run(config);
    const first = await waitUntil('metrics', async () => scrape(src.url, migration).catch(() => undefined), 30_000);
    expect(metric(first, 'tandem_verify_last_pass_completed_timestamp_seconds')).toBeUndefined();
    await waitForShadowing(config);
    const text = await waitUntil('a source sample', async () => {
      const t = await scrape(src.url, migration);
      return metric(t, 'tandem_binlog_headroom_bytes') !== undefined ? t : undefined;
    }, 30_000);
    expect(metric(text, 'tandem_slot_retained_wal_bytes')).toBeUndefined();
    expect(metric(text, 'tandem_binlog_headroom_bytes')).toBeGreaterThanOrEqual(0);
  });
});

describe('drift metric after a repair', () => {
  const pgUrl = inject('pgUrl');
  const { dbs, procs } = suiteResources();
  let src: Awaited<ReturnType<typeof createPgDatabase>>;
  let dst: Awaited<ReturnType<typeof createPgDatabase>>;
  beforeAll(async () => {
    [src, dst] = [await createPgDatabase(pgUrl, 'rep_src'), await createPgDatabase(pgUrl, 'rep_dst')];
    await bypassFence(dst.admin);
    dbs.push(src, dst);
    for (const db of [src, dst]) await db.admin.query(`CREATE TABLE t (id int PRIMARY KEY, v text)`);
    await src.admin.query(`INSERT INTO t SELECT g, 'v' FROM generate_series(1, 100) g`);
  });
  afterAll(() => undefined);

  it('falls back to 0 within seconds of tandem repair, not after verify.interval', { timeout: 120_000 }, async () => {
    const migration = uniqueName('rep');
    const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, verify: { interval: '2s' } });
    const p = startTandem(['run', '--config', config]);
    procs.push(p);
    await waitForShadowing(config);
    await dst.admin.query(`UPDATE t SET v = 'drift' WHERE id <= 5`);
    const api = async () => `http://${(await readLeaseRow(src.url, migration))?.api}/metrics`;
    await waitUntil('the drift metric', async () => metric(await (await fetch(await api())).text(), 'tandem_drift_rows') === 5, 60_000);
    // No more passes for a while: only the repair and the service's reading of the store can clear it.
    p.kill('SIGTERM');
    await p.exited;
    const q = startTandem(['run', '--config', writeConfig({ migration, old: { url: src.url }, new: { url: dst.url }, verify: { interval: '1h' } })]);
    procs.push(q);
    await waitUntil('the drift metric again', async () => metric(await (await fetch(await api())).text(), 'tandem_drift_rows') === 5, 60_000);
    const t0 = Date.now();
    expect((await runTandem(['repair', '--table', 't', '--all', '--yes', '--config', config])).code).toBe(0);
    await waitUntil('the drift metric to fall to 0', async () => metric(await (await fetch(await api())).text(), 'tandem_drift_rows') === 0, 30_000, 250);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });
});

describe('a stop as the stream starts, right after the initial copy', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start } = suiteResources();
  /** How long after "backfill complete" the signal comes: tables joining, the stream opening, the first applies. */
  const DELAYS = [0, 5, 15, 30, 60, 100, 200, 400, 800, 1_500];

  /** A database of the test, read and written directly (never through Tandem). */
  const open = async (engine: 'PostgreSQL' | 'MariaDB', prefix: string) => {
    if (engine === 'PostgreSQL') {
      const db = await createPgDatabase(pgUrl, prefix);
      dbs.push(db);
      return { url: db.url, exec: async (sql: string) => void (await db.admin.query(sql)), rows: (sql: string) => pgRows(db.admin, sql), checkpoint: 'tandem.checkpoint' };
    }
    const db = await createMysqlDatabase(mysqlUrl, prefix);
    dbs.push(db);
    return { url: db.url, exec: async (sql: string) => void (await db.admin.query(sql)), rows: (sql: string) => mysqlRows(db.admin, sql), checkpoint: 'tandem_checkpoint' };
  };

  for (const [engine, shadowEngine] of [['PostgreSQL', 'MariaDB'], ['MariaDB', 'PostgreSQL']] as const) {
    it(`SIGTERM at moments just after the copy ends (${engine} → ${shadowEngine}) exits 0 within seconds, the checkpoint committed`, { timeout: 300_000 }, async () => {
      const timings: string[] = [];
      for (const delay of DELAYS) {
        const [src, dst] = [await open(engine, 'sc_src'), await open(shadowEngine, 'sc_dst')];
        for (const db of [src, dst]) await db.exec(`CREATE TABLE t (id int PRIMARY KEY, v varchar(40) NOT NULL)`);
        await src.exec(engine === 'PostgreSQL' ? `INSERT INTO t SELECT g, 'copied ' || g FROM generate_series(1, 3000) g` : `INSERT INTO t SELECT seq, CONCAT('copied ', seq) FROM seq_1_to_3000`);
        const rowsOf = (db: typeof src) => () => db.rows(`SELECT id, v FROM t ORDER BY id`);
        const migration = uniqueName('sc');
        const config = writeConfig({ migration, old: { url: src.url }, new: { url: dst.url } });
        // One transaction after another all along, so the stream has changes to apply the moment it starts.
        let writing = true;
        const writer = (async () => {
          for (let id = 100_000; writing; id++) {
            await src.exec(`INSERT INTO t VALUES (${id}, 'streamed ${id}')`);
            await sleep(3);
          }
        })();
        try {
          const p = start(['run', '--config', config]);
          let signalledAt = 0;
          const onOutput = () => {
            if (signalledAt || !p.output().includes('backfill complete')) return;
            signalledAt = -1;
            setTimeout(() => {
              signalledAt = Date.now();
              p.kill('SIGTERM');
            }, delay);
          };
          // Sent from the output handler itself (logs go to stderr): the signal follows the log line by `delay` ms.
          p.child.stdout?.on('data', onOutput);
          p.child.stderr?.on('data', onOutput);
          const code = await Promise.race([p.exited, sleep(60_000).then(() => 'still running 60 s after the copy')]);
          const tookMs = Date.now() - signalledAt;
          timings.push(`${delay} ms: exit ${code} after ${tookMs} ms`);
          expect(code, `SIGTERM ${delay} ms after the copy ended:\n${p.output().slice(-3000)}`).toBe(0);
          // Well under the 30 s forced exit: the stop finished, it was not cut short.
          expect(tookMs, p.output().slice(-3000)).toBeLessThan(10_000);
          // The copy's end is committed: the next start streams on from there instead of copying again.
          expect(await dst.rows(`SELECT stage FROM ${dst.checkpoint} WHERE migration = '${migration}' AND direction = 'forward'`)).toEqual([['streaming']]);
        } finally {
          writing = false;
          await writer;
        }
        const again = start(['run', '--config', config]);
        await waitForSameRows('the shadow to equal the source after a restart', rowsOf(src), rowsOf(dst), { procs: [again] });
        expect(again.output()).not.toContain('backfill started');
        again.kill('SIGTERM');
        expect(await again.exited, again.output().slice(-2000)).toBe(0);
      }
      console.log(`[stop as the stream starts] ${engine} → ${shadowEngine}, SIGTERM after the copy: ${timings.join('; ')}`);
    });
  }
});
