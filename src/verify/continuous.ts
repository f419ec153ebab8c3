import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import type { CanonicalKey } from '../engines/engine.js';
import { errorMessage } from '../errors.js';
import type { Change } from '../model/change.js';
import type { Direction } from '../model/direction.js';
import type { ReplicationStats, VerificationStats } from '../replicate/stats.js';
import { canonicalKeyOfRow, keyId, keyObject } from './keys.js';
import { RowRateLimiter, sleep } from './rate-limit.js';
import { mergeFindings, type TableVerification, type VerificationStore } from './store.js';
import { driftEntries, recordPass } from './report.js';
import { Verifier } from './verifier.js';

export interface ContinuousOptions {
  config: TandemConfig;
  direction: Direction;
  tables: string[];
  stats: ReplicationStats;
  /** Where drift records go (the state store, for this direction). */
  store: VerificationStore;
  log: Logger;
  signal: AbortSignal;
}

/** Applied keys waiting to be re-verified, across tables; beyond this the next full pass covers them instead. */
const MAX_TOUCHED = 20_000;
/**
 * How soon after apply a touched row is re-verified, and how many rows one re-check round takes per table: at most
 * 500 rows a second per table either way. Small rounds often, not large ones seldom: a round of 1,000 rows every
 * 2 s put a burst of reads on both databases, and on a busy machine each burst showed in the lag tail (order load:
 * lag p99 pooled 33 against 42 ms, median of six runs each; bench/README.md).
 */
const RECHECK_EVERY_MS = 250;
const RECHECK_BATCH = 125;
const RETRY_OPEN_MS = 10_000;
/** How often the drift count is read back from the store, which `tandem verify` and `tandem repair` write too. */
const REFRESH_DRIFT_MS = 5_000;

/**
 * Verification inside `tandem run`: rows touched by applied changes are re-verified shortly after apply (bounded
 * queue, bounded batch), and full passes run in the background under verify.rowsPerSecond, one every
 * verify.interval. Results go to the drift records in the state store and to the stats. A verification failure is
 * logged and retried; it never stops replication.
 */
export class ContinuousVerifier {
  private verifier: Verifier | undefined;
  private readonly touched = new Map<string, Map<string, CanonicalKey>>();
  private touchedCount = 0;
  private readonly stats: VerificationStats = {
    passesCompleted: 0,
    passesFailed: 0,
    lastPassCompletedAt: null,
    rowsCompared: 0,
    keysRechecked: 0,
    keysDropped: 0,
    driftCount: 0,
    lastError: null,
  };
  private loops: Promise<void>[] = [];
  /** Drift records per table, as last stored (the sum is stats.driftCount). */
  private readonly driftByTable = new Map<string, number>();
  /** Wakes the pass loop from its pause (POST /api/v1/verify). */
  private wake: (() => void) | undefined;
  private passRequested = false;
  private tablesChanged = false;
  /** One budget for full passes and re-checks together: verification as a whole stays under verify.rowsPerSecond. */
  private readonly limiter: RowRateLimiter;

  constructor(private readonly opts: ContinuousOptions) {
    opts.stats.verification = this.stats;
    this.limiter = new RowRateLimiter(opts.config.verify.rowsPerSecond);
  }

  /** Starts a full pass now instead of after the pause (a pass already running finishes first). */
  requestPass(): void {
    this.passRequested = true;
    this.wake?.();
  }

  private recordStored(entries: TableVerification[]): void {
    for (const e of entries) this.driftByTable.set(e.table, e.drift.length);
    this.stats.driftCount = [...this.driftByTable.values()].reduce((a, b) => a + b, 0);
  }

  private async refreshDrift(): Promise<void> {
    try {
      const all = await this.opts.store.read();
      this.driftByTable.clear();
      this.recordStored(all);
    } catch (err) {
      this.opts.log.debug({ err: errorMessage(err) }, 'cannot read the drift records');
    }
  }

  /** From the pipeline: the keys of changes just handed to the shadow. Cheap: no I/O here. */
  onApplied(changes: Change[]): void {
    const verifier = this.verifier;
    if (!verifier) return; // the first full pass covers everything applied before verification started
    for (const change of changes) {
      if (change.op === 'truncate') continue;
      const spec = verifier.specs.get(change.table);
      const row = change.after ?? change.before;
      if (!spec || !row) continue;
      if (this.touchedCount >= MAX_TOUCHED) {
        this.stats.keysDropped++;
        continue;
      }
      const types = verifier.keyTypesOf(change.table);
      const key = canonicalKeyOfRow(row, spec, types);
      const id = keyId(key);
      let set = this.touched.get(change.table);
      if (!set) this.touched.set(change.table, (set = new Map()));
      if (!set.has(id)) {
        set.set(id, key);
        this.touchedCount++;
      }
      // A key that moved: the old key must be gone from the shadow too.
      if (change.op === 'update' && change.before) {
        const oldKey = canonicalKeyOfRow(change.before, spec, types);
        const oldId = keyId(oldKey);
        if (oldId !== id && !set.has(oldId)) {
          set.set(oldId, oldKey);
          this.touchedCount++;
        }
      }
    }
  }

  /**
   * The tables to verify, when the caller learns them after construction or they change (a table joined the
   * migration): the comparison specs are built again on next use.
   */
  setTables(tables: string[]): void {
    const same = tables.length === this.opts.tables.length && tables.every((t) => this.opts.tables.includes(t));
    this.opts.tables = tables;
    if (!same) this.tablesChanged = true;
  }

  start(): void {
    this.loops = [this.passLoop(), this.recheckLoop(), this.refreshLoop()];
  }

  private async refreshLoop(): Promise<void> {
    while (!this.opts.signal.aborted) {
      await this.refreshDrift();
      await sleep(REFRESH_DRIFT_MS, this.opts.signal);
    }
  }

  /** The pause between passes, cut short by requestPass() or the stop signal. */
  private async pause(ms: number): Promise<void> {
    if (this.passRequested) return;
    const wakeUp = new AbortController();
    const onStop = () => wakeUp.abort();
    this.opts.signal.addEventListener('abort', onStop, { once: true });
    if (this.opts.signal.aborted) onStop();
    this.wake = () => wakeUp.abort();
    try {
      await sleep(ms, wakeUp.signal);
    } finally {
      this.wake = undefined;
      this.opts.signal.removeEventListener('abort', onStop);
    }
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.loops);
    await this.verifier?.close();
    this.verifier = undefined;
  }

  private async ensureVerifier(): Promise<Verifier | undefined> {
    if (this.verifier && this.tablesChanged) {
      // Swapped between passes, never under a pass or a re-check that is using it.
      const previous = this.verifier;
      this.verifier = undefined;
      await previous.close();
    }
    this.tablesChanged = false;
    if (this.verifier) return this.verifier;
    try {
      this.verifier = await Verifier.open(this.opts.config, this.opts.direction, this.opts.tables);
      for (const p of this.verifier.problems) this.opts.log.warn({ table: p.table }, `verification: ${p.problem}`);
      return this.verifier;
    } catch (err) {
      this.stats.lastError = errorMessage(err);
      this.opts.log.warn({ err: errorMessage(err) }, 'verification could not start; retrying');
      await sleep(RETRY_OPEN_MS, this.opts.signal);
      return undefined;
    }
  }

  /** Logs the failure and drops the connections: a restarted database leaves them broken, the next use reopens. */
  private fail(err: unknown, what: string): void {
    this.stats.lastError = errorMessage(err);
    this.opts.log.warn({ err: errorMessage(err) }, what);
    const broken = this.verifier;
    this.verifier = undefined;
    void broken?.close();
  }

  private async passLoop(): Promise<void> {
    const { config, signal } = this.opts;
    while (!signal.aborted) {
      if (this.opts.stats.stage !== 'streaming') {
        await sleep(1_000, signal);
        continue;
      }
      const verifier = await this.ensureVerifier();
      if (!verifier) continue;
      this.passRequested = false;
      // A pass counts as complete only when every table was compared to the end and every difference confirmed or
      // cleared: a failed or unconfirmed table leaves the last complete pass where it was (the stale alert fires).
      let complete = true;
      for (const table of this.opts.tables) {
        if (signal.aborted) break;
        if (!verifier.specs.has(table)) {
          complete = false;
          continue;
        }
        const startedAt = new Date().toISOString();
        await this.opts.store.update(table, (entry) => {
          entry.lastPassStartedAt = startedAt;
        }).catch(() => undefined);
        try {
          const result = await verifier.verifyTable(table, { limiter: this.limiter, chunkRows: config.verify.chunkRows, settleMs: config.verify.settleTimeout, signal });
          if (signal.aborted) break;
          this.stats.rowsCompared += result.rowsCompared;
          const stored = await recordPass(this.opts.store, verifier, result, startedAt);
          if (result.drift.length) this.opts.log.warn({ table, rows: result.drift.length }, 'verification found drift (tandem verify --json lists the rows; tandem repair fixes them)');
          if (result.unconfirmed) this.opts.log.warn({ table, rows: result.unconfirmed.keys.length }, 'verification could not confirm differing rows: the shadow did not catch up in time');
          if (!result.complete || result.unconfirmed) complete = false;
          if (stored) this.recordStored([stored]);
        } catch (err) {
          complete = false;
          await this.opts.store.update(table, (entry) => {
            entry.lastPassError = { at: new Date().toISOString(), message: errorMessage(err) };
          }).catch(() => undefined);
          this.fail(err, `verification of ${table} failed; it is tried again in the next pass`);
          break;
        }
      }
      if (signal.aborted) break;
      if (complete) {
        this.stats.passesCompleted++;
        this.stats.lastPassCompletedAt = new Date().toISOString();
        this.opts.log.info({ passes: this.stats.passesCompleted, drift: this.stats.driftCount }, 'verification pass complete');
        await this.pause(config.verify.interval);
      } else {
        this.stats.passesFailed++;
        this.opts.log.warn({ failedPasses: this.stats.passesFailed }, 'verification pass incomplete: not counted as a complete pass; trying again soon');
        await this.pause(Math.min(config.verify.interval, RETRY_OPEN_MS));
      }
    }
  }

  private async recheckLoop(): Promise<void> {
    const { config, signal } = this.opts;
    while (!signal.aborted) {
      await sleep(RECHECK_EVERY_MS, signal);
      const verifier = this.verifier;
      if (!verifier || signal.aborted) continue;
      for (const [table, set] of this.touched) {
        if (signal.aborted || set.size === 0) continue;
        const spec = verifier.specs.get(table);
        if (!spec) continue;
        const batch = [...set.values()].slice(0, RECHECK_BATCH);
        for (const key of batch) set.delete(keyId(key));
        this.touchedCount -= batch.length;
        try {
          // Each key is read about once per side per round: the rows count against the same budget as full passes.
          await this.limiter.charge(batch.length, signal);
          const result = await verifier.recheckKeys(table, batch, config.verify.settleTimeout, signal);
          this.stats.keysRechecked += batch.length;
          // Rows still in flight, or not yet applied, go back in the queue for the next round.
          for (const key of [...result.changing, ...(result.unconfirmed?.keys ?? [])]) {
            if (!set.has(keyId(key)) && this.touchedCount < MAX_TOUCHED) {
              set.set(keyId(key), key);
              this.touchedCount++;
            }
          }
          if (result.drift.length || result.resolved.length) {
            const stored = await this.opts.store.update(table, (entry) => {
              mergeFindings(entry, driftEntries(spec, result.drift), result.resolved.map((k) => keyObject(spec, k)), { complete: false, at: new Date().toISOString() });
            });
            if (result.drift.length) this.opts.log.warn({ table, rows: result.drift.length }, 'rows drifted after apply');
            this.recordStored([stored]);
          }
        } catch (err) {
          this.fail(err, `re-verifying applied rows of ${table} failed`);
        }
      }
    }
  }
}
