/**
 * `tandem run` put together: the state store, the lease, the control API and the coordinator. The process entry
 * (src/cli/commands/run.ts) only adds signals and a forced-exit timeout.
 *
 * Start-up order matters to operators: a second instance is refused (exit 3, holder named) before it binds
 * anything; the API then binds (an address in use is exit 2) before the lease is taken, so the lease records the
 * address the CLI and other hosts reach the service at. A standby binds first (its /livez answers while it
 * waits), then waits for the lease.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { leaseIsLive, type StopRecord } from '../model/control.js';
import type { Direction } from '../model/direction.js';
import { emptyStats, type ReplicationStats } from '../replicate/stats.js';
import { startSourceSampler } from '../replicate/source-sampler.js';
import { startKafkaSampler } from '../transport/kafka/sampler.js';
import { Coordinator } from '../control/coordinator.js';
import { EventBus, FiguresWatch, auditEvent, controlEvents } from '../control/events.js';
import { holderIsGone, Lease, leaseHeldError, newHolder } from '../control/lease.js';
import { StateStore } from '../control/state-store.js';
import { rollbackReadiness } from '../control/readiness.js';
import { Switcher } from '../control/switch.js';
import { Approvals } from '../control/approvals.js';
import { RouterRegistry } from '../control/routers.js';
import { Notifier, watchForNotifications } from '../control/notify.js';
import { buildStatus, heartbeatOf } from '../control/status.js';
import { buildPlan } from '../control/plan.js';
import { driftCountOf } from '../verify/store.js';
import { VERSION } from '../version.js';
import { startApiServer, type ApiServer } from './app.js';
import { Authenticator } from './auth.js';
import { createMetrics, observeSwitch } from './metrics.js';
import type { SwitchResult } from '../model/switch.js';
import type { SideName } from '../model/direction.js';
import { sidesOf } from '../model/direction.js';

export interface ServiceOptions {
  log: Logger;
  /** Wait for the current holder's lease to expire, then take over (high availability). */
  standby?: boolean;
  /** `--direction`: refuse (exit 3) unless the stored direction is this one. */
  assertDirection?: Direction;
  onProgress?: (stats: ReplicationStats) => void;
  /** Stops the service, whenever it comes: during start-up (a standby's wait included) or later. */
  signal?: AbortSignal;
}

export interface RunningService {
  stats: ReplicationStats;
  /** Where the control API listens (host:port). */
  address: string;
  /** Settles when the service ends: resolves after stop(), rejects with the error that stopped replication. */
  done: Promise<void>;
  /** Stops at a transaction boundary, releases the lease (a standby takes over at once) and closes the API. */
  stop(): Promise<void>;
}

/** The address other hosts reach the API at: a wildcard listen address is replaced by this host's name. */
function reachableAddress(bound: string): string {
  const scheme = /^https:\/\//.exec(bound)?.[0] ?? '';
  const m = /^(.*):(\d+)$/.exec(bound.slice(scheme.length));
  if (!m) return bound;
  const host = m[1] as string;
  return host === '0.0.0.0' || host === '[::]' || host === '::' ? `${scheme}${hostname()}:${m[2]}` : bound;
}

export async function startService(config: TandemConfig, opts: ServiceOptions): Promise<RunningService> {
  const { log } = opts;
  const store = new StateStore(config, log);
  const stats = emptyStats();
  const approvals = new Approvals(config, store, log);
  const routers = new RouterRegistry();
  const notifier = new Notifier(config, log.child({ component: 'notify' }));
  let watcher: { stop(): void } | undefined;
  let lease: Lease | undefined;
  let coordinator: Coordinator | undefined;
  let switcher: Switcher | undefined;
  let server: ApiServer | undefined;
  let sampler: { stop(): void } | undefined;
  let kafkaSampler: { stop(): void } | undefined;
  const events = new EventBus();
  store.onAudit = (entry) => auditEvent(events, entry);
  const figures = new FiguresWatch(events, {
    stats,
    lagLimitSeconds: config.cutover.maxLag / 1000,
    lease: () => (lease ? { holder: `${lease.record.host}:${lease.record.pid} (${lease.holderId})`, epoch: lease.epoch } : undefined),
  });

  // Each build opens connections to both sides: pollers (dashboards, metrics) that give up and ask again would
  // pile builds up until status, and the state store's connection behind it, stop answering.
  const status = coalesced(async () => {
    const report = await buildStatus(config, store, { stats });
    if (switcher && coordinator) report.rollback = await rollbackReadiness(config, report, switcher, coordinator);
    return report;
  });

  const cleanup = async () => {
    figures.stop();
    sampler?.stop();
    kafkaSampler?.stop();
    watcher?.stop();
    await lease?.release();
    await server?.close().catch(() => undefined);
    await store.close();
  };

  try {
    if (!opts.standby) {
      const { lease: current } = await store.readLease();
      if (leaseIsLive(current) && !holderIsGone(current)) throw leaseHeldError(current, config.migration);
    }
    const metrics = createMetrics({
      stats,
      migration: config.migration,
      version: VERSION,
      direction: () => coordinator?.direction,
      phase: () => coordinator?.state?.phase,
      activeSide: () => coordinator?.state?.activeSide,
      verification: async () => (coordinator?.direction ? store.readVerification(coordinator.direction) : []),
      fences: () => fencesOf(coordinator),
      lease: () => (lease ? { holder: lease.record.id, host: lease.record.host, epoch: lease.epoch } : undefined),
      rollbackReady: async () => (coordinator?.state?.phase === 'cutover' ? ((await status()).rollback?.ready ?? null) : null),
    });
    const observed = async (result: Promise<SwitchResult>) => {
      const r = await result;
      observeSwitch(metrics, r);
      notifier.switchResult(r);
      return r;
    };
    const auth = new Authenticator(config.api.tokens, () => lease?.record.secret ?? null);
    server = await startApiServer(
      config.api.listen,
      {
        // Each build opens connections to both sides: pollers (routers, dashboards) that give up and ask again would
        // pile builds up until status, and the state store's connection behind it, stop answering.
        status,
        switchOver: async (kind, body, principal) => {
          if (!switcher) throw new TandemError('TANDEM_STATE_CONFLICT', 'the service is still starting', { fix: 'try again in a few seconds' });
          if (!body.dryRun) notifier.notify('switch.requested', `${kind}${body.emergency ? ' (EMERGENCY)' : ''} requested by ${principal.actor}`, { kind, actor: principal.actor, emergency: body.emergency ?? false });
          return observed(switcher.request({ kind, actor: principal.actor, expectedPhase: body.expectedPhase, dryRun: body.dryRun, allowDrift: body.allowDrift, emergency: body.emergency, acceptDataLoss: body.acceptDataLoss }));
        },
        approve: async (requestId, principal) => {
          if (!switcher) throw new TandemError('TANDEM_STATE_CONFLICT', 'the service is still starting', { fix: 'try again in a few seconds' });
          const { request, requestedBy } = await approvals.approve(requestId, principal.actor);
          notifier.notify('switch.requested', `${request.kind} ${requestId} asked for by ${requestedBy} approved by ${principal.actor}: running it`, { kind: request.kind, requestId, actor: requestedBy, approvedBy: principal.actor });
          return observed(switcher.request({ ...request, actor: requestedBy, approvedBy: principal.actor, requestId }));
        },
        approval: (requestId) => approvals.get(requestId),
        routers,
        activeSide: () => {
          const state = coordinator?.state;
          if (!state) return undefined;
          return { migration: config.migration, phase: state.phase, activeSide: state.activeSide, direction: state.direction, switch: state.switch ? { kind: state.switch.kind, requestId: state.switch.requestId, step: state.switch.step } : null };
        },
        approvals: () => approvals.list(),
        finalize: async (body, principal) => {
          if (!switcher) throw new TandemError('TANDEM_STATE_CONFLICT', 'the service is still starting', { fix: 'try again in a few seconds' });
          return switcher.finalize({ actor: principal.actor, expectedPhase: body.expectedPhase, unfenceOld: body.unfenceOld });
        },
        audit: () => store.listAudit(),
        gates: async (kind) => {
          const control = await store.readControl();
          if (!switcher || !control) throw new TandemError('TANDEM_STATE_CONFLICT', 'the service is still starting', { fix: 'try again in a few seconds' });
          const { state } = control;
          return { kind, phase: state.phase, activeSide: state.activeSide, gates: await switcher.gates(kind, state) };
        },
        drift: async () => {
          const direction = coordinator?.direction ?? 'forward';
          const tables = await store.readVerification(direction);
          return { migration: config.migration, direction, driftCount: driftCountOf(tables), tables };
        },
        requestVerification: (principal) => {
          const ok = coordinator?.requestVerification() ?? false;
          if (ok) log.info({ actor: principal.actor }, 'verification pass requested through the API');
          return ok;
        },
        readiness: () => coordinator?.readiness() ?? { ready: false, reason: opts.standby ? 'standby: waiting for the lease' : 'starting' },
        announceAudit: async (at, requestId) => {
          const entries = await store.readAuditEntries(at, requestId);
          for (const entry of entries) auditEvent(events, entry);
          return entries.length;
        },
        events,
        sessionTtlMs: config.api.sessionTtl,
        plan: (o) => buildPlan(config, store, { ...o, gates: switcher ? (kind, state) => (switcher as Switcher).gates(kind, state) : undefined }),
        samples: () => figures.samples,
        onSample: (listener) => figures.onSample(listener),
        metrics,
      },
      auth,
      log,
      { tls: config.api.tls, rateLimit: { max: config.api.rateLimit.max, windowMs: config.api.rateLimit.window } },
    );
    log.info({ listen: server.address }, 'control API listening');
    lease = await Lease.acquire(store, newHolder('service', reachableAddress(server.address)), { ttlMs: config.lease.ttl, wait: opts.standby, signal: opts.signal, log });
    const held = lease;
    held.onLost((err) => events.emit('lease', { held: false, holder: held.holderId, epoch: held.epoch, reason: err.message }));
    coordinator = new Coordinator({
      config,
      store,
      lease: held,
      stats,
      log,
      actor: `service@${hostname()}:${process.pid}`,
      onProgress: opts.onProgress ? () => opts.onProgress?.(stats) : undefined,
      onControl: controlEvents(events),
    });
    switcher = new Switcher({ config, store, lease: held, coordinator, stats, log, approvals, routers });
    const recovering = switcher;
    await coordinator.start(opts.assertDirection, (state) => recovering.recover(state));
    // A stop asked for while starting is honoured as soon as there is something to stop.
    const started = coordinator;
    if (opts.signal?.aborted) void started.stop();
    else opts.signal?.addEventListener('abort', () => void started.stop(), { once: true });
    held.startRenewing(() => JSON.stringify(heartbeatOf(stats)), () => store.syncMirror().catch((err: unknown) => log.debug({ err: errorMessage(err) }, 'mirror on new not brought up to date yet')));
    sampler = startSourceSampler(config, () => coordinator?.direction, stats, log);
    if (config.transport.kind === 'kafka') kafkaSampler = startKafkaSampler(config, () => coordinator?.direction, stats, log);
    if (config.notify.webhooks.length) {
      watcher = watchForNotifications(
        notifier,
        config.notify.interval,
        {
          drift: async () => {
            const direction = coordinator?.direction;
            if (!direction) return null;
            return (await store.readVerification(direction)).map((t) => ({
              table: t.table,
              rows: t.drift.length,
              kinds: { missing: t.drift.filter((d) => d.kind === 'missing').length, extra: t.drift.filter((d) => d.kind === 'extra').length, different: t.drift.filter((d) => d.kind === 'different').length },
            }));
          },
          rollback: async () => (coordinator?.state?.phase === 'cutover' ? ((await status()).rollback ?? null) : null),
        },
        log,
      );
    }
    log.info({ direction: coordinator.direction, phase: coordinator.state?.phase, epoch: held.epoch }, 'running');
  } catch (err) {
    await coordinator?.stop().catch(() => undefined);
    await cleanup();
    throw err instanceof TandemError ? err : new TandemError('TANDEM_INTERNAL', errorMessage(err), { cause: err });
  }

  const running = coordinator;
  const recordStop = (err: unknown) => {
    const e = err instanceof TandemError ? err : undefined;
    const stop: StopRecord = e
      ? { at: new Date().toISOString(), host: hostname(), pid: process.pid, clean: false, code: e.code, message: e.message, fix: e.fix, exitCode: e.exitCode, place: e.place }
      : { at: new Date().toISOString(), host: hostname(), pid: process.pid, clean: err === undefined, ...(err === undefined ? {} : { message: errorMessage(err) }) };
    return store.recordStop(stop).catch((writeErr: unknown) => log.warn({ err: errorMessage(writeErr) }, 'cannot record how the service stopped'));
  };
  const done = running.done.then(
    () => recordStop(undefined).then(cleanup),
    async (err: unknown) => {
      await recordStop(err);
      await cleanup();
      throw err;
    },
  );
  done.catch(() => undefined);
  return {
    stats,
    address: server.address,
    done,
    stop: async () => {
      await running.stop().catch(() => undefined);
      await done.catch(() => undefined);
    },
  };
}

/**
 * Fence state per side for the metrics: the shadow's as its keeper last saw it; the active side's from the switch
 * in progress (fenced from the fence step until the switch ends), writable otherwise.
 */
function fencesOf(coordinator: Coordinator | undefined): Partial<Record<SideName, boolean | null>> {
  const state = coordinator?.state;
  const direction = coordinator?.direction ?? state?.direction;
  if (!state || !direction) return {};
  const { active, shadow } = sidesOf(direction);
  const sw = state.switch;
  const activeFenced = sw ? sw.step !== 'intent' && sw.from === active : false;
  return { [active]: activeFenced, [shadow]: coordinator.shadowFenced };
}

/**
 * `build` run at most once at a time. A caller that finds a build running waits for the next one, which starts
 * when it ends and serves every caller that arrived meanwhile: no answer predates its request (a status read right
 * after a switch shows the switch), and any number of callers cost at most two builds in a row.
 */
export function coalesced<T>(build: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const ask = (): Promise<T> => {
    if (!running) {
      running = build().finally(() => (running = undefined));
      return running;
    }
    next ??= running
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return ask();
      });
    return next;
  };
  return ask;
}
