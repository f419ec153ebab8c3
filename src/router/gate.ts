/**
 * The router's write gate: which side takes writes now, and whether they must wait. Pure logic (no I/O), so its
 * rules are tested alone: writes pass while the active side is known and no switch runs; while a switch runs or the
 * active side cannot be told, new writes wait (up to their timeout) and the writes already in flight finish; once
 * they have, the hold is acknowledged once per switch.
 */
import type { SideName } from '../model/direction.js';
import { RouterError } from './errors.js';

export type GateState = { kind: 'open'; side: SideName } | { kind: 'holding'; requestId: string; side: SideName } | { kind: 'unknown'; reason: string };

interface Waiter {
  resolve: (side: SideName) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class WriteGate {
  private current: GateState = { kind: 'unknown', reason: 'the active side has not been read yet' };
  private inFlight = 0;
  private readonly waiters = new Set<Waiter>();
  private acknowledged: string | null = null;
  private heldCount = 0;
  private refusedCount = 0;

  /** `onHeld(requestId)` runs when a switch's hold is in place: no write of this router is in flight. */
  constructor(private readonly onHeld: (requestId: string) => void) {}

  get state(): GateState {
    return this.current;
  }

  get writesInFlight(): number {
    return this.inFlight;
  }

  get waiting(): number {
    return this.waiters.size;
  }

  /** Writes that had to wait (a switch announced, or the active side unknown) since the gate was made. */
  get held(): number {
    return this.heldCount;
  }

  /** Writes that waited past their timeout, or were waiting when the gate closed: never sent to either side. */
  get refused(): number {
    return this.refusedCount;
  }

  set(next: GateState): void {
    this.current = next;
    if (next.kind === 'open') {
      for (const w of [...this.waiters]) this.admit(w, next.side);
    }
    this.checkHeld();
  }

  /** Lets a write in (resolves with the side to write to) or makes it wait; rejects after `timeoutMs` of waiting. */
  acquire(timeoutMs: number): Promise<SideName> {
    const now = this.current;
    if (now.kind === 'open') {
      this.inFlight++;
      return Promise.resolve(now.side);
    }
    this.heldCount++;
    return new Promise<SideName>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          this.refusedCount++;
          reject(this.timeoutError(timeoutMs));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** A write admitted by `acquire` has finished (committed, failed or rolled back). */
  release(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    this.checkHeld();
  }

  /** Rejects every waiting write (the router closes). */
  close(reason: string): void {
    for (const w of [...this.waiters]) {
      clearTimeout(w.timer);
      this.waiters.delete(w);
      this.refusedCount++;
      w.reject(new RouterError('TANDEM_ROUTER_CLOSED', `the router was closed while this write waited: ${reason}`, 'do not use a router after close()'));
    }
  }

  private admit(w: Waiter, side: SideName): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
    this.inFlight++;
    w.resolve(side);
  }

  private checkHeld(): void {
    const now = this.current;
    if (now.kind === 'holding' && this.inFlight === 0 && this.acknowledged !== now.requestId) {
      this.acknowledged = now.requestId;
      this.onHeld(now.requestId);
    }
  }

  /** The hold's acknowledgement did not reach the service: ask for it again with the next view. */
  retryAcknowledgement(requestId: string): void {
    if (this.acknowledged === requestId) this.acknowledged = null;
  }

  private timeoutError(timeoutMs: number): RouterError {
    const now = this.current;
    if (now.kind === 'unknown') {
      return new RouterError('TANDEM_ROUTER_NO_ACTIVE_SIDE', `the write was refused after waiting ${timeoutMs} ms: the router cannot tell which side is active (${now.reason})`, 'check that tandem run is up and reachable with the router\'s token (tandem status); the write was not sent to either side');
    }
    const step = now.kind === 'holding' ? ` (switch ${now.requestId})` : '';
    return new RouterError('TANDEM_ROUTER_HOLD_TIMEOUT', `the write was held ${timeoutMs} ms for a switch${step} and not sent: the switch did not finish in time`, 'retry the write; tandem status shows the switch (raise holdTimeoutMs if switches take longer)');
  }
}
