/** Reading a running service's live events (GET /api/v1/events) in tests. */
import { waitUntil } from './tandem-process.js';

export interface ReceivedEvent {
  id: string | null;
  type: string;
  data: Record<string, unknown>;
}

/** A server-sent events reader over fetch: what a browser's EventSource does, minus the reconnecting. */
export function openEvents(base: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const events: ReceivedEvent[] = [];
  let status = 0;
  const ready = fetch(`${base}/api/v1/events`, { headers, signal: controller.signal }).then(async (res) => {
    status = res.status;
    if (!res.ok || !res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(chunk, { stream: true });
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const fields = new Map<string, string>();
            for (const line of block.split('\n')) {
              if (line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
            }
            if (!fields.has('data')) continue;
            events.push({ id: fields.get('id') ?? null, type: fields.get('event') ?? 'message', data: JSON.parse(fields.get('data') as string) as Record<string, unknown> });
          }
        }
      } catch {
        // aborted
      }
    })();
  });
  return {
    events,
    status: () => status,
    ready,
    withIds: () => events.filter((e) => e.id !== null && e.type !== 'hello' && e.type !== 'reset'),
    waitFor: (what: string, probe: (e: ReceivedEvent) => boolean, timeoutMs = 60_000) => waitUntil(what, async () => events.find(probe), timeoutMs, 100),
    close: () => controller.abort(),
  };
}
