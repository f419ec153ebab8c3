/**
 * One acting instance per migration (DESIGN.md "Control state"). The lease lives in the state store on old; its
 * expiry is judged by old's clock. Its epoch is a fencing token: it is recorded on the shadow before this instance
 * writes there, and every shadow commit and control-state write proves it in the same transaction, so an instance
 * that lost the lease (paused, partitioned) cannot write after another took over.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Logger } from 'pino';
import { TandemError, errorMessage } from '../errors.js';
import { leaseIsLive, type LeaseHolder, type LeaseRecord } from '../model/control.js';
import type { SideName } from '../model/direction.js';
import type { StateStore } from './state-store.js';

export interface LeaseOptions {
  ttlMs: number;
  /** Wait for the holder's lease to expire instead of refusing (tandem run --standby). */
  wait?: boolean;
  signal?: AbortSignal;
  log: Logger;
  /** The fix printed when the lease is held (default: stop the holder, or use --standby). */
  heldFix?: string;
}

export function newHolder(role: LeaseHolder['role'], api: string | null = null): LeaseHolder {
  return { id: randomUUID(), role, host: hostname(), pid: process.pid, api, startedAt: new Date().toISOString() };
}

/** `service on host-a (pid 123) since 10:00:01Z`, for messages. */
export function describeHolder(lease: LeaseRecord): string {
  const what = lease.role === 'service' ? 'tandem run' : `tandem ${lease.role}`;
  return `${what} on ${lease.host} (pid ${lease.pid}) since ${lease.acquiredAt || lease.startedAt}${lease.api ? `, API ${lease.api}` : ''}`;
}

export function leaseHeldError(lease: LeaseRecord, migration: string, fix?: string): TandemError {
  return new TandemError('TANDEM_LEASE_HELD', `migration ${migration} is already being run by ${describeHolder(lease)}; its lease expires in ${Math.max(0, Math.ceil(lease.remainingMs / 1000))} s unless renewed`, {
    fix: fix ?? 'only one instance acts per migration: stop that one first, or start this one with --standby to take over when it stops',
  });
}

export class Lease {
  private lost: TandemError | undefined;
  private readonly lostListeners: Array<(err: TandemError) => void> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastRenewal = Date.now();
  private released = false;

  private constructor(
    private readonly store: StateStore,
    readonly record: LeaseRecord,
    private readonly ttlMs: number,
    private readonly log: Logger,
  ) {}

  get epoch(): number {
    return this.record.epoch;
  }

  get holderId(): string {
    return this.record.id;
  }

  /** The reason this instance may no longer act, once the lease is lost. */
  get lostReason(): TandemError | undefined {
    return this.lost;
  }

  /**
   * Takes the lease, or refuses with TANDEM_LEASE_HELD naming the holder; with `wait`, polls until the holder's
   * lease expires (or it releases it) and takes over then.
   */
  static async acquire(store: StateStore, holder: LeaseHolder, opts: LeaseOptions): Promise<Lease> {
    const secret = randomBytes(24).toString('base64url');
    let announced = '';
    let replacing: string | undefined;
    for (;;) {
      const record = await store.tryAcquireLease(holder, opts.ttlMs, secret, replacing);
      if (record) {
        opts.log.info({ epoch: record.epoch, holder: holder.id }, 'lease acquired: this instance acts for the migration');
        return new Lease(store, record, opts.ttlMs, opts.log);
      }
      const { lease } = await store.readLease();
      if (leaseIsLive(lease) && holderIsGone(lease)) {
        // Killed on this very host (kill -9, a crash): nobody can be acting under that lease, so waiting out its
        // expiry would only delay the restart. Its epoch is still superseded, so nothing it left half-done commits.
        opts.log.warn({ holder: describeHolder(lease) }, 'the previous holder of the lease is no longer running on this host: taking over');
        replacing = lease.id;
        continue;
      }
      if (!opts.wait) {
        if (leaseIsLive(lease)) throw leaseHeldError(lease, store.migration, opts.heldFix);
        continue; // it expired between the two reads: try again
      }
      if (lease && leaseIsLive(lease) && lease.id !== announced) {
        announced = lease.id;
        opts.log.info({ holder: describeHolder(lease), expiresInMs: lease.remainingMs }, 'standby: waiting for the holder of the lease to stop or expire');
      }
      await new Promise((r) => setTimeout(r, Math.min(1_000, Math.max(100, opts.ttlMs / 10))));
      if (opts.signal?.aborted) throw new TandemError('TANDEM_LEASE_HELD', 'stopped while waiting for the lease', { fix: 'nothing to do' });
    }
  }

  /** Records this lease's epoch on a side other than old (the mirror, the shadow): writes there under older epochs fail. */
  async recordOn(side: SideName): Promise<void> {
    if (side === 'old') return;
    const ok = await this.store.recordEpoch(side, this.record);
    if (!ok) this.markLost(new TandemError('TANDEM_LEASE_LOST', `a newer lease epoch than ${this.epoch} is recorded on ${side}: another instance took over`, { fix: 'nothing to repair: tandem status names the instance that acts now' }));
    this.throwIfLost();
  }

  /** Renews every third of the TTL; `heartbeat` is the status to publish with each renewal. */
  startRenewing(heartbeat: () => string | null, afterRenewal?: () => Promise<void>): void {
    const every = renewInterval(this.ttlMs);
    const tick = async () => {
      if (this.lost || this.released) return;
      try {
        const ok = await this.store.renewLease(this.holderId, this.epoch, this.ttlMs, heartbeat());
        if (!ok) {
          this.markLost(new TandemError('TANDEM_LEASE_LOST', `this instance's lease (epoch ${this.epoch}) was taken over by another instance`, {
            fix: 'nothing to repair: tandem status names the instance that acts now',
          }));
          return;
        }
        this.lastRenewal = Date.now();
        await afterRenewal?.();
      } catch (err) {
        // Old cannot be reached. Past the TTL another instance may have taken over: stop acting.
        this.log.warn({ err: errorMessage(err) }, 'cannot renew the lease');
        if (Date.now() - this.lastRenewal > this.ttlMs) {
          this.markLost(new TandemError('TANDEM_LEASE_LOST', `the lease could not be renewed for ${Math.round((Date.now() - this.lastRenewal) / 1000)} s (${errorMessage(err)}); another instance may have taken over`, {
            fix: 'start tandem run again once old is reachable: it takes the lease back if nobody else holds it',
            retriable: true,
          }));
        }
      } finally {
        if (!this.lost && !this.released) this.timer = setTimeout(() => void tick(), every);
      }
    };
    this.timer = setTimeout(() => void tick(), every);
  }

  onLost(listener: (err: TandemError) => void): void {
    if (this.lost) listener(this.lost);
    else this.lostListeners.push(listener);
  }

  throwIfLost(): void {
    if (this.lost) throw this.lost;
  }

  private markLost(err: TandemError): void {
    if (this.lost) return;
    this.lost = err;
    this.log.error({ code: err.code, err: err.message }, 'lease lost: this instance stops acting');
    for (const l of this.lostListeners) l(err);
  }

  /** Gives the lease up at once, so a standby takes over without waiting for expiry. */
  async release(): Promise<void> {
    this.released = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.lost) return;
    await this.store.releaseLease(this.holderId, this.epoch).catch((err: unknown) => this.log.warn({ err: errorMessage(err) }, 'cannot release the lease; it expires by itself'));
  }
}

/** How often a holder renews its lease: a third of the TTL, so two renewals may fail before it expires. */
export function renewInterval(ttlMs: number): number {
  return Math.max(200, Math.floor(ttlMs / 3));
}

/** A holder on this host whose process no longer exists. */
export function holderIsGone(lease: LeaseRecord): boolean {
  if (lease.host !== hostname() || lease.pid <= 0 || lease.pid === process.pid) return false;
  try {
    process.kill(lease.pid, 0);
    return false;
  } catch (err) {
    // EPERM: the process exists under another user.
    return (err as { code?: string }).code === 'ESRCH';
  }
}

/** A holder on this host whose process still exists (it may be paused). */
export function holderAliveHere(lease: LeaseRecord): boolean {
  return lease.host === hostname() && lease.pid > 0 && !holderIsGone(lease);
}

/** The OS user, for actors such as `local:alice`. */
export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}
