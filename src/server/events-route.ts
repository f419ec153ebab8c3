/**
 * GET /api/v1/events: server-sent events (role read). Every bus event goes out with its id; a client reconnecting
 * with `Last-Event-ID` gets the events it missed first, or a `reset` (reload the state) when they are no longer all
 * kept. A new client's first event, `hello`, carries the current id, so even a client that saw no event yet resumes
 * without loss. Lag samples for the chart go out as `sample` events without an id: they are not replayed.
 */
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import type { EventBus, Sample, TandemEvent } from '../control/events.js';

export interface EventsSource {
  events: EventBus;
  samples(): Sample[];
  onSample(listener: (s: Sample) => void): () => void;
}

const LAST_EVENT_ID = /^[0-9a-f]{1,16}-\d{1,15}$/;
const KEEPALIVE_MS = 15_000;

function frame(id: string | null, type: string, data: unknown): string {
  // JSON never contains a raw newline, so one data line carries it.
  return `${id === null ? '' : `id: ${id}\n`}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

const eventFrame = (e: TandemEvent) => frame(e.id, e.type, { id: e.id, type: e.type, at: e.at, ...e.data });

export function registerEvents(app: FastifyInstance, ctx: EventsSource): void {
  const open = new Set<ServerResponse>();
  // Streams never end by themselves: closing the server ends them, or close would wait for every dashboard.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });

  app.get('/api/v1/samples', { config: { role: 'read' } }, async () => ({ samples: ctx.samples() }));

  app.get('/api/v1/events', { config: { role: 'read' } }, (req, reply) => {
    const header = req.headers['last-event-id'];
    const lastEventId = typeof header === 'string' && header.trim() !== '' ? header.trim() : undefined;
    if (lastEventId !== undefined && !LAST_EVENT_ID.test(lastEventId)) {
      return reply.code(400).send({
        error: { code: 'TANDEM_API_BAD_REQUEST', field: 'last-event-id', message: `last-event-id header "${lastEventId.slice(0, 40)}" is not an event id of this API`, fix: 'send back the id of the last event received, or leave the header out' },
      });
    }
    const bus = ctx.events;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write('retry: 2000\n\n');
    open.add(res);
    // Subscribing and replaying in the same tick: no event falls between the replay and the live ones.
    const offBus = bus.subscribe((e) => res.write(eventFrame(e)));
    const offSample = ctx.onSample((s) => res.write(frame(null, 'sample', s)));
    const replay = bus.since(lastEventId);
    const now = bus.lastId ?? `${bus.boot}-0`;
    if (replay.reset) res.write(frame(now, 'reset', { id: now, reason: replay.reason }));
    else if (lastEventId === undefined) res.write(frame(now, 'hello', { id: now }));
    else for (const e of replay.events) res.write(eventFrame(e));
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    res.on('close', () => {
      clearInterval(keepalive);
      offBus();
      offSample();
      open.delete(res);
    });
  });
}
