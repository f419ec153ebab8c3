/**
 * The service's side of the application router's hold protocol (docs/router.md). Routers register and heartbeat
 * (POST /api/v1/routers); before a switch fences the active side it waits until every live router has acknowledged
 * that it holds new writes and its open transactions have finished (POST /api/v1/routers/hold-ack), bounded by
 * `cutover.holdTimeout`. A router that does not answer in time does not stop the switch: the fence still refuses
 * its writes, so the data stays whole; only that application sees errors instead of a pause.
 *
 * Registrations live in the service's memory: a router heartbeats every few seconds, so a standby that takes over
 * knows every live router again within one heartbeat.
 */

/** How often a router says it is alive, and how long after its last word it still counts as live. */
export const ROUTER_HEARTBEAT_MS = 2_000;
const LIVE_FOR_MS = 3 * ROUTER_HEARTBEAT_MS;

export interface RouterEntry {
  name: string;
  /** The token's actor that registered it (audited in the switch's log). */
  actor: string;
  registeredAt: string;
  lastSeenAt: number;
  /** The switch request whose hold it last acknowledged. */
  heldFor: string | null;
}

export interface HoldOutcome {
  acknowledged: string[];
  /** Live routers that did not acknowledge within the hold timeout. */
  missing: string[];
  waitedMs: number;
}

export class RouterRegistry {
  private readonly routers = new Map<string, RouterEntry>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Registers a router or renews it (the same call is its heartbeat). */
  register(name: string, actor: string): { heartbeatMs: number } {
    const known = this.routers.get(name);
    if (known) {
      known.lastSeenAt = this.now();
      known.actor = actor;
    } else {
      this.routers.set(name, { name, actor, registeredAt: new Date(this.now()).toISOString(), lastSeenAt: this.now(), heldFor: null });
    }
    return { heartbeatMs: ROUTER_HEARTBEAT_MS };
  }

  remove(name: string): boolean {
    const had = this.routers.delete(name);
    this.wake();
    return had;
  }

  /** A router says it holds writes for `requestId` (nothing of its own is in flight). */
  acknowledge(name: string, requestId: string, actor: string): void {
    this.register(name, actor);
    (this.routers.get(name) as RouterEntry).heldFor = requestId;
    this.wake();
  }

  live(): RouterEntry[] {
    const since = this.now() - LIVE_FOR_MS;
    return [...this.routers.values()].filter((r) => r.lastSeenAt >= since);
  }

  list(): Array<RouterEntry & { live: boolean }> {
    const live = new Set(this.live().map((r) => r.name));
    return [...this.routers.values()].map((r) => ({ ...r, live: live.has(r.name) }));
  }

  /**
   * Waits until every router live now has acknowledged `requestId`'s hold, or `timeoutMs` passed. A router that
   * stops heartbeating meanwhile is no longer waited for.
   */
  async waitForHolds(requestId: string, timeoutMs: number): Promise<HoldOutcome> {
    const started = this.now();
    const deadline = performance.now() + timeoutMs;
    const expected = new Set(this.live().map((r) => r.name));
    const pending = () => [...expected].filter((name) => {
      const r = this.routers.get(name);
      return r !== undefined && r.heldFor !== requestId && r.lastSeenAt >= this.now() - LIVE_FOR_MS;
    });
    while (pending().length && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(250, Math.max(1, deadline - performance.now())));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
    const missing = pending();
    return { acknowledged: [...expected].filter((n) => !missing.includes(n) && this.routers.get(n)?.heldFor === requestId), missing, waitedMs: this.now() - started };
  }

  private wake(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) w();
  }
}
