/**
 * The service's live events (GET /api/v1/events): phase changes, switch steps as they happen, switch results with
 * their window, drift found and resolved, lag crossing its limit, verification passes, lease changes, audit entries.
 *
 * Events live in a bounded ring of the most recent ones, each with an id that increases by one per event. A client
 * that reconnects with the last id it saw gets every event after it; one whose id fell out of the ring (or was issued
 * by an earlier process: the id carries the process's boot mark) is told to reload the state (a `reset` event) rather
 * than be left to believe it missed nothing.
 */
import { randomBytes } from 'node:crypto';
import type { ControlState } from '../model/control.js';
import type { AuditEntry } from '../model/switch.js';
import { lagSecondsOf } from '../replicate/lag.js';
import type { ReplicationStats } from '../replicate/stats.js';

export type TandemEventType =
  | 'phase'
  | 'switch.step'
  | 'switch.result'
  | 'drift'
  | 'lag'
  | 'verification.pass'
  | 'lease'
  | 'audit'
  | 'reset';

export interface TandemEvent {
  /** `<boot>-<seq>`: seq increases by one per event within one process; boot marks the process. */
  id: string;
  seq: number;
  type: TandemEventType;
  at: string;
  data: Record<string, unknown>;
}

/** What a reconnecting client gets: the events it missed, or a reset when they are no longer all known. */
export type Replay = { reset: false; events: TandemEvent[] } | { reset: true; reason: string; events: TandemEvent[] };

export class EventBus {
  readonly boot = randomBytes(4).toString('hex');
  private readonly ring: TandemEvent[] = [];
  private seq = 0;
  private readonly listeners = new Set<(event: TandemEvent) => void>();

  constructor(readonly capacity = 1000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`event ring capacity must be a positive integer, got ${capacity}`);
  }

  emit(type: TandemEventType, data: Record<string, unknown>): TandemEvent {
    this.seq += 1;
    const event: TandemEvent = { id: `${this.boot}-${this.seq}`, seq: this.seq, type, at: new Date().toISOString(), data };
    this.ring.push(event);
    if (this.ring.length > this.capacity) this.ring.shift();
    for (const listener of this.listeners) listener(event);
    return event;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  subscribe(listener: (event: TandemEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get lastId(): string | null {
    return this.ring.at(-1)?.id ?? null;
  }

  /** Everything after `lastEventId` (undefined: a new client, which needs no replay). */
  since(lastEventId: string | undefined): Replay {
    if (lastEventId === undefined) return { reset: false, events: [] };
    const m = /^([0-9a-f]+)-(\d+)$/.exec(lastEventId);
    if (!m || m[1] !== this.boot) return { reset: true, reason: 'the service restarted since that event: reload the state', events: [...this.ring] };
    const last = Number(m[2]);
    if (last > this.seq) return { reset: true, reason: `event ${lastEventId} was never sent: reload the state`, events: [...this.ring] };
    const oldest = this.ring[0]?.seq ?? this.seq + 1;
    if (last < oldest - 1) {
      return { reset: true, reason: `events after ${lastEventId} are no longer kept (the last ${this.capacity} are): reload the state`, events: [...this.ring] };
    }
    return { reset: false, events: this.ring.filter((e) => e.seq > last) };
  }
}

/** Turns changes of the control record (every write goes through Coordinator.updateControl) into events. */
export function controlEvents(bus: EventBus): (before: ControlState | undefined, after: ControlState) => void {
  return (before, after) => {
    if (!before || before.phase !== after.phase || before.activeSide !== after.activeSide || before.direction !== after.direction) {
      bus.emit('phase', { phase: after.phase, activeSide: after.activeSide, direction: after.direction, previous: before ? { phase: before.phase, activeSide: before.activeSide, direction: before.direction } : null });
    }
    const sw = after.switch;
    if (sw && (before?.switch?.requestId !== sw.requestId || before.switch.step !== sw.step)) {
      bus.emit('switch.step', { requestId: sw.requestId, kind: sw.kind, step: sw.step, from: sw.from, to: sw.to, actor: sw.actor, windowStartedAt: sw.windowStartedAt });
    }
  };
}

/** Audit entries as events; a switch's outcome also as `switch.result` with its window and certificate. */
export function auditEvent(bus: EventBus, entry: AuditEntry): void {
  bus.emit('audit', { entry });
  if ((entry.action === 'cutover' || entry.action === 'rollback') && entry.event !== 'requested' && entry.event !== 'dry-run') {
    bus.emit('switch.result', { kind: entry.action, result: entry.event, requestId: entry.requestId, actor: entry.actor, phase: entry.phase, activeSide: entry.activeSide, windowMs: entry.windowMs ?? null, certificate: entry.certificate ?? null, error: entry.error ?? null });
  }
}

export interface Sample {
  /** Date.now() */
  t: number;
  lagSeconds: number | null;
  lagBytes: number | null;
  appliedTransactions: number;
  /** Applied transactions per second since the previous sample. */
  txPerSecond: number | null;
}

export interface WatchOptions {
  stats: ReplicationStats;
  /** Lag above this many seconds is `high` (cutover.maxLag). */
  lagLimitSeconds: number;
  lease: () => { holder: string; epoch: number } | undefined;
  /** How often the in-memory figures are looked at (no database is read). */
  intervalMs?: number;
  /** How many samples the lag chart keeps (one hour at the default interval and sampleEvery: one every 2 s). */
  samples?: number;
  /** One chart sample every this many looks. */
  sampleEvery?: number;
}

/**
 * Watches the service's in-memory figures for what the control record does not carry: drift found and resolved,
 * lag crossing its limit, verification passes, the lease. Also keeps the last hour of lag samples for the chart.
 */
export class FiguresWatch {
  private readonly timer: NodeJS.Timeout;
  private readonly history: Sample[] = [];
  private ticks = 0;
  private last = { drift: null as number | null, lagHigh: null as boolean | null, passes: 0, failed: 0, lease: '' };
  private sampleListeners = new Set<(s: Sample) => void>();

  constructor(
    private readonly bus: EventBus,
    private readonly opts: WatchOptions,
  ) {
    this.timer = setInterval(() => this.look(), opts.intervalMs ?? 1000);
    this.timer.unref();
    this.look();
  }

  /** Looks at the figures now (the timer does it every intervalMs). */
  poll(): void {
    this.look();
  }

  get samples(): Sample[] {
    return [...this.history];
  }

  onSample(listener: (s: Sample) => void): () => void {
    this.sampleListeners.add(listener);
    return () => this.sampleListeners.delete(listener);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private look(): void {
    const { stats, lagLimitSeconds } = this.opts;
    const v = stats.verification;
    if (v) {
      if (this.last.drift !== null && v.driftCount !== this.last.drift) {
        this.bus.emit('drift', { state: v.driftCount > this.last.drift ? 'found' : 'resolved', driftCount: v.driftCount, previous: this.last.drift });
      } else if (this.last.drift === null && v.driftCount > 0) {
        this.bus.emit('drift', { state: 'found', driftCount: v.driftCount, previous: 0 });
      }
      this.last.drift = v.driftCount;
      if (v.passesCompleted > this.last.passes || v.passesFailed > this.last.failed) {
        this.bus.emit('verification.pass', { complete: v.passesCompleted > this.last.passes, passesCompleted: v.passesCompleted, passesFailed: v.passesFailed, lastPassCompletedAt: v.lastPassCompletedAt, driftCount: v.driftCount, rowsCompared: v.rowsCompared, error: v.lastError });
        this.last.passes = v.passesCompleted;
        this.last.failed = v.passesFailed;
      }
    }
    const lagSeconds = lagSecondsOf(stats);
    if (lagSeconds !== null) {
      const high = lagSeconds > lagLimitSeconds;
      if (this.last.lagHigh !== high && (this.last.lagHigh !== null || high)) this.bus.emit('lag', { state: high ? 'high' : 'ok', seconds: lagSeconds, limitSeconds: lagLimitSeconds });
      this.last.lagHigh = high;
    }
    const lease = this.opts.lease();
    const leaseKey = lease ? `${lease.holder}#${lease.epoch}` : '';
    if (leaseKey !== this.last.lease) {
      this.bus.emit('lease', lease ? { held: true, holder: lease.holder, epoch: lease.epoch } : { held: false });
      this.last.lease = leaseKey;
    }
    if (this.ticks++ % (this.opts.sampleEvery ?? 2) === 0) this.sample(lagSeconds);
  }

  private sample(lagSeconds: number | null): void {
    const { stats } = this.opts;
    const t = Date.now();
    const prev = this.history.at(-1);
    const txPerSecond = prev && t > prev.t ? Math.max(0, ((stats.appliedTransactions - prev.appliedTransactions) * 1000) / (t - prev.t)) : null;
    const s: Sample = { t, lagSeconds, lagBytes: stats.source?.lagBytes ?? null, appliedTransactions: stats.appliedTransactions, txPerSecond };
    this.history.push(s);
    if (this.history.length > (this.opts.samples ?? 1800)) this.history.shift();
    for (const l of this.sampleListeners) l(s);
  }
}
