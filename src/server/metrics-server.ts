import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { TandemError } from '../errors.js';

/** `GET /metrics` (Prometheus text) and `GET /livez`, on the configured address (loopback by default). */
export async function startMetricsServer(listen: string, registry: Registry): Promise<Server> {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new TandemError('TANDEM_CONFIG_INVALID', `api.listen "${listen}" is not host:port`, { fix: 'use e.g. 127.0.0.1:7420' });
  const server = createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/metrics') {
      registry
        .metrics()
        .then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body))
        .catch((err: unknown) => res.writeHead(500).end(String(err)));
    } else if (req.method === 'GET' && req.url === '/livez') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), (m[1] as string).replace(/^\[|\]$/g, ''), () => resolve());
  });
  return server;
}
