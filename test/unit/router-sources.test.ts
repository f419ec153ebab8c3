/**
 * The router's sources of the active side against a real local HTTP server speaking the service's routes: the
 * event stream makes the router read the view at once (the poll alone is slowed to a minute here), a reconnect
 * resumes with Last-Event-ID, and a service that stops answering makes the side unknown (writes stop).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventsSource, PollingSource, type ActiveSideView } from '../../src/router/index.js';
import { waitUntil } from '../harness/tandem-process.js';

async function fakeService() {
  const state = { activeSide: 'old' as 'old' | 'new', failing: false, reads: 0, lastEventIds: [] as Array<string | undefined>, streams: [] as ServerResponse[] };
  const server = createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer t0ken-for-the-router') return void res.writeHead(401).end('{}');
    if (req.url === '/api/v1/active-side') {
      state.reads++;
      if (state.failing) return void res.writeHead(503).end('{"error":{"message":"standby"}}');
      const view: ActiveSideView = { migration: 'm', phase: 'shadowing', activeSide: state.activeSide, direction: state.activeSide === 'old' ? 'forward' : 'reverse', switch: null };
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(view));
    }
    if (req.url === '/api/v1/events') {
      state.lastEventIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      state.streams.push(res);
      return;
    }
    res.writeHead(404).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    state,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    emit: (id: number, event: string) => state.streams.at(-1)?.write(`id: ${id}\nevent: ${event}\ndata: {"step":"done"}\n\n`),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('router sources', () => {
  const stops: Array<() => unknown> = [];
  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
  });

  it('events: each event reads the view at once; a reconnect resumes with Last-Event-ID', async () => {
    const svc = await fakeService();
    stops.push(svc.close);
    const views: Array<ActiveSideView | null> = [];
    const source = new EventsSource({ url: svc.url, token: 't0ken-for-the-router' }, { intervalMs: 100, connectedIntervalMs: 60_000 });
    source.start((v) => views.push(v));
    stops.push(() => source.stop());
    await waitUntil('the stream to connect and the first view', async () => svc.state.streams.length === 1 && views.at(-1)?.activeSide === 'old', 10_000, 20);
    await waitUntil('the fast poll to settle to the slow one', async () => {
      const before = svc.state.reads;
      await new Promise((r) => setTimeout(r, 400));
      return svc.state.reads === before;
    }, 10_000, 0);
    svc.state.activeSide = 'new';
    svc.emit(7, 'switch-done');
    await waitUntil('the event to make the source read the new side', async () => views.at(-1)?.activeSide === 'new', 5_000, 20);
    svc.state.streams.at(-1)?.end();
    await waitUntil('the stream to reconnect', async () => svc.state.streams.length === 2, 10_000, 20);
    expect(svc.state.lastEventIds).toEqual([undefined, '7']);
  });

  it('polling: a service that stops answering makes the side unknown after staleAfterMs, with the reason', async () => {
    const svc = await fakeService();
    stops.push(svc.close);
    const seen: Array<{ view: ActiveSideView | null; reason?: string }> = [];
    const source = new PollingSource({ url: svc.url, token: 't0ken-for-the-router' }, { intervalMs: 50, staleAfterMs: 300 });
    source.start((view, reason) => seen.push({ view, reason }));
    stops.push(() => source.stop());
    await waitUntil('a view', async () => seen.at(-1)?.view?.activeSide === 'old', 5_000, 20);
    svc.state.failing = true;
    await waitUntil('the side to become unknown', async () => seen.at(-1)?.view === null, 5_000, 20);
    expect(seen.at(-1)?.reason).toMatch(/did not answer for \d+ ms: HTTP 503: standby/);
  });
});
