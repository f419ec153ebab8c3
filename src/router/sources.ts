/**
 * Where the router learns which side is active. Two sources share one interface: polling the service's
 * `GET /api/v1/active-side` (the lease holder answers from memory, so a short interval costs the databases nothing),
 * and the service's event stream (`GET /api/v1/events`, server-sent events), where every event makes the router read
 * the view again at once and the poll slows down to a safety net. In both, the view read from the service is the
 * truth; events only say when to read it. A source that cannot reach the service for `staleAfterMs` reports the
 * side as unknown, and the router stops sending writes (fail safe).
 */
import type { ActiveSideView } from '../model/router.js';

export type ViewListener = (view: ActiveSideView | null, reason?: string) => void;

export interface ActiveSideSource {
  start(listener: ViewListener): void;
  stop(): void;
}

export interface ServiceEndpoint {
  /** The service's base URL, e.g. http://tandem.internal:7420. */
  url: string;
  /** A token with role read. */
  token: string;
}

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export async function readView(service: ServiceEndpoint, timeoutMs: number): Promise<ActiveSideView> {
  const res = await fetch(`${trimSlash(service.url)}/api/v1/active-side`, { headers: { authorization: `Bearer ${service.token}` }, signal: AbortSignal.timeout(timeoutMs) });
  const body = (await res.json().catch(() => ({}))) as ActiveSideView & { error?: { message?: string } };
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.error?.message ?? 'no answer'}`);
  return body;
}

/** Reads the view every `intervalMs`; `refreshNow()` reads it at once (the events source's trigger). */
export class PollingSource implements ActiveSideSource {
  private stopped = false;
  private lastOk = 0;
  private wake: (() => void) | undefined;
  protected interval: number;

  constructor(
    protected readonly service: ServiceEndpoint,
    protected readonly opts: { intervalMs?: number; staleAfterMs?: number; requestTimeoutMs?: number } = {},
  ) {
    this.interval = opts.intervalMs ?? 100;
  }

  start(listener: ViewListener): void {
    this.lastOk = Date.now();
    void this.loop(listener);
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  refreshNow(): void {
    this.wake?.();
  }

  private async loop(listener: ViewListener): Promise<void> {
    const staleAfter = this.opts.staleAfterMs ?? 2_000;
    while (!this.stopped) {
      try {
        const view = await readView(this.service, this.opts.requestTimeoutMs ?? Math.min(staleAfter, 2_000));
        this.lastOk = Date.now();
        if (!this.stopped) listener(view);
      } catch (err) {
        // A blip is ridden out on the last view; past staleAfterMs nothing can be known, so writes stop.
        if (!this.stopped && Date.now() - this.lastOk >= staleAfter) listener(null, `the service at ${this.service.url} did not answer for ${Date.now() - this.lastOk} ms: ${(err as Error).message}`);
      }
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, this.interval);
        this.wake = done;
      });
    }
  }
}

/**
 * The event stream as a trigger: each event (a phase change, a switch step, a switch done…) reads the view at once.
 * While the stream is connected the poll slows to `connectedIntervalMs`; while it is not (the service restarting,
 * an older service without /api/v1/events) the source polls at the fast interval. Reconnects resume with
 * Last-Event-ID.
 */
export class EventsSource extends PollingSource {
  private controller: AbortController | undefined;
  private lastEventId: string | undefined;
  private closed = false;

  constructor(service: ServiceEndpoint, opts: { intervalMs?: number; connectedIntervalMs?: number; staleAfterMs?: number } = {}) {
    super(service, opts);
    this.fast = opts.intervalMs ?? 100;
    this.slow = opts.connectedIntervalMs ?? 1_000;
  }

  private readonly fast: number;
  private readonly slow: number;

  override start(listener: ViewListener): void {
    super.start(listener);
    void this.stream();
  }

  override stop(): void {
    this.closed = true;
    this.controller?.abort();
    super.stop();
  }

  private async stream(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      this.controller = new AbortController();
      try {
        const res = await fetch(`${trimSlash(this.service.url)}/api/v1/events`, {
          headers: { authorization: `Bearer ${this.service.token}`, accept: 'text/event-stream', ...(this.lastEventId ? { 'last-event-id': this.lastEventId } : {}) },
          signal: this.controller.signal,
        });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        attempt = 0;
        this.interval = this.slow;
        this.refreshNow();
        await this.readEvents(res.body);
      } catch {
        // Disconnected: poll fast until the stream is back.
      }
      this.interval = this.fast;
      this.refreshNow();
      if (!this.closed) await new Promise((r) => setTimeout(r, Math.min(5_000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }

  /** Parses text/event-stream: each blank-line-terminated event reads the view again; `id:` is kept for resuming. */
  private async readEvents(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
        let isEvent = false;
        for (const line of block.split(/\r?\n/)) {
          if (line.startsWith('id:')) this.lastEventId = line.slice(3).trim();
          if (line.startsWith('data:') || line.startsWith('event:')) isEvent = true;
        }
        if (isEvent) this.refreshNow();
      }
    }
  }
}
