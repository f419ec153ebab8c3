/**
 * `npm run bench -- --only switch`: cutover and rollback, alternating, PostgreSQL → PostgreSQL, under a shop load
 * whose writers follow the active side through the API. Per switch: the window Tandem reports (windowMs, fence to
 * unfence), the longest gap between acknowledged application writes around it (measured by the clients, outside
 * Tandem), and the time from invoking the CLI until the side becoming active acknowledged its first application
 * write. The anchors are published figures, not measured here.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import type { RunningServer } from '../test/harness/servers.js';
import { tempDir } from '../test/harness/temp.js';
import { percentile, until, type BenchRow } from './lib.js';
import { SHOP_DDL, SHOP_TABLES, longestGap, lostWrites, shopRows, sideSummary, startRouter, startShopLoad, writtenSideChanges, type SideName } from './shop-load.js';

export interface SwitchBenchOptions {
  server: RunningServer;
  cli: string;
  /** How many switches, alternating cutover and rollback (cutover first). */
  switches: number;
}

export interface SwitchSample {
  n: number;
  kind: 'cutover' | 'rollback';
  /** The switch's own report: fence to unfence. */
  windowMs: number;
  /** Longest gap between acknowledged application writes from the CLI's start to the first write on `to`. */
  gapMs: number;
  /** From spawning `tandem <kind>` to the first application write acknowledged by `to`. */
  invokeToFirstWriteMs: number;
  /** The CLI's wall time (gates, preparing the slot, the window, the certificate). */
  cliMs: number;
  /** Attempts refused by a gate before this one ran (lag, verification not complete yet). */
  refusedBefore: number;
}

const COMMAND = 'npm run bench -- --only switch';
const READ = 'bench-switch-read-token-0123';
export const SWITCH_ANCHOR = 'gh-ost cut-over lock timeout (3 s default); Vitess: "two or three seconds"';
const GOAL_P99_MS = 1000;

interface Status {
  phase: string;
  activeSide: SideName;
  lag: { seconds: number | null };
  verification: { lastCompletePass: string | null; driftCount: number; unconfirmedCount: number } | null;
}

interface CliResult {
  result: string;
  windowMs: number | null;
  activeSide: SideName;
  gates: Array<{ name: string; ok: boolean }>;
  error?: { message: string };
}

function runCli(cli: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function createDb(server: RunningServer, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: `${server.url}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  await admin.end();
  const url = `${server.url}/${name}`;
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (const sql of SHOP_DDL) await c.query(sql);
  await c.end();
  return url;
}

async function dropDbs(server: RunningServer, names: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: `${server.url}/postgres` });
  await admin.connect();
  try {
    await admin.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = ANY($1) AND NOT active`, [names]);
    for (const n of names) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(n)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

export async function benchSwitch(opts: SwitchBenchOptions): Promise<{ rows: BenchRow[]; samples: SwitchSample[]; notes: string }> {
  const migration = 'bench_switch';
  const names = ['bench_sw_old', 'bench_sw_new'];
  const [oldUrl, newUrl] = [await createDb(opts.server, names[0] as string), await createDb(opts.server, names[1] as string)] as [string, string];
  const seed = new pg.Client({ connectionString: oldUrl });
  await seed.connect();
  await seed.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
  await seed.end();
  // Removed when the process exits (test/harness/temp.ts), like the servers' folders.
  const dir = tempDir('tandem-bench-switch-');
  const config = join(dir, 'tandem.yaml');
  // verify.interval 1s: every switch forgets the new direction's verification, and the next switch's gate wants a
  // complete clean pass of it; with the 10-minute default the run would wait for that, not measure the switch.
  writeFileSync(config, stringify({ migration, old: { url: oldUrl }, new: { url: newUrl }, tables: SHOP_TABLES, state: { dir }, verify: { interval: '1s' }, api: { listen: '127.0.0.1:0', tokens: [{ name: 'router', token: READ, role: 'read' }] } }));
  // BENCH_SWITCH_LOG=FILE keeps the service's whole log at info level, to see where a switch spends its time.
  const logFile = process.env.BENCH_SWITCH_LOG;
  const service = spawn(process.execPath, [opts.cli, 'run', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, TANDEM_LOG_LEVEL: logFile ? 'info' : 'warn' } });
  let serviceLog = '';
  service.stderr.on('data', (d: Buffer) => {
    serviceLog = (serviceLog + d.toString()).slice(-4000);
    if (logFile) appendFileSync(logFile, d);
  });
  const samples: SwitchSample[] = [];
  let router: ReturnType<typeof startRouter> | undefined;
  let load: ReturnType<typeof startShopLoad> | undefined;
  try {
    let api = '';
    await until('tandem run to publish its API', async () => {
      const c = new pg.Client({ connectionString: oldUrl });
      await c.connect();
      try {
        api = (await c.query<{ api: string | null }>(`SELECT api FROM tandem.lease WHERE migration = $1`, [migration]).catch(() => ({ rows: [] as Array<{ api: string | null }> }))).rows[0]?.api ?? '';
      } finally {
        await c.end();
      }
      return api !== '';
    }, 60_000, 100);
    const status = async (): Promise<Status> => {
      const res = await fetch(`http://${api}/api/v1/status`, { headers: { authorization: `Bearer ${READ}` } });
      return (await res.json()) as Status;
    };
    await until('phase shadowing', async () => (await status()).phase === 'shadowing', 120_000, 200);
    router = startRouter(api, READ);
    load = startShopLoad({ old: oldUrl, new: newUrl }, router.activeSide);
    await load.waitForWrites(100);
    {
      // Where the CLI's time goes, once: a status read and a dry run (gates only) as separate processes.
      const t = performance.now();
      await runCli(opts.cli, ['status', '--json', '--config', config]);
      const statusMs = performance.now() - t;
      const d = performance.now();
      await runCli(opts.cli, ['cutover', '--dry-run', '--json', '--config', config]);
      process.stderr.write(`tandem status took ${statusMs.toFixed(0)} ms, tandem cutover --dry-run ${(performance.now() - d).toFixed(0)} ms\n`);
    }
    let since = new Date(0).toISOString();
    for (let n = 1; n <= opts.switches; n++) {
      const kind = n % 2 === 1 ? 'cutover' : 'rollback';
      const to: SideName = kind === 'cutover' ? 'new' : 'old';
      let refusedBefore = 0;
      for (;;) {
        // The gates' own condition, waited for rather than refused: a complete clean pass since the last switch.
        await until(`a complete clean verification before switch ${n}`, async () => {
          const s = await status();
          const v = s.verification;
          return !!v?.lastCompletePass && v.lastCompletePass > since && v.driftCount === 0 && v.unconfirmedCount === 0;
        }, 120_000, 100);
        const t0 = performance.now();
        const r = await runCli(opts.cli, [kind, '--yes', '--json', '--config', config]);
        const cliMs = performance.now() - t0;
        let result: CliResult;
        try {
          result = JSON.parse(r.stdout) as CliResult;
        } catch {
          throw new Error(`tandem ${kind} printed no result (exit ${r.code}): ${r.stderr}`);
        }
        if (result.result === 'refused' && refusedBefore < 5) {
          refusedBefore++;
          process.stderr.write(`switch ${n} (${kind}) refused by ${result.gates.filter((g) => !g.ok).map((g) => g.name).join(', ')}; asking again\n`);
          continue;
        }
        if (result.result !== 'done' || result.windowMs === null) throw new Error(`switch ${n} (${kind}): ${result.result} (exit ${r.code}): ${result.error?.message ?? r.stderr}`);
        const summary = load.summary;
        let first: number | undefined;
        await until(`the first write on ${to} after switch ${n}`, async () => {
          first = summary.acks.find((a) => a.at > t0 && a.side === to && !a.misrouted)?.at;
          return first !== undefined;
        }, 30_000, 10);
        const sample: SwitchSample = { n, kind, windowMs: result.windowMs, gapMs: Math.round(longestGap(summary.acks, t0, first as number)), invokeToFirstWriteMs: Math.round((first as number) - t0), cliMs: Math.round(cliMs), refusedBefore };
        samples.push(sample);
        process.stderr.write(`switch ${n}/${opts.switches} ${kind}: window ${sample.windowMs} ms, gap ${sample.gapMs} ms, invoke → first write on ${to} ${sample.invokeToFirstWriteMs} ms, CLI ${sample.cliMs} ms\n`);
        since = new Date().toISOString();
        break;
      }
    }
    const summary = await load.stop();
    load = undefined;
    // The last direction's shadow catches up, then both sides must hold every acknowledged write, equal.
    let lines: Record<SideName, string[]> = { old: [], new: [] };
    await until('the sides to be equal', async () => {
      lines = { old: await shopRows(oldUrl), new: await shopRows(newUrl) };
      return lines.old.join('\n') === lines.new.join('\n');
    }, 120_000, 200);
    const lost = lostWrites(summary, lines.old);
    const changes = await writtenSideChanges(oldUrl);
    const sides = sideSummary(lines.old);
    process.stderr.write(
      `sides equal: ${sides.customers} customers, ${sides.orders} orders, hash ${sides.hash}; acknowledged writes ${summary.acks.length}, lost ${lost.orders.length + lost.updates.length}; ` +
        `status API answered the router in p50 ${percentile(router.latencies, 50).toFixed(0)} ms, p99 ${percentile(router.latencies, 99).toFixed(0)} ms, max ${Math.max(...router.latencies).toFixed(0)} ms; ` +
        `written side changed ${changes} times for ${samples.length} switches; refused: misrouted ${summary.refusedMisrouted.old + summary.refusedMisrouted.new}, following during windows ${summary.refusedFollowing.old + summary.refusedFollowing.new}; other errors ${summary.errors.length}\n`,
    );
    if (lost.orders.length || lost.updates.length || summary.errors.length || changes !== samples.length) {
      throw new Error(`the switch lost or split writes: ${JSON.stringify({ lost, errors: summary.errors.slice(0, 5), changes })}`);
    }
    const windows = samples.map((s) => s.windowMs);
    const gaps = samples.map((s) => s.gapMs);
    const rollbacks = samples.filter((s) => s.kind === 'rollback').map((s) => s.invokeToFirstWriteMs);
    const cutovers = samples.filter((s) => s.kind === 'cutover').map((s) => s.invokeToFirstWriteMs);
    const note = `${samples.length} switches; anchors are published figures, not measured here; goal p99 ≤ ${GOAL_P99_MS} ms`;
    const row = (name: string, metric: string, values: number[], anchor: number[] | null): BenchRow => ({ name, metric, unit: 'ms', tandem: values, anchor, anchorName: anchor ? SWITCH_ANCHOR : '—', command: COMMAND, note });
    const rows: BenchRow[] = [
      row('switch-window-p50', 'write-unavailability window p50 (windowMs, fence → unfence)', [percentile(windows, 50)], [3000]),
      row('switch-window-p99', 'write-unavailability window p99 (windowMs)', [percentile(windows, 99)], [3000]),
      row('switch-window-max', 'write-unavailability window max (windowMs)', [Math.max(...windows)], [3000]),
      row('switch-gap-p50', 'longest gap between acknowledged application writes around a switch, p50 (client clock)', [percentile(gaps, 50)], [3000]),
      row('switch-gap-p99', 'longest gap between acknowledged application writes around a switch, p99', [percentile(gaps, 99)], [3000]),
      row('switch-gap-max', 'longest gap between acknowledged application writes around a switch, max', [Math.max(...gaps)], [3000]),
      row('rollback-to-first-write-p50', `tandem rollback invoked → old acknowledges the first application write, p50 (n=${rollbacks.length})`, [percentile(rollbacks, 50)], null),
      row('rollback-to-first-write-max', `tandem rollback invoked → old acknowledges the first application write, max (n=${rollbacks.length})`, [Math.max(...rollbacks)], null),
      row('cutover-to-first-write-p50', `tandem cutover invoked → new acknowledges the first application write, p50 (n=${cutovers.length})`, [percentile(cutovers, 50)], null),
    ];
    return { rows, samples, notes: switchNotes };
  } catch (err) {
    process.stderr.write(`tandem run's last output:\n${serviceLog}\n`);
    throw err;
  } finally {
    router?.stop();
    await load?.stop();
    const exited = new Promise((r) => service.once('exit', r));
    if (service.exitCode === null && service.signalCode === null) {
      service.kill('SIGTERM');
      await exited;
    }
    await dropDbs(opts.server, names);
  }
}

export const switchNotes =
  'The switch-* rows run `tandem cutover --yes --json` and `tandem rollback --yes --json` alternately against one `tandem run` (verify.interval 1s, other settings default) replicating two databases of the bench cluster, while 3 writer clients place and update orders on the side the API calls active (a router polling `GET /api/v1/status` every 25 ms) and one misrouted client writes to the other side. windowMs is the switch\'s own report (fence to unfence). The gap is measured by the clients: the longest time between two acknowledged writes from the CLI\'s start until the side becoming active acknowledged its first write, so it adds the router\'s poll to the window. "Invoked → first write" starts at spawning the CLI and covers the CLI\'s start, the gates, preparing the capture slot on the side becoming active, the window and the router\'s poll. Before each switch the bench waits for a complete clean verification pass (the verification gate) rather than counting refusals. Anchors: gh-ost\'s `--cut-over-lock-timeout-seconds` (default 3 s), Vitess\'s "two or three seconds" for a reshard/MoveTables traffic switch; neither is measured here. The machine has 2 cores shared with other jobs: numbers are noisy.';
