/**
 * `tandem verify`: compare the active side with the shadow now. Suspects are confirmed against the shadow's
 * checkpoint (a row is drift only once every change up to the compared position is applied), so the shadow must
 * keep catching up while verify waits. With a service running, it does. With none, verify takes the lease itself
 * and streams the changes up to the active side's position in-process (never a backfill), so real drift is
 * confirmed within seconds instead of waiting out verify.settleTimeout and calling it unconfirmed.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { leaseIsLive } from '../model/control.js';
import type { Direction } from '../model/direction.js';
import { replicatedTables } from '../replicate/tables.js';
import { emptyStats } from '../replicate/stats.js';
import type { ScanResult } from '../verify/compare.js';
import { RowRateLimiter } from '../verify/rate-limit.js';
import { buildReport, recordPass, type VerificationReport } from '../verify/report.js';
import { Verifier, type TableResult } from '../verify/verifier.js';
import { Lease, newHolder } from './lease.js';
import { StateStore } from './state-store.js';

export interface VerifyOptions {
  /** Only these tables (each must be replicated); default all. */
  tables?: string[];
  rowsPerSecond: number;
  settleMs: number;
  log: Logger;
  /** Progress for a terminal: tables scanned of the total, rows compared so far (the CLI draws it). */
  onProgress?: (p: VerifyProgress) => void;
}

export interface VerifyProgress {
  tablesDone: number;
  tablesTotal: number;
  table: string | null;
  rowsCompared: number;
}

/** The rate limiter every chunk is charged to, counting the rows as they are compared. */
export class CountingLimiter extends RowRateLimiter {
  rows = 0;
  constructor(rowsPerSecond: number, private readonly onRows: () => void) {
    super(rowsPerSecond);
  }

  override async charge(rows: number, signal?: AbortSignal): Promise<void> {
    this.rows += rows;
    this.onRows();
    return super.charge(rows, signal);
  }
}

export interface VerifyRun {
  direction: Direction;
  report: VerificationReport;
  /** Whether verify streamed the shadow up itself (no service was running). */
  caughtUp: boolean;
  /**
   * Every connection closing: each was told to end, so a command about to exit need not wait for the servers to
   * end their sessions (30–50 ms after a large scan).
   */
  closed: Promise<void>;
}

/** The direction the store holds (forward before the first `tandem run`). */
export async function storedDirection(store: StateStore): Promise<Direction> {
  return (await store.readControl())?.state.direction ?? 'forward';
}

/** Tables named on the command line, checked against the migration's. */
export function chooseTables(all: string[], requested: string[] | undefined, migration: string): string[] {
  const unknown = (requested ?? []).filter((t) => !all.includes(t));
  if (unknown.length) throw new TandemError('TANDEM_USAGE', `--table ${unknown.join(', ')}: not replicated by migration ${migration}`, { fix: `choose among: ${all.join(', ')}` });
  return requested ?? all;
}

/**
 * Holds the lease and streams the shadow up while `work` runs, when no other instance acts for the migration;
 * otherwise just runs `work` (the running service keeps the shadow current).
 */
async function withCatchUp<T>(config: TandemConfig, store: StateStore, direction: Direction, log: Logger, work: () => Promise<T>): Promise<{ result: T; caughtUp: boolean }> {
  const { lease: current } = await store.readLease().catch(() => ({ lease: undefined }));
  if (leaseIsLive(current)) return { result: await work(), caughtUp: false };
  let lease: Lease;
  try {
    lease = await Lease.acquire(store, newHolder('verify'), { ttlMs: config.lease.ttl, log });
  } catch (err) {
    // Someone started in between: they keep the shadow current.
    if (err instanceof TandemError && err.code === 'TANDEM_LEASE_HELD') return { result: await work(), caughtUp: false };
    throw err;
  }
  const controller = new AbortController();
  let streaming: Promise<void> = Promise.resolve();
  try {
    lease.startRenewing(() => null);
    await lease.recordOn('new');
    const tables = await replicatedTables(config, direction);
    const quiet = log.child({ component: 'catch-up' });
    // Loaded only here: a verification with nothing to confirm (the usual one) never streams.
    const { runReplication } = await import('../replicate/runner.js');
    streaming = runReplication(config, { direction, epoch: lease.epoch, signal: controller.signal, stats: emptyStats(), log: quiet, tables, streamOnly: true }).catch((err: unknown) => {
      // Verification goes on without it: suspects then stay unconfirmed, which the report says.
      log.warn({ err: errorMessage(err) }, 'cannot bring the shadow up to date; rows that differ will be reported as unconfirmed');
    });
    return { result: await work(), caughtUp: true };
  } finally {
    controller.abort();
    await streaming;
    await lease.release();
  }
}

export async function verifyNow(config: TandemConfig, opts: VerifyOptions): Promise<VerifyRun> {
  const store = new StateStore(config, opts.log);
  let verifier: Verifier | undefined;
  try {
    const reading = storedDirection(store);
    const startedAt = new Date().toISOString();
    verifier = await Verifier.open(config, reading, (all) => chooseTables(all, opts.tables, config.migration));
    // Every pass is recorded on both sides: they are made ready for it while the pass runs (not before it, where
    // the mirror's new session would start beside the readers').
    store.prepareWrites();
    const direction = await reading;
    const { results, caughtUp } = await comparePass(config, store, verifier, direction, opts, startedAt);
    // Recording needs only the store: the verification sessions close meanwhile.
    const sessionsClosed = verifier.close();
    const records = store.verificationStore(direction);
    for (const { result, startedAt: at } of results) await recordPass(records, verifier, result, at);
    return { direction, report: buildReport(verifier, results.map((r) => r.result), verifier.problems, startedAt), caughtUp, closed: Promise.all([sessionsClosed, store.close()]).then(() => undefined) };
  } catch (err) {
    await Promise.all([verifier?.close(), store.close()]);
    throw err;
  }
}

/** Scans every table, then confirms all suspects at once (their waits for the checkpoint overlap). */
async function comparePass(
  config: TandemConfig,
  store: StateStore,
  verifier: Verifier,
  direction: Direction,
  opts: VerifyOptions,
  startedAt: string,
): Promise<{ results: Array<{ result: TableResult; startedAt: string }>; caughtUp: boolean }> {
  const scanned = verifier.tables.filter((t) => verifier.specs.has(t));
  let current: string | null = null;
  const report = () => opts.onProgress?.({ tablesDone: scans.length, tablesTotal: scanned.length, table: current, rowsCompared: limiter.rows });
  const limiter = new CountingLimiter(opts.rowsPerSecond, report);
  const scans: Array<{ table: string; startedAt: string; scan: ScanResult }> = [];
  for (const table of scanned) {
    current = table;
    report();
    const tableStart = new Date().toISOString();
    scans.push({ table, startedAt: tableStart, scan: await verifier.scan(table, { limiter, chunkRows: config.verify.chunkRows, settleMs: opts.settleMs }) });
  }
  current = null;
  report();
  const confirm = () => Promise.all(scans.map(async ({ table, scan }) => verifier.confirm(table, scan, { settleMs: opts.settleMs })));
  let results: TableResult[];
  let caughtUp = false;
  if (scans.some((s) => s.scan.suspects.length > 0)) {
    const r = await withCatchUp(config, store, direction, opts.log, confirm);
    results = r.result;
    caughtUp = r.caughtUp;
  } else results = await confirm();
  return { results: results.map((result, i) => ({ result, startedAt: scans[i]?.startedAt ?? startedAt })), caughtUp };
}
