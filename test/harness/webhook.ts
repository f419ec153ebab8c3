/** A real local HTTP receiver for notification webhooks (notify.webhooks): it records what it was sent. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

/** A receiver answering each request with the next status of `statuses` (then 200), or never (hang). */
export async function webhookReceiver(opts: { statuses?: number[]; hang?: boolean } = {}): Promise<{ url: string; got: Received[]; attempts: () => number; server: Server }> {
  const got: Received[] = [];
  let attempts = 0;
  const statuses = [...(opts.statuses ?? [])];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      attempts++;
      if (opts.hang) return; // never answers: the notification times out and is retried, in the background
      const status = statuses.shift() ?? 200;
      if (status === 200) got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text) as Record<string, unknown> });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, attempts: () => attempts, server };
}
