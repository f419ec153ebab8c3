/**
 * The HTTP API of `tandem run` (fastify): probes and metrics for Kubernetes and Prometheus, and the control API
 * under /api/v1, where every route names the role it needs. Errors are JSON `{ error: { code, message, fix } }`.
 */
import { readFileSync } from 'node:fs';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { redact } from '../config/redact.js';
import { TandemError, type TandemErrorCode } from '../errors.js';
import type { StatusReport } from '../control/status.js';
import type { ApprovalRecord } from '../control/approvals.js';
import type { RouterRegistry } from '../control/routers.js';
import type { ActiveSideView } from '../model/router.js';
import { PHASES, type Phase, type SwitchKind } from '../model/control.js';
import type { AuditEntry, Gate, SwitchResult } from '../model/switch.js';
import type { EventBus, Sample } from '../control/events.js';
import { allows, type Authenticator, type Principal, type Role } from './auth.js';
import { registerDashboard } from './dashboard.js';
import { registerEvents } from './events-route.js';
import { CSRF_HEADER, SESSION_COOKIE, SessionStore } from './session.js';
import { describeBadRequest } from './bad-request.js';
import type { RollbackPlan } from '../control/plan.js';
import { renderPlanHtml, renderPlanMarkdown } from '../control/plan-render.js';

/** What the API serves, supplied by the running service. */
export interface ApiContext {
  status(): Promise<StatusReport>;
  drift(): Promise<unknown>;
  /** Starts a verification pass now; false when replication is not streaming. */
  requestVerification(principal: Principal): boolean;
  readiness(): { ready: boolean; reason: string };
  metrics: Registry;
  switchOver(kind: SwitchKind, body: SwitchBody, principal: Principal): Promise<SwitchResult>;
  finalize(body: { expectedPhase: Phase; unfenceOld?: boolean }, principal: Principal): Promise<unknown>;
  audit(): Promise<AuditEntry[]>;
  /**
   * Entries a command wrote to the audit log itself (tandem drill, tandem plan --approve), read back from the store
   * and sent as live events like the service's own; how many were found.
   */
  announceAudit(at: string, requestId: string): Promise<number>;
  /** Two-person approval: approve a pending request (it then runs as the switch's result), read one, list them. */
  approve(requestId: string, principal: Principal): Promise<SwitchResult>;
  approval(requestId: string): Promise<ApprovalRecord | undefined>;
  approvals(): Promise<ApprovalRecord[]>;
  /** Application routers' registrations and hold acknowledgements (docs/router.md). */
  routers: RouterRegistry;
  /** The control record as the lease holder keeps it in memory: cheap enough for routers to poll. */
  activeSide(): ActiveSideView | undefined;
  /** A switch's gates now, changing nothing and auditing nothing (the dashboard enables its buttons by them). */
  gates(kind: SwitchKind): Promise<{ kind: SwitchKind; phase: Phase; activeSide: string; gates: Gate[] }>;
  /** The live events (GET /api/v1/events) and the lag chart's recent samples. */
  events: EventBus;
  samples(): Sample[];
  onSample(listener: (s: Sample) => void): () => void;
  /** How long a dashboard session lasts (ms). */
  sessionTtlMs?: number;
  /** The rollback plan from the live state (GET /api/v1/plan). */
  plan?(opts: { for?: SwitchKind; configFile?: string }): Promise<RollbackPlan>;
}

export interface SwitchBody {
  expectedPhase: Phase;
  dryRun?: boolean;
  allowDrift?: boolean;
  emergency?: boolean;
  acceptDataLoss?: boolean;
}

/** A switch's HTTP status: the body is the result either way (gates, positions, error). */
const switchStatus: Record<SwitchResult['result'], number> = { done: 200, 'dry-run': 200, refused: 409, 'backed-out': 500, failed: 500, 'pending-approval': 202 };

export interface ApiServer {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
  interface FastifyContextConfig {
    /** The least role a route needs; routes without one are open (probes, metrics). */
    role?: Role;
  }
}

const httpStatus: Partial<Record<TandemErrorCode, number>> = {
  TANDEM_API_UNAUTHORIZED: 401,
  TANDEM_API_FORBIDDEN: 403,
  TANDEM_API_NOT_FOUND: 404,
  TANDEM_API_BAD_REQUEST: 400,
  TANDEM_STATE_CONFLICT: 409,
  TANDEM_GATE_REFUSED: 409,
  TANDEM_APPROVAL_NOT_FOUND: 404,
  TANDEM_APPROVAL_SELF: 403,
  TANDEM_APPROVAL_EXPIRED: 409,
  TANDEM_API_RATE_LIMITED: 429,
};

function sendError(reply: FastifyReply, status: number, code: string, message: string, fix?: string): FastifyReply {
  // Messages pass through redaction like every other output: no password or token leaves in an error.
  return reply.code(status).type('application/json').send({ error: { code, message: redact(message), fix: fix === undefined ? undefined : redact(fix) } });
}

/** Transport and abuse limits of the API (api.tls, api.rateLimit). */
export interface ApiOptions {
  tls?: { cert: string; key: string };
  rateLimit?: { max: number; windowMs: number };
}

/** Reads the TLS files named in the config; a missing or unreadable one is a configuration error naming it. */
function tlsOf(tls: ApiOptions['tls']): { cert: Buffer; key: Buffer } | undefined {
  if (!tls) return undefined;
  const read = (what: 'cert' | 'key') => {
    try {
      return readFileSync(tls[what]);
    } catch (err) {
      throw new TandemError('TANDEM_CONFIG_INVALID', `api.tls.${what} ${tls[what]} cannot be read: ${(err as Error).message}`, { fix: `point api.tls.${what} at a readable PEM file` });
    }
  };
  return { cert: read('cert'), key: read('key') };
}

export async function buildApp(ctx: ApiContext, auth: Authenticator, log: Logger, opts: ApiOptions = {}): Promise<FastifyInstance> {
  // Unknown fields are refused, never silently dropped: a misspelt option must not be taken for its default. Nor is
  // a value of the wrong type coerced ("false" or 0 taken for a boolean, 42 for a token).
  const https = tlsOf(opts.tls);
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, return503OnClosing: true, ajv: { customOptions: { removeAdditional: false, coerceTypes: false } }, ...(https ? { https } : {}) }) as unknown as FastifyInstance;

  const sessions = new SessionStore(ctx.sessionTtlMs);
  await app.register(cookie);
  // Per token (its name), on the routes that act (switch, approval, finalize, verification): after authentication,
  // so the key is who asks, not where from.
  await app.register(rateLimit, {
    global: false,
    hook: 'preHandler',
    keyGenerator: (req) => req.principal?.actor ?? req.ip,
    // The local operator is no token: it proved it holds the database credentials, which can do more than the API.
    allowList: (req) => req.principal?.actor.startsWith('local:') ?? false,
    errorResponseBuilder: (_req, c) =>
      new TandemError('TANDEM_API_RATE_LIMITED', `token ${_req.principal?.actor ?? 'anonymous'} made more than ${c.max} such requests in ${c.after}`, { fix: `wait ${c.after} and ask again (api.rateLimit)` }),
  });
  const limited = opts.rateLimit ? { max: opts.rateLimit.max, timeWindow: opts.rateLimit.windowMs } : false;

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const needed = req.routeOptions.config?.role;
    if (!needed) return;
    let principal: Principal | undefined;
    if (req.headers.authorization !== undefined) {
      principal = auth.authenticate(req.headers.authorization, typeof req.headers['x-tandem-actor'] === 'string' ? req.headers['x-tandem-actor'] : undefined);
    } else {
      // The dashboard: a session cookie, and for anything that changes state the session's CSRF token as well.
      const session = sessions.get(req.cookies[SESSION_COOKIE]);
      if (session && req.method !== 'GET' && req.method !== 'HEAD') {
        const presented = req.headers[CSRF_HEADER];
        if (!sessions.csrfMatches(session, typeof presented === 'string' ? presented : undefined)) {
          return sendError(reply, 403, 'TANDEM_API_FORBIDDEN', `a request authenticated by the session cookie must carry the session's CSRF token in the ${CSRF_HEADER} header`, 'send the csrfToken that POST /api/v1/session (or GET /api/v1/session) returned in x-csrf-token');
        }
      }
      principal = session?.principal;
    }
    if (!principal) {
      reply.header('www-authenticate', 'Bearer realm="tandem"');
      return sendError(reply, 401, 'TANDEM_API_UNAUTHORIZED', 'this route needs a bearer token', 'send Authorization: Bearer <token> with a token from api.tokens in tandem.yaml (the dashboard: log in with one)');
    }
    if (!allows(principal, needed)) {
      return sendError(reply, 403, 'TANDEM_API_FORBIDDEN', `token ${principal.actor} has role ${principal.role}; this route needs ${needed}`, `use a token whose role is ${needed} or higher`);
    }
    req.principal = principal;
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof TandemError) return sendError(reply, httpStatus[err.code] ?? 500, err.code, err.message, err.fix);
    const fastifyErr = err as { statusCode?: number; validation?: unknown; message: string; code?: string };
    const bad = describeBadRequest(fastifyErr);
    if (bad) return reply.code(bad.status).type('application/json').send({ error: { code: 'TANDEM_API_BAD_REQUEST', message: redact(bad.message), field: bad.field, fix: bad.fix } });
    log.error({ err: redact(fastifyErr.message), url: req.url }, 'API request failed');
    return sendError(reply, 500, 'TANDEM_INTERNAL', fastifyErr.message, 'see the service log');
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'TANDEM_API_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0] ?? ''}`, 'see README ("Control API") for the routes'));

  // --- probes and metrics: open, like any Kubernetes probe or Prometheus target (loopback by default) ---
  app.get('/livez', async (_req, reply) => reply.type('text/plain').send('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    const r = ctx.readiness();
    return reply.code(r.ready ? 200 : 503).send(r);
  });
  app.get('/metrics', async (_req, reply) => reply.type(ctx.metrics.contentType).send(await ctx.metrics.metrics()));

  // --- the control API ---
  app.get('/api/v1/status', { config: { role: 'read' } }, async () => ctx.status());
  app.get('/api/v1/drift', { config: { role: 'read' } }, async () => ctx.drift());
  app.post(
    '/api/v1/verify',
    {
      config: { role: 'operate', rateLimit: limited },
      schema: { body: { anyOf: [{ type: 'object', additionalProperties: false, properties: {} }, { type: 'null' }] } },
    },
    async (req, reply) => {
      if (!ctx.requestVerification(req.principal as Principal)) {
        return sendError(reply, 409, 'TANDEM_STATE_CONFLICT', 'replication is not streaming yet, so there is nothing to verify', 'wait until tandem status shows phase shadowing (or cutover)');
      }
      return reply.code(202).send({ accepted: true, by: req.principal?.actor });
    },
  );
  const switchSchema = {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['expectedPhase'],
      properties: {
        expectedPhase: { type: 'string', enum: [...PHASES] },
        dryRun: { type: 'boolean' },
        allowDrift: { type: 'boolean' },
        emergency: { type: 'boolean' },
        acceptDataLoss: { type: 'boolean' },
      },
    },
  };
  for (const kind of ['cutover', 'rollback'] as const) {
    app.post(`/api/v1/${kind}`, { config: { role: 'operate', rateLimit: limited }, schema: switchSchema }, async (req, reply) => {
      const principal = req.principal as Principal;
      const body = req.body as SwitchBody;
      if (kind === 'cutover' && (body.emergency || body.acceptDataLoss)) {
        return sendError(reply, 400, 'TANDEM_API_BAD_REQUEST', 'emergency and acceptDataLoss apply to rollback only', 'leave them out of a cutover');
      }
      log.info({ actor: principal.actor, kind, dryRun: body.dryRun ?? false, allowDrift: body.allowDrift ?? false, emergency: body.emergency ?? false }, `${kind} requested through the API`);
      const result = await ctx.switchOver(kind, body, principal);
      return reply.code(switchStatus[result.result]).send(result);
    });
  }
  // --- two-person approval (docs/approvals.md) ---
  const requestIdParam = { params: { type: 'object', required: ['requestId'], properties: { requestId: { type: 'string', pattern: '^[a-z]+-[0-9A-Za-z-]{1,60}$' } } } };
  app.post('/api/v1/approvals/:requestId', { config: { role: 'operate', rateLimit: limited }, schema: { ...requestIdParam, body: { anyOf: [{ type: 'object', additionalProperties: false, properties: {} }, { type: 'null' }] } } }, async (req, reply) => {
    const principal = req.principal as Principal;
    const { requestId } = req.params as { requestId: string };
    log.info({ actor: principal.actor, requestId }, 'switch approval asked through the API');
    const result = await ctx.approve(requestId, principal);
    return reply.code(switchStatus[result.result]).send(result);
  });
  app.get('/api/v1/approvals/:requestId', { config: { role: 'read' }, schema: requestIdParam }, async (req, reply) => {
    const found = await ctx.approval((req.params as { requestId: string }).requestId);
    if (!found) return sendError(reply, 404, 'TANDEM_APPROVAL_NOT_FOUND', `no switch request ${(req.params as { requestId: string }).requestId}`, 'GET /api/v1/approvals lists the requests');
    return found;
  });
  app.get('/api/v1/approvals', { config: { role: 'read' } }, async () => ({ requests: await ctx.approvals() }));
  // --- application routers (docs/router.md): role read, like the router's token ---
  const routerName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,99}$' };
  app.get('/api/v1/active-side', { config: { role: 'read' } }, async (_req, reply) => {
    const view = ctx.activeSide();
    if (!view) return sendError(reply, 503, 'TANDEM_SERVICE_NOT_RUNNING', 'this instance does not hold the lease (standby or starting): it cannot tell which side is active', 'ask the instance that holds the lease (tandem status names it)');
    return view;
  });
  app.get('/api/v1/routers', { config: { role: 'read' } }, async () => ({ routers: ctx.routers.list() }));
  app.post('/api/v1/routers', { config: { role: 'read' }, schema: { body: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: routerName } } } }, async (req) => {
    const { name } = req.body as { name: string };
    return { name, ...ctx.routers.register(name, (req.principal as Principal).actor), view: ctx.activeSide() ?? null };
  });
  app.post(
    '/api/v1/routers/hold-ack',
    { config: { role: 'read' }, schema: { body: { type: 'object', additionalProperties: false, required: ['name', 'requestId'], properties: { name: routerName, requestId: { type: 'string', maxLength: 100 } } } } },
    async (req) => {
      const { name, requestId } = req.body as { name: string; requestId: string };
      ctx.routers.acknowledge(name, requestId, (req.principal as Principal).actor);
      return { name, requestId, acknowledged: true };
    },
  );
  app.delete('/api/v1/routers/:name', { config: { role: 'read' }, schema: { params: { type: 'object', required: ['name'], properties: { name: routerName } } } }, async (req) => ({
    removed: ctx.routers.remove((req.params as { name: string }).name),
  }));
  app.post(
    '/api/v1/finalize',
    {
      config: { role: 'admin', rateLimit: limited },
      schema: { body: { type: 'object', additionalProperties: false, required: ['expectedPhase'], properties: { expectedPhase: { type: 'string', enum: [...PHASES] }, unfenceOld: { type: 'boolean' } } } },
    },
    async (req) => ctx.finalize(req.body as { expectedPhase: Phase; unfenceOld?: boolean }, req.principal as Principal),
  );
  app.get('/api/v1/audit', { config: { role: 'read' } }, async () => ({ entries: await ctx.audit() }));
  app.post(
    '/api/v1/audit/announce',
    {
      config: { role: 'operate' },
      schema: { body: { type: 'object', additionalProperties: false, required: ['at', 'requestId'], properties: { at: { type: 'string', maxLength: 40 }, requestId: { type: 'string', minLength: 1, maxLength: 100 } } } },
    },
    async (req, reply) => {
      const { at, requestId } = req.body as { at: string; requestId: string };
      // Only what the store holds is announced: the body names an entry, it does not supply one.
      const announced = await ctx.announceAudit(at, requestId);
      if (!announced) return sendError(reply, 404, 'TANDEM_API_NOT_FOUND', `no audit entry at ${at} for request ${requestId}`, 'write the entry to the audit log first, then announce it');
      return { announced };
    },
  );
  app.get<{ Params: { kind: SwitchKind } }>(
    '/api/v1/gates/:kind',
    { config: { role: 'read' }, schema: { params: { type: 'object', required: ['kind'], properties: { kind: { type: 'string', enum: ['cutover', 'rollback'] } } } } },
    async (req) => ctx.gates(req.params.kind),
  );

  // --- the dashboard's session: a token traded for an HttpOnly cookie (src/server/session.ts) ---
  app.post(
    '/api/v1/session',
    { schema: { body: { type: 'object', additionalProperties: false, required: ['token'], properties: { token: { type: 'string', minLength: 1, maxLength: 4096 } } } } },
    async (req, reply) => {
      const principal = auth.authenticate(`Bearer ${(req.body as { token: string }).token}`, undefined);
      if (!principal) return sendError(reply, 401, 'TANDEM_API_UNAUTHORIZED', 'the token is not one of api.tokens', 'log in with a token from api.tokens in tandem.yaml');
      const { id, session } = sessions.create(principal);
      void reply.setCookie(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/', secure: req.protocol === 'https', maxAge: Math.floor(sessions.ttlMs / 1000) });
      log.info({ actor: principal.actor, role: principal.role }, 'dashboard session opened');
      return { actor: principal.actor, role: principal.role, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt).toISOString() };
    },
  );
  app.get('/api/v1/session', async (req, reply) => {
    const session = sessions.get(req.cookies[SESSION_COOKIE]);
    if (!session) return sendError(reply, 401, 'TANDEM_API_UNAUTHORIZED', 'no session: log in first', 'POST /api/v1/session with {"token": "<token>"}');
    return { actor: session.principal.actor, role: session.principal.role, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt).toISOString() };
  });
  app.delete('/api/v1/session', { config: { role: 'read' } }, async (req, reply) => {
    const ended = sessions.delete(req.cookies[SESSION_COOKIE]);
    void reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { loggedOut: ended };
  });

  // --- the rollback plan (issue 17): JSON for scripts and the dashboard, Markdown for a wiki, HTML to read ---
  app.get<{ Querystring: { format?: 'json' | 'md' | 'html'; for?: SwitchKind; configFile?: string } }>(
    '/api/v1/plan',
    {
      config: { role: 'read' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { format: { type: 'string', enum: ['json', 'md', 'html'] }, for: { type: 'string', enum: ['cutover', 'rollback'] }, configFile: { type: 'string', maxLength: 1024 } },
        },
      },
    },
    async (req, reply) => {
      if (!ctx.plan) return sendError(reply, 404, 'TANDEM_API_NOT_FOUND', 'this service builds no plan', 'run tandem plan on the command line');
      const plan = await ctx.plan({ for: req.query.for, configFile: req.query.configFile });
      if (req.query.format === 'md') return reply.type('text/markdown; charset=utf-8').send(redact(renderPlanMarkdown(plan)));
      if (req.query.format === 'html') {
        return reply.type('text/html; charset=utf-8').header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'").header('x-content-type-options', 'nosniff').send(redact(renderPlanHtml(plan)));
      }
      return plan;
    },
  );

  registerEvents(app, ctx);
  registerDashboard(app);
  return app;
}

/** Listens on `listen` (host:port). An address that is taken is a configuration error naming it (exit 2). */
export async function startApiServer(listen: string, ctx: ApiContext, auth: Authenticator, log: Logger, opts: ApiOptions = {}): Promise<ApiServer> {
  const m = /^(.*):(\d+)$/.exec(listen);
  if (!m) throw new TandemError('TANDEM_CONFIG_INVALID', `api.listen "${listen}" is not host:port`, { fix: 'use e.g. 127.0.0.1:7420' });
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  const app = await buildApp(ctx, auth, log, opts);
  try {
    await app.listen({ host, port: Number(m[2]) });
  } catch (err) {
    await app.close().catch(() => undefined);
    const code = (err as { code?: string }).code;
    throw new TandemError('TANDEM_API_LISTEN', `the control API cannot listen on ${listen}: ${code === 'EADDRINUSE' ? 'the address is already in use' : (err as Error).message}`, {
      fix: 'stop what uses that address, or set api.listen (TANDEM_API_LISTEN) to a free host:port; the API is the control channel, so Tandem does not run without it',
    });
  }
  const address = app.server.address();
  const hostPort = typeof address === 'object' && address ? `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : listen;
  // With TLS the address says so: clients (the CLI through the lease) then ask over https.
  const bound = opts.tls ? `https://${hostPort}` : hostPort;
  return { address: bound, close: () => app.close() };
}
