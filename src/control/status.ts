/**
 * `tandem status` and `GET /api/v1/status`: one report, built in one place. The truth comes from the databases (the
 * control state and lease on old, the checkpoint in the shadow, positions on the active side); a running service
 * adds what only it knows (lag in seconds, backfill rate, its last error). The CLI asks the running service for
 * the report through its API (found through the lease) and builds it from the databases when no service answers.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { appliedThrough } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import { leaseIsLive, type LeaseRecord, type Phase, type StopRecord } from '../model/control.js';
import { sidesOf, type Direction, type SideName } from '../model/direction.js';
import type { BackfillStats, ReplicationStats, VerificationStats } from '../replicate/stats.js';
import type { PendingTable } from '../replicate/tables.js';
import { lagSecondsOf } from '../replicate/lag.js';
import { driftCountOf, type TableVerification } from '../verify/store.js';
import { lastReview, readMaterial, reviewState } from './plan-review.js';
import { replicatedTables } from '../replicate/tables.js';
import { describeHolder, holderAliveHere, holderIsGone, renewInterval } from './lease.js';
import type { StateStore } from './state-store.js';

export interface ServiceInfo {
  /**
   * `running`: renewing its lease on time. `not-responding`: it holds the lease but has not renewed it for more than
   * two renewal intervals (paused, hung, partitioned). `gone`: its process no longer exists on this host (killed or
   * crashed) although its lease has not expired yet. `stopped`: the last holder, whose lease expired or was given up.
   */
  state: 'running' | 'not-responding' | 'gone' | 'stopped';
  /** What holds the lease: the service (`tandem run`), or a command such as `tandem verify` or `tandem backfill`. */
  role: LeaseRecord['role'];
  host: string;
  pid: number;
  since: string;
  api: string | null;
  epoch: number;
  /** Milliseconds since the holder last renewed its lease, and until it expires, by old's clock. */
  renewedAgoMs: number;
  expiresInMs: number;
  description: string;
}

export interface StatusReport {
  migration: string;
  /** The control phase (DESIGN.md): setup, backfill, shadowing, cutting-over, cutover, rolling-back, finalized. */
  phase: Phase;
  direction: Direction;
  activeSide: SideName;
  /** A service (`tandem run`) holds the lease and acts for the migration. */
  running: boolean;
  pid: number | null;
  /** The lease holder, or the last one when nobody holds the lease. */
  service: ServiceInfo | null;
  /** How the last service run ended (clean, or the error with its fix and place), when none runs now. */
  lastStop: StopRecord | null;
  /**
   * False when the truth could not be read (a side unreachable, the control state unreadable): the figures are then
   * the last known ones where `lastKnownAt` says so, and `tandem status` exits 4.
   */
  readable: boolean;
  /** When the figures shown were read, if they come from the local cache (state.dir) because a side is unreachable. */
  lastKnownAt: string | null;
  /** Where the control state was read: old (its home), new (old unreachable: the mirror), or none yet. */
  stateSource: SideName | null;
  lag: { seconds: number | null; bytes: number | null };
  checkpoint: { position: string; commitTime: string | null; updatedAt: string } | null;
  appliedTransactions: number;
  backfill: (BackfillStats & { tables: Array<{ table: string; rowsCopied: number; done: boolean }> }) | null;
  /** The source's log at the checkpoint: a PostgreSQL slot and the WAL it retains, or MySQL/MariaDB binlog headroom. */
  slot: { exists: boolean; retainedWalBytes: number | null; logRetention: { headroomBytes: number; retentionSeconds: number | null } | null } | null;
  /** Drift records and full-pass times (from `tandem run`'s continuous verification and `tandem verify`). */
  verification: {
    driftCount: number;
    /** Rows that differ but could not be confirmed in the last passes (neither drift nor clean). */
    unconfirmedCount: number;
    /**
     * The oldest of the tables' last complete passes: every table has been fully compared since then. Null while any
     * table has never been compared completely.
     */
    lastCompletePass: string | null;
    tables: TableVerificationStatus[];
  } | null;
  /** What the running service's continuous verification did since it started (only from the service itself). */
  verifier: VerificationStats | null;
  /**
   * The running service's table set: replicated, joining (being copied), pending (cannot join yet, with why and the
   * fix), and with `tables` configured, the active side's tables it leaves out. Null when no service reports it.
   */
  tables: { replicated: string[]; joining: string[]; pending: PendingTable[]; notReplicated: string[] } | null;
  lastError: string | null;
  /**
   * Safe to roll back? (only the running service answers it): after a cutover, whether a rollback's gates would pass
   * now and the counters can follow, with every fact and why it is not ready. Null when no service reports it.
   */
  rollback: RollbackReadiness | null;
  /** A switch in progress (its step), from the control record. */
  switch: { kind: string; requestId: string; step: string; startedAt: string } | null;
  /** After an emergency rollback: new must be copied again (tandem backfill --yes) before it receives changes. */
  resyncRequired: boolean;
  /** The rollback plan's last review (tandem plan --approve) and whether anything material changed since; null: never reviewed or not read. */
  planReview: { by: string; at: string; changedSince: boolean; changes: string[] } | null;
  /** What could not be read, and why. */
  errors: string[];
}

export interface RollbackReadiness {
  ready: boolean;
  /** Why not, one line per fact that fails (empty when ready). */
  reasons: string[];
  /** Every fact, passing or not. */
  checks: Array<{ name: string; ok: boolean; detail: string }>;
}

/** One table's verification as an operator reads it. */
export interface TableVerificationStatus extends Pick<TableVerification, 'table' | 'rowsCompared' | 'lastPassCompletedAt' | 'drift'> {
  /**
   * `never`: not compared completely yet; `in-progress`: a pass is comparing it now; `verified`: the last pass compared
   * every row (drift, if any, is listed); `unconfirmed`: rows differed that could not be confirmed; `failed`: the last
   * pass stopped on an error.
   */
  state: 'never' | 'in-progress' | 'verified' | 'unconfirmed' | 'failed';
  unconfirmed: TableVerification['unconfirmed'];
  lastPassError: TableVerification['lastPassError'];
}

export function tableVerificationStatus(table: string, r: TableVerification | undefined): TableVerificationStatus {
  const base = { table, rowsCompared: r?.rowsCompared ?? 0, lastPassCompletedAt: r?.lastPassCompletedAt ?? null, drift: r?.drift ?? [], unconfirmed: r?.unconfirmed ?? null, lastPassError: r?.lastPassError ?? null };
  if (!r) return { ...base, state: 'never' };
  const done = r.lastPassCompletedAt ?? '';
  if (r.lastPassError && r.lastPassError.at > done) return { ...base, state: 'failed' };
  if (r.unconfirmed && r.unconfirmed.at >= done) return { ...base, state: 'unconfirmed' };
  if (r.lastPassStartedAt && r.lastPassStartedAt > done) return { ...base, state: r.lastPassCompletedAt ? 'verified' : 'in-progress' };
  return { ...base, state: r.lastPassCompletedAt ? 'verified' : 'never' };
}

export function verificationOf(records: TableVerification[], tables: string[]): StatusReport['verification'] {
  const byTable = new Map(records.map((r) => [r.table, r]));
  const names = [...new Set([...tables, ...records.map((r) => r.table)])].sort();
  if (names.length === 0) return null;
  const rows = names.map((t) => tableVerificationStatus(t, byTable.get(t)));
  const passes = rows.map((t) => t.lastPassCompletedAt);
  return {
    driftCount: driftCountOf(records),
    unconfirmedCount: rows.reduce((n, t) => n + (t.unconfirmed?.rows ?? 0), 0),
    lastCompletePass: passes.every((p) => p !== null) ? ([...(passes as string[])].sort()[0] ?? null) : null,
    tables: rows,
  };
}

/** What the running service adds to the report: its live figures. */
export interface LiveFigures {
  stats: ReplicationStats;
}

/** The live figures a service publishes with each lease renewal, for status readers that cannot reach its API. */
export interface Heartbeat {
  at: string;
  stage: ReplicationStats['stage'];
  lagSeconds: number | null;
  lastError: string | null;
  backfill: BackfillStats | null;
  tables: StatusReport['tables'];
}

export function heartbeatOf(stats: ReplicationStats): Heartbeat {
  return { at: new Date().toISOString(), stage: stats.stage, lagSeconds: lagSecondsOf(stats), lastError: stats.lastError, backfill: stats.backfill, tables: tablesOf(stats) };
}

function tablesOf(stats: ReplicationStats): StatusReport['tables'] {
  const t = stats.tables;
  return t ? { replicated: t.replicated, joining: t.joining, pending: t.pending, notReplicated: t.notReplicated } : null;
}



function serviceInfo(lease: LeaseRecord, renewEveryMs: number): ServiceInfo {
  // A lease given up cleanly has no holder; one that expired with its holder named was never given up.
  const released = lease.id === '';
  const state: ServiceInfo['state'] = released
    ? 'stopped'
    : holderIsGone(lease)
      ? 'gone'
      : lease.renewedAgoMs > 2 * renewEveryMs
        ? lease.expired && !holderAliveHere(lease)
          ? 'stopped'
          : 'not-responding'
        : 'running';
  return {
    state,
    role: lease.role,
    host: lease.host,
    pid: lease.pid,
    since: lease.acquiredAt,
    api: lease.api,
    epoch: lease.epoch,
    renewedAgoMs: lease.renewedAgoMs,
    expiresInMs: lease.remainingMs,
    description: describeHolder(lease),
  };
}

/** Builds the report from the databases, plus the live figures when the caller is the running service. */
export async function buildStatus(config: TandemConfig, store: StateStore, live?: LiveFigures): Promise<StatusReport> {
  const report: StatusReport = {
    migration: config.migration,
    phase: 'setup',
    direction: 'forward',
    activeSide: 'old',
    running: false,
    pid: null,
    service: null,
    lastStop: null,
    readable: true,
    lastKnownAt: null,
    stateSource: null,
    lag: { seconds: null, bytes: null },
    checkpoint: null,
    appliedTransactions: 0,
    backfill: null,
    slot: null,
    verification: null,
    verifier: null,
    tables: null,
    lastError: null,
    rollback: null,
    switch: null,
    resyncRequired: false,
    planReview: null,
    errors: [],
  };
  let heartbeat: Heartbeat | undefined;
  try {
    const control = await store.readControl();
    if (control) {
      report.phase = control.state.phase;
      report.direction = control.state.direction;
      report.activeSide = control.state.activeSide;
      report.resyncRequired = control.state.resyncRequired;
      const sw = control.state.switch;
      report.switch = sw ? { kind: sw.kind, requestId: sw.requestId, step: sw.step, startedAt: sw.startedAt } : null;
      report.stateSource = control.source;
      if (control.source !== 'old') report.errors.push('old cannot be reached: the control state shown is new\'s mirror of it');
    }
    const { lease } = await store.readLease();
    if (lease && (lease.id !== '' || lease.renewedAt)) {
      report.service = serviceInfo(lease, renewInterval(config.lease.ttl));
      report.running = lease.role === 'service' && report.service.state === 'running';
      report.pid = report.running ? lease.pid : null;
      // A heartbeat is the live figures of a service that renews on time; an older one would pass stale figures off as now.
      if (lease.heartbeat && report.running) heartbeat = JSON.parse(lease.heartbeat) as Heartbeat;
    }
    if (!leaseIsLive(lease) || lease.role !== 'service' || !report.running) report.lastStop = (await store.readStop()) ?? null;
  } catch (err) {
    report.readable = false;
    report.errors.push(errorMessage(err));
  }
  const { direction } = report;
  const { active, shadow } = sidesOf(direction);

  let records: TableVerification[] = [];
  try {
    records = await store.readVerification(direction);
    report.verification = verificationOf(records, []);
  } catch (err) {
    report.readable = false;
    report.errors.push(`verification records: ${errorMessage(err)}`);
  }

  // The checkpoint in the shadow database is the truth about the data; the service adds what only it knows.
  const liveBackfill = live?.stats.backfill ?? (report.running ? heartbeat?.backfill : null) ?? null;
  try {
    const shadowUrl = config[shadow].url;
    const writer = await engineForUrl(shadowUrl).openShadowWriter({ url: shadowUrl, migration: config.migration, direction, maxRows: 1 });
    try {
      const cp = await writer.readCheckpoint().catch(() => undefined);
      if (cp) {
        report.checkpoint = { position: cp.sourcePosition, commitTime: cp.commitTime?.toISOString() ?? null, updatedAt: cp.updatedAt.toISOString() };
        report.appliedTransactions = cp.appliedTransactions;
        const progress = await writer.readBackfill().catch(() => []);
        report.backfill = {
          tablesTotal: progress.length,
          tablesDone: progress.filter((p) => p.done).length,
          rowsCopied: progress.reduce((n, p) => n + p.rowsCopied, 0),
          rowsEstimated: liveBackfill?.rowsEstimated ?? progress.reduce((n, p) => n + p.rowsCopied, 0),
          rowsPerSecond: liveBackfill?.rowsPerSecond ?? 0,
          rowsPerSecondLimit: config.backfill.rowsPerSecond || null,
          parallelTables: liveBackfill?.parallelTables ?? config.backfill.parallelTables,
          etaSeconds: cp.stage === 'streaming' ? 0 : (liveBackfill?.etaSeconds ?? null),
          currentTable: liveBackfill?.currentTable ?? null,
          currentTables: liveBackfill?.currentTables ?? (liveBackfill?.currentTable ? [liveBackfill.currentTable] : []),
          tables: progress.map((p) => ({ table: p.table, rowsCopied: p.rowsCopied, done: p.done })),
        };
        // Every table of the migration has a verification state, compared or not.
        if (report.readable) report.verification = verificationOf(records, progress.map((p) => p.table));
        const activeUrl = config[active].url;
        const source = engineForUrl(activeUrl).captureSource({ url: activeUrl, migration: config.migration, side: active });
        const current = await source.currentPosition();
        report.lag.bytes = source.distance(appliedThrough(cp, (a, b) => source.comparePositions(a, b)), current);
        const slot = await source.slotState(cp.sourcePosition);
        report.slot = { exists: slot.exists, retainedWalBytes: slot.retainedBytes ?? null, logRetention: slot.logRetention ?? null };
        if (!slot.exists) {
          // The distance means nothing once the source can no longer send what lies in it.
          report.lag.bytes = null;
          report.errors.push(`${slot.missing ?? 'the replication slot is gone'}: the shadow cannot catch up from its checkpoint; run tandem backfill --yes to copy the tables again`);
        }
      }
    } finally {
      await writer.close();
    }
  } catch (err) {
    report.readable = false;
    report.errors.push(errorMessage(err));
  }
  report.planReview = await planReviewOf(config, store, direction);
  if (live) {
    report.lag.seconds = lagSecondsOf(live.stats);
    report.lastError = live.stats.lastError;
    report.verifier = live.stats.verification;
    report.tables = tablesOf(live.stats);
  } else if (report.running && heartbeat) {
    report.lag.seconds = heartbeat.lagSeconds;
    report.lastError = heartbeat.lastError;
    report.tables = heartbeat.tables ?? null;
  }
  return report;
}

const REVIEW_TTL_MS = 30_000;
let reviewCache: { at: number; key: string; value: StatusReport['planReview'] } | undefined;

/**
 * The last plan review and whether the plan changed since. Reading the material means describing every table on
 * both sides: status is polled (routers, dashboards), so the answer is kept for a few seconds.
 */
async function planReviewOf(config: TandemConfig, store: StateStore, direction: Direction): Promise<StatusReport['planReview']> {
  try {
    const review = lastReview(await store.listAudit());
    if (!review) return null;
    const key = `${config.migration}:${review.hash}:${review.at}`;
    if (reviewCache && reviewCache.key === key && Date.now() - reviewCache.at < REVIEW_TTL_MS) return reviewCache.value;
    const { material } = await readMaterial(config, await replicatedTables(config, direction));
    const state = reviewState([{ at: review.at, action: 'plan-review', event: 'done', requestId: '', actor: review.by, phase: 'setup', activeSide: 'old', detail: review as unknown as Record<string, unknown> }], material);
    const value = { by: review.by, at: review.at, changedSince: state.changedSince === true, changes: state.changes };
    reviewCache = { at: Date.now(), key, value };
    return value;
  } catch {
    return null;
  }
}

/**
 * The report as the running service gives it, when a service holds the lease and its API answers (the local
 * operator's secret from the lease proves the caller can read the state store); otherwise built from the
 * databases. `note` says which it is when the service could not be asked.
 */
export async function readStatus(config: TandemConfig, store: StateStore): Promise<StatusReport> {
  let lease: LeaseRecord | undefined;
  try {
    lease = (await store.readLease()).lease;
  } catch {
    lease = undefined;
  }
  if (leaseIsLive(lease) && lease.role === 'service' && lease.api && lease.secret) {
    try {
      return await askService<StatusReport>(lease, '/api/v1/status');
    } catch (err) {
      const report = await buildStatus(config, store);
      report.errors.push(`the service at ${lease.api} did not answer (${errorMessage(err)}): figures below are read from the databases`);
      return report;
    }
  }
  return buildStatus(config, store);
}

/** A GET to the lease holder's API as the local operator. */
export async function askService<T>(lease: LeaseRecord, path: string, init: { method?: string; body?: unknown; timeoutMs?: number; actor?: string } = {}): Promise<T> {
  const res = await fetch(`${apiBase(lease.api ?? '')}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${lease.secret ?? ''}`,
      ...(init.actor ? { 'x-tandem-actor': init.actor } : {}),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    signal: AbortSignal.timeout(init.timeoutMs ?? 3_000),
  });
  const body = (await res.json()) as T & { error?: { message?: string } };
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.error?.message ?? res.statusText}`);
  return body;
}

/** `127.0.0.1:7420` → `http://127.0.0.1:7420`; `[::1]:7420` stays bracketed; a wildcard address is asked on loopback. */
export function apiBase(listen: string): string {
  // A service with TLS records its address as https://host:port.
  const scheme = /^https:\/\//.test(listen) ? 'https' : 'http';
  listen = listen.replace(/^https?:\/\//, '');
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) return `${scheme}://${listen}`;
  let host = m[1] as string;
  if (host === '0.0.0.0' || host === '' ) host = '127.0.0.1';
  if (host === '::' || host === '[::]') host = '[::1]';
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `${scheme}://${host}:${m[2]}`;
}

/** Where the last readable report is cached on this host, for when a side cannot be reached (a cache, never the truth). */
function cacheFile(config: TandemConfig): string {
  return join(config.state.dir, `${config.migration}.status-cache.json`);
}

/**
 * Keeps the last readable report in state.dir; when the truth cannot be read, fills in the last known figures
 * (checkpoint, applied, backfill, slot, verification) from it with their age, and says so.
 */
export function withLastKnown(config: TandemConfig, report: StatusReport): StatusReport {
  const file = cacheFile(config);
  if (report.readable) {
    try {
      mkdirSync(config.state.dir, { recursive: true });
      writeFileSync(`${file}.tmp`, JSON.stringify({ at: new Date().toISOString(), report }));
      renameSync(`${file}.tmp`, file);
    } catch {
      // A cache only: status works without it.
    }
    return report;
  }
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as { at: string; report: StatusReport };
    const c = cached.report;
    return {
      ...report,
      checkpoint: report.checkpoint ?? c.checkpoint,
      appliedTransactions: report.checkpoint ? report.appliedTransactions : c.appliedTransactions,
      backfill: report.backfill ?? c.backfill,
      slot: report.slot ?? c.slot,
      verification: report.verification ?? c.verification,
      lastKnownAt: cached.at,
    };
  } catch {
    return report;
  }
}
