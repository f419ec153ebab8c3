import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import type { CanonicalKey } from '../engines/engine.js';
import { errorMessage } from '../errors.js';
import type { Change } from '../model/change.js';
import type { Direction } from '../model/direction.js';
import type { ReplicationStats, VerificationStats } from '../replicate/stats.js';
import { canonicalKeyOfRow, keyId, keyObject } from './keys.js';
import { RowRateLimiter, sleep } from './rate-limit.js';
import { driftCountOf, mergeFindings, readVerification, tableEntry, updateVerification } from './store.js';
import { driftEntries, recordPass } from './report.js';
import { Verifier } from './verifier.js';

export interface ContinuousOptions {
  config: TandemConfig;
  direction: Direction;
  tables: string[];
  stats: ReplicationStats;
  log: Logger;
  signal: AbortSignal;
}

/** Applied keys waiting to be re-verified, across tables; beyond this the next full pass covers them instead. */
const MAX_TOUCHED = 20_000;
/** How soon after apply a touched row is re-verified, and how many rows one re-check round takes per table. */
const RECHECK_EVERY_MS = 2_000;
const RECHECK_BATCH = 1_000;
const RETRY_OPEN_MS = 10_000;

/**
 * Verification inside `tandem run`: rows touched by applied changes are re-verified shortly after apply (bounded
 * queue, bounded batch), and full passes run in the background under verify.rowsPerSecond, one every
 * verify.interval. Results go to the drift records (`<state dir>/<migration>.verify.json`) and the stats. A
 * verification failure is logged and retried; it never stops replication.
 */
export class ContinuousVerifier {
  private verifier: Verifier | undefined;
  private readonly touched = new Map<string, Map<string, CanonicalKey>>();
  private touchedCount = 0;
  private readonly stats: VerificationStats = {
    passesCompleted: 0,
    lastPassCompletedAt: null,
    rowsCompared: 0,
    keysRechecked: 0,
    keysDropped: 0,
    driftCount: 0,
    lastError: null,
  };
  private loops: Promise<void>[] = [];
  /** One budget for full passes and re-checks together: verification as a whole stays under verify.rowsPerSecond. */
  private readonly limiter: RowRateLimiter;

  constructor(private readonly opts: ContinuousOptions) {
    opts.stats.verification = this.stats;
    this.limiter = new RowRateLimiter(opts.config.verify.rowsPerSecond);
    this.stats.driftCount = driftCountOf(readVerification(opts.config.state.dir, opts.config.migration));
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
      const keyRow = Object.fromEntries(spec.key.map((k) => [k, typeof row[k] === 'symbol' ? null : (row[k] ?? null)])) as Record<string, string | Buffer | null>;
      const key = canonicalKeyOfRow(keyRow, spec, verifier.keyTypesOf(change.table));
      let set = this.touched.get(change.table);
      if (!set) this.touched.set(change.table, (set = new Map()));
      if (!set.has(keyId(key))) {
        set.set(keyId(key), key);
        this.touchedCount++;
      }
      // A key that moved: the old key must be gone from the shadow too.
      if (change.op === 'update' && change.before) {
        const oldKey = canonicalKeyOfRow(change.before, spec, verifier.keyTypesOf(change.table));
        if (keyId(oldKey) !== keyId(key) && !set.has(keyId(oldKey))) {
          set.set(keyId(oldKey), oldKey);
          this.touchedCount++;
        }
      }
    }
  }

  start(): void {
    this.loops = [this.passLoop(), this.recheckLoop()];
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.loops);
    await this.verifier?.close();
    this.verifier = undefined;
  }

  private async ensureVerifier(): Promise<Verifier | undefined> {
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
      if (this.opts.stats.phase !== 'shadowing') {
        await sleep(1_000, signal);
        continue;
      }
      const verifier = await this.ensureVerifier();
      if (!verifier) continue;
      for (const table of this.opts.tables) {
        if (signal.aborted || !verifier.specs.has(table)) continue;
        const startedAt = new Date().toISOString();
        try {
          const result = await verifier.verifyTable(table, { limiter: this.limiter, chunkRows: config.verify.chunkRows, settleMs: config.verify.settleTimeout, signal });
          if (signal.aborted) break;
          this.stats.rowsCompared += result.rowsCompared;
          const state = recordPass(config.state.dir, config.migration, this.opts.direction, verifier, result, startedAt);
          if (result.drift.length) this.opts.log.warn({ table, rows: result.drift.length }, 'verification found drift (tandem verify --json lists the rows; tandem repair fixes them)');
          if (state) this.stats.driftCount = driftCountOf(state);
        } catch (err) {
          this.fail(err, `verification of ${table} failed; it is tried again in the next pass`);
          break;
        }
      }
      if (signal.aborted) break;
      this.stats.passesCompleted++;
      this.stats.lastPassCompletedAt = new Date().toISOString();
      this.opts.log.info({ passes: this.stats.passesCompleted, drift: this.stats.driftCount }, 'verification pass complete');
      await sleep(config.verify.interval, signal);
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
            const state = updateVerification(config.state.dir, config.migration, this.opts.direction, (state) => {
              mergeFindings(
                tableEntry(state, table),
                driftEntries(spec, result.drift),
                result.resolved.map((k) => keyObject(spec, k)),
                { complete: false, at: new Date().toISOString() },
              );
            });
            if (result.drift.length) this.opts.log.warn({ table, rows: result.drift.length }, 'rows drifted after apply');
            this.stats.driftCount = driftCountOf(state);
          }
        } catch (err) {
          this.fail(err, `re-verifying applied rows of ${table} failed`);
        }
      }
    }
  }
}
