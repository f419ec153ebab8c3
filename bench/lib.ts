/** Small helpers for benchmarks: statistics, timing, process memory, the result row. */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import pg from 'pg';

/** One result row of bench/results/latest.json: Tandem's samples beside the anchor's. */
export interface BenchRow {
  name: string;
  metric: string;
  unit: string;
  tandem: number[] | null;
  anchor: number[] | null;
  anchorName: string;
  command: string;
  note?: string;
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

/** Spread as (max − min) / median, so runs disturbed by a noisy neighbour show. */
export function spread(values: number[]): number {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

export const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime, stime, cutime, cstime (clock ticks) and parent pid of a process, from /proc/<pid>/stat. */
export function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: fields start after the last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if (procStat(Number(name))?.ppid === pid) out.push(Number(name));
  }
  return out;
}

/** CPU seconds (utime + stime, with its reaped children's) of one process; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  return (procStat(pid)?.ticks ?? 0) / CLK_TCK;
}

/**
 * CPU seconds a server has used so far: the process itself, the children it has reaped (cutime, cstime) and its
 * live children (PostgreSQL's backends and background workers; MariaDB's threads are inside its one process). A
 * backend that exits moves from "live child" to the parent's cutime, so the sum holds across connections.
 */
export function treeCpuSeconds(pid: number): number {
  const children = childrenOf(pid);
  let ticks = 0;
  for (const c of children) ticks += procStat(c)?.ticks ?? 0;
  ticks += procStat(pid)?.ticks ?? 0;
  return ticks / CLK_TCK;
}


/** The PostgreSQL server's postmaster: the root of the process tree whose CPU treeCpuSeconds sums. */
export const postmasterPid = (s: { dataDir: string }) => Number(readFileSync(`${s.dataDir}/postmaster.pid`, 'utf8').split('\n')[0]);

/** Peak resident set size of a process so far, in bytes (Linux VmHWM). */
export function peakRss(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

export async function until(what: string, probe: () => Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export interface MarkerLoad {
  seconds: number;
  /**
   * The load runs this long first, its markers kept apart (`coldLags`): a process that has just started runs its
   * code cold (V8 compiles the hot paths in its first seconds, the servers fill their caches), which is once per
   * start, not the lag at the source's sustained rate.
   */
  warmupSeconds?: number;
  /** Called when the warm-up ends and the measured part begins (CPU counters start there). */
  onMeasuring?: () => void;
  workers: number;
  /** One source transaction of the load, by worker and sequence number. */
  transaction: (worker: number, n: number) => Promise<void>;
  /** Writes marker row `id` on the source. */
  writeMarker: (id: number) => Promise<void>;
  /** The highest marker id the shadow holds. */
  shadowMaxMarker: () => Promise<number>;
}

/**
 * Runs the load at the rate the source sustains while a marker row is written every 100 ms; a 10 ms poll of the
 * shadow times each marker's arrival, so lag is measured on one machine clock. Returns lags in seconds.
 */
export async function measureMarkerLag(load: MarkerLoad): Promise<{ lags: number[]; coldLags: number[]; tps: number; txns: number }> {
  const sent = new Map<number, number>();
  const lags: number[] = [];
  const coldLags: number[] = [];
  let stop = false;
  let txns = 0;
  let markerId = 0;
  /** The first marker of the measured part. */
  let firstMeasured = Number.POSITIVE_INFINITY;
  const workers = Array.from({ length: load.workers }, async (_, w) => {
    for (let n = 1; !stop; n++) {
      await load.transaction(w, n);
      if (markerId >= firstMeasured) txns++;
    }
  });
  const started = performance.now();
  const warmup = (load.warmupSeconds ?? 0) * 1000;
  let began = started;
  const poll = (async () => {
    let seen = 0;
    while (!stop || seen < markerId) {
      const m = await load.shadowMaxMarker();
      const now = performance.now();
      for (let id = seen + 1; id <= m; id++) {
        const t = sent.get(id);
        if (t !== undefined) (id >= firstMeasured ? lags : coldLags).push((now - t) / 1000);
        // BENCH_LAG_TRACE=1: every tenth marker's lag as it arrives, to tell a steady lag from a growing one; =all:
        // every marker, with its send time since the start, to line the tail up with what else happened then.
        const every = process.env.BENCH_LAG_TRACE === 'all';
        if (t !== undefined && process.env.BENCH_LAG_TRACE && (every || id % 10 === 0)) {
          process.stderr.write(`marker ${id}: ${(now - t).toFixed(0)} ms${every ? ` (sent at ${((t - started) / 1000).toFixed(3)} s, epoch ms ${Math.round(performance.timeOrigin + t)})` : ''}\n`);
        }
      }
      seen = Math.max(seen, m);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  while (performance.now() - started < warmup + load.seconds * 1000) {
    if (firstMeasured === Number.POSITIVE_INFINITY && performance.now() - started >= warmup) {
      firstMeasured = markerId + 1;
      began = performance.now();
      load.onMeasuring?.();
    }
    markerId++;
    await load.writeMarker(markerId);
    sent.set(markerId, performance.now());
    await new Promise((r) => setTimeout(r, 100));
  }
  stop = true;
  await Promise.all(workers);
  const tps = txns / ((performance.now() - began) / 1000);
  await poll;
  return { lags, coldLags, tps, txns };
}

/** A connected client; a session the server ends (DROP DATABASE … WITH (FORCE), a fence) is reported, not a crash. */
export async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', (err) => process.stderr.write(`bench client ${url}: ${err.message}\n`));
  await c.connect();
  return c;
}
