/**
 * `npm run bench -- --only backfill`: the initial copy of BENCH_BACKFILL_ROWS rows (1,000,000 by default; the
 * issue's figure is 5,000,000) spread over three tables of a shop (items, orders with a JSON column and a
 * 200-byte note, inventory events), PostgreSQL → PostgreSQL, two databases of the bench cluster. Side by side in
 * each repetition: `tandem backfill --yes` (the whole command, its start included), the ceiling of any copy — each
 * table's `COPY … TO STDOUT` piped into `COPY … FROM STDIN` by psql — and `pg_dump --data-only | psql`. The anchors
 * load into a second shadow database, emptied before each run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import type { RunningServer } from '../test/harness/servers.js';
import { client, type BenchRow } from './lib.js';

export interface BackfillBenchOptions {
  server: RunningServer;
  cli: string;
  rows: number;
  reps: number;
}

const COMMAND = 'npm run bench -- --only backfill';
const TABLES = ['items', 'orders', 'inventory_events'];
const DDL = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2), created timestamptz NOT NULL)`,
  `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2) NOT NULL, status text NOT NULL, note text, meta jsonb NOT NULL, created timestamptz NOT NULL)`,
  `CREATE TABLE inventory_events (id bigint PRIMARY KEY, sku int NOT NULL, delta int NOT NULL, order_id bigint NOT NULL, at timestamptz NOT NULL)`,
];
/** Rows per table: half items, a fifth orders, the rest events. */
const split = (rows: number) => ({ items: Math.round(rows * 0.5), orders: Math.round(rows * 0.2), inventory_events: rows - Math.round(rows * 0.5) - Math.round(rows * 0.2) });
const LOAD = (rows: number) => {
  const n = split(rows);
  return [
    `INSERT INTO items SELECT g, 'item ' || md5(g::text), round((g % 100000) / 100.0 + 0.99, 2), timestamptz '2024-01-01 00:00:00+00' + g * interval '1.234567 second' FROM generate_series(1, ${n.items}) g`,
    `INSERT INTO orders SELECT g, g % 50000, round((g % 5000) + 0.99, 2), CASE WHEN g % 3 = 0 THEN 'paid' ELSE 'new' END, repeat(md5(g::text), 6),
       jsonb_build_object('channel', CASE WHEN g % 2 = 0 THEN 'web' ELSE 'app' END, 'items', g % 4 + 1, 'zip', lpad((g % 99999)::text, 5, '0')),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '0.5 second' FROM generate_series(1, ${n.orders}) g`,
    `INSERT INTO inventory_events SELECT g, g % 2000 + 1, -(g % 4 + 1), g / 3 + 1, timestamptz '2024-01-01 00:00:00+00' + g * interval '0.25 second' FROM generate_series(1, ${n.inventory_events}) g`,
  ];
};


function sh(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command}: exit ${code}: ${err.slice(-2000)}`))));
  });
}

async function timed(what: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await what();
  return (performance.now() - t0) / 1000;
}

/**
 * `node <cli> backfill --yes`, with a V8 CPU profile in BENCH_CPU_PROF=<dir> when set, and tandem's log (info)
 * appended to BENCH_TANDEM_LOG=<file> when set.
 */
function tandemBackfill(cli: string, config: string): string {
  const prof = process.env.BENCH_CPU_PROF ? `--cpu-prof --cpu-prof-dir ${process.env.BENCH_CPU_PROF} ` : '';
  const log = process.env.BENCH_TANDEM_LOG;
  return log ? `TANDEM_LOG_LEVEL=info node ${prof}${cli} backfill --yes --config ${config} >> ${log} 2>&1` : `TANDEM_LOG_LEVEL=warn node ${prof}${cli} backfill --yes --config ${config}`;
}

/** BENCH_BASELINE_CLI=<path to another build's dist/cli/tandem.js>: that build is timed too, alternating, as a row of its own. */
const baselineCli = process.env.BENCH_BASELINE_CLI;

async function count(url: string): Promise<number> {
  const c = await client(url);
  try {
    let n = 0;
    for (const t of TABLES) n += Number((await c.query<{ n: string }>(`select count(*)::text n from ${t}`)).rows[0]?.n);
    return n;
  } finally {
    await c.end();
  }
}

export async function benchBackfill(opts: BackfillBenchOptions): Promise<BenchRow[]> {
  const { server, cli, rows, reps } = opts;
  const admin = await client(`${server.url}/postgres`);
  for (const db of ['bf_src', 'bf_tandem', 'bf_anchor']) {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${db}`);
    const c = await client(`${server.url}/${db}`);
    for (const sql of DDL) await c.query(sql);
    if (db === 'bf_src') {
      for (const sql of LOAD(rows)) await c.query(sql);
      await c.query('VACUUM ANALYZE');
    }
    await c.end();
  }
  await admin.end();
  const src = `${server.url}/bf_src`;
  const anchorUrl = `${server.url}/bf_anchor`;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-backfill-'));
  const config = join(dir, 'tandem.yaml');
  writeFileSync(config, stringify({ migration: 'bench_backfill', old: { url: src }, new: { url: `${server.url}/bf_tandem` }, state: { dir } }));
  const truncateAnchor = () => sh(`psql -X -q "${anchorUrl}" -c "TRUNCATE ${TABLES.join(', ')}"`);

  const out = { tandem: [] as number[], pipe: [] as number[], dump: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < reps; i++) {
    let b = 0;
    if (baselineCli) {
      b = await timed(() => sh(tandemBackfill(baselineCli, config)));
      if ((await count(`${server.url}/bf_tandem`)) !== rows) throw new Error('the baseline build did not copy every row');
      out.baseline.push(rows / b);
    }
    const t = await timed(() => sh(tandemBackfill(cli, config)));
    if ((await count(`${server.url}/bf_tandem`)) !== rows) throw new Error('tandem backfill did not copy every row');
    out.tandem.push(rows / t);

    await truncateAnchor();
    const p = await timed(async () => {
      for (const table of TABLES) await sh(`psql -X -q "${src}" -c "COPY ${table} TO STDOUT" | psql -X -q "${anchorUrl}" -c "COPY ${table} FROM STDIN"`);
    });
    if ((await count(anchorUrl)) !== rows) throw new Error('the COPY pipe did not copy every row');
    out.pipe.push(rows / p);

    await truncateAnchor();
    const d = await timed(() => sh(`pg_dump --data-only ${TABLES.map((x) => `-t ${x}`).join(' ')} "${src}" | psql -X -q "${anchorUrl}"`));
    if ((await count(anchorUrl)) !== rows) throw new Error('pg_dump | psql did not copy every row');
    out.dump.push(rows / d);
    process.stderr.write(`backfill rep ${i + 1}/${reps}: ${baselineCli ? `baseline ${b.toFixed(1)} s, ` : ''}tandem ${t.toFixed(1)} s, COPY pipe ${p.toFixed(1)} s, pg_dump ${d.toFixed(1)} s\n`);
  }
  const metric = `${rows.toLocaleString('en')} rows in 3 tables copied PostgreSQL → PostgreSQL`;
  return [
    ...(baselineCli ? [{ name: 'backfill-pg-baseline', metric, unit: 'rows/s', tandem: out.tandem, anchor: out.baseline, anchorName: `tandem backfill of the baseline build (${baselineCli})`, command: `BENCH_BASELINE_CLI=${baselineCli} ${COMMAND}` }] : []),
    { name: 'backfill-pg-copy-pipe', metric, unit: 'rows/s', tandem: out.tandem, anchor: out.pipe, anchorName: 'COPY … TO STDOUT | COPY … FROM STDIN (psql, per table)', command: COMMAND },
    { name: 'backfill-pg-dump', metric, unit: 'rows/s', tandem: out.tandem, anchor: out.dump, anchorName: 'pg_dump --data-only | psql', command: COMMAND },
  ];
}

const MARIADB_DDL = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name varchar(100) NOT NULL, price decimal(12,2), created datetime(6) NOT NULL)`,
  `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total decimal(12,2) NOT NULL, status varchar(16) NOT NULL, note text, meta json NOT NULL, created datetime(6) NOT NULL)`,
  `CREATE TABLE inventory_events (id bigint PRIMARY KEY, sku int NOT NULL, delta int NOT NULL, order_id bigint NOT NULL, at datetime(6) NOT NULL)`,
];
/** The PostgreSQL shadow of the MariaDB tables, as `tandem schema` maps them. */
const MARIADB_SHADOW_DDL = [
  `CREATE TABLE items (id bigint PRIMARY KEY, name varchar(100) NOT NULL, price numeric(12,2), created timestamp(6) NOT NULL)`,
  `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, total numeric(12,2) NOT NULL, status varchar(16) NOT NULL, note text, meta jsonb NOT NULL, created timestamp(6) NOT NULL)`,
  `CREATE TABLE inventory_events (id bigint PRIMARY KEY, sku int NOT NULL, delta int NOT NULL, order_id bigint NOT NULL, at timestamp(6) NOT NULL)`,
];
const MARIADB_LOAD = (rows: number) => {
  const n = split(rows);
  return [
    `INSERT INTO items SELECT seq, CONCAT('item ', MD5(seq)), ROUND((seq % 100000) / 100 + 0.99, 2), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_${n.items}`,
    `INSERT INTO orders SELECT seq, seq % 50000, ROUND((seq % 5000) + 0.99, 2), IF(seq % 3 = 0, 'paid', 'new'), REPEAT(MD5(seq), 6),
       JSON_OBJECT('channel', IF(seq % 2 = 0, 'web', 'app'), 'items', seq % 4 + 1, 'zip', LPAD(seq % 99999, 5, '0')), TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_${n.orders}`,
    `INSERT INTO inventory_events SELECT seq, seq % 2000 + 1, -(seq % 4 + 1), seq DIV 3 + 1, TIMESTAMP('2024-01-01') + INTERVAL seq SECOND FROM seq_1_to_${n.inventory_events}`,
  ];
};

/**
 * `npm run bench -- --only backfill-mariadb`: the same three tables copied from a throwaway MariaDB into the bench
 * PostgreSQL cluster: `tandem backfill --yes` against pgloader (Debian's package, installed when missing) loading
 * the same existing tables (`WITH data only, truncate, prefetch rows = 25000`), alternating. pgloader's default of
 * 100,000 prefetched rows exhausted its 1 GiB heap at 5M rows here ("Heap exhausted during garbage collection"), the
 * fix its documentation gives; at 1M rows it also copied faster with it (4.3–4.4 s against 5.1–6.3 s).
 */
export async function benchBackfillMariadb(opts: BackfillBenchOptions & { mariadb: RunningServer }): Promise<BenchRow[]> {
  const { server, cli, rows, reps, mariadb } = opts;
  ensurePgloader();
  const my = await mysql.createConnection({ uri: mariadb.url, multipleStatements: true });
  await my.query('CREATE DATABASE bf_src CHARACTER SET utf8mb4');
  await my.query('USE bf_src');
  for (const sql of [...MARIADB_DDL, ...MARIADB_LOAD(rows)]) await my.query(sql);
  await my.end();
  const admin = await client(`${server.url}/postgres`);
  for (const db of ['bfm_tandem', 'bfm_anchor']) {
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${db}`);
    const c = await client(`${server.url}/${db}`);
    for (const sql of MARIADB_SHADOW_DDL) await c.query(sql);
    await c.end();
  }
  await admin.end();
  const src = `${mariadb.url}/bf_src`;
  const anchorUrl = `${server.url}/bfm_anchor`;
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-backfill-mariadb-'));
  const config = join(dir, 'tandem.yaml');
  writeFileSync(config, stringify({ migration: 'bench_backfill_mariadb', old: { url: src }, new: { url: `${server.url}/bfm_tandem` }, state: { dir } }));
  const load = join(dir, 'pgloader.load');
  writeFileSync(load, `LOAD DATABASE\n  FROM ${src}\n  INTO ${anchorUrl}\nWITH data only, truncate, prefetch rows = 25000\nALTER SCHEMA 'bf_src' RENAME TO 'public';\n`);

  const out = { tandem: [] as number[], pgloader: [] as number[], baseline: [] as number[] };
  for (let i = 0; i < reps; i++) {
    let b = 0;
    if (baselineCli) {
      b = await timed(() => sh(tandemBackfill(baselineCli, config)));
      if ((await count(`${server.url}/bfm_tandem`)) !== rows) throw new Error('the baseline build did not copy every row');
      out.baseline.push(rows / b);
    }
    const t = await timed(() => sh(tandemBackfill(cli, config)));
    if ((await count(`${server.url}/bfm_tandem`)) !== rows) throw new Error('tandem backfill did not copy every row');
    out.tandem.push(rows / t);
    const l = await timed(() => sh(`pgloader --no-ssl-cert-verification --quiet ${load}`));
    if ((await count(anchorUrl)) !== rows) throw new Error('pgloader did not copy every row');
    out.pgloader.push(rows / l);
    process.stderr.write(`backfill-mariadb rep ${i + 1}/${reps}: ${baselineCli ? `baseline ${b.toFixed(1)} s, ` : ''}tandem ${t.toFixed(1)} s, pgloader ${l.toFixed(1)} s\n`);
  }
  const metric = `${rows.toLocaleString('en')} rows in 3 tables copied MariaDB → PostgreSQL`;
  return [
    ...(baselineCli ? [{ name: 'backfill-mariadb-baseline', metric, unit: 'rows/s', tandem: out.tandem, anchor: out.baseline, anchorName: `tandem backfill of the baseline build (${baselineCli})`, command: `BENCH_BASELINE_CLI=${baselineCli} npm run bench -- --only backfill-mariadb` }] : []),
    { name: 'backfill-mariadb-pgloader', metric, unit: 'rows/s', tandem: out.tandem, anchor: out.pgloader, anchorName: 'pgloader (WITH data only, truncate, prefetch rows = 25000)', command: 'npm run bench -- --only backfill-mariadb' },
  ];
}

/** pgloader comes from Debian's package, installed like .ci/run installs the servers. */
function ensurePgloader(): void {
  if (spawnSync('which', ['pgloader']).status === 0) return;
  process.stderr.write('installing pgloader (apt-get)\n');
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'pgloader']]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed: pgloader is needed for the backfill-mariadb anchor`);
  }
}
