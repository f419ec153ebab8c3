/**
 * `tandem/router`: the application's side of a switch (docs/router.md). Given both sides' pools and the service's
 * URL and a read token, `query` and `transaction` go to the active side. When a switch is announced the router holds
 * new writes, lets its open transactions finish and acknowledges the hold to the service (the switch waits for that
 * before it fences); when the switch completes (or backs out) held writes go to the side that is active then. The
 * application sees a pause, not errors. Held writes time out with a clear error; when the router cannot tell which
 * side is active it sends nothing (fail safe).
 *
 * It imports only Tandem's model (enforced by the layering rules): an application does not pull in the engines,
 * the replication or the service. Drivers are described by the few methods used, so any recent `pg` and `mysql2`
 * pool fits.
 */
import { hostname } from 'node:os';
import type { ActiveSideView } from '../model/router.js';
import type { SideName } from '../model/direction.js';
import { RouterError } from './errors.js';
import { WriteGate, type GateState } from './gate.js';
import { EventsSource, PollingSource, type ActiveSideSource, type ServiceEndpoint } from './sources.js';

export { RouterError, type RouterErrorCode } from './errors.js';
export { EventsSource, PollingSource, type ActiveSideSource, type ServiceEndpoint, type ViewListener } from './sources.js';
export type { GateState } from './gate.js';
export type { ActiveSideView } from '../model/router.js';
export type { SideName } from '../model/direction.js';

/** One side's way to run a statement and a transaction (see pgSide, mysqlSide). */
export interface SideDriver<R, C> {
  query(sql: string, params?: unknown[]): Promise<R>;
  transaction<T>(fn: (client: C) => Promise<T>): Promise<T>;
}

export interface RouterOptions<R, C> {
  /** The service: its base URL and a token with role read. */
  service: ServiceEndpoint;
  old: SideDriver<R, C>;
  new: SideDriver<R, C>;
  /** How this router is named in the service's registry and log (default host:pid). */
  name?: string;
  /** How long a write may wait for a switch, or for the active side to be known, before it fails (default 30 s). */
  holdTimeoutMs?: number;
  /** 'events' (default): the service's event stream, with polling as its safety net; 'poll': polling only. */
  source?: 'events' | 'poll' | ActiveSideSource;
  /** Fast poll interval (default 100 ms). */
  pollIntervalMs?: number;
  /** The service silent this long: writes stop (default 2 s; keep it below the service's cutover.holdTimeout). */
  staleAfterMs?: number;
  /** Registration and acknowledgement failures (retried); default: ignored. */
  onError?: (err: Error) => void;
}

export interface RouterStats {
  /** Writes that waited before being sent (counted once each, when they began to wait). */
  held: number;
  /** Held writes that were never sent: TANDEM_ROUTER_HOLD_TIMEOUT, TANDEM_ROUTER_NO_ACTIVE_SIDE, TANDEM_ROUTER_CLOSED. */
  refused: number;
  /** Writes waiting now. */
  waiting: number;
  /** Writes sent and not yet finished. */
  inFlight: number;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export class Router<R, C> {
  private readonly gate: WriteGate;
  private readonly source: ActiveSideSource;
  private readonly name: string;
  private heartbeat: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: RouterOptions<R, C>) {
    if (!opts.service?.url || !opts.service.token) throw new RouterError('TANDEM_ROUTER_CONFIG', 'the router needs service.url and service.token', 'pass the URL of tandem run\'s API and a token with role read (api.tokens)');
    this.name = opts.name ?? `${hostname()}:${process.pid}`;
    this.gate = new WriteGate((requestId) => void this.acknowledge(requestId));
    const poll = { intervalMs: opts.pollIntervalMs, staleAfterMs: opts.staleAfterMs };
    this.source = typeof opts.source === 'object' ? opts.source : opts.source === 'poll' ? new PollingSource(opts.service, poll) : new EventsSource(opts.service, poll);
    this.source.start((view, reason) => this.onView(view, reason));
    void this.register();
    this.heartbeat = setInterval(() => void this.register(), 2_000);
    this.heartbeat.unref();
  }

  /** The side writes go to now; null while a switch runs or the active side is not known. */
  get activeSide(): SideName | null {
    const s = this.gate.state;
    return s.kind === 'open' ? s.side : null;
  }

  get state(): GateState {
    return this.gate.state;
  }

  /**
   * What this router did with the application's writes so far: how many it held (a switch announced, or the active
   * side unknown) and how many it refused after holding them (timed out, or the router closed). For an
   * application's metrics, and the figures `tandem drill` reports.
   */
  stats(): RouterStats {
    return { held: this.gate.held, refused: this.gate.refused, waiting: this.gate.waiting, inFlight: this.gate.writesInFlight };
  }

  /** Resolves once writes can go somewhere (the first view read), or rejects after `timeoutMs`. */
  async ready(timeoutMs = this.opts.holdTimeoutMs ?? 30_000): Promise<SideName> {
    const side = await this.gate.acquire(timeoutMs);
    this.gate.release();
    return side;
  }

  /** Runs one statement on the active side (held during a switch). */
  query(sql: string, params?: unknown[]): Promise<R> {
    return this.run((side) => this.driver(side).query(sql, params));
  }

  /**
   * Runs `fn` in a transaction on the active side: BEGIN before, COMMIT after, ROLLBACK when it throws. A switch
   * announced meanwhile waits for it to end before the active side is fenced.
   */
  transaction<T>(fn: (client: C, side: SideName) => Promise<T>): Promise<T> {
    return this.run((side) => this.driver(side).transaction((client) => fn(client, side)));
  }

  /** Stops following the service and leaves its registry; writes still waiting fail with TANDEM_ROUTER_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.source.stop();
    this.gate.close('close() was called');
    await this.post('DELETE', `/api/v1/routers/${encodeURIComponent(this.name)}`).catch(() => undefined);
  }

  private driver(side: SideName): SideDriver<R, C> {
    return side === 'old' ? this.opts.old : this.opts.new;
  }

  private async run<T>(work: (side: SideName) => Promise<T>): Promise<T> {
    if (this.closed) throw new RouterError('TANDEM_ROUTER_CLOSED', 'the router is closed', 'do not use a router after close()');
    const side = await this.gate.acquire(this.opts.holdTimeoutMs ?? 30_000);
    try {
      return await work(side);
    } finally {
      this.gate.release();
    }
  }

  private onView(view: ActiveSideView | null, reason?: string): void {
    if (this.closed) return;
    if (!view) return this.gate.set({ kind: 'unknown', reason: reason ?? 'the service cannot be reached' });
    if (view.switch) {
      return this.gate.set({ kind: 'holding', requestId: view.switch.requestId, side: view.activeSide });
    }
    this.gate.set({ kind: 'open', side: view.activeSide });
  }

  private async register(): Promise<void> {
    if (this.closed) return;
    try {
      await this.post('POST', '/api/v1/routers', { name: this.name });
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  private async acknowledge(requestId: string): Promise<void> {
    try {
      await this.post('POST', '/api/v1/routers/hold-ack', { name: this.name, requestId });
    } catch (err) {
      this.gate.retryAcknowledgement(requestId);
      this.opts.onError?.(err as Error);
    }
  }

  private async post(method: 'POST' | 'DELETE', path: string, body?: unknown): Promise<void> {
    const res = await fetch(`${trimSlash(this.opts.service.url)}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.opts.service.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(2_000),
    });
    if (!res.ok) throw new Error(`${method} ${path}: HTTP ${res.status} ${await res.text().catch(() => '')}`);
    await res.body?.cancel().catch(() => undefined);
  }
}

// --- drivers ---

/** What the router uses of a node-postgres Pool. */
export interface PgPoolLike<R> {
  query(text: string, values?: unknown[]): Promise<R>;
  connect(): Promise<PgClientLike<R>>;
}
export interface PgClientLike<R> {
  query(text: string, values?: unknown[]): Promise<R>;
  release(err?: Error | boolean): void;
}

export function pgSide<R>(pool: PgPoolLike<R>): SideDriver<R, PgClientLike<R>> {
  return {
    query: (sql, params) => pool.query(sql, params),
    async transaction(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(client);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        client.release(broken);
      }
    },
  };
}

/** What the router uses of a mysql2/promise Pool. */
export interface MysqlPoolLike<R> {
  query(sql: string, values?: unknown): Promise<R>;
  getConnection(): Promise<MysqlConnectionLike<R>>;
}
export interface MysqlConnectionLike<R> {
  query(sql: string, values?: unknown): Promise<R>;
  beginTransaction(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  release(): void;
}

export function mysqlSide<R>(pool: MysqlPoolLike<R>): SideDriver<R, MysqlConnectionLike<R>> {
  return {
    query: (sql, params) => pool.query(sql, params),
    async transaction(fn) {
      const conn = await pool.getConnection();
      try {
        await conn.beginTransaction();
        const result = await fn(conn);
        await conn.commit();
        return result;
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
  };
}

/** A router over two node-postgres pools. */
export function pgRouter<R>(opts: Omit<RouterOptions<R, PgClientLike<R>>, 'old' | 'new'> & { old: PgPoolLike<R>; new: PgPoolLike<R> }): Router<R, PgClientLike<R>> {
  return new Router({ ...opts, old: pgSide(opts.old), new: pgSide(opts.new) });
}

/** A router over two mysql2/promise pools. */
export function mysqlRouter<R>(opts: Omit<RouterOptions<R, MysqlConnectionLike<R>>, 'old' | 'new'> & { old: MysqlPoolLike<R>; new: MysqlPoolLike<R> }): Router<R, MysqlConnectionLike<R>> {
  return new Router({ ...opts, old: mysqlSide(opts.old), new: mysqlSide(opts.new) });
}
