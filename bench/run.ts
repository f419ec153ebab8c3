/**
 * `npm run bench [-- --only NAME[,NAME…]] [-- --reps N]`: Tandem against its anchors on this machine, with throwaway
 * servers, alternating Tandem and anchor several times. Writes bench/results/latest.json and latest.md.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { startMariadb, startPostgres, type RunningServer } from '../test/harness/servers.js';
import { client, cpuSeconds, measureMarkerLag, median, peakRss, percentile, postmasterPid, spread, treeCpuSeconds, until, type BenchRow } from './lib.js';
import { benchVerify, verifyNotes } from './verify.js';
import { benchSwitch, switchNotes } from './switch.js';
import { benchBackfill, benchBackfillMariadb } from './backfill.js';
import { benchScaling } from './scaling.js';
import { benchApplyGroups } from './apply-groups.js';
import { ORDER_TABLES, noteOf, orderMeta, ordersDdl, skuOf } from './order-load.js';
import { BROKER, RUN_DIR, kafkaDown, kafkaUp } from '../scripts/kafka-stack.js';
import { KafkaInspector } from '../src/transport/kafka/client.js';
import { configSchema } from '../src/config/schema.js';
import { benchKafkaClients } from './kafka-clients.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..');
const cli = join(repoRoot, 'dist', 'cli', 'tandem.js');
const resultsDir = join(repoRoot, 'bench', 'results');

const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const reps = args.includes('--reps') ? Number(args[args.indexOf('--reps') + 1]) : 3;
const BULK_ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000);
const OLTP_SECONDS = Number(process.env.BENCH_OLTP_SECONDS ?? 15);
/** Load before the lag rows' measured part: a just-started replicator's first seconds are reported on their own (the cold rows). */
const OLTP_WARMUP_SECONDS = Number(process.env.BENCH_OLTP_WARMUP_SECONDS ?? 3);
const SWITCHES = Number(process.env.BENCH_SWITCHES ?? 20);

const rows: BenchRow[] = [];

const tableDdl = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2), created timestamptz NOT NULL DEFAULT now())`;
const oltpDdl = [
  `CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, total numeric(12,2) NOT NULL, status text NOT NULL, created timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE order_lines (order_id bigint NOT NULL, line int NOT NULL, sku text NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line))`,
  `CREATE TABLE markers (id bigint PRIMARY KEY, sent_at timestamptz NOT NULL)`,
];


class Pair {
  constructor(
    readonly server: RunningServer,
    readonly src: string,
    readonly dst: string,
    readonly srcClient: pg.Client,
    readonly dstClient: pg.Client,
  ) {}

  /** `settings`: per-database settings of both databases (ALTER DATABASE … SET, over the cluster's command line). */
  static async create(server: RunningServer, tag: string, ddl: string[], settings: Record<string, string> = {}): Promise<Pair> {
    const admin = await client(`${server.url}/postgres`);
    const src = `${tag}_src`;
    const dst = `${tag}_dst`;
    for (const db of [src, dst]) {
      await admin.query(`CREATE DATABASE ${db}`);
      for (const [k, v] of Object.entries(settings)) await admin.query(`ALTER DATABASE ${db} SET ${k} = '${v}'`);
    }
    await admin.end();
    const s = await client(`${server.url}/${src}`);
    const d = await client(`${server.url}/${dst}`);
    for (const sql of ddl) {
      await s.query(sql);
      await d.query(sql);
    }
    return new Pair(server, src, dst, s, d);
  }

  async drop(): Promise<void> {
    await this.srcClient.end();
    await this.dstClient.end();
    const admin = await client(`${this.server.url}/postgres`);
    await admin.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database in ($1, $2) and not active`, [this.src, this.dst]);
    for (const db of [this.src, this.dst]) await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * `tandem run --config <config>` in its own process. BENCH_CPU_PROF=<dir>: a V8 CPU profile of each run (open in
 * Chrome DevTools or speedscope). BENCH_TANDEM_LOG=<file>: its output appended there instead of discarded.
 */
function spawnTandemRun(config: string, build = cli): ChildProcess {
  const flags = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  // BENCH_TANDEM_NODE_FLAGS: Node/V8 flags for tandem run only (NODE_OPTIONS would change the load generator too).
  flags.push(...(process.env.BENCH_TANDEM_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []));
  const log = process.env.BENCH_TANDEM_LOG ? openSync(process.env.BENCH_TANDEM_LOG, 'a') : 'ignore';
  const child = spawn(process.execPath, [...flags, build, 'run', '--config', config], { stdio: ['ignore', log, log === 'ignore' ? 'pipe' : log], env: { ...process.env, TANDEM_LOG_LEVEL: process.env.BENCH_TANDEM_LOG_LEVEL ?? 'warn' } });
  child.stderr?.resume();
  return child;
}

/** BENCH_TANDEM_CONFIG: JSON merged into every bench `tandem run` configuration (top-level keys), to try a setting. */
function benchTandemConfig(): Record<string, unknown> {
  const raw = process.env.BENCH_TANDEM_CONFIG;
  return raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
}

/** The apply and queue settings of the runs, as the configuration's defaults give them (and BENCH_TANDEM_CONFIG changes them). */
function tandemSettings(): string {
  const { apply, transport } = configSchema.parse({ migration: 'bench', old: { url: 'postgres://127.0.0.1/old' }, new: { url: 'postgres://127.0.0.1/new' }, ...benchTandemConfig() });
  const extra = process.env.BENCH_TANDEM_CONFIG ? `, BENCH_TANDEM_CONFIG ${process.env.BENCH_TANDEM_CONFIG}` : '';
  return `apply.batchRows ${apply.batchRows}, batchTime ${apply.batchTime}ms, commitDelay ${apply.commitDelay}ms, queue ${transport.queueChanges} changes${extra}`;
}

/** Tandem as a user runs it: `tandem run` in its own process. */
async function startTandemRun(pair: Pair, migration: string, extra: Record<string, unknown> = {}, build = cli): Promise<{ child: ChildProcess; config: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
  const config = join(dir, 'tandem.yaml');
  writeFileSync(config, stringify({ ...benchTandemConfig(), ...extra, migration, old: { url: `${pair.server.url}/${pair.src}` }, new: { url: `${pair.server.url}/${pair.dst}` }, state: { dir }, api: { listen: '127.0.0.1:0' } }));
  const child = spawnTandemRun(config, build);
  await until('tandem to start streaming', async () => {
    const r = await pair.dstClient.query(`select stage from tandem.checkpoint`).catch(() => ({ rows: [] as Array<{ stage: string }> }));
    return r.rows[0]?.stage === 'streaming';
  }, 60_000, 50);
  // As for the native subscription (its worker running): the replication connection is open and reading.
  await until('tandem\'s replication connection to read', async () => {
    const r = await pair.srcClient.query(`select 1 from pg_replication_slots where database = current_database() and active`);
    return r.rowCount === 1;
  }, 60_000, 20);
  return {
    child,
    config,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** PostgreSQL's own logical replication between two databases of one cluster, set up the documented way. */
async function startNative(pair: Pair, name: string, tables: string[]): Promise<{ stop(): Promise<void> }> {
  await pair.srcClient.query(`CREATE PUBLICATION ${name} FOR TABLE ${tables.join(', ')}`);
  // A subscription to the same cluster cannot create its slot itself (it would wait on itself).
  await pair.srcClient.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
  await pair.dstClient.query(
    `CREATE SUBSCRIPTION ${name} CONNECTION 'host=127.0.0.1 port=${pair.server.port} user=postgres dbname=${pair.src}' PUBLICATION ${name} WITH (create_slot = false, slot_name = '${name}', copy_data = false)`,
  );
  await until('the subscription to start', async () => (await pair.dstClient.query(`select 1 from pg_stat_subscription where subname = $1 and pid is not null`, [name])).rowCount === 1, 30_000, 50);
  return {
    stop: async () => {
      await pair.dstClient.query(`ALTER SUBSCRIPTION ${name} DISABLE`);
      await pair.dstClient.query(`ALTER SUBSCRIPTION ${name} SET (slot_name = NONE)`);
      await pair.dstClient.query(`DROP SUBSCRIPTION ${name}`);
      await until('the walsender to exit', async () => (await pair.srcClient.query(`select 1 from pg_replication_slots where slot_name = $1 and active`, [name])).rowCount === 0, 30_000, 50);
      await pair.srcClient.query(`select pg_drop_replication_slot($1)`, [name]);
      await pair.srcClient.query(`DROP PUBLICATION ${name}`);
    },
  };
}

async function count(c: pg.Client, table: string): Promise<number> {
  return Number((await c.query<{ n: string }>(`select count(*)::text as n from ${table}`)).rows[0]?.n);
}

/** The bulk rows' transaction: `n` rows into `items` in one statement. */
const bulkInsert = (n: number) => `INSERT INTO items (id, name, price) SELECT g, md5(g::text), g / 100.0 FROM generate_series(1, ${n}) g`;

/**
 * One `n`-row transaction (1,000,000 by default): seconds from source commit until the shadow holds every row. `held`
 * rows are there before it (a warm-up row).
 */
async function bulkOnce(pair: Pair, n = BULK_ROWS, held = 0): Promise<number> {
  // Each pair is new, so both tables are empty (and Tandem fences the shadow: nothing else may write there).
  await pair.srcClient.query(bulkInsert(n));
  const committed = performance.now();
  await until('the shadow to hold every row', async () => (await count(pair.dstClient, 'items')) === n + held, 600_000, 100);
  return (performance.now() - committed) / 1000;
}

/**
 * The decode ceiling: seconds for pg_recvlogical to read the committed transaction through pgoutput (protocol 1, the
 * publication Tandem would use) to /dev/null, from start until it passes the commit's LSN. Nothing is applied.
 */
async function decodeCeilingOnce(pair: Pair, name: string): Promise<number> {
  const db = `host=127.0.0.1 port=${pair.server.port} user=postgres dbname=${pair.src}`;
  await pair.srcClient.query(`CREATE PUBLICATION ${name} FOR TABLE items`);
  await pair.srcClient.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [name]);
  await pair.srcClient.query(bulkInsert(BULK_ROWS));
  const end = (await pair.srcClient.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`)).rows[0]?.lsn as string;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('pg_recvlogical', ['-d', db, '-S', name, '--start', '-f', '/dev/null', '-o', 'proto_version=1', '-o', `publication_names=${name}`, '--endpos', end, '--no-loop'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`pg_recvlogical exited ${code}: ${err}`))));
  });
  const seconds = (performance.now() - started) / 1000;
  await pair.srcClient.query(`select pg_drop_replication_slot($1)`, [name]);
  await pair.srcClient.query(`DROP PUBLICATION ${name}`);
  return seconds;
}

/**
 * A new cluster's first large transaction also creates its WAL segment files (each zeroed as it is created); later
 * ones reuse them. Whoever ran first was measured on a colder server (Tandem's first repetition ran 2 s slower than
 * its others), so one transaction of the same size is written and dropped before anything is timed.
 */
async function warmWal(server: RunningServer): Promise<void> {
  const pair = await Pair.create(server, 'bulk_warm', [tableDdl]);
  for (const c of [pair.srcClient, pair.dstClient]) await c.query(bulkInsert(BULK_ROWS));
  await pair.srcClient.query('CHECKPOINT');
  await pair.drop();
}

async function benchBulk(server: RunningServer): Promise<void> {
  const tandemSecs: number[] = [];
  const nativeSecs: number[] = [];
  const decodeSecs: number[] = [];
  const rss: number[] = [];
  const tandemCpu: number[] = [];
  const cpu = { tandem: [] as number[], native: [] as number[] };
  // CPU seconds from just before the source transaction until the shadow holds every row: the servers' (the source
  // backend, the walsender, the shadow's backends) and Tandem's own. Steadier than wall time on a shared machine.
  const serverCpu = () => treeCpuSeconds(postmasterPid(server));
  const tandemOnce = async (i: number) => {
    const pair = await Pair.create(server, `bulk_t${i}`, [tableDdl]);
    const t = await startTandemRun(pair, `bench_bulk_${i}`);
    const pid = t.child.pid as number;
    const [s0, p0] = [serverCpu(), cpuSeconds(pid)];
    tandemSecs.push(await bulkOnce(pair));
    const own = cpuSeconds(pid) - p0;
    tandemCpu.push(own);
    cpu.tandem.push(serverCpu() - s0 + own);
    const peak = peakRss(pid);
    if (peak) rss.push(peak / 1024 / 1024);
    await t.stop();
    await pair.drop();
  };
  const nativeOnce = async (i: number) => {
    const pair = await Pair.create(server, `bulk_n${i}`, [tableDdl]);
    const n = await startNative(pair, `bench_native_${i}`, ['items']);
    const s0 = serverCpu();
    nativeSecs.push(await bulkOnce(pair));
    cpu.native.push(serverCpu() - s0);
    await n.stop();
    await pair.drop();
  };
  await warmWal(server);
  for (let i = 0; i < reps; i++) {
    // Who goes first alternates, so neither is always the one that follows the other's cleanup.
    for (const once of i % 2 === 0 ? [tandemOnce, nativeOnce] : [nativeOnce, tandemOnce]) await once(i);
    {
      const pair = await Pair.create(server, `bulk_d${i}`, [tableDdl]);
      decodeSecs.push(await decodeCeilingOnce(pair, `bench_decode_${i}`));
      await pair.drop();
    }
    process.stderr.write(`bulk rep ${i + 1}/${reps}: tandem ${tandemSecs.at(-1)?.toFixed(1)} s, native ${nativeSecs.at(-1)?.toFixed(1)} s, pg_recvlogical ${decodeSecs.at(-1)?.toFixed(1)} s\n`);
  }
  const perSec = (secs: number[]) => secs.map((s) => BULK_ROWS / s);
  rows.push({ name: 'bulk-apply', metric: `${BULK_ROWS.toLocaleString('en')}-row transaction applied`, unit: 'rows/s', tandem: perSec(tandemSecs), anchor: perSec(nativeSecs), anchorName: 'PostgreSQL logical replication (subscription)', command: 'npm run bench -- --only bulk' });
  rows.push({ name: 'bulk-decode-ceiling', metric: `${BULK_ROWS.toLocaleString('en')}-row transaction applied`, unit: 'rows/s', tandem: perSec(tandemSecs), anchor: perSec(decodeSecs), anchorName: 'pg_recvlogical reading it through pgoutput to /dev/null (the decode ceiling)', command: 'npm run bench -- --only bulk' });
  rows.push({
    name: 'bulk-cpu',
    metric: `CPU seconds for the ${BULK_ROWS.toLocaleString('en')}-row transaction, from before it until applied: servers + tandem run (Tandem), servers (native)`,
    unit: 'CPU-s',
    tandem: cpu.tandem,
    anchor: cpu.native,
    anchorName: 'PostgreSQL logical replication (subscription)',
    command: 'npm run bench -- --only bulk',
    note: `tandem run's own share: ${median(tandemCpu).toFixed(1)} CPU-s (median); utime + stime from /proc`,
  });
  rows.push({ name: 'memory', metric: `peak RSS of tandem run during the ${BULK_ROWS.toLocaleString('en')}-row transaction`, unit: 'MiB', tandem: rss, anchor: null, anchorName: '—', command: 'npm run bench -- --only bulk' });
}

async function benchCopy(server: RunningServer): Promise<void> {
  const secs: number[] = [];
  const file = `/tmp/tandem-bench-copy-${process.pid}.csv`;
  for (let i = 0; i < reps; i++) {
    const pair = await Pair.create(server, `copy_${i}`, [tableDdl]);
    await pair.srcClient.query(`COPY (SELECT g, md5(g::text), g / 100.0, now() FROM generate_series(1, ${BULK_ROWS}) g) TO '${file}'`);
    const start = performance.now();
    await pair.dstClient.query(`COPY items FROM '${file}'`);
    secs.push((performance.now() - start) / 1000);
    await pair.drop();
  }
  rows.push({ name: 'copy-ceiling', metric: `${BULK_ROWS.toLocaleString('en')} rows loaded with COPY into the shadow`, unit: 'rows/s', tandem: null, anchor: secs.map((s) => BULK_ROWS / s), anchorName: 'COPY (physical limit)', command: 'npm run bench -- --only copy' });
}

/** Mixed small transactions at the rate the source sustains; lag measured with marker rows on one clock. */
/**
 * One order of the order-placing load: the order with its note and JSON, 1–4 lines, and per line a stock update and
 * an inventory event; every 10th order also updates an earlier order and every 25th deletes one (with its lines).
 */
async function placeOrder(c: pg.Client, w: number, n: number): Promise<void> {
  const lines = 1 + (n % 4);
  await c.query('BEGIN');
  const meta = orderMeta(w, n, lines);
  const o = await c.query<{ id: string }>(`INSERT INTO orders (customer, total, status, note, meta) VALUES ($1, $2, 'new', $3, $4) RETURNING id`, [w * 10_000 + (n % 10_000), (n % 500) + 0.99, noteOf(n), meta]);
  const id = o.rows[0]?.id;
  for (let l = 1; l <= lines; l++) {
    const sku = skuOf(w, n, l);
    await c.query(`INSERT INTO order_lines VALUES ($1, $2, $3, $4, $5)`, [id, l, sku, l, 9.99 + l]);
    await c.query(`UPDATE stock SET qty = qty - $2, updated = now() WHERE sku = $1`, [sku, l]);
    await c.query(`INSERT INTO inventory_events (sku, delta, order_id) VALUES ($1, $2, $3)`, [sku, -l, id]);
  }
  if (n % 10 === 0) await c.query(`UPDATE orders SET status = 'paid', total = total + 1 WHERE id = $1`, [Number(id) - 5]);
  if (n % 25 === 0) {
    await c.query(`DELETE FROM order_lines WHERE order_id = $1`, [Number(id) - 20]);
    await c.query(`DELETE FROM orders WHERE id = $1`, [Number(id) - 20]);
  }
  await c.query('COMMIT');
}

/**
 * CPU milliseconds per source transaction over a lag run: the servers' (the load's own backends, the walsender, the
 * shadow's apply and any verification sessions) and the replicator process's, when it is one of its own (Tandem).
 * The load's share is the same for both contenders; what differs is what replicating costs.
 */
interface LagCpu {
  serversMsPerTx: number;
  ownMsPerTx: number;
  /**
   * The cluster's WAL writes (pg_stat_wal.wal_write) per source transaction: the source's commits and the shadow's.
   * Each commit that waits for the disk writes (and, with fsync on, flushes) WAL of its own.
   */
  walWritesPerTx: number;
  /** The cluster's WAL flushes to disk (pg_stat_wal.wal_sync) per source transaction; 0 with fsync off. */
  walSyncsPerTx: number;
}

async function oltpOnce(pair: Pair, load: 'small' | 'orders', start: () => Promise<{ stop(): Promise<void>; child?: ChildProcess }>): Promise<{ lags: number[]; coldLags: number[]; tps: number; cpu: LagCpu }> {
  const replicator = await start();
  const serverCpu = () => treeCpuSeconds(postmasterPid(pair.server));
  const ownCpu = () => (replicator.child?.pid ? cpuSeconds(replicator.child.pid) : 0);
  const clients = await Promise.all(Array.from({ length: 4 }, () => client(`${pair.server.url}/${pair.src}`)));
  const marker = await client(`${pair.server.url}/${pair.src}`);
  const wal = async () => {
    const row = (await marker.query<{ w: string; s: string }>(`select wal_write::text as w, wal_sync::text as s from pg_stat_wal`)).rows[0];
    return { writes: Number(row?.w), syncs: Number(row?.s) };
  };
  let [s0, p0] = [0, 0];
  let w0 = { writes: 0, syncs: 0 };
  let measuring: Promise<void> = Promise.resolve();
  const { lags, coldLags, tps, txns } = await measureMarkerLag({
    seconds: OLTP_SECONDS,
    warmupSeconds: OLTP_WARMUP_SECONDS,
    onMeasuring: () => {
      [s0, p0] = [serverCpu(), ownCpu()];
      measuring = wal().then((w) => void (w0 = w));
    },
    workers: clients.length,
    transaction: load === 'orders' ? (w, n) => placeOrder(clients[w] as pg.Client, w, n) : async (w, n) => {
      const c = clients[w] as pg.Client;
      await c.query('BEGIN');
      const o = await c.query<{ id: string }>(`INSERT INTO orders (customer, total, status) VALUES ($1, $2, 'new') RETURNING id`, [w * 1000 + (n % 1000), (n % 500) + 0.99]);
      const id = o.rows[0]?.id;
      await c.query(`INSERT INTO order_lines VALUES ($1, 1, 'sku-a', 1), ($1, 2, 'sku-b', 2)`, [id]);
      await c.query(`UPDATE orders SET status = 'paid' WHERE id = $1`, [id]);
      if (n % 5 === 0) await c.query(`DELETE FROM order_lines WHERE order_id = $1 AND line = 2`, [id]);
      await c.query('COMMIT');
    },
    writeMarker: async (id) => void (await marker.query(`INSERT INTO markers VALUES ($1, now())`, [id])),
    shadowMaxMarker: async () => Number((await pair.dstClient.query<{ m: string | null }>(`select max(id)::text as m from markers`)).rows[0]?.m ?? 0),
  });
  await measuring;
  const w1 = await wal();
  const cpu = { serversMsPerTx: ((serverCpu() - s0) * 1000) / txns, ownMsPerTx: ((ownCpu() - p0) * 1000) / txns, walWritesPerTx: (w1.writes - w0.writes) / txns, walSyncsPerTx: (w1.syncs - w0.syncs) / txns };
  await Promise.all([...clients, marker].map((c) => c.end()));
  await replicator.stop();
  return { lags, coldLags, tps, cpu };
}

/**
 * The lag rows' databases commit as a shop's do by default (synchronous_commit = on; the cluster's fsync stays off,
 * the disk is not what is measured): each commit's WAL is written at once and a walsender sends it at once. With the
 * cluster's `off`, a walsender waits for the WAL writer (every 200 ms), which both contenders' lag then measures.
 */
const LAG_SYNCHRONOUS_COMMIT = process.env.BENCH_LAG_SYNCHRONOUS_COMMIT ?? 'on';

/**
 * BENCH_FSYNC_DELAY_US=<µs>: the bench cluster runs with fsync on, and each fsync and fdatasync of its server waits
 * that long first (bench/native/slow-fsync.c, compiled with gcc and preloaded): a production disk's flush, 0.5–5 ms,
 * on a machine whose own takes 0.1 ms. Only the bench cluster gets it, not the MariaDB servers.
 */
const FSYNC_DELAY_US = Number(process.env.BENCH_FSYNC_DELAY_US ?? 0);

/**
 * BENCH_LAG_CONTENDERS=tandem: experiments on Tandem alone (the rows then have no anchor figures). With
 * BENCH_BASELINE_CLI set, the baseline build runs as a third contender (`baseline`), alternating with the others.
 */
const LAG_CONTENDERS = (process.env.BENCH_LAG_CONTENDERS ?? (process.env.BENCH_BASELINE_CLI ? 'tandem,baseline,native' : 'tandem,native')).split(',') as LagContender[];
type LagContender = 'tandem' | 'baseline' | 'native';

/**
 * Lag under two loads, Tandem and a native subscription alternating: small transactions (an order of two lines), and
 * the order-placing load (multi-statement, multi-table, TOAST-sized notes) a busy shop produces.
 */
async function benchOltp(server: RunningServer, load: 'small' | 'orders'): Promise<void> {
  const results: Record<LagContender, { p50: number[]; p99: number[]; max: number[]; cold: number[]; tps: number[]; cpu: number[]; own: number[]; lags: number[]; wal: number[]; syncs: number[] }> = {
    tandem: { p50: [], p99: [], max: [], cold: [], tps: [], cpu: [], own: [], lags: [], wal: [], syncs: [] },
    baseline: { p50: [], p99: [], max: [], cold: [], tps: [], cpu: [], own: [], lags: [], wal: [], syncs: [] },
    native: { p50: [], p99: [], max: [], cold: [], tps: [], cpu: [], own: [], lags: [], wal: [], syncs: [] },
  };
  const tag = load === 'orders' ? 'orders' : 'oltp';
  const [ddl, tables] = load === 'orders' ? [ordersDdl, ORDER_TABLES] : [oltpDdl, ['orders', 'order_lines', 'markers']];
  for (let i = 0; i < reps; i++) {
    // Who goes first alternates, as in the bulk row.
    for (const who of i % 2 === 0 ? LAG_CONTENDERS : [...LAG_CONTENDERS].reverse()) {
      const pair = await Pair.create(server, `${tag}_${who[0]}${i}`, ddl, { synchronous_commit: LAG_SYNCHRONOUS_COMMIT });
      // The stock the orders draw from: on the source only (Tandem's backfill, or the anchor's copy_data = false
      // and this same seed on its shadow, brings it to the shadow).
      if (load === 'orders') {
        const seed = `INSERT INTO stock (sku, qty) SELECT g, 1000000 FROM generate_series(1, 2000) g`;
        await pair.srcClient.query(seed);
        if (who === 'native') await pair.dstClient.query(seed);
      }
      const r = await oltpOnce(pair, load, async () => {
        if (who === 'native') return startNative(pair, `bench_${tag}_native_${i}`, tables);
        return startTandemRun(pair, `bench_${tag}_${i}`, {}, who === 'baseline' ? (process.env.BENCH_BASELINE_CLI as string) : cli);
      });
      results[who].p50.push(percentile(r.lags, 50) * 1000);
      results[who].p99.push(percentile(r.lags, 99) * 1000);
      results[who].max.push(Math.max(...r.lags) * 1000);
      results[who].lags.push(...r.lags);
      if (r.coldLags.length) results[who].cold.push(Math.max(...r.coldLags) * 1000);
      results[who].tps.push(r.tps);
      results[who].cpu.push(r.cpu.serversMsPerTx + r.cpu.ownMsPerTx);
      results[who].own.push(r.cpu.ownMsPerTx);
      results[who].wal.push(r.cpu.walWritesPerTx);
      results[who].syncs.push(r.cpu.walSyncsPerTx);
      await pair.drop();
      process.stderr.write(
        `${tag} rep ${i + 1}/${reps} ${who}: p50 ${results[who].p50.at(-1)?.toFixed(0)} ms, p99 ${results[who].p99.at(-1)?.toFixed(0)} ms, cold max ${results[who].cold.at(-1)?.toFixed(0) ?? '—'} ms, ${r.tps.toFixed(0)} tx/s, ${results[who].cpu.at(-1)?.toFixed(2)} CPU-ms/tx (own ${r.cpu.ownMsPerTx.toFixed(2)}), ${r.cpu.walWritesPerTx.toFixed(2)} WAL writes/tx, ${r.cpu.walSyncsPerTx.toFixed(2)} WAL flushes/tx\n`,
      );
    }
  }
  const what = load === 'orders' ? 'order-placing load' : 'small transactions';
  const command = `npm run bench -- --only ${tag}`;
  for (const [metric, key] of [['replication lag p50', 'p50'], ['replication lag p99', 'p99'], ['replication lag max', 'max']] as const) {
    rows.push({ name: `${tag}-lag-${key}`, metric: `${metric}, ${what}`, unit: 'ms', tandem: results.tandem[key], anchor: results.native[key], anchorName: 'PostgreSQL logical replication (subscription)', command, note: `after ${OLTP_WARMUP_SECONDS} s of the load` });
  }
  // A run's p99 over ~150 markers is its second-largest lag, which moves by 2–3× between runs of one build; the
  // markers of every repetition taken together give a p99 that two builds can be compared by.
  const pooled = (who: LagContender) => (results[who].lags.length ? [percentile(results[who].lags, 99) * 1000] : null);
  rows.push({
    name: `${tag}-lag-p99-pooled`,
    metric: `replication lag p99 over the markers of every repetition together, ${what}`,
    unit: 'ms',
    tandem: pooled('tandem'),
    anchor: pooled('native'),
    anchorName: 'PostgreSQL logical replication (subscription)',
    command,
    note: `${results.tandem.lags.length} markers (Tandem), ${results.native.lags.length} (native)`,
  });
  if (OLTP_WARMUP_SECONDS > 0) {
    rows.push({
      name: `${tag}-lag-cold-max`,
      metric: `replication lag max in the first ${OLTP_WARMUP_SECONDS} s of the load, replicator just started (${what})`,
      unit: 'ms',
      tandem: results.tandem.cold,
      anchor: results.native.cold,
      anchorName: 'PostgreSQL logical replication (subscription)',
      command,
      note: 'once per start: the replicator\'s code and the servers\' caches are cold',
    });
  }
  rows.push({ name: `${tag}-load`, metric: `source load sustained during the lag runs (4 clients, ${what})`, unit: 'tx/s', tandem: results.tandem.tps, anchor: results.native.tps, anchorName: 'same load, native run', command });
  rows.push({
    name: `${tag}-cpu`,
    metric: `CPU per source transaction during the lag runs, servers + replicator (${what})`,
    unit: 'CPU-ms/tx',
    tandem: results.tandem.cpu,
    anchor: results.native.cpu,
    anchorName: 'PostgreSQL logical replication (subscription): servers only',
    command,
    note: `tandem run's own share: ${median(results.tandem.own).toFixed(2)} CPU-ms/tx (median); the load's own backends are in both; utime + stime from /proc`,
  });
  rows.push({
    name: `${tag}-wal-writes`,
    metric: `WAL writes per source transaction during the lag runs, the cluster's (source and shadow; ${what})`,
    unit: 'writes/tx',
    tandem: results.tandem.wal,
    anchor: results.native.wal,
    anchorName: 'PostgreSQL logical replication (subscription)',
    command,
    note: 'pg_stat_wal.wal_write',
  });
  if (FSYNC_DELAY_US) {
    rows.push({
      name: `${tag}-wal-flushes`,
      metric: `WAL flushes to disk per source transaction during the lag runs, the cluster's (source and shadow; ${what})`,
      unit: 'flushes/tx',
      tandem: results.tandem.syncs,
      anchor: results.native.syncs,
      anchorName: 'PostgreSQL logical replication (subscription)',
      command: `BENCH_FSYNC_DELAY_US=${FSYNC_DELAY_US} ${command}`,
      note: 'pg_stat_wal.wal_sync: each waits for the (slowed) disk',
    });
  }
  if (results.baseline.p99.length) {
    const anchorName = `tandem run of the baseline build (${process.env.BENCH_BASELINE_CLI})`;
    for (const key of ['p50', 'p99', 'cold', 'tps', 'cpu', 'wal', ...(FSYNC_DELAY_US ? (['syncs'] as const) : [])] as const) {
      const unit = key === 'tps' ? 'tx/s' : key === 'cpu' ? 'CPU-ms/tx' : key === 'wal' ? 'writes/tx' : key === 'syncs' ? 'flushes/tx' : 'ms';
      rows.push({ name: `${tag}-${key}-vs-baseline`, metric: `${key} of the lag runs (${what}), this build against BENCH_BASELINE_CLI (alternating)`, unit, tandem: results.tandem[key], anchor: results.baseline[key], anchorName, command: `BENCH_BASELINE_CLI=… ${command}` });
    }
    rows.push({ name: `${tag}-p99-pooled-vs-baseline`, metric: `lag p99 over every repetition's markers (${what}), this build against BENCH_BASELINE_CLI`, unit: 'ms', tandem: pooled('tandem'), anchor: pooled('baseline'), anchorName, command: `BENCH_BASELINE_CLI=… ${command}` });
  }
}

/** The Kafka transport for `tandem run`, with a connector prefix of its own per run (its topic starts empty). */
const runStamp = Date.now().toString(36);
const kafkaTransport = (tag: string, ordering: 'transaction' | 'key' = 'transaction') => ({
  transport: { kind: 'kafka', kafka: { prefix: `bench-${tag.replace(/_/g, '-')}-${runStamp}`, ...(ordering === 'key' ? { ordering, partitions: KEYED_PARTITIONS } : {}) } },
});
/** `BENCH_KAFKA_KEYED=1` adds `ordering: key` (this many partitions, one apply lane each) as a third contender. */
const KEYED_PARTITIONS = Number(process.env.BENCH_KAFKA_PARTITIONS ?? 4);
const keyed = process.env.BENCH_KAFKA_KEYED === '1';

/** The connector of a stopped Kafka run goes (it holds the slot the pair's drop would leave behind). */
async function deleteConnectors(config: string): Promise<void> {
  await new Promise<void>((resolve) => spawn(process.execPath, [cli, 'connectors', 'delete', '--config', config], { stdio: 'ignore' }).once('exit', () => resolve()));
}

/**
 * The Kafka transport against the embedded one (issue 15), alternating on fresh databases of the same cluster: one
 * BENCH_KAFKA_ROWS-row transaction (200,000 by default: through Debezium's JSON with schemas each row is a ~1 kB
 * record, so a million rows is a gigabyte of topic) and the small-transaction lag. Before the bulk transaction a
 * warm-up row must arrive, so connector start-up is not counted. Then the peak RSS of the broker and the Connect
 * worker (their high-water marks since they started).
 */
async function benchKafka(server: RunningServer): Promise<void> {
  const { started } = await kafkaUp();
  const n = Number(process.env.BENCH_KAFKA_ROWS ?? 200_000);
  const res: Record<'embedded' | 'kafka' | 'kafka-key', { bulk: number[]; p50: number[]; p99: number[]; rss: number[] }> = {
    embedded: { bulk: [], p50: [], p99: [], rss: [] },
    kafka: { bulk: [], p50: [], p99: [], rss: [] },
    'kafka-key': { bulk: [], p50: [], p99: [], rss: [] },
  };
  const contenders = keyed ? (['embedded', 'kafka', 'kafka-key'] as const) : (['embedded', 'kafka'] as const);
  let bulkTopic = '';
  try {
    for (let i = 0; i < reps; i++) {
      for (const who of contenders) {
        const tag = `kb_${who === 'kafka-key' ? 'q' : who[0]}${i}`;
        const viaKafka = who !== 'embedded';
        const ordering = who === 'kafka-key' ? 'key' : 'transaction';
        const extra = viaKafka ? kafkaTransport(tag, ordering) : {};
        if (who === 'kafka') bulkTopic = `${kafkaTransport(tag).transport.kafka.prefix}-old.changes`;
        const pair = await Pair.create(server, tag, [tableDdl]);
        const t = await startTandemRun(pair, `bench_${tag}`, extra);
        await pair.srcClient.query(`INSERT INTO items (id, name, price) VALUES (0, 'warm-up', 0)`);
        await until('the warm-up row on the shadow', async () => (await count(pair.dstClient, 'items')) === 1, 120_000, 50);
        res[who].bulk.push(n / (await bulkOnce(pair, n, 1)));
        const peak = peakRss(t.child.pid as number);
        if (peak) res[who].rss.push(peak / 1024 / 1024);
        await t.stop();
        if (viaKafka) await deleteConnectors(t.config);
        await pair.drop();

        // As the other lag rows' databases: at the cluster's off, both transports' lag measured the WAL writer's 200 ms
        // (the embedded transport's p50 103–113 ms, against 8–10 ms with it).
        const lagPair = await Pair.create(server, `${tag}_lag`, oltpDdl, { synchronous_commit: LAG_SYNCHRONOUS_COMMIT });
        let lagConfig = '';
        const r = await oltpOnce(lagPair, 'small', async () => {
          const run = await startTandemRun(lagPair, `bench_${tag}_lag`, viaKafka ? kafkaTransport(`${tag}_lag`, ordering) : {});
          lagConfig = run.config;
          return run;
        });
        if (viaKafka) await deleteConnectors(lagConfig);
        await lagPair.drop();
        res[who].p50.push(percentile(r.lags, 50) * 1000);
        res[who].p99.push(percentile(r.lags, 99) * 1000);
        process.stderr.write(`kafka rep ${i + 1}/${reps} ${who}: ${res[who].bulk.at(-1)?.toFixed(0)} rows/s, lag p50 ${res[who].p50.at(-1)?.toFixed(0)} ms, p99 ${res[who].p99.at(-1)?.toFixed(0)} ms\n`);
      }
    }
    const command = 'npm run bench -- --only kafka';
    const anchorName = 'the embedded transport (same run, alternating)';
    rows.push({ name: 'kafka-bulk', metric: `${n.toLocaleString('en')}-row transaction applied through Kafka`, unit: 'rows/s', tandem: res.kafka.bulk, anchor: res.embedded.bulk, anchorName, command });
    rows.push({ name: 'kafka-lag-p50', metric: 'replication lag p50 through Kafka, small transactions', unit: 'ms', tandem: res.kafka.p50, anchor: res.embedded.p50, anchorName, command });
    rows.push({ name: 'kafka-lag-p99', metric: 'replication lag p99 through Kafka, small transactions', unit: 'ms', tandem: res.kafka.p99, anchor: res.embedded.p99, anchorName, command });
    rows.push({ name: 'kafka-tandem-rss', metric: `peak RSS of tandem run during the ${n.toLocaleString('en')}-row transaction`, unit: 'MiB', tandem: res.kafka.rss, anchor: res.embedded.rss, anchorName, command });
    if (keyed) {
      const keyedCommand = `BENCH_KAFKA_KEYED=1 BENCH_KAFKA_PARTITIONS=${KEYED_PARTITIONS} ${command}`;
      const byTransaction = 'the Kafka transport with ordering: transaction (same run, alternating)';
      rows.push({ name: 'kafka-key-bulk', metric: `${n.toLocaleString('en')}-row transaction through Kafka, ordering: key (${KEYED_PARTITIONS} lanes)`, unit: 'rows/s', tandem: res['kafka-key'].bulk, anchor: res.kafka.bulk, anchorName: byTransaction, command: keyedCommand });
      rows.push({ name: 'kafka-key-lag-p50', metric: `replication lag p50 through Kafka, ordering: key (${KEYED_PARTITIONS} lanes)`, unit: 'ms', tandem: res['kafka-key'].p50, anchor: res.kafka.p50, anchorName: byTransaction, command: keyedCommand });
      rows.push({ name: 'kafka-key-lag-p99', metric: `replication lag p99 through Kafka, ordering: key (${KEYED_PARTITIONS} lanes)`, unit: 'ms', tandem: res['kafka-key'].p99, anchor: res.kafka.p99, anchorName: byTransaction, command: keyedCommand });
    }
    const stackRss = (name: 'broker' | 'connect') => {
      const pid = Number(readFileSync(join(RUN_DIR, `${name}.pid`), 'utf8').trim());
      const peak = peakRss(pid);
      return peak ? [peak / 1024 / 1024] : null;
    };
    // The client comparison reads the last bulk run's change topic (its transaction, BEGIN/END and heartbeats).
    const inspector = new KafkaInspector([`${BROKER.host}:${BROKER.port}`]);
    const end = BigInt((await inspector.offsets(bulkTopic))?.high ?? '0');
    await inspector.close();
    rows.push(...(await benchKafkaClients({ brokers: [`${BROKER.host}:${BROKER.port}`], topic: bulkTopic, end, reps })));
    const note = started ? 'since the bench started the stack' : 'since the stack started (it was already up: includes earlier use)';
    rows.push({ name: 'kafka-broker-rss', metric: 'peak RSS of the Kafka broker (KRaft, one node)', unit: 'MiB', tandem: stackRss('broker'), anchor: null, anchorName: '—', command, note });
    rows.push({ name: 'kafka-connect-rss', metric: 'peak RSS of the Kafka Connect worker with the Debezium connector', unit: 'MiB', tandem: stackRss('connect'), anchor: null, anchorName: '—', command, note });
  } finally {
    if (started) await kafkaDown();
  }
}

/**
 * MariaDB → PostgreSQL, Tandem only (there is no native replication between the two engines to run beside it): a
 * throwaway MariaDB (binlog ROW/FULL) replicated into a database of the PostgreSQL cluster above. Each repetition
 * runs the bulk transaction and then the OLTP lag run, each on fresh databases.
 */
async function benchMariadb(pgServer: RunningServer): Promise<void> {
  const maria = await startMariadb({ settings: { 'innodb-buffer-pool-size': '512M', 'innodb-log-file-size': '512M' } });
  const bulkRate: number[] = [];
  const lag: { p50: number[]; p99: number[]; max: number[]; tps: number[] } = { p50: [], p99: [], max: [], tps: [] };
  const myOpts = (db?: string) => ({ host: '127.0.0.1', port: maria.port, user: 'root', ...(db ? { database: db } : {}) });
  const setup = async (tag: string, mysqlDdl: string[], pgDdl: string[]) => {
    const admin = await mysql.createConnection(myOpts());
    await admin.query(`CREATE DATABASE ${tag}_src CHARACTER SET utf8mb4`);
    await admin.end();
    const src = await mysql.createConnection(myOpts(`${tag}_src`));
    for (const sql of mysqlDdl) await src.query(sql);
    const pgAdmin = await client(`${pgServer.url}/postgres`);
    await pgAdmin.query(`CREATE DATABASE ${tag}_dst`);
    await pgAdmin.end();
    const dst = await client(`${pgServer.url}/${tag}_dst`);
    for (const sql of pgDdl) await dst.query(sql);
    const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-'));
    const config = join(dir, 'tandem.yaml');
    writeFileSync(config, stringify({ migration: `bench_${tag}`, old: { url: `${maria.url}/${tag}_src` }, new: { url: `${pgServer.url}/${tag}_dst` }, state: { dir }, api: { listen: '127.0.0.1:0' } }));
    const child = spawnTandemRun(config);
    await until('tandem to start streaming', async () => {
      const r = await dst.query(`select stage from tandem.checkpoint`).catch(() => ({ rows: [] as Array<{ stage: string }> }));
      return r.rows[0]?.stage === 'streaming';
    }, 60_000, 50);
    return {
      src,
      dst,
      done: async () => {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
        await src.query(`DROP DATABASE ${tag}_src`);
        await src.end();
        await dst.end();
        const a = await client(`${pgServer.url}/postgres`);
        await a.query(`DROP DATABASE IF EXISTS ${tag}_dst WITH (FORCE)`);
        await a.end();
      },
    };
  };
  try {
    for (let i = 0; i < reps; i++) {
      {
        const b = await setup(`mybulk${i}`, [`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price decimal(12,2), created datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`], [
          `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2), created timestamp(6) NOT NULL)`,
        ]);
        await b.src.query(`INSERT INTO items (id, name, price) SELECT seq, MD5(seq), seq / 100 FROM seq_1_to_${BULK_ROWS}`);
        const committed = performance.now();
        await until('the shadow to hold every row', async () => (await count(b.dst, 'items')) === BULK_ROWS, 600_000, 100);
        bulkRate.push(BULK_ROWS / ((performance.now() - committed) / 1000));
        await b.done();
      }
      {
        const o = await setup(`myoltp${i}`, [
          `CREATE TABLE orders (id bigint AUTO_INCREMENT PRIMARY KEY, customer int NOT NULL, total decimal(12,2) NOT NULL, status varchar(20) NOT NULL, created datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
          `CREATE TABLE order_lines (order_id bigint NOT NULL, line int NOT NULL, sku varchar(40) NOT NULL, qty int NOT NULL, PRIMARY KEY (order_id, line))`,
          `CREATE TABLE markers (id bigint PRIMARY KEY, sent_at datetime(6) NOT NULL)`,
        ], [
          `CREATE TABLE orders (id bigint PRIMARY KEY, customer integer NOT NULL, total numeric(12,2) NOT NULL, status text NOT NULL, created timestamp(6) NOT NULL)`,
          `CREATE TABLE order_lines (order_id bigint NOT NULL, line integer NOT NULL, sku text NOT NULL, qty integer NOT NULL, PRIMARY KEY (order_id, line))`,
          `CREATE TABLE markers (id bigint PRIMARY KEY, sent_at timestamp(6) NOT NULL)`,
        ]);
        const clients = await Promise.all(Array.from({ length: 4 }, () => mysql.createConnection(myOpts(`myoltp${i}_src`))));
        const marker = await mysql.createConnection(myOpts(`myoltp${i}_src`));
        const { lags, tps } = await measureMarkerLag({
          seconds: OLTP_SECONDS,
          warmupSeconds: OLTP_WARMUP_SECONDS,
          workers: clients.length,
          transaction: async (w, n) => {
            const c = clients[w] as mysql.Connection;
            await c.query('START TRANSACTION');
            const [res] = await c.query<mysql.ResultSetHeader>(`INSERT INTO orders (customer, total, status) VALUES (?, ?, 'new')`, [w * 1000 + (n % 1000), (n % 500) + 0.99]);
            const id = res.insertId;
            await c.query(`INSERT INTO order_lines VALUES (?, 1, 'sku-a', 1), (?, 2, 'sku-b', 2)`, [id, id]);
            await c.query(`UPDATE orders SET status = 'paid' WHERE id = ?`, [id]);
            if (n % 5 === 0) await c.query(`DELETE FROM order_lines WHERE order_id = ? AND line = 2`, [id]);
            await c.query('COMMIT');
          },
          writeMarker: async (id) => void (await marker.query(`INSERT INTO markers VALUES (?, NOW(6))`, [id])),
          shadowMaxMarker: async () => Number((await o.dst.query<{ m: string | null }>(`select max(id)::text as m from markers`)).rows[0]?.m ?? 0),
        });
        lag.tps.push(tps);
        await Promise.all([...clients, marker].map((c) => c.end()));
        lag.p50.push(percentile(lags, 50) * 1000);
        lag.p99.push(percentile(lags, 99) * 1000);
        lag.max.push(Math.max(...lags) * 1000);
        await o.done();
      }
      process.stderr.write(`mariadb rep ${i + 1}/${reps}: bulk ${bulkRate.at(-1)?.toFixed(0)} rows/s, lag p50 ${lag.p50.at(-1)?.toFixed(0)} ms, p99 ${lag.p99.at(-1)?.toFixed(0)} ms, ${lag.tps.at(-1)?.toFixed(0)} tx/s\n`);
    }
  } finally {
    await maria.stop();
  }
  const note = 'no native anchor: neither engine replicates into the other, and we know no published MariaDB → PostgreSQL CDC figure to compare with';
  const command = 'npm run bench -- --only mariadb';
  rows.push({ name: 'mariadb-bulk-apply', metric: `MariaDB → PostgreSQL, ${BULK_ROWS.toLocaleString('en')}-row transaction applied`, unit: 'rows/s', tandem: bulkRate, anchor: null, anchorName: '—', command, note });
  rows.push({ name: 'mariadb-oltp-lag-p50', metric: 'MariaDB → PostgreSQL replication lag p50', unit: 'ms', tandem: lag.p50, anchor: null, anchorName: '—', command, note: 'no native anchor (see below)' });
  rows.push({ name: 'mariadb-oltp-lag-p99', metric: 'MariaDB → PostgreSQL replication lag p99', unit: 'ms', tandem: lag.p99, anchor: null, anchorName: '—', command, note: 'no native anchor (see below)' });
  rows.push({ name: 'mariadb-oltp-load', metric: 'MariaDB source load sustained during the lag runs (4 clients)', unit: 'tx/s', tandem: lag.tps, anchor: null, anchorName: '—', command });
}

async function versions(server: RunningServer): Promise<string> {
  const c = await client(`${server.url}/postgres`);
  const v = (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '';
  await c.end();
  return v;
}

function fmt(values: number[] | null): string {
  if (!values || values.length === 0) return '—';
  return `${median(values).toLocaleString('en', { maximumFractionDigits: 1 })} (±${(spread(values) * 50).toFixed(0)}%)`;
}

function slowerDisk(): { settings: Record<string, string>; env?: Record<string, string> } {
  if (!FSYNC_DELAY_US) return { settings: {} };
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-fsync-'));
  // The server runs as the postgres user when the bench runs as root: the library must be readable to it.
  chmodSync(dir, 0o755);
  const lib = join(dir, 'slow-fsync.so');
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', lib, join(repoRoot, 'bench', 'native', 'slow-fsync.c'), '-ldl']);
  return { settings: { fsync: 'on' }, env: { LD_PRELOAD: lib, BENCH_FSYNC_DELAY_US: String(FSYNC_DELAY_US) } };
}

async function main(): Promise<void> {
  const started = Date.now();
  const disk = slowerDisk();
  const server = await startPostgres({ settings: { shared_buffers: '512MB', max_wal_size: '4GB', logical_decoding_work_mem: '64MB', ...disk.settings }, env: disk.env });
  try {
    // `--only bulk,mariadb`: several rows in one run (ratios between rows need the same run).
    const selected = (name: string) => !only || only.split(',').includes(name);
    if (selected('bulk')) await benchBulk(server);
    if (selected('copy')) await benchCopy(server);
    const backfillRows = Number(process.env.BENCH_BACKFILL_ROWS ?? 1_000_000);
    if (selected('backfill')) rows.push(...(await benchBackfill({ server, cli, rows: backfillRows, reps })));
    if (selected('backfill-mariadb')) {
      const mariadb = await startMariadb({ settings: { 'innodb-buffer-pool-size': '512M' } });
      try {
        rows.push(...(await benchBackfillMariadb({ server, cli, rows: backfillRows, reps, mariadb })));
      } finally {
        await mariadb.stop();
      }
    }
    if (selected('oltp')) await benchOltp(server, 'small');
    if (selected('orders')) await benchOltp(server, 'orders');
    if (selected('mariadb')) await benchMariadb(server);
    if (selected('kafka')) await benchKafka(server);
    const nativePg = rows.find((r) => r.name === 'bulk-apply')?.anchor;
    const mariadbBulk = rows.find((r) => r.name === 'mariadb-bulk-apply')?.tandem;
    if (nativePg && mariadbBulk) {
      // Issue 14's bar for the cross-engine stream: at least 0.85× what PostgreSQL's own replication does between two
      // PostgreSQL databases, measured in the same run.
      rows.push({ name: 'mariadb-bulk-vs-native-pg', metric: `MariaDB → PostgreSQL, ${BULK_ROWS.toLocaleString('en')}-row transaction, against native PostgreSQL → PostgreSQL of this run`, unit: 'rows/s', tandem: mariadbBulk, anchor: nativePg, anchorName: 'PostgreSQL logical replication (subscription), PostgreSQL → PostgreSQL', command: 'npm run bench -- --only bulk,mariadb' });
    }
    if (only === 'scaling') {
      mkdirSync(resultsDir, { recursive: true });
      const sizes = (process.env.BENCH_SCALING_SIZES ?? '100000,1000000,5000000').split(',').map(Number);
      rows.push(...(await benchScaling({ server, cli, resultsDir, sizes })));
    }
    if (selected('apply-groups')) rows.push(...(await benchApplyGroups({ server, reps })));
    if (selected('verify')) rows.push(...(await benchVerify({ server, cli, rows: BULK_ROWS, reps, baselineCli: process.env.BENCH_BASELINE_CLI })));
    let switchSamples: unknown[] | undefined;
    if (selected('switch')) {
      const r = await benchSwitch({ server, cli, switches: SWITCHES });
      rows.push(...r.rows);
      switchSamples = r.samples;
    }
    const machine = { cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`, kernel: release(), node: process.version, postgres: await versions(server) };
    const settings = { reps, bulkRows: BULK_ROWS, oltpSeconds: OLTP_SECONDS, switches: SWITCHES, postgres: `${FSYNC_DELAY_US ? `fsync=on, each fsync/fdatasync ${FSYNC_DELAY_US} µs slower (BENCH_FSYNC_DELAY_US)` : 'fsync=off'}, synchronous_commit=off (the lag rows' databases: synchronous_commit=${LAG_SYNCHRONOUS_COMMIT}), shared_buffers=512MB, wal_level=logical (throwaway cluster, both databases in it)`, tandem: tandemSettings() };
    mkdirSync(resultsDir, { recursive: true });
    const out = { date: new Date().toISOString(), durationSeconds: Math.round((Date.now() - started) / 1000), machine, settings, rows: rows.map((r) => ({ ...r, tandemMedian: r.tandem ? median(r.tandem) : null, anchorMedian: r.anchor ? median(r.anchor) : null, ratio: r.tandem && r.anchor ? median(r.tandem) / median(r.anchor) : null })) };
    writeFileSync(join(resultsDir, 'latest.json'), JSON.stringify(out, null, 2));
    // Every switch's figures, for the percentiles in latest.md to be checked against.
    if (switchSamples) writeFileSync(join(resultsDir, 'switch.json'), JSON.stringify({ date: out.date, machine, switches: switchSamples }, null, 2));
    const md = [
      `# Tandem benchmarks — ${out.date}`,
      '',
      `Machine: ${machine.cpus}, ${machine.memory}, Linux ${machine.kernel}, Node ${machine.node}; ${machine.postgres}.`,
      `Settings: ${settings.postgres}; Tandem ${settings.tandem}; ${reps} alternating repetitions, median (± half the max−min spread).`,
      '',
      '| benchmark | metric | Tandem | anchor | anchor | Tandem/anchor | command |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...out.rows.map((r) => `| ${r.name} | ${r.metric} (${r.unit}) | ${fmt(r.tandem)} | ${fmt(r.anchor)} | ${r.anchorName} | ${r.ratio ? r.ratio.toFixed(2) : '—'} | \`${r.command}\`${r.note ? ` — ${r.note}` : ''} |`),
      '',
      'Lag is measured with marker rows written every 100 ms and detected on the shadow by a 10 ms poll, on one machine clock.',
      '',
      verifyNotes,
      '',
      switchNotes,
      '',
      `The mariadb-* rows replicate a throwaway MariaDB (binlog ROW/FULL, innodb_flush_log_at_trx_commit=2, sync_binlog=0) into a database of the PostgreSQL cluster above, Tandem only, the bulk run and the lag run alternating in each repetition. There is no native anchor: neither PostgreSQL nor MariaDB replicates into the other engine, and we know of no published MariaDB → PostgreSQL change-data-capture throughput or lag figure measured in comparable conditions, so none is quoted.`,
      '',
    ].join('\n');
    writeFileSync(join(resultsDir, 'latest.md'), md);
    process.stdout.write(md);
  } finally {
    await server.stop();
  }
}

await main();
