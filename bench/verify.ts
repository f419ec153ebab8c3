/**
 * `npm run bench -- --only verify`: full verification of one table (BENCH_ROWS rows, 1,000,000 by default) with
 * `tandem verify --json --rows-per-second 0`, PostgreSQL → PostgreSQL (two databases of the bench cluster) and
 * PostgreSQL → MariaDB (a throwaway MariaDB as the shadow), against the floor of reading the table once on each side
 * in SQL (count + hash of every row, both sides at once). Each pair is set up once — the source loaded with
 * generate_series, the shadow backfilled by `tandem run`, which is then stopped with SIGTERM — and each repetition
 * times one `tandem verify` and one anchor scan, alternating. Besides rows/s: CPU seconds the database servers spent
 * during the pass (utime + stime from /proc over the server's process tree), the tandem process's own CPU and peak
 * RSS, and one run with `--rows-per-second 200000` to show the rate limit is honoured.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { startMariadb, type RunningServer } from '../test/harness/servers.js';
import { median, postmasterPid, treeCpuSeconds, childrenOf, until, type BenchRow } from './lib.js';

export interface VerifyBenchOptions {
  /** The bench PostgreSQL cluster: source of both pairs, and the shadow of the PostgreSQL pair. */
  server: RunningServer;
  cli: string;
  rows: number;
  reps: number;
  /**
   * BENCH_BASELINE_CLI: another build's dist/cli/tandem.js (dist/src/cli/main.js before it was bundled), timed in every repetition beside this one (old build
   * against new, alternating, on the same pair and the same load).
   */
  baselineCli?: string;
}

const COMMAND = 'npm run bench -- --only verify';
const RATE_LIMIT = 200_000;
export const VERIFY_ANCHOR = 'one scan of each side in SQL, both at once (count + hash of every row)';

const pgItems = `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2), created timestamptz NOT NULL)`;
const mariaItems = `CREATE TABLE items (id bigint PRIMARY KEY, name longtext NOT NULL, price decimal(12,2), created datetime(6) NOT NULL)`;
/** Names with a non-ASCII word now and then, a NULL price every 50th row, microsecond timestamps. */
const pgLoad = (rows: number) =>
  `INSERT INTO items SELECT g, CASE WHEN g % 100 = 0 THEN 'café ' ELSE 'item ' END || md5(g::text), CASE WHEN g % 50 = 0 THEN NULL ELSE round((g % 100000) / 100.0 + 0.99, 2) END, timestamptz '2024-01-01 00:00:00+00' + g * interval '1.234567 second' FROM generate_series(1, ${rows}) g`;
const pgScan = `SELECT count(*)::text AS n, sum(hashtextextended(t::text, 0))::text AS h FROM items t`;
const mariaScan = `SELECT COUNT(*) AS n, SUM(CRC32(CONCAT_WS('|', id, name, price, created))) AS h FROM items`;

/** startMariadb writes its pid file next to the data directory. */
const mariadbPid = (s: RunningServer) => Number(readFileSync(join(dirname(s.dataDir), 'mysqld.pid'), 'utf8').trim());

/** After a client leaves, its PostgreSQL backends take a moment to exit and be reaped: wait for them. */
async function settleBackends(pid: number, baseline: number): Promise<void> {
  await until('client backends to exit', async () => childrenOf(pid).length <= baseline, 5_000, 20).catch(() => undefined);
}

/** A preloaded module that writes the process's own CPU and peak RSS when it exits. */
function rusageHook(dir: string): string {
  const file = join(dir, 'rusage.mjs');
  writeFileSync(
    file,
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { const u = process.resourceUsage(); writeFileSync(process.env.BENCH_RUSAGE_FILE, JSON.stringify({ cpu: (u.userCPUTime + u.systemCPUTime) / 1e6, maxRss: u.maxRSS * 1024 })); });\n`,
  );
  return pathToFileURL(file).href;
}

interface Sample {
  seconds: number;
  /** CPU seconds used by each database server during the run (source server first). */
  dbCpu: number[];
  tandemCpu?: number;
  tandemRss?: number;
}

/** One pair set up for verification: source on the bench PostgreSQL, shadow on PostgreSQL or MariaDB. */
interface VerifyPair {
  label: string;
  config: string;
  /** The database servers whose CPU is counted: PostgreSQL postmasters (with backends) and mariadbd processes. */
  servers: Array<{ pid: number; postgres: boolean }>;
  anchor(): Promise<void>;
  drop(): Promise<void>;
}

async function pgClient(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

async function pgExec(url: string, sql: string[]): Promise<void> {
  const c = await pgClient(url);
  try {
    for (const s of sql) await c.query(s);
  } finally {
    await c.end();
  }
}

/** The PostgreSQL → PostgreSQL anchor: one scan of each side at once, which must find `rows` equal rows. */
export async function pgPairAnchor(src: string, dst: string, rows: number): Promise<void> {
  const [a, b] = await Promise.all([pgScanOnce(src), pgScanOnce(dst)]);
  if (a.n !== rows || b.n !== rows || a.h !== b.h) throw new Error(`anchor scan: source ${a.n} rows (hash ${a.h}), shadow ${b.n} rows (hash ${b.h}); expected ${rows} equal rows`);
}

/** The anchor's scan of one PostgreSQL side: count and a hash of every row of `items`, on a connection of its own. */
async function pgScanOnce(url: string): Promise<{ n: number; h: string }> {
  const c = await pgClient(url);
  try {
    const r = (await c.query<{ n: string; h: string }>(pgScan)).rows[0];
    return { n: Number(r?.n), h: String(r?.h) };
  } finally {
    await c.end();
  }
}

async function mariaScanOnce(opts: mysql.ConnectionOptions): Promise<{ n: number; h: string }> {
  const c = await mysql.createConnection(opts);
  try {
    const [r] = await c.query<mysql.RowDataPacket[]>(mariaScan);
    return { n: Number(r[0]?.n), h: String(r[0]?.h) };
  } finally {
    await c.end();
  }
}

/** `tandem run` until the backfill is done (phase shadowing), then SIGTERM. */
async function backfill(cli: string, config: string, phase: () => Promise<string | undefined>): Promise<void> {
  const child = spawn(process.execPath, [cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await until('tandem run to finish the backfill', async () => {
      if (child.exitCode !== null) throw new Error(`tandem run exited with ${child.exitCode} during the backfill: ${err}`);
      return (await phase().catch(() => undefined)) === 'streaming';
    }, 600_000, 100);
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function writeConfig(migration: string, oldUrl: string, newUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-verify-'));
  const config = join(dir, 'tandem.yaml');
  writeFileSync(config, stringify({ migration, old: { url: oldUrl }, new: { url: newUrl }, state: { dir }, api: { listen: '127.0.0.1:0' } }));
  return config;
}

async function pgPair(server: RunningServer, cli: string, rows: number): Promise<VerifyPair> {
  const src = `${server.url}/verify_src`;
  const dst = `${server.url}/verify_dst`;
  await pgExec(`${server.url}/postgres`, [`CREATE DATABASE verify_src`, `CREATE DATABASE verify_dst`]);
  await pgExec(src, [pgItems, pgLoad(rows)]);
  await pgExec(dst, [pgItems]);
  const config = writeConfig('bench_verify_pg', src, dst);
  const shadow = await pgClient(dst);
  try {
    await backfill(cli, config, async () => (await shadow.query<{ stage: string }>(`select stage from tandem.checkpoint`)).rows[0]?.stage);
  } finally {
    await shadow.end();
  }
  // Nothing left for autovacuum, hint bits or the checkpointer to do while the runs are measured.
  for (const url of [src, dst]) await pgExec(url, [`VACUUM (ANALYZE) items`, `CHECKPOINT`]);
  return {
    label: 'PostgreSQL → PostgreSQL',
    config,
    servers: [{ pid: postmasterPid(server), postgres: true }],
    anchor: () => pgPairAnchor(src, dst, rows),
    drop: async () => {
      await pgExec(`${server.url}/postgres`, [
        `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database in ('verify_src', 'verify_dst') and not active`,
        `DROP DATABASE IF EXISTS verify_src WITH (FORCE)`,
        `DROP DATABASE IF EXISTS verify_dst WITH (FORCE)`,
      ]);
    },
  };
}

async function mariaPair(server: RunningServer, maria: RunningServer, cli: string, rows: number): Promise<VerifyPair> {
  const src = `${server.url}/verify_my_src`;
  const myOpts = (database?: string): mysql.ConnectionOptions => ({ host: '127.0.0.1', port: maria.port, user: 'root', ...(database ? { database } : {}) });
  await pgExec(`${server.url}/postgres`, [`CREATE DATABASE verify_my_src`]);
  await pgExec(src, [pgItems, pgLoad(rows)]);
  const admin = await mysql.createConnection(myOpts());
  await admin.query(`CREATE DATABASE verify_dst CHARACTER SET utf8mb4`);
  await admin.query(`USE verify_dst`);
  await admin.query(mariaItems);
  const config = writeConfig('bench_verify_my', src, `${maria.url}/verify_dst`);
  try {
    await backfill(cli, config, async () => {
      const [r] = await admin.query<mysql.RowDataPacket[]>(`SELECT stage FROM tandem_checkpoint`);
      return r[0]?.stage as string | undefined;
    });
    await admin.query(`ANALYZE TABLE items`);
  } finally {
    await admin.end();
  }
  await pgExec(src, [`VACUUM (ANALYZE) items`, `CHECKPOINT`]);
  return {
    label: 'PostgreSQL → MariaDB',
    config,
    servers: [
      { pid: postmasterPid(server), postgres: true },
      { pid: mariadbPid(maria), postgres: false },
    ],
    anchor: async () => {
      const [a, b] = await Promise.all([pgScanOnce(src), mariaScanOnce(myOpts('verify_dst'))]);
      if (a.n !== rows || b.n !== rows) throw new Error(`anchor scan: source ${a.n} rows, shadow ${b.n} rows; expected ${rows}`);
    },
    drop: async () => {
      await pgExec(`${server.url}/postgres`, [
        `select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = 'verify_my_src' and not active`,
        `DROP DATABASE IF EXISTS verify_my_src WITH (FORCE)`,
      ]);
      const c = await mysql.createConnection(myOpts());
      await c.query(`DROP DATABASE IF EXISTS verify_dst`);
      await c.end();
    },
  };
}

/** Times `work` and the CPU the pair's database servers spent on it. */
async function measured(pair: VerifyPair, work: () => Promise<void>): Promise<Sample> {
  const backends = pair.servers.map((s) => (s.postgres ? childrenOf(s.pid).length : 0));
  const before = pair.servers.map((s) => treeCpuSeconds(s.pid));
  const start = performance.now();
  await work();
  const seconds = (performance.now() - start) / 1000;
  for (const [i, s] of pair.servers.entries()) if (s.postgres) await settleBackends(s.pid, backends[i] as number);
  const dbCpu = pair.servers.map((s, i) => treeCpuSeconds(s.pid) - (before[i] as number));
  return { seconds, dbCpu };
}

interface VerifyReport {
  driftCount: number;
  unconfirmedCount: number;
  tables: Array<{ table: string; rowsCompared: number }>;
}

/** One `tandem verify --json` as a user runs it; fails unless it exits 0 having compared every row. */
async function tandemVerify(pair: VerifyPair, cli: string, rows: number, rate: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-rusage-'));
  const hook = rusageHook(dir);
  const rusageFile = join(dir, 'rusage.json');
  let stdout = '';
  let stderr = '';
  let code: number | null = null;
  // BENCH_CPU_PROF=<dir>: a V8 CPU profile of each tandem verify (open in Chrome DevTools or speedscope).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF] : [];
  const args = [...prof, '--import', hook, cli, 'verify', '--json', '--rows-per-second', String(rate), '--config', pair.config];
  const sample = await measured(pair, async () => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn', BENCH_RUSAGE_FILE: rusageFile } });
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  });
  const command = `node ${cli} verify --json --rows-per-second ${rate} --config ${pair.config}`;
  let report: VerifyReport;
  try {
    report = JSON.parse(stdout) as VerifyReport;
  } catch {
    throw new Error(`${command} exited with ${code} without a JSON report.\nstdout: ${stdout.slice(0, 2000)}\nstderr: ${stderr.slice(-4000)}`);
  }
  const compared = report.tables.reduce((n, t) => n + t.rowsCompared, 0);
  if (code !== 0 || report.driftCount !== 0 || compared !== rows) {
    throw new Error(`${command} exited with ${code}, drift ${report.driftCount}, unconfirmed ${report.unconfirmedCount}, ${compared} of ${rows} rows compared.\nstdout: ${stdout.slice(0, 4000)}\nstderr: ${stderr.slice(-4000)}`);
  }
  try {
    const u = JSON.parse(readFileSync(rusageFile, 'utf8')) as { cpu: number; maxRss: number };
    sample.tandemCpu = u.cpu;
    sample.tandemRss = u.maxRss;
  } catch {
    // The hook did not run (the process was killed): CPU and memory stay unknown for this run.
  }
  rmSync(dir, { recursive: true, force: true });
  return sample;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function pairRows(name: string, label: string, rows: number, tandem: Sample[], anchor: Sample[]): BenchRow[] {
  const n = rows.toLocaleString('en');
  const rate = (s: Sample[]) => s.map((x) => rows / x.seconds);
  const cpu = (s: Sample[]) => s.map((x) => sum(x.dbCpu));
  const cores = (s: Sample[]) => s.map((x) => sum(x.dbCpu) / x.seconds);
  const split = tandem[0] && tandem[0].dbCpu.length > 1 ? ` — Tandem's split: PostgreSQL ${median(tandem.map((x) => x.dbCpu[0] as number)).toFixed(1)} s, MariaDB ${median(tandem.map((x) => x.dbCpu[1] as number)).toFixed(1)} s; anchor's: ${median(anchor.map((x) => x.dbCpu[0] as number)).toFixed(1)} s, ${median(anchor.map((x) => x.dbCpu[1] as number)).toFixed(1)} s` : '';
  const cpuTandem = tandem.flatMap((x) => (x.tandemCpu === undefined ? [] : [x.tandemCpu]));
  const rss = tandem.flatMap((x) => (x.tandemRss === undefined ? [] : [x.tandemRss / 1024 / 1024]));
  return [
    { name, metric: `${label}, full verification of a ${n}-row table (tandem verify --rows-per-second 0, wall time including process start)`, unit: 'rows/s', tandem: rate(tandem), anchor: rate(anchor), anchorName: VERIFY_ANCHOR, command: COMMAND },
    { name: `${name}-db-cpu`, metric: `${label}, CPU time of the database server(s) during the pass`, unit: 'CPU-s', tandem: cpu(tandem), anchor: cpu(anchor), anchorName: VERIFY_ANCHOR, command: COMMAND, note: `utime + stime of the server process tree from /proc${split}` },
    { name: `${name}-db-load`, metric: `${label}, database load during the pass (CPU time / wall time)`, unit: 'cores', tandem: cores(tandem), anchor: cores(anchor), anchorName: VERIFY_ANCHOR, command: COMMAND },
    { name: `${name}-tandem-cpu`, metric: `${label}, CPU time of the tandem verify process`, unit: 'CPU-s', tandem: cpuTandem, anchor: null, anchorName: '—', command: COMMAND },
    { name: `${name}-memory`, metric: `${label}, peak RSS of the tandem verify process`, unit: 'MiB', tandem: rss, anchor: null, anchorName: '—', command: COMMAND },
  ];
}

async function benchPair(pair: VerifyPair, name: string, opts: VerifyBenchOptions, out: BenchRow[], rateLimited: boolean): Promise<void> {
  const tandem: Sample[] = [];
  const anchor: Sample[] = [];
  const baseline: Sample[] = [];
  for (let i = 0; i < opts.reps; i++) {
    tandem.push(await tandemVerify(pair, opts.cli, opts.rows, 0));
    anchor.push(await measured(pair, pair.anchor));
    if (opts.baselineCli) baseline.push(await tandemVerify(pair, opts.baselineCli, opts.rows, 0));
    const t = tandem.at(-1) as Sample;
    const a = anchor.at(-1) as Sample;
    const b = baseline.at(-1);
    const old = b ? `, baseline build ${(opts.rows / b.seconds).toFixed(0)} rows/s (${b.seconds.toFixed(2)} s, db ${sum(b.dbCpu).toFixed(1)} CPU-s, tandem ${b.tandemCpu?.toFixed(1)} CPU-s)` : '';
    process.stderr.write(
      `verify ${pair.label} rep ${i + 1}/${opts.reps}: tandem ${(opts.rows / t.seconds).toFixed(0)} rows/s (${t.seconds.toFixed(2)} s, db ${sum(t.dbCpu).toFixed(1)} CPU-s, tandem ${t.tandemCpu?.toFixed(1)} CPU-s, ${((t.tandemRss ?? 0) / 2 ** 20).toFixed(0)} MiB), anchor ${(opts.rows / a.seconds).toFixed(0)} rows/s (${a.seconds.toFixed(2)} s, db ${sum(a.dbCpu).toFixed(1)} CPU-s)${old}\n`,
    );
  }
  out.push(...pairRows(name, pair.label, opts.rows, tandem, anchor));
  if (baseline.length) {
    const rate = (s: Sample[]) => s.map((x) => opts.rows / x.seconds);
    out.push({ name: `${name}-vs-baseline`, metric: `${pair.label}, full verification, this build against BENCH_BASELINE_CLI (alternating)`, unit: 'rows/s', tandem: rate(tandem), anchor: rate(baseline), anchorName: `baseline build ${opts.baselineCli}`, command: COMMAND });
  }
  if (rateLimited) {
    const r = await tandemVerify(pair, opts.cli, opts.rows, RATE_LIMIT);
    const achieved = opts.rows / r.seconds;
    process.stderr.write(`verify ${pair.label} --rows-per-second ${RATE_LIMIT}: ${achieved.toFixed(0)} rows/s (${r.seconds.toFixed(2)} s)\n`);
    out.push({
      name: 'verify-rate-limit',
      metric: `${pair.label}, the same verification with --rows-per-second ${RATE_LIMIT.toLocaleString('en')} (one run)`,
      unit: 'rows/s',
      tandem: [achieved],
      anchor: null,
      anchorName: '—',
      command: COMMAND,
      note: `the limit is honoured when this stays at or below ${RATE_LIMIT.toLocaleString('en')}; db ${sum(r.dbCpu).toFixed(1)} CPU-s (${(sum(r.dbCpu) / r.seconds).toFixed(2)} cores)`,
    });
  }
}

export async function benchVerify(opts: VerifyBenchOptions): Promise<BenchRow[]> {
  const out: BenchRow[] = [];
  {
    const pair = await pgPair(opts.server, opts.cli, opts.rows);
    try {
      await benchPair(pair, 'verify-pg', opts, out, true);
    } finally {
      await pair.drop();
    }
  }
  const maria = await startMariadb({ settings: { 'innodb-buffer-pool-size': '512M', 'innodb-log-file-size': '512M' } });
  try {
    const pair = await mariaPair(opts.server, maria, opts.cli, opts.rows);
    try {
      await benchPair(pair, 'verify-mariadb', opts, out, false);
    } finally {
      await pair.drop();
    }
  } finally {
    await maria.stop();
  }
  return out;
}

export const verifyNotes =
  `The verify-* rows time \`tandem verify --json --rows-per-second 0\` as a user runs it (a new process, wall time from spawn to exit, exit 0 and every row compared required) on a pair set up once: the source loaded with generate_series, the shadow backfilled by \`tandem run\` (then stopped), both sides vacuumed and checkpointed. The anchor reads the table once on each side at the same time in SQL — PostgreSQL \`${pgScan}\`, MariaDB \`${mariaScan}\` — timed the same way (connections included). Database CPU is utime + stime over the server's process tree from /proc (the postmaster, the children it reaped and its live children; the mariadbd process), taken before and after each run; the PostgreSQL → PostgreSQL pair has both databases in one cluster, so its figure covers both sides. The MariaDB shadow is a throwaway server (innodb_buffer_pool_size=512M). verify-rate-limit is one run with \`--rows-per-second ${RATE_LIMIT}\`.`;
