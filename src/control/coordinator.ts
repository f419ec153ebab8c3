/**
 * The service core: runs replication and continuous verification for the direction the control state stores,
 * keeps the phase in step with replication's progress, and can stop one direction and start the other inside the
 * same process (the switch calls setDirection). It acts only while it holds the lease.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import type { ControlState, Phase } from '../model/control.js';
import type { Direction } from '../model/direction.js';
import { assertReplicableTables, runReplication } from '../replicate/runner.js';
import { replicatedTables } from '../replicate/tables.js';
import { countAppliedRows, type ReplicationStats } from '../replicate/stats.js';
import { ContinuousVerifier } from '../verify/continuous.js';
import { sleep } from '../verify/rate-limit.js';
import { otherDirection, sidesOf, type SideName } from '../model/direction.js';
import { engineForUrl } from '../engines/registry.js';
import { FenceKeeper } from './fence-keeper.js';
import { transportSwitch } from './transport-switch.js';
import type { Lease } from './lease.js';
import type { ControlRead, StateStore } from './state-store.js';

export type RunState = 'starting' | 'backfill' | 'streaming' | 'reconnecting' | 'stopped' | 'failed';

export interface CoordinatorOptions {
  config: TandemConfig;
  store: StateStore;
  lease: Lease;
  stats: ReplicationStats;
  log: Logger;
  /** Who the coordinator's state writes are recorded as, e.g. `service@host:pid`. */
  actor: string;
  onProgress?: () => void;
  /** Told of every write of the control record, with the state before it (the live events). */
  onControl?: (before: ControlState | undefined, after: ControlState) => void;
}

interface DirectionRun {
  direction: Direction;
  controller: AbortController;
  done: Promise<void>;
  verifier: ContinuousVerifier | undefined;
  keeper: FenceKeeper | undefined;
}

/** Why the stored direction is not replicated now, when it is not (status and readiness say it). */
type Idle = 'finalized' | 'resync-required' | null;

export class Coordinator {
  private control: ControlRead | undefined;
  private run: DirectionRun | undefined;
  private stopping = false;
  private failure: TandemError | undefined;
  private settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  private writes: Promise<unknown> = Promise.resolve();
  runState: RunState = 'starting';
  /** When replication last recovered from an interruption, and the last checkpoint it committed (Date.now()). */
  private lastRetryAt = 0;
  private lastCheckpointAt = 0;
  /** Settles when the coordinator stops: resolves after stop(), rejects with the error that ended replication. */
  readonly done: Promise<void>;
  /** While a switch runs, a replication failure is kept until the switch has backed out or completed. */
  private holding = false;
  private held: TandemError | undefined;
  private readonly markerWaiters = new Map<string, (position: string) => void>();
  private tables: string[] = [];
  idle: Idle = null;

  constructor(private readonly opts: CoordinatorOptions) {
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
    opts.lease.onLost((err) => this.fail(err));
  }

  get state(): ControlState | undefined {
    return this.control?.state;
  }

  get direction(): Direction | undefined {
    return this.run?.direction;
  }

  /**
   * Reads (or creates) the control state and starts replication in its direction. `assertDirection` only asserts.
   * `recover` runs first when a switch was left in progress (the previous holder stopped during it): it completes
   * or backs out the switch, so replication starts in a settled direction; after a switch it also makes sure the
   * audit log holds the last switch's result.
   */
  async start(assertDirection?: Direction, recover?: (state: ControlState) => Promise<void>): Promise<void> {
    // Everything that can refuse is checked before anything is written, on either side.
    const existing = (await this.opts.store.readControl())?.state;
    const stored = existing?.direction ?? 'forward';
    if (assertDirection && assertDirection !== stored) {
      throw new TandemError(
        'TANDEM_DIRECTION_MISMATCH',
        `--direction ${assertDirection} disagrees with the migration's stored direction ${stored} (phase ${existing?.phase ?? 'setup'}, active side ${existing?.activeSide ?? 'old'}); nothing was started`,
        { fix: 'leave out --direction: tandem run follows the stored direction (tandem status shows it); only a cutover or a rollback changes it' },
      );
    }
    if (!existing) {
      // A new migration copies every table first: each must be replicable, refused before anything is created.
      await assertReplicableTables(this.opts.config, stored, await replicatedTables(this.opts.config, stored));
    }
    this.control = await this.opts.store.ensureControl(this.opts.actor);
    if ((this.control.state.switch || this.control.state.lastSwitch) && recover) {
      await recover(this.control.state);
      this.control = await this.opts.store.ensureControl(this.opts.actor);
    }
    this.startDirection(this.control.state);
  }

  /** Reads the control state again and starts replication for it (after a switch changed or restored it). */
  async resume(): Promise<void> {
    if (this.stopping || this.failure) return;
    await this.stopRun();
    this.control = await this.opts.store.ensureControl(this.opts.actor);
    this.startDirection(this.control.state);
  }

  /** Stops replication, verification and the shadow's fence keeper (the switch's drain is done; it moves writes). */
  pause(): Promise<void> {
    return this.stopRun();
  }

  /** Keeps replication failures from stopping the service while a switch runs; `release` lets them through. */
  holdFailures(): void {
    this.holding = true;
  }

  releaseFailures(): void {
    this.holding = false;
    const held = this.held;
    this.held = undefined;
    if (held) this.fail(held);
  }

  /** The tables replicated now (for fencing, counters, certificates). */
  get replicatedTables(): string[] {
    return [...this.tables];
  }

  /** Resolves with the shadow's checkpoint position once the marker `id` is applied; rejects after `timeoutMs`. */
  waitForMarker(id: string, timeoutMs: number): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.markerWaiters.delete(id);
        reject(new TandemError('TANDEM_SWITCH_BACKED_OUT', `the drain did not finish within cutover.drainTimeout (${timeoutMs} ms): the marker written inside the fence was not applied on the shadow`, {
          fix: 'look for what holds the shadow up (locks on its tables, a slow or stopped apply: tandem status), then switch again; raise cutover.drainTimeout if the shadow is simply slow',
        }));
      }, timeoutMs);
      this.markerWaiters.set(id, (position) => {
        clearTimeout(timer);
        this.markerWaiters.delete(id);
        resolve(position);
      });
    });
  }

  private startDirection(state: ControlState): void {
    const direction = state.direction;
    const controller = new AbortController();
    const { config, store, stats, log } = this.opts;
    const { active, shadow } = sidesOf(direction);
    const keeper = config.fence.shadow
      ? new FenceKeeper({ config, side: shadow, activeSide: active, tables: () => this.tables, log: log.child({ component: 'fence' }), onFatal: (err) => this.fail(err) })
      : undefined;
    this.idle = state.phase === 'finalized' ? 'finalized' : state.resyncRequired ? 'resync-required' : null;
    if (state.phase !== 'finalized' && !state.switch) void this.prepareShadowCapture(shadow, direction);
    if (this.idle) {
      // Nothing is applied: after finalize the sides go their own ways; after an emergency rollback new must be
      // copied again first. The shadow stays fenced (new, at once when it comes back).
      if (this.idle === 'resync-required' && keeper) {
        void replicatedTables(config, direction).then(
          (tables) => {
            this.tables = tables;
          },
          () => undefined,
        );
        keeper.start();
      }
      this.runState = 'stopped';
      const done = Promise.resolve();
      this.run = { direction, controller, done, verifier: undefined, keeper: this.idle === 'resync-required' ? keeper : undefined };
      log.info({ direction, phase: state.phase }, this.idle === 'finalized' ? 'the migration is finalized: nothing to replicate' : 'new must be copied again (emergency rollback): nothing is applied until tandem backfill --yes');
      return;
    }
    const verifier = new ContinuousVerifier({
      config,
      direction,
      tables: [],
      stats,
      store: store.verificationStore(direction),
      log: log.child({ component: 'verify' }),
      signal: controller.signal,
    });
    const done = this.replicate(direction, controller, verifier, keeper);
    this.run = { direction, controller, done, verifier, keeper };
    done.then(
      () => {
        if (this.run?.controller === controller) this.runState = 'stopped';
      },
      (err: unknown) => this.fail(err instanceof TandemError ? err : new TandemError('TANDEM_INTERNAL', errorMessage(err), { cause: err })),
    );
  }

  private async replicate(direction: Direction, controller: AbortController, verifier: ContinuousVerifier, keeper: FenceKeeper | undefined): Promise<void> {
    const { config, lease, stats, log } = this.opts;
    const signal = controller.signal;
    // The shadow must know this instance's epoch before it takes a commit from it. The lease's home is old and its
    // epoch is recorded on new, so whichever side is the shadow refuses older epochs. New may be down: keep trying.
    for (let attempt = 1; ; attempt++) {
      try {
        await lease.recordOn('new');
        break;
      } catch (err) {
        if (err instanceof TandemError && !err.retriable) throw err;
        this.runState = 'reconnecting';
        log.warn({ attempt, err: errorMessage(err) }, 'cannot record the lease on new yet; retrying');
        await sleep(Math.min(15_000, 250 * 2 ** Math.min(attempt, 6)), signal);
        if (signal.aborted) return;
      }
    }
    const tables = await replicatedTables(config, direction);
    this.tables = tables;
    keeper?.start();
    verifier.setTables(tables);
    verifier.start();
    this.runState = 'starting';
    try {
      await runReplication(config, {
        direction,
        epoch: lease.epoch,
        signal,
        stats,
        log,
        tables,
        onProgress: this.opts.onProgress,
        onApplied: (changes) => {
          countAppliedRows(stats.appliedRows, direction, changes);
          verifier.onApplied(changes);
        },
        onMarker: (id, position) => this.markerWaiters.get(id)?.(position),
        onCheckpoint: () => {
          this.lastCheckpointAt = Date.now();
          if (this.runState === 'reconnecting') {
            this.runState = 'streaming';
            log.info({ interruptedFor: this.lastRetryAt ? Date.now() - this.lastRetryAt : undefined, after: stats.lastError }, 'replication resumed');
            // The interruption is over: status shows the current state, the log keeps the history.
            stats.lastError = null;
          }
        },
        onStage: (stage) => {
          this.runState = stage === 'streaming' ? 'streaming' : 'backfill';
          this.lastCheckpointAt = Date.now();
          void this.followStage(stage === 'streaming' ? 'shadowing' : 'backfill');
        },
        onRetry: () => {
          stats.errors++;
          this.runState = 'reconnecting';
          this.lastRetryAt = Date.now();
        },
        onFreshCopy: () => this.opts.store.clearVerification(direction),
        onTables: (set) => {
          stats.tables = set;
          this.tables = [...set.replicated, ...set.joining];
          verifier.setTables(this.tables);
        },
      });
    } finally {
      // Replication has stopped (or failed): verification stops with it.
      if (!controller.signal.aborted) controller.abort();
      await verifier.stop();
    }
  }

  /**
   * Keeps the phase in step with replication before the switch: setup → backfill → shadowing. Phases of the switch
   * (cutting-over, cutover, rolling-back, finalized) belong to the switch and are never changed here.
   */
  private followStage(phase: Extract<Phase, 'backfill' | 'shadowing'>): Promise<void> {
    return this.updateControl((state) => {
      const before: Phase[] = phase === 'backfill' ? ['setup', 'shadowing'] : ['setup', 'backfill'];
      if (state.direction !== 'forward' || !before.includes(state.phase)) return undefined;
      return { ...state, phase };
    }).catch((err: unknown) => this.opts.log.warn({ err: errorMessage(err) }, 'cannot record the phase in the control state; retried with the next change'));
  }

  /** Changes the control state under this instance's lease, one change at a time (StateStore.updateControl). */
  updateControl(change: (state: ControlState) => ControlState | undefined): Promise<void> {
    const next = this.writes.then(async () => {
      const before = this.control?.state;
      this.control = await this.opts.store.updateControl(change, this.opts.lease.epoch, this.opts.actor);
      this.opts.onControl?.(before, this.control.state);
    });
    this.writes = next.catch(() => undefined);
    return next;
  }

  /**
   * The shadow side's capture objects, ahead of a switch: its publication is created now (it costs nothing without
   * a slot, and creating it needs locks a switch should not wait for), and a capture slot left there is dropped.
   */
  private async prepareShadowCapture(side: SideName, direction: Direction): Promise<void> {
    await this.removeShadowConnector(direction);
    await this.dropShadowSlot(side);
    const { config, log } = this.opts;
    const url = config[side].url;
    try {
      const tables = await replicatedTables(config, direction);
      await engineForUrl(url).captureSource({ url, migration: config.migration, side, tables }).prepare(tables, { lockTimeoutMs: config.cutover.fenceTimeout });
    } catch (err) {
      log.debug({ side, err: errorMessage(err) }, `capture on ${side} not prepared ahead of a switch; the switch prepares it (and its gates say what is missing)`);
    }
  }

  /**
   * Over Kafka, a connector capturing the shadow (left by a switch stopped between recording its result and removing
   * it, or backed out after creating it) would read a slot that must go and fill a topic nobody reads.
   */
  private async removeShadowConnector(direction: Direction): Promise<void> {
    const { config, log } = this.opts;
    if (config.transport.kind !== 'kafka') return;
    const other = otherDirection(direction);
    try {
      await transportSwitch(config).stop(other, await replicatedTables(config, direction));
    } catch (err) {
      log.warn({ err: errorMessage(err) }, `cannot remove the ${other} direction's connector, which captures the shadow; tandem connectors delete --direction ${other} removes it`);
    }
  }

  /**
   * The shadow never needs a capture slot; one left there (a switch stopped between recording its result and
   * dropping it, a switch backed out after creating it) would hold WAL for as long as the side stays the shadow.
   */
  private async dropShadowSlot(side: SideName): Promise<void> {
    const { config, log } = this.opts;
    const url = config[side].url;
    try {
      await engineForUrl(url).captureSource({ url, migration: config.migration, side }).dropSlot();
    } catch (err) {
      log.warn({ side, err: errorMessage(err) }, `cannot drop Tandem's capture slot on ${side} (the shadow); it holds WAL there until dropped`);
    }
  }

  /** Starts a verification pass now (POST /api/v1/verify). False when nothing runs to verify. */
  requestVerification(): boolean {
    if (!this.run?.verifier || this.runState !== 'streaming') return false;
    this.run.verifier.requestPass();
    return true;
  }

  /** The shadow's fence as last seen by its keeper: true, false, or null when not known (not kept, unreachable). */
  get shadowFenced(): boolean | null {
    return this.run?.keeper?.fenced ?? null;
  }

  /** Values written other than captured since the last switch (rollback readiness). */
  get lossyValues(): { count: number; last: string | null } {
    return this.opts.stats.lossyValues;
  }

  get failed(): TandemError | undefined {
    return this.failure ?? this.held;
  }

  /** Ready for traffic in the Kubernetes sense: replication is running and not stuck reconnecting. */
  readiness(): { ready: boolean; reason: string } {
    if (this.failure) return { ready: false, reason: `replication stopped: ${this.failure.message}` };
    if (this.idle === 'finalized') return { ready: true, reason: 'finalized: nothing to replicate' };
    if (this.idle === 'resync-required') return { ready: false, reason: 'new must be copied again after the emergency rollback (tandem backfill --yes)' };
    if (this.runState === 'reconnecting' && this.lastRetryAt >= this.lastCheckpointAt) return { ready: false, reason: `reconnecting: ${this.opts.stats.lastError ?? 'a database cannot be reached'}` };
    if (this.runState === 'backfill' || this.runState === 'streaming') return { ready: true, reason: this.runState };
    return { ready: false, reason: this.runState };
  }

  private async stopRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.controller.abort();
    await run.done.catch(() => undefined);
    await run.keeper?.stop();
    if (this.run === run) this.run = undefined;
  }

  private fail(err: TandemError): void {
    if (this.failure || this.stopping) return;
    this.opts.stats.errors++;
    if (this.holding) {
      this.held ??= err;
      this.runState = 'failed';
      this.opts.stats.lastError = err.message;
      return;
    }
    this.failure = err;
    this.runState = 'failed';
    this.opts.stats.lastError = err.message;
    void this.stopRun().finally(() => this.settle?.reject(err));
  }

  /** Stops replication at a transaction boundary (the checkpoint is committed) and verification with it. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done;
    this.stopping = true;
    await this.stopRun();
    await this.writes;
    this.runState = 'stopped';
    if (this.failure) this.settle?.reject(this.failure);
    else this.settle?.resolve();
    return this.done;
  }
}
