/**
 * Cutover and rollback (DESIGN.md "The switch"; rollback is the same procedure in mirror), run by the service that
 * holds the lease. Gates first (control/gates.ts); then, with every step recorded in the control record before
 * and after it:
 *
 *   intent → fence `from` (wait out or end its writers) → marker on `from` → drain (the marker applied on `to`)
 *   → stop the old direction → advance `to`'s counters past `from`'s → the new direction's checkpoint on `from` at
 *   `to`'s position → pre-unfence hooks → unfence `to` → record phase and active side → new direction runs.
 *
 * Fence to unfence is the write-unavailability window. Before `checkpointed` any failure backs the switch out: `to`
 * stays fenced, `from` is unfenced, the phase goes back. A switch found in progress at start-up (the process was
 * killed during it) is completed when it reached `checkpointed` and backed out before that; in both, `to` is
 * unfenced only after `from` is fenced and `from` only after `to` is, so the application never sees two writable
 * sides.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import type { SwitchSide } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import { SWITCH_STEPS, type ControlState, type Phase, type SwitchKind, type SwitchProgress, type SwitchStep } from '../model/control.js';
import { otherDirection, type Direction, type SideName } from '../model/direction.js';
import { markerId } from '../model/names.js';
import type { AuditEntry, Certificate, EmergencyReport, Gate, SwitchResult } from '../model/switch.js';
import { lagSecondsOf } from '../replicate/lag.js';
import { replicatedTables } from '../replicate/tables.js';
import type { ReplicationStats } from '../replicate/stats.js';
import { tableCertificates } from './certificate.js';
import type { Coordinator } from './coordinator.js';
import { evaluateGates, phaseGate, switchSides, type LiveFacts } from './gates.js';
import { runHooks, type HookEvent } from './hooks.js';
import type { Lease } from './lease.js';
import type { StateStore } from './state-store.js';
import { approvalsNeeded, type Approvals } from './approvals.js';
import type { RouterRegistry } from './routers.js';
import { transportSwitch, type TransportSwitch } from './transport-switch.js';

export interface SwitchRequest {
  kind: SwitchKind;
  /** Who asks: a token's name or `local:<os-user>`; audited. */
  actor: string;
  /** The phase the caller saw: a switch runs only from that phase (a second click, a stale dashboard: 409). */
  expectedPhase: Phase;
  dryRun?: boolean;
  allowDrift?: boolean;
  /** Rollback only: new is unreachable; make old active without draining (needs acceptDataLoss). */
  emergency?: boolean;
  acceptDataLoss?: boolean;
  /** Two-person approval: the second actor, and the id of the request they approved (the audit trail keeps it). */
  approvedBy?: string;
  requestId?: string;
}

export interface SwitcherOptions {
  config: TandemConfig;
  store: StateStore;
  lease: Lease;
  coordinator: Coordinator;
  stats: ReplicationStats;
  log: Logger;
  /** Two-person approval (cutover.approvals: 2): requests wait there for a second actor. */
  approvals?: Approvals;
  /** Application routers (docs/router.md): the switch waits for their holds before it fences. */
  routers?: RouterRegistry;
}

const PHASE_DURING: Record<SwitchKind, Phase> = { cutover: 'cutting-over', rollback: 'rolling-back' };
const PHASE_AFTER: Record<SwitchKind, Phase> = { cutover: 'cutover', rollback: 'shadowing' };

/** Tests stop the process at a named step through this (test/harness/crash-at.mjs); nothing in Tandem sets it. */
function reached(step: string): void {
  const hook = (globalThis as Record<symbol, unknown>)[Symbol.for('tandem.test.switchStep')];
  if (typeof hook === 'function') (hook as (step: string) => void)(step);
}

const stepIndex = (step: SwitchStep) => SWITCH_STEPS.indexOf(step);

/** What a dry run prints: the steps in order, with the sides named. */
export function switchPlan(config: TandemConfig, kind: SwitchKind): string[] {
  const { from, to, after } = switchSides(kind);
  return [
    `create the capture slot and publication on ${to} (before the window: a new slot waits for running transactions)`,
    `announce the switch: hooks.onSwitch (switch.starting; a failure stops the switch)`,
    `record intent: phase ${PHASE_DURING[kind]}; wait until every live application router holds writes (up to cutover.holdTimeout ${config.cutover.holdTimeout} ms)`,
    `fence ${from}: application writes refused; open application transactions waited out, ended after cutover.fenceTimeout (${config.cutover.fenceTimeout} ms) — the window starts`,
    `write a marker transaction on ${from} and wait until it is applied on ${to} (cutover.drainTimeout ${config.cutover.drainTimeout} ms; past it the switch backs out)`,
    `stop the ${kind === 'cutover' ? 'forward' : 'reverse'} stream; advance sequences and AUTO_INCREMENT counters on ${to} past ${from}'s`,
    ...(config.transport.kind === 'kafka'
      ? [`create the ${after} stream's Debezium connector on ${to} at its drained position and wait until it runs (up to cutover.drainTimeout; a connector that does not start backs the switch out)`]
      : []),
    `start the ${after} stream's checkpoint on ${from} at ${to}'s position after the drain (Tandem's own changes are never sent back)`,
    `run hooks.onSwitch (before unfence: a failure backs the switch out)`,
    `unfence ${to} — the window ends; ${from} stays fenced as the shadow`,
    `record phase ${PHASE_AFTER[kind]}, active side ${to}; ${config.transport.kind === 'kafka' ? `remove the ${kind === 'cutover' ? 'forward' : 'reverse'} stream's connector (its offsets with it), ` : ''}drop ${from}'s capture slot; certificate; hooks; audit`,
  ];
}

export class Switcher {
  private running = false;
  private readonly log: Logger;
  private readonly transport: TransportSwitch;

  constructor(private readonly opts: SwitcherOptions) {
    this.log = opts.log.child({ component: 'switch' });
    this.transport = transportSwitch(opts.config);
  }

  get busy(): boolean {
    return this.running;
  }

  /** The service's own view for the gates. */
  liveFacts(): LiveFacts {
    const { coordinator, stats } = this.opts;
    return {
      lagSeconds: lagSecondsOf(stats),
      runState: coordinator.runState,
      lastError: coordinator.failed?.message ?? stats.lastError,
      failed: coordinator.failed !== undefined,
      switchRunning: this.running,
    };
  }

  /** Evaluates the gates of `kind` now, changing nothing (also rollback.ready's facts). */
  async gates(kind: SwitchKind, control: ControlState, allowDrift = false, self = false): Promise<Gate[]> {
    return evaluateGates({
      config: this.opts.config,
      kind,
      control,
      // The request evaluating its own gates is not "another switch in progress".
      live: { ...this.liveFacts(), ...(self ? { switchRunning: false } : {}) },
      tables: this.opts.coordinator.replicatedTables,
      verification: await this.opts.store.readVerification(control.direction),
      allowDrift,
      store: this.opts.store,
    });
  }

  async request(req: SwitchRequest): Promise<SwitchResult> {
    const control = await this.opts.store.readControl();
    if (!control) throw new TandemError('TANDEM_STATE', 'the migration has no control state yet', { fix: 'start tandem run first' });
    const state = control.state;
    if (req.expectedPhase !== state.phase) {
      throw new TandemError('TANDEM_STATE_CONFLICT', `expectedPhase is ${req.expectedPhase} but the migration is in phase ${state.phase}${state.switch ? ` (a ${state.switch.kind} is at step ${state.switch.step})` : ''}: nothing was changed`, {
        fix: 'read the phase again (tandem status) and decide again; the CLI fills expectedPhase from the status it reads',
      });
    }
    const requestId = req.requestId ?? `${req.kind}-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
    if (this.running) {
      const gates = [phaseGate(req.kind, state), { name: 'switch-in-progress' as const, ok: false, value: 'a switch is running', threshold: 'none', detail: 'one switch at a time: wait for it to finish (tandem status)' }];
      return this.refused(req, requestId, state, gates);
    }
    this.running = true;
    try {
      if (!req.dryRun && !req.approvedBy && this.opts.approvals && approvalsNeeded(this.opts.config, req) > 1) return await this.awaitApproval(req, requestId, state, this.opts.approvals);
      if (req.emergency) return await this.emergencyRollback(req, requestId, state);
      return await this.switchOver(req, requestId, state);
    } finally {
      this.running = false;
    }
  }

  private base(req: SwitchRequest, requestId: string, state: ControlState): Omit<SwitchResult, 'result'> {
    const approval = req.approvedBy ? { approval: { requestedBy: req.actor, approvedBy: req.approvedBy, expiresAt: null } } : {};
    return { requestId, kind: req.kind, phase: state.phase, activeSide: state.activeSide, gates: [], windowMs: null, positions: { fence: {}, drained: {} }, certificate: null, ...approval };
  }

  /** Two-person approval: the gates are checked now (a refusal is final), then the request waits for a second actor. */
  private async awaitApproval(req: SwitchRequest, requestId: string, state: ControlState, approvals: Approvals): Promise<SwitchResult> {
    if (req.emergency && !req.acceptDataLoss) {
      throw new TandemError('TANDEM_API_BAD_REQUEST', 'an emergency rollback skips the drain, so changes on new that did not reach old may be lost: it needs acceptDataLoss', {
        fix: 'tandem rollback --emergency --accept-data-loss (or acceptDataLoss: true) once you accept that',
      });
    }
    const gates = req.emergency ? [phaseGate('rollback', state)] : await this.gates(req.kind, state, req.allowDrift ?? false, true);
    if (gates.some((g) => !g.ok)) return this.refused(req, requestId, state, gates);
    return approvals.open(req, requestId, state, gates);
  }

  private async audit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    try {
      await this.opts.store.appendAudit({ at: new Date().toISOString(), ...entry });
    } catch (err) {
      this.log.error({ err: errorMessage(err), requestId: entry.requestId, event: entry.event }, 'cannot write the audit entry');
    }
  }

  private async refused(req: SwitchRequest, requestId: string, state: ControlState, gates: Gate[]): Promise<SwitchResult> {
    const failing = gates.filter((g) => !g.ok);
    const error = {
      code: 'TANDEM_GATE_REFUSED',
      message: `${req.kind} refused by ${failing.length} gate(s): ${failing.map((g) => `${g.name} (${g.detail})`).join('; ')}; nothing was changed`,
      fix: 'fix what the failing gates name and ask again (--dry-run shows the gates without switching)',
    };
    this.log.warn({ requestId, actor: req.actor, gates: failing.map((g) => g.name) }, error.message);
    await this.audit({ action: req.kind, event: 'refused', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: state.phase, activeSide: state.activeSide, gates, error });
    return { ...this.base(req, requestId, state), result: 'refused', gates, error };
  }

  private async switchOver(req: SwitchRequest, requestId: string, state: ControlState): Promise<SwitchResult> {
    const { config, coordinator } = this.opts;
    const { from, to, after } = switchSides(req.kind);
    const tables = coordinator.replicatedTables;
    const gates = await this.gates(req.kind, state, req.allowDrift ?? false, true);
    const overrides = gates.filter((g) => g.overridden).map((g) => `${g.name} overridden with --allow-drift: ${g.value}`);
    const lagSeconds = this.liveFacts().lagSeconds;
    if (req.dryRun) {
      await this.audit({ action: req.kind, event: 'dry-run', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: state.phase, activeSide: state.activeSide, gates, overrides });
      return { ...this.base(req, requestId, state), result: 'dry-run', gates, steps: switchPlan(config, req.kind) };
    }
    if (gates.some((g) => !g.ok)) return this.refused(req, requestId, state, gates);

    // Before the window: what can be slow or can fail without consequence happens while writes still flow.
    let fromSide: SwitchSide | undefined;
    let toSide: SwitchSide | undefined;
    let preparing = `the publication on ${to}`;
    try {
      const toSource = engineForUrl(config[to].url).captureSource({ url: config[to].url, migration: config.migration, side: to, tables });
      await toSource.prepare(tables, { lockTimeoutMs: config.cutover.fenceTimeout });
      preparing = `the capture slot on ${to}`;
      await toSource.ensureSlot({ timeoutMs: Math.max(config.cutover.fenceTimeout, 30_000) });
      preparing = 'connections to both sides';
      fromSide = await this.openSide(from);
      toSide = await this.openSide(to);
      // Announced before anything changes: a router or a feature flag gets ready; a hook that fails stops the switch.
      preparing = 'the pre-switch hooks';
      await runHooks(config.hooks.onSwitch, this.event('switch.starting', req.kind, requestId, state.phase, from), this.log, true);
    } catch (err) {
      await fromSide?.close();
      await toSide?.close();
      const e = asTandemError(err);
      const fix = preparing.startsWith('the publication')
        ? `something holds a lock on ${to}'s tables (ALTER TABLE, LOCK TABLE, a long transaction): end it and ask again; nothing was changed`
        : preparing.startsWith('the capture slot')
          ? `creating a logical slot waits for every transaction with a transaction id open in ${to}'s cluster: end long-running ones (pg_stat_activity) and ask again; nothing was changed`
          : preparing.startsWith('the pre-switch') ? `${e.fix ?? 'fix the hook'}; nothing was changed` : e.fix;
      const error = { code: e.code, message: `${req.kind} not started: preparing ${preparing} failed: ${e.message}`, fix };
      await this.audit({ action: req.kind, event: 'failed', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: state.phase, activeSide: state.activeSide, gates, overrides, error });
      return { ...this.base(req, requestId, state), result: 'failed', gates, error };
    }
    this.log.info({ requestId, kind: req.kind, actor: req.actor, routers: this.opts.routers?.live().length ?? 0 }, `${req.kind}: capture on ${to} is ready`);

    const progress: SwitchProgress = {
      kind: req.kind,
      requestId,
      actor: req.actor,
      step: 'intent',
      startedAt: new Date().toISOString(),
      from,
      to,
      phaseBefore: state.phase,
      windowStartedAt: null,
      positions: { fence: {}, drained: {} },
    };
    coordinator.holdFailures();
    let windowStart: number | undefined;
    let paused = false;
    let transportStarted = false;
    let counters: Certificate['counters'] = [];
    try {
      await this.record(progress, { phase: PHASE_DURING[req.kind] });
      await this.audit({ action: req.kind, event: 'requested', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: PHASE_DURING[req.kind], activeSide: from, gates, overrides });
      void this.phaseHooks(PHASE_DURING[req.kind], from, req.kind, requestId);
      await this.holdRouters(requestId);

      progress.windowStartedAt = new Date().toISOString();
      await this.record(progress, {}, 'fencing');
      windowStart = performance.now();
      const fence = await fromSide.fence({ migration: config.migration, side: from, activeSide: to, tables, timeoutMs: config.cutover.fenceTimeout });
      progress.positions.fence = { [from]: fence.position, [to]: await toSide.currentPosition() };
      if (fence.endedTransactions) this.log.warn({ requestId, ended: fence.endedTransactions }, `${from} fenced: ${fence.endedTransactions} application transaction(s) still writing after cutover.fenceTimeout were ended`);
      await this.record(progress, {}, 'fenced');

      const markerWait = coordinator.waitForMarker(markerId(config.migration, requestId), config.cutover.drainTimeout);
      markerWait.catch(() => undefined);
      await fromSide.writeMarker(config.migration, requestId);
      const drainedFrom = await markerWait;
      // Everything the application wrote on `from` is on `to` now: the old direction has nothing left to carry.
      await coordinator.pause();
      paused = true;
      progress.positions.drained = { [from]: drainedFrom, [to]: await toSide.currentPosition() };
      await this.record(progress, {}, 'drained');

      counters = await toSide.advanceCounters(await fromSide.counters(tables));
      // Over Kafka the new direction's connector starts here, at the drained position: if it cannot, the switch backs out.
      transportStarted = true;
      const transportOffset = await this.transport.start(after, progress.positions.drained[to] as string, tables);
      await this.startCheckpoint(after, progress.positions.drained[to] as string, tables, transportOffset);
      await this.opts.store.clearVerification(after);
      await runHooks(config.hooks.onSwitch, this.event('switch.before-unfence', req.kind, requestId, PHASE_DURING[req.kind], from), this.log, true);
      await this.record(progress, {}, 'checkpointed');
    } catch (err) {
      const e = asTandemError(err);
      const windowMs = windowStart === undefined ? null : Math.round(performance.now() - windowStart);
      const backedOut = await this.backOut(progress, e, { fromSide, toSide, paused, tables, startedTransport: transportStarted ? after : undefined });
      await fromSide.close();
      await toSide.close();
      coordinator.releaseFailures();
      const now = (await this.opts.store.readControl())?.state ?? state;
      const error = { code: 'TANDEM_SWITCH_BACKED_OUT', message: `${req.kind} ${backedOut ? 'backed out' : 'FAILED and could not be backed out'}: ${e.message}`, fix: backedOut ? e.fix : 'restart tandem run: a switch left in progress is backed out at start-up' };
      await this.audit({ action: req.kind, event: backedOut ? 'backed-out' : 'failed', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: now.phase, activeSide: now.activeSide, gates, overrides, windowMs, positions: progress.positions, error });
      void runHooks(config.hooks.onSwitch, { ...this.event('switch.backed-out', req.kind, requestId, now.phase, now.activeSide), windowMs, reason: e.message }, this.log);
      return { ...this.base(req, requestId, now), result: backedOut ? 'backed-out' : 'failed', gates, windowMs, positions: progress.positions, error };
    }

    try {
      const windowMs = await this.complete(progress, toSide, tables, windowStart as number);
      const certificate = await this.certificate(progress, { gates, overrides, lagSeconds, windowMs, counters, tables });
      await coordinator.resume();
      coordinator.releaseFailures();
      const done = (await this.opts.store.readControl())?.state ?? state;
      this.log.info({ requestId, kind: req.kind, windowMs, activeSide: to, positions: progress.positions }, `${req.kind} done: ${to} is active; write-unavailability window ${windowMs} ms`);
      await this.audit({ action: req.kind, event: 'done', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: done.phase, activeSide: done.activeSide, gates, overrides, windowMs, positions: progress.positions, certificate });
      void runHooks(config.hooks.onSwitch, { ...this.event('switch.done', req.kind, requestId, done.phase, done.activeSide), windowMs }, this.log);
      void this.phaseHooks(done.phase, done.activeSide, req.kind, requestId);
      return { ...this.base(req, requestId, done), result: 'done', gates, windowMs, positions: progress.positions, certificate };
    } catch (err) {
      // Past `checkpointed` the switch only moves forward; a restart completes it.
      const e = asTandemError(err);
      coordinator.releaseFailures();
      const error = { code: e.code, message: `${req.kind} is past its point of no return but could not finish: ${e.message}`, fix: 'restart tandem run: it completes the switch at start-up (tandem status shows the step)' };
      await this.audit({ action: req.kind, event: 'failed', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: PHASE_DURING[req.kind], activeSide: from, gates, overrides, positions: progress.positions, error });
      return { ...this.base(req, requestId, state), result: 'failed', gates, positions: progress.positions, error };
    } finally {
      await fromSide.close();
      await toSide.close();
    }
  }

  /**
   * The intent is recorded (routers see it in the status): wait until every live router holds new writes and has
   * no transaction open, up to cutover.holdTimeout. A router that does not answer does not stop the switch: the
   * fence refuses its writes.
   */
  private async holdRouters(requestId: string): Promise<void> {
    const routers = this.opts.routers;
    if (!routers || !routers.live().length) return;
    const hold = await routers.waitForHolds(requestId, this.opts.config.cutover.holdTimeout);
    if (hold.missing.length) {
      this.log.warn({ requestId, ...hold }, `router(s) ${hold.missing.join(', ')} did not acknowledge the hold within cutover.holdTimeout (${this.opts.config.cutover.holdTimeout} ms): fencing anyway; their writes meet the fence`);
    } else {
      this.log.info({ requestId, ...hold }, `${hold.acknowledged.length} router(s) hold writes (${hold.waitedMs} ms)`);
    }
  }

  private openSide(side: SideName): Promise<SwitchSide> {
    const url = this.opts.config[side].url;
    return engineForUrl(url).openSwitchSide(url);
  }

  /** Records the switch's progress (and any other change) in the control record, then lets a test stop here. */
  private async record(progress: SwitchProgress, change: Partial<ControlState>, step?: SwitchStep): Promise<void> {
    if (step) progress.step = step;
    await this.opts.coordinator.updateControl((s) => ({ ...s, ...change, switch: { ...progress, positions: { fence: { ...progress.positions.fence }, drained: { ...progress.positions.drained } } } }));
    reached(progress.step);
  }

  /**
   * The new direction starts streaming where the side becoming active stood after the drain: a checkpoint in the
   * side becoming the shadow, marked as copied, so nothing is copied again and nothing before it is sent back (H21).
   */
  private async startCheckpoint(direction: 'forward' | 'reverse', position: string, tables: string[], transportOffset: string | null): Promise<void> {
    const { config, lease } = this.opts;
    const shadowSide = switchSides(direction === 'reverse' ? 'cutover' : 'rollback').from;
    if (shadowSide === 'new') await lease.recordOn('new');
    const url = config[shadowSide].url;
    const writer = await engineForUrl(url).openShadowWriter({ url, migration: config.migration, direction, maxRows: 1, epoch: lease.epoch });
    try {
      await writer.prepare([]);
      await writer.prepare(tables);
      await writer.begin();
      await writer.commit(
        { sourcePosition: position, transportOffset, commitTime: null, appliedTransactions: 0, stage: 'streaming', idlePosition: null },
        tables.map((table) => ({ table, lastKey: null, rowsCopied: 0, done: true })),
      );
    } finally {
      await writer.close();
    }
  }

  /** Unfences `to` and records the new phase and active side; returns the window (fence to unfence). */
  private async complete(progress: SwitchProgress, toSide: SwitchSide, tables: string[], windowStart: number | undefined): Promise<number> {
    const { config, coordinator } = this.opts;
    if (progress.step !== 'unfencing') await this.record(progress, {}, 'unfencing');
    await toSide.unfence({ migration: config.migration, tables });
    const windowMs = windowStart === undefined ? (progress.windowStartedAt ? Date.now() - Date.parse(progress.windowStartedAt) : 0) : Math.round(performance.now() - windowStart);
    reached('unfenced');
    const { after } = switchSides(progress.kind);
    await coordinator.updateControl((s) => ({
      ...s,
      phase: PHASE_AFTER[progress.kind],
      direction: after,
      activeSide: progress.to,
      switch: null,
      lastSwitch: { kind: progress.kind, requestId: progress.requestId, at: new Date().toISOString(), emergency: false },
    }));
    reached('recorded');
    // "No lossy mapping hit since the switch": counted afresh for the new direction.
    this.opts.stats.lossyValues = { count: 0, last: null };
    // The ended direction's capture outside the process (its Kafka connector) goes before its slot can be dropped.
    const ended = otherDirection(after);
    await this.transport
      .stop(ended, tables)
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, `cannot remove the ${ended} direction's connector; tandem run removes it at its next start (or tandem connectors delete)`));
    // Nothing reads `from`'s slot any more; kept, it would hold WAL there for as long as `from` is the shadow.
    const fromUrl = config[progress.from].url;
    await engineForUrl(fromUrl)
      .captureSource({ url: fromUrl, migration: config.migration, side: progress.from })
      .dropSlot()
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, `cannot drop the capture slot on ${progress.from}; drop it by hand (it retains WAL)`));
    return windowMs;
  }

  private async certificate(progress: SwitchProgress, c: { gates: Gate[]; overrides: string[]; lagSeconds: number | null; windowMs: number; counters: Certificate['counters']; tables: string[] }): Promise<Certificate> {
    const { config } = this.opts;
    const cert: Certificate = {
      migration: config.migration,
      kind: progress.kind,
      requestId: progress.requestId,
      actor: progress.actor,
      requestedAt: progress.startedAt,
      completedAt: new Date().toISOString(),
      from: progress.from,
      to: progress.to,
      positions: progress.positions,
      lagSeconds: c.lagSeconds,
      windowMs: c.windowMs,
      gates: c.gates,
      overrides: c.overrides,
      counters: c.counters,
      hashedSide: progress.from,
      tables: [],
    };
    try {
      cert.tables = await tableCertificates(config, switchSides(progress.kind).after, c.tables);
    } catch (err) {
      cert.tablesError = errorMessage(err);
      this.log.warn({ err: cert.tablesError }, 'the certificate has no table counts: they could not be read');
    }
    return cert;
  }

  /**
   * Restores the state before the switch: `to` fenced (it is the shadow; only put back if it is not, so a lock held
   * on its tables cannot stall the back-out), then `from` unfenced, the phase back, the old direction running.
   * False when it could not (a side unreachable): the switch stays recorded and a restart backs it out.
   */
  private async backOut(progress: SwitchProgress, reason: TandemError, s: { fromSide: SwitchSide; toSide: SwitchSide; paused: boolean; tables: string[]; startedTransport?: Direction }): Promise<boolean> {
    const { coordinator } = this.opts;
    this.log.warn({ requestId: progress.requestId, step: progress.step, err: reason.message }, `${progress.kind} backing out`);
    if (s.startedTransport) await this.stopStartedTransport(s.startedTransport, s.tables);
    try {
      await this.restoreFences(progress, s.fromSide, s.toSide, s.tables);
      await coordinator.updateControl((st) => ({ ...st, phase: progress.phaseBefore, switch: null }));
      reached('backed-out');
      if (s.paused) await coordinator.resume();
      void this.phaseHooks(progress.phaseBefore, progress.from, progress.kind, progress.requestId);
      return true;
    } catch (err) {
      this.log.error({ requestId: progress.requestId, err: errorMessage(err) }, `${progress.kind} could not be backed out; restart tandem run to back it out`);
      return false;
    }
  }

  /** A backed-out switch's new direction may have a connector already: it must not capture a side that stays the shadow. */
  private async stopStartedTransport(direction: Direction, tables: string[]): Promise<void> {
    await this.transport
      .stop(direction, tables)
      .catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, `cannot remove the ${direction} direction's connector of the backed-out switch; tandem run removes it at its next start (or tandem connectors delete)`));
  }

  /**
   * A holder stopped between recording a switch's result and auditing it: the switch is done (the state says so),
   * so the audit log gets its result now, and the log never shows a request without an outcome.
   */
  private async auditRecordedSwitch(state: ControlState): Promise<void> {
    const last = state.lastSwitch;
    if (!last) return;
    const entries = (await this.opts.store.listAudit()).filter((e) => e.requestId === last.requestId);
    if (entries.some((e) => e.event === 'done' || e.event === 'recovered-done')) return;
    const requested = entries.find((e) => e.event === 'requested');
    this.log.warn({ requestId: last.requestId }, `the ${last.kind} ${last.requestId} was recorded done but not audited (the service stopped in between): auditing it now`);
    await this.audit({
      action: last.kind,
      event: 'recovered-done',
      requestId: last.requestId,
      actor: requested?.actor ?? 'unknown',
      phase: state.phase,
      activeSide: state.activeSide,
      detail: { note: 'the service stopped after recording the switch and before auditing it', emergency: last.emergency },
    });
  }

  private async restoreFences(progress: SwitchProgress, fromSide: SwitchSide, toSide: SwitchSide, tables: string[]): Promise<void> {
    const { config } = this.opts;
    if (config.fence.shadow) {
      const fenced = await toSide.fencedTables({ migration: config.migration, tables });
      if (fenced.length < tables.length) await toSide.fence({ migration: config.migration, side: progress.to, activeSide: progress.from, tables, timeoutMs: config.cutover.fenceTimeout });
    }
    await fromSide.unfence({ migration: config.migration, tables });
  }

  /**
   * A switch left in progress by a previous holder (killed during it): completed when it reached `checkpointed`,
   * backed out before. Runs at start-up, before any direction replicates.
   */
  async recover(state: ControlState): Promise<void> {
    const progress = state.switch;
    if (!progress) return this.auditRecordedSwitch(state);
    const { config } = this.opts;
    const tables = progress.step === 'emergency' ? await this.emergencyTables() : await this.tablesFor(state);
    const fromSide = await this.openSide(progress.from);
    const toSide = await this.openSide(progress.to);
    try {
      if (progress.step === 'emergency') {
        await this.finishEmergency(progress, fromSide, tables);
        await this.audit({ action: progress.kind, event: 'recovered-done', requestId: progress.requestId, actor: progress.actor, phase: 'shadowing', activeSide: 'old', positions: progress.positions, detail: { emergency: true } });
        return;
      }
      if (stepIndex(progress.step) >= stepIndex('checkpointed')) {
        this.log.warn({ requestId: progress.requestId, step: progress.step }, `a ${progress.kind} was left at step ${progress.step}: completing it`);
        const windowMs = await this.complete(progress, toSide, tables, undefined);
        await this.audit({ action: progress.kind, event: 'recovered-done', requestId: progress.requestId, actor: progress.actor, phase: PHASE_AFTER[progress.kind], activeSide: progress.to, windowMs, positions: progress.positions });
        void runHooks(config.hooks.onSwitch, { ...this.event('switch.done', progress.kind, progress.requestId, PHASE_AFTER[progress.kind], progress.to), windowMs }, this.log);
      } else {
        this.log.warn({ requestId: progress.requestId, step: progress.step }, `a ${progress.kind} was left at step ${progress.step}: backing it out`);
        if (stepIndex(progress.step) >= stepIndex('drained')) await this.stopStartedTransport(switchSides(progress.kind).after, tables);
        await this.restoreFences(progress, fromSide, toSide, tables);
        await this.opts.coordinator.updateControl((st) => ({ ...st, phase: progress.phaseBefore, switch: null }));
        const reason = `the service stopped during the ${progress.kind} (at step ${progress.step}); it was backed out at start-up`;
        await this.audit({ action: progress.kind, event: 'recovered-backed-out', requestId: progress.requestId, actor: progress.actor, phase: progress.phaseBefore, activeSide: progress.from, positions: progress.positions, error: { code: 'TANDEM_SWITCH_BACKED_OUT', message: reason } });
        void runHooks(config.hooks.onSwitch, { ...this.event('switch.backed-out', progress.kind, progress.requestId, progress.phaseBefore, progress.from), reason }, this.log);
      }
    } finally {
      await fromSide.close();
      await toSide.close();
    }
  }

  private tablesFor(state: ControlState): Promise<string[]> {
    return replicatedTables(this.opts.config, state.direction);
  }

  /**
   * An emergency rollback's tables, listed on old (the side it makes active): new, the active side whose tables a
   * switch otherwise lists, is presumably unreachable. Found by tandem drill's emergency rehearsal, where no
   * `tables:` was configured and the rollback failed on connecting to the stopped new.
   */
  private emergencyTables(): Promise<string[]> {
    return replicatedTables(this.opts.config, 'forward');
  }

  // --- finalize ---

  /**
   * Ends the migration after a cutover: the reverse stream stops, Tandem's slot and publication on new go, old stays
   * fenced as a read-only archive unless `unfenceOld`. Phase `finalized`: nothing replicates any more.
   */
  async finalize(req: { actor: string; expectedPhase: Phase; unfenceOld?: boolean }): Promise<{ requestId: string; result: 'done'; phase: Phase; activeSide: SideName; oldFenced: boolean }> {
    const { config, coordinator } = this.opts;
    const control = await this.opts.store.readControl();
    const state = control?.state;
    if (!state || state.phase !== 'cutover' || state.switch) {
      throw new TandemError('TANDEM_GATE_REFUSED', `finalize needs phase cutover (writes on new, old kept in step); the migration is in ${state?.phase ?? 'setup'}: nothing was changed`, {
        fix: state?.phase === 'shadowing' ? 'cut over first (tandem cutover), or abandon the migration with tandem teardown --yes' : 'wait for the phase to be cutover (tandem status)',
      });
    }
    if (req.expectedPhase !== state.phase) throw new TandemError('TANDEM_STATE_CONFLICT', `expectedPhase is ${req.expectedPhase} but the migration is in phase ${state.phase}`, { fix: 'read the phase again (tandem status)' });
    if (this.running) throw new TandemError('TANDEM_STATE_CONFLICT', 'a switch is running', { fix: 'wait for it to finish (tandem status)' });
    this.running = true;
    const requestId = `finalize-${Date.now()}-${randomUUID().slice(0, 8)}`;
    try {
      await coordinator.pause();
      const tables = await this.tablesFor(state);
      try {
        // Over Kafka the reverse connector reads new's slot: it goes first.
        await this.transport.stop('reverse', tables);
        const newUrl = config.new.url;
        await engineForUrl(newUrl).captureSource({ url: newUrl, migration: config.migration, side: 'new', tables }).removeCaptureObjects();
        if (req.unfenceOld) {
          const oldSide = await this.openSide('old');
          try {
            await oldSide.unfence({ migration: config.migration, tables });
          } finally {
            await oldSide.close();
          }
        }
      } catch (err) {
        // Still in cutover: the reverse stream runs again (a dropped slot is recreated by tandem backfill).
        await coordinator.resume();
        throw err;
      }
      await coordinator.updateControl((s) => ({ ...s, phase: 'finalized', switch: null }));
      await coordinator.resume();
      await this.audit({ action: 'finalize', event: 'done', requestId, actor: req.actor, phase: 'finalized', activeSide: 'new', detail: { oldFenced: !req.unfenceOld } });
      void this.phaseHooks('finalized', 'new', 'cutover', requestId);
      this.log.info({ requestId, actor: req.actor, oldFenced: !req.unfenceOld }, 'migration finalized: the reverse stream is stopped and its slot dropped');
      return { requestId, result: 'done', phase: 'finalized', activeSide: 'new', oldFenced: !req.unfenceOld };
    } finally {
      this.running = false;
    }
  }

  // --- emergency rollback ---

  /**
   * New is unreachable (the usual incident): try briefly to fence it, make old active without draining, and report
   * what may be lost. Nothing is applied to new again until it is copied again (resyncRequired).
   */
  private async emergencyRollback(req: SwitchRequest, requestId: string, state: ControlState): Promise<SwitchResult> {
    const { config, coordinator } = this.opts;
    if (req.kind !== 'rollback') throw new TandemError('TANDEM_API_BAD_REQUEST', 'emergency applies to rollback only', { fix: 'leave out emergency' });
    if (!req.acceptDataLoss) {
      throw new TandemError('TANDEM_API_BAD_REQUEST', 'an emergency rollback skips the drain, so changes on new that did not reach old may be lost: it needs acceptDataLoss', {
        fix: 'tandem rollback --emergency --accept-data-loss (or acceptDataLoss: true) once you accept that',
      });
    }
    const gate = phaseGate('rollback', state);
    const inProgress = state.switch?.kind === 'rollback' && state.phase === 'rolling-back';
    if (!gate.ok && !inProgress) return this.refused(req, requestId, state, [gate]);
    const tables = await this.emergencyTables();
    coordinator.holdFailures();
    await coordinator.pause();
    const started = performance.now();
    // Fencing new is tried for a bounded time: new is probably unreachable, and old must take writes now.
    let newFenced = false;
    let fenceError = '';
    try {
      await withTimeout(
        (async () => {
          const newSide = await this.openSide('new');
          try {
            await newSide.fence({ migration: config.migration, side: 'new', activeSide: 'old', tables, timeoutMs: config.cutover.emergencyFenceTimeout });
          } finally {
            await newSide.close();
          }
        })(),
        config.cutover.emergencyFenceTimeout,
      );
      newFenced = true;
    } catch (err) {
      fenceError = errorMessage(err);
    }
    const { lastAppliedPosition, lastAppliedCommitTime } = await this.reverseCheckpoint();
    const report: EmergencyReport = {
      lastAppliedPosition,
      lastAppliedCommitTime,
      newFenced,
      warning: newFenced
        ? `new is fenced. Changes committed on new after position ${lastAppliedPosition ?? '(none applied)'} (${lastAppliedCommitTime ?? 'no commit time'}) did not reach old and may be lost; tandem verify lists the rows that differ once new is back`
        : `new could NOT be fenced (${fenceError}): if applications can still reach it, they may write to it while old is active — the one case where Tandem cannot guarantee a single writable side. Stop them from reaching new. Changes on new after position ${lastAppliedPosition ?? '(none applied)'} (${lastAppliedCommitTime ?? 'no commit time'}) may be lost. Tandem fences new the moment it can reach it`,
    };
    const progress: SwitchProgress = {
      kind: 'rollback',
      requestId,
      actor: req.actor,
      step: 'emergency',
      startedAt: new Date().toISOString(),
      from: 'new',
      to: 'old',
      phaseBefore: state.phase,
      windowStartedAt: new Date().toISOString(),
      positions: { fence: {}, drained: { new: lastAppliedPosition ?? undefined } as Partial<Record<SideName, string>> },
    };
    const oldSide = await this.openSide('old');
    try {
      await this.record(progress, { phase: 'rolling-back' });
      await this.finishEmergency(progress, oldSide, tables);
    } finally {
      await oldSide.close();
    }
    const windowMs = Math.round(performance.now() - started);
    await coordinator.resume();
    coordinator.releaseFailures();
    const done = (await this.opts.store.readControl())?.state ?? state;
    this.log.warn({ requestId, actor: req.actor, ...report }, `EMERGENCY rollback done: old is active (${windowMs} ms); new must be copied again`);
    await this.audit({ action: 'rollback', event: 'done', requestId, actor: req.actor, approvedBy: req.approvedBy, phase: done.phase, activeSide: done.activeSide, windowMs, positions: progress.positions, emergency: report, overrides: ['emergency: no drain, data loss accepted'] });
    void runHooks(config.hooks.onSwitch, { ...this.event('switch.done', 'rollback', requestId, done.phase, done.activeSide), windowMs }, this.log);
    return { ...this.base(req, requestId, done), result: 'done', gates: [gate], windowMs, positions: progress.positions, emergency: report };
  }

  /** Old takes writes: its counters past its rows, unfenced, then recorded active with new waiting to be copied again. */
  private async finishEmergency(progress: SwitchProgress, oldSide: SwitchSide, tables: string[]): Promise<void> {
    const { config, coordinator } = this.opts;
    // New's counters cannot be read (it is unreachable), but the rows the reverse stream applied to old carry ids
    // that old's own sequences never handed out: each counter goes past the highest value old holds (H19).
    await oldSide.advanceCounters(await oldSide.counters(tables));
    await oldSide.unfence({ migration: config.migration, tables });
    await coordinator.updateControl((s) => ({
      ...s,
      phase: 'shadowing',
      direction: 'forward',
      activeSide: 'old',
      switch: null,
      resyncRequired: true,
      lastSwitch: { kind: 'rollback', requestId: progress.requestId, at: new Date().toISOString(), emergency: true },
    }));
    reached('emergency-recorded');
  }

  /** The reverse stream's checkpoint on old: the last position of new applied there. */
  private async reverseCheckpoint(): Promise<{ lastAppliedPosition: string | null; lastAppliedCommitTime: string | null }> {
    const { config } = this.opts;
    try {
      const url = config.old.url;
      const writer = await engineForUrl(url).openShadowWriter({ url, migration: config.migration, direction: 'reverse', maxRows: 1 });
      try {
        const cp = await writer.readCheckpoint();
        return { lastAppliedPosition: cp?.sourcePosition ?? null, lastAppliedCommitTime: cp?.commitTime?.toISOString() ?? null };
      } finally {
        await writer.close();
      }
    } catch {
      return { lastAppliedPosition: null, lastAppliedCommitTime: null };
    }
  }

  private event(event: HookEvent['event'], kind: SwitchKind, requestId: string, phase: Phase, activeSide: SideName): HookEvent {
    return { event, migration: this.opts.config.migration, kind, requestId, phase, activeSide, at: new Date().toISOString() };
  }

  private phaseHooks(phase: Phase, activeSide: SideName, kind: SwitchKind, requestId: string): Promise<void> {
    return runHooks(this.opts.config.hooks.onPhase, this.event('phase.changed', kind, requestId, phase, activeSide), this.log);
  }
}

function asTandemError(err: unknown): TandemError {
  return err instanceof TandemError ? err : new TandemError('TANDEM_INTERNAL', errorMessage(err), { cause: err });
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    work.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
