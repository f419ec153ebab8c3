/**
 * Notifications to stakeholders (`notify.webhooks`, docs/notifications.md): a switch requested, pending approval,
 * done or backed out, a rollback, drift found, rollback readiness lost. Told, never asked: delivery runs in the
 * background with retries and backoff (p-retry) and never delays or stops a switch — the blocking hook is
 * `hooks.onSwitch`. A webhook's URL and header values are secrets: logs name a webhook by its name and host only.
 */
import pRetry from 'p-retry';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { NOTIFY_EVENTS } from '../config/schema.js';
import { redact } from '../config/redact.js';
import { errorMessage } from '../errors.js';
import type { SwitchResult } from '../model/switch.js';
import type { DrillReport, ReviewRecord } from './plan-review.js';

export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

export interface NotifyEvent {
  event: NotifyEventName;
  migration: string;
  at: string;
  /** One line a person reads (Slack's `text`). */
  text: string;
  /** What else is known: request id, kind, actors, window, table and kind of drift, reasons. */
  detail: Record<string, unknown>;
}

type Webhook = TandemConfig['notify']['webhooks'][number];

/** How a webhook is named in the log: its name, else its scheme and host (never its path: Slack's is the secret). */
export function webhookLabel(w: Pick<Webhook, 'name' | 'url'>): string {
  if (w.name) return w.name;
  const m = /^(https?:\/\/)(?:[^@/?#]*@)?([^/?#]+)/.exec(w.url);
  return m ? `${m[1]}${m[2]}` : 'webhook';
}

export function bodyOf(w: Pick<Webhook, 'format'>, e: NotifyEvent): string {
  return JSON.stringify(w.format === 'slack' ? { text: e.text } : { ...e });
}

export class Notifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly config: TandemConfig,
    private readonly log: Logger,
  ) {}

  /** Sends `event` to every webhook that wants it, in the background; returns at once. */
  notify(name: NotifyEventName, text: string, detail: Record<string, unknown> = {}): void {
    const event: NotifyEvent = { event: name, migration: this.config.migration, at: new Date().toISOString(), text: `[tandem ${this.config.migration}] ${text}`, detail };
    for (const w of this.config.notify.webhooks) {
      if (w.events && !w.events.includes(name)) continue;
      const delivery = this.deliver(w, event);
      this.pending.add(delivery);
      void delivery.finally(() => this.pending.delete(delivery));
    }
  }

  /** The notifications a switch's result calls for. */
  switchResult(r: SwitchResult): void {
    const who = r.approval?.approvedBy ? `${r.approval.requestedBy}, approved by ${r.approval.approvedBy}` : (r.approval?.requestedBy ?? r.certificate?.actor);
    const base = { requestId: r.requestId, kind: r.kind, phase: r.phase, activeSide: r.activeSide, windowMs: r.windowMs, ...(who ? { actor: who } : {}) };
    if (r.result === 'pending-approval') {
      this.notify('switch.pending-approval', `${r.kind} ${r.requestId} asked for by ${r.approval?.requestedBy ?? '?'} waits for a second person's approval (until ${r.approval?.expiresAt ?? '?'})`, base);
    } else if (r.result === 'done') {
      this.notify('switch.done', `${r.kind} ${r.requestId} done: ${r.activeSide} is active (write pause ${r.windowMs ?? '?'} ms)`, base);
      if (r.kind === 'rollback') this.notify('rollback', `ROLLBACK ${r.requestId}${r.emergency ? ' (EMERGENCY)' : ''}: old is active again`, { ...base, emergency: r.emergency ?? null });
    } else if (r.result === 'backed-out' || r.result === 'failed') {
      this.notify('switch.backed-out', `${r.kind} ${r.requestId} ${r.result === 'failed' ? 'FAILED' : 'backed out'}: ${r.error?.message ?? ''} — ${r.activeSide} is still active`, { ...base, error: r.error ?? null });
    }
  }

  /** A drill finished (tandem drill): its verdict, with the reasons when it failed, and its figures. */
  drillFinished(r: DrillReport): void {
    const windows = r.cycles.map((c) => c.windowMs).filter((w): w is number => w !== null);
    const rollbacks = r.cycles.map((c) => c.timeToRollbackMs).filter((w): w is number => w !== null);
    const emergency = r.cycles.find((c) => c.switch === 'emergency-rollback');
    const figures = `${r.cycles.length} switch(es), longest window ${windows.length ? Math.max(...windows) : '?'} ms, longest time to roll back ${rollbacks.length ? Math.max(...rollbacks) : '?'} ms${emergency ? `, emergency rollback lost ${emergency.rowsLost} acknowledged write(s) on new` : ''}`;
    const text = r.verdict === 'pass' ? `rollback drill PASSED by ${r.actor}: ${figures}` : `rollback drill FAILED by ${r.actor}: ${r.reasons.join('; ')} (${figures})`;
    this.notify('drill.finished', text, {
      verdict: r.verdict,
      reasons: r.reasons,
      actor: r.actor,
      production: r.production,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      cycles: r.cycles.map((c) => ({ switch: c.switch, result: c.result, windowMs: c.windowMs, timeToRollbackMs: c.timeToRollbackMs, writesHeld: c.writesHeld, writesFailed: c.writesFailed, rowsLost: c.rowsLost })),
      ...(r.emergency ? { emergency: { lostRefs: r.emergency.lostRefs.length, resyncRequired: r.emergency.resyncRequired, next: r.emergency.next } } : {}),
    });
  }

  /** A rollback plan was reviewed (tandem plan --approve). */
  planReviewed(r: ReviewRecord, changedBefore: string[]): void {
    this.notify('plan.reviewed', `rollback plan reviewed by ${r.by} (${r.hash.slice(0, 19)}…)${changedBefore.length ? `; changed since the previous review: ${changedBefore.join('; ')}` : ''}`, { by: r.by, at: r.at, hash: r.hash, tables: r.material.tables.length, changedSincePreviousReview: changedBefore });
  }

  /**
   * For a command that exits when done (tandem drill, tandem plan --approve): waits for deliveries under way, at
   * most `ms`; true when all ended (delivered or given up).
   */
  async settledWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.settled().then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits for deliveries under way (tests; a stopping service gives them a moment). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.pending]);
  }

  private async deliver(w: Webhook, e: NotifyEvent): Promise<void> {
    const label = webhookLabel(w);
    try {
      await pRetry(
        async () => {
          const res = await fetch(w.url, { method: 'POST', headers: { 'content-type': 'application/json', ...w.headers }, body: bodyOf(w, e), signal: AbortSignal.timeout(w.timeout) });
          await res.body?.cancel().catch(() => undefined);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
        },
        {
          retries: w.retries,
          minTimeout: 500,
          factor: 2,
          maxTimeout: 30_000,
          onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
            if (retriesLeft > 0) this.log.warn({ webhook: label, event: e.event, attempt: attemptNumber, err: redact(errorMessage(error)) }, `notification to ${label} failed; retrying`);
          },
        },
      );
      this.log.debug({ webhook: label, event: e.event }, 'notification sent');
    } catch (err) {
      this.log.error({ webhook: label, event: e.event, err: redact(errorMessage(err)) }, `notification ${e.event} to ${label} not delivered after ${w.retries + 1} attempt(s)`);
    }
  }
}

/**
 * Watches what has no single moment in the code: drift appearing (0 → some, or more than before) and rollback
 * readiness going from ready to not ready after a cutover. Checked every `notify.interval`.
 */
export function watchForNotifications(
  notifier: Notifier,
  intervalMs: number,
  read: { drift(): Promise<Array<{ table: string; rows: number; kinds: Record<string, number> }> | null>; rollback(): Promise<{ ready: boolean; reasons: string[] } | null> },
  log: Logger,
): { stop(): void } {
  let lastDrift = new Map<string, number>();
  let wasReady: boolean | null = null;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const drift = await read.drift();
      if (drift) {
        const now = new Map(drift.map((d) => [d.table, d.rows]));
        const grown = drift.filter((d) => d.rows > (lastDrift.get(d.table) ?? 0));
        if (grown.length) {
          const total = drift.reduce((n, d) => n + d.rows, 0);
          notifier.notify('drift.found', `drift found: ${grown.map((d) => `${d.table} ${d.rows} row(s) (${Object.entries(d.kinds).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')})`).join('; ')} — tandem verify --json lists them`, {
            tables: grown,
            totalRows: total,
          });
        }
        lastDrift = now;
      }
      const rollback = await read.rollback();
      if (rollback) {
        if (wasReady === true && !rollback.ready) notifier.notify('rollback-readiness.lost', `rollback is no longer ready: ${rollback.reasons.join('; ')}`, { reasons: rollback.reasons });
        wasReady = rollback.ready;
      } else {
        wasReady = null;
      }
    } catch (err) {
      log.debug({ err: errorMessage(err) }, 'notification watch: could not read drift or rollback readiness this time');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
