/**
 * `npm run bench -- --only scaling`: how the cost of the two whole-table jobs grows with the table, PostgreSQL →
 * PostgreSQL in the bench cluster. At each size of BENCH_SCALING_SIZES (default 100,000, 1,000,000 and 5,000,000
 * rows of one table): `tandem backfill --yes` and then a full `tandem verify --json --rows-per-second 0`, each a new
 * process as a user runs it, timed from spawn to exit, with its peak RSS (GNU time's maximum resident set size).
 * Writes bench/results/scaling.json and scaling.svg (rows/s and peak RSS against size, log scale).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RunningServer } from '../test/harness/servers.js';
import { client, type BenchRow } from './lib.js';
import { pgPairAnchor, VERIFY_ANCHOR } from './verify.js';

const COMMAND = 'npm run bench -- --only scaling';

export interface ScalingPoint {
  rows: number;
  backfill: { seconds: number; rowsPerSecond: number; peakRssMiB: number };
  verify: { seconds: number; rowsPerSecond: number; peakRssMiB: number };
  /** One scan of each side in SQL, both at once (the verify bench's anchor), after the verification. */
  verifyAnchor: { seconds: number; rowsPerSecond: number };
}

/** Runs `node <cli> args` under GNU time: wall seconds and the peak resident set size in MiB. */
function measured(cli: string, args: string[]): Promise<{ seconds: number; peakRssMiB: number; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-time-'));
  const report = join(dir, 'rss');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) return reject(new Error(`tandem ${args.join(' ')}: exit ${code}: ${stderr.slice(-2000)}`));
      const kib = Number(readFileSync(report, 'utf8').trim().split('\n').pop());
      resolve({ seconds, peakRssMiB: kib / 1024, stdout });
    });
  });
}


export async function benchScaling(opts: { server: RunningServer; cli: string; resultsDir: string; sizes: number[] }): Promise<BenchRow[]> {
  const { server, cli, resultsDir, sizes } = opts;
  const points: ScalingPoint[] = [];
  for (const rows of sizes) {
    const tag = `scale_${rows}`;
    const admin = await client(`${server.url}/postgres`);
    for (const db of [`${tag}_src`, `${tag}_dst`]) {
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${db}`);
      const c = await client(`${server.url}/${db}`);
      await c.query(`CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2), created timestamptz NOT NULL)`);
      if (db.endsWith('_src')) {
        await c.query(`INSERT INTO items SELECT g, 'item ' || md5(g::text), round((g % 100000) / 100.0 + 0.99, 2), timestamptz '2024-01-01 00:00:00+00' + g * interval '1.234567 second' FROM generate_series(1, ${rows}) g`);
        await c.query('VACUUM ANALYZE items');
      }
      await c.end();
    }
    await admin.end();
    const dir = mkdtempSync(join(tmpdir(), 'tandem-bench-scaling-'));
    const config = join(dir, 'tandem.yaml');
    writeFileSync(config, stringify({ migration: tag, old: { url: `${server.url}/${tag}_src` }, new: { url: `${server.url}/${tag}_dst` }, state: { dir } }));
    const backfill = await measured(cli, ['backfill', '--yes', '--config', config]);
    const verify = await measured(cli, ['verify', '--json', '--rows-per-second', '0', '--config', config]);
    const report = JSON.parse(verify.stdout) as { driftCount: number; tables: Array<{ rowsCompared: number }> };
    const compared = report.tables.reduce((n, t) => n + t.rowsCompared, 0);
    if (compared !== rows || report.driftCount !== 0) throw new Error(`tandem verify compared ${compared} of ${rows} rows, drift ${report.driftCount}`);
    // The verify row's anchor at this size: one scan of each side at once, connections included.
    const t0 = performance.now();
    await pgPairAnchor(`${server.url}/${tag}_src`, `${server.url}/${tag}_dst`, rows);
    const anchorSeconds = (performance.now() - t0) / 1000;
    points.push({
      rows,
      backfill: { seconds: backfill.seconds, rowsPerSecond: rows / backfill.seconds, peakRssMiB: backfill.peakRssMiB },
      verify: { seconds: verify.seconds, rowsPerSecond: rows / verify.seconds, peakRssMiB: verify.peakRssMiB },
      verifyAnchor: { seconds: anchorSeconds, rowsPerSecond: rows / anchorSeconds },
    });
    process.stderr.write(`scaling ${rows.toLocaleString('en')} rows: backfill ${backfill.seconds.toFixed(1)} s (${backfill.peakRssMiB.toFixed(0)} MiB), verify ${verify.seconds.toFixed(1)} s (${verify.peakRssMiB.toFixed(0)} MiB), its anchor ${anchorSeconds.toFixed(1)} s\n`);
    const drop = await client(`${server.url}/postgres`);
    await drop.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1 and not active`, [`${tag}_src`]);
    for (const db of [`${tag}_src`, `${tag}_dst`]) await drop.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await drop.end();
  }
  writeFileSync(join(resultsDir, 'scaling.json'), JSON.stringify({ date: new Date().toISOString(), points }, null, 2));
  writeFileSync(join(resultsDir, 'scaling.svg'), scalingSvg(points));
  return points.flatMap((p) => [
    { name: `scaling-backfill-${p.rows}`, metric: `backfill of ${p.rows.toLocaleString('en')} rows (peak RSS ${p.backfill.peakRssMiB.toFixed(0)} MiB)`, unit: 'rows/s', tandem: [p.backfill.rowsPerSecond], anchor: null, anchorName: '—', command: COMMAND },
    {
      name: `scaling-verify-${p.rows}`,
      metric: `full verification of ${p.rows.toLocaleString('en')} rows (peak RSS ${p.verify.peakRssMiB.toFixed(0)} MiB)`,
      unit: 'rows/s',
      tandem: [p.verify.rowsPerSecond],
      anchor: [p.verifyAnchor.rowsPerSecond],
      anchorName: VERIFY_ANCHOR,
      command: COMMAND,
    },
  ]);
}

/** Two panels side by side: rows/s against table size (log x), and peak RSS against table size, one line per job. */
export function scalingSvg(points: ScalingPoint[]): string {
  const W = 820;
  const H = 340;
  const panel = { w: 330, h: 230, top: 60 };
  const lefts = [70, 470];
  const xs = points.map((p) => Math.log10(p.rows));
  const [xMin, xMax] = [Math.min(...xs) - 0.15, Math.max(...xs) + 0.15];
  // The anchor has no process of its own, so no RSS: it is drawn (dashed) in the rate panel only.
  const series: Array<{ name: string; color: string; dash?: boolean; rate: (p: ScalingPoint) => number; rss?: (p: ScalingPoint) => number }> = [
    { name: 'backfill', color: '#1f77b4', rate: (p) => p.backfill.rowsPerSecond, rss: (p) => p.backfill.peakRssMiB },
    { name: 'verify', color: '#d62728', rate: (p) => p.verify.rowsPerSecond, rss: (p) => p.verify.peakRssMiB },
    { name: 'verify anchor: one SQL scan of each side', color: '#d62728', dash: true, rate: (p) => p.verifyAnchor.rowsPerSecond },
  ];
  const panels = [
    { title: 'rows per second (higher is better)', value: (s: (typeof series)[number], p: ScalingPoint) => s.rate(p), fmt: (v: number) => `${Math.round(v / 1000)}k` },
    { title: 'peak RSS, MiB (lower is better)', value: (s: (typeof series)[number], p: ScalingPoint) => s.rss?.(p), fmt: (v: number) => `${Math.round(v)}` },
  ];
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">Tandem: backfill and full verification, PostgreSQL → PostgreSQL, by table size</text>`,
  ];
  panels.forEach((pn, i) => {
    const left = lefts[i] as number;
    const drawn = series.filter((s) => points.every((p) => pn.value(s, p) !== undefined));
    const yMax = Math.max(...drawn.flatMap((s) => points.map((p) => pn.value(s, p) ?? 0))) * 1.15 || 1;
    const x = (v: number) => left + ((v - xMin) / (xMax - xMin)) * panel.w;
    const y = (v: number) => panel.top + panel.h - (v / yMax) * panel.h;
    parts.push(`<text x="${left + panel.w / 2}" y="${panel.top - 12}" text-anchor="middle">${pn.title}</text>`);
    parts.push(`<line x1="${left}" y1="${panel.top + panel.h}" x2="${left + panel.w}" y2="${panel.top + panel.h}" stroke="#333"/>`);
    parts.push(`<line x1="${left}" y1="${panel.top}" x2="${left}" y2="${panel.top + panel.h}" stroke="#333"/>`);
    for (const p of points) {
      const px = x(Math.log10(p.rows));
      parts.push(`<text x="${px}" y="${panel.top + panel.h + 16}" text-anchor="middle">${p.rows >= 1e6 ? `${p.rows / 1e6}M` : `${p.rows / 1e3}k`} rows</text>`);
    }
    for (const frac of [0, 0.5, 1]) parts.push(`<text x="${left - 6}" y="${y(yMax * frac) + 4}" text-anchor="end">${pn.fmt(yMax * frac)}</text>`);
    for (const s of drawn) {
      const at = (p: ScalingPoint) => y(pn.value(s, p) ?? 0).toFixed(1);
      const pts = points.map((p) => `${x(Math.log10(p.rows)).toFixed(1)},${at(p)}`);
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dash ? ' stroke-dasharray="6 4"' : ''} points="${pts.join(' ')}"/>`);
      for (const p of points) parts.push(`<circle cx="${x(Math.log10(p.rows)).toFixed(1)}" cy="${at(p)}" r="3.5" fill="${s.color}"><title>${s.name}, ${p.rows} rows: ${pn.fmt(pn.value(s, p) ?? 0)}</title></circle>`);
    }
  });
  series.forEach((s, i) => {
    parts.push(
      `<line x1="${160 + i * 150}" y1="${H - 20}" x2="${176 + i * 150}" y2="${H - 20}" stroke="${s.color}" stroke-width="3"${s.dash ? ' stroke-dasharray="4 3"' : ''}/><text x="${182 + i * 150}" y="${H - 16}">${s.name}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
