/**
 * The dashboard's files (src/server/dashboard/: HTML, CSS and ES modules, no build step) served at `/` and `/ui/*`.
 * Only files of that folder with a known type are served; names are matched, never joined into a path from input.
 * The page's Content-Security-Policy allows nothing but this origin: no inline script, no CDN.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/**
 * The folder beside this module (run from src with tsx) or in src/ beside dist/: from dist/src/server/ (tsc's
 * output) or from dist/cli/ (the bundled command, scripts/bundle-cli.ts).
 */
function dashboardDir(): string | undefined {
  const candidates = ['./dashboard/', '../../../src/server/dashboard/', '../../src/server/dashboard/'].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  return candidates.find((dir) => existsSync(`${dir}index.html`));
}

export function registerDashboard(app: FastifyInstance): void {
  const dir = dashboardDir();
  const files = new Map<string, { type: string; body: Buffer }>();
  if (dir) {
    for (const name of readdirSync(dir)) {
      const ext = /^[\w-]+\.(\w+)$/.exec(name)?.[1];
      const type = ext ? TYPES[ext] : undefined;
      if (type) files.set(name, { type, body: readFileSync(`${dir}${name}`) });
    }
  }
  const send = (name: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const file = files.get(name);
    if (!file) return reply.code(404).send({ error: { code: 'TANDEM_API_NOT_FOUND', message: `no dashboard file ${name}`, fix: 'open the dashboard at /' } });
    return reply
      .type(file.type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .send(file.body);
  };
  app.get('/', send('index.html'));
  app.get<{ Params: { file: string } }>('/ui/:file', async (req, reply) => send(req.params.file)(req, reply));
}
