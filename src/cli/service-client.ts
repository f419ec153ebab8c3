/**
 * How commands ask the running service (`tandem run`) to act: the switch, finalize. The service is found through
 * the lease in the state store. The caller authenticates with `--token` / TANDEM_TOKEN, or else as a local
 * operator: whoever can read tandem.yaml holds the database credentials, so reading the service's per-start secret
 * from the state store proves that authority, and the caller acts as `local:<os-user>` (audited under that name).
 */
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { leaseIsLive, type LeaseRecord } from '../model/control.js';
import { osUser } from '../control/lease.js';
import { apiBase } from '../control/status.js';
import { StateStore } from '../control/state-store.js';

export interface ServiceResponse<T> {
  status: number;
  body: T;
}

export interface ServiceClient {
  /** Who the service audits this caller as. */
  actor: string;
  /**
   * The service's base URL and the bearer this client presents (the token given, or the service's per-start secret
   * for a local operator): for an in-process client of the API, such as the drill's router. Never printed.
   */
  endpoint: { url: string; token: string };
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs?: number): Promise<ServiceResponse<T>>;
  close(): Promise<void>;
}

/** The running service's lease, or exit 3 saying to start it. */
async function serviceLease(config: TandemConfig, store: StateStore, what: string): Promise<LeaseRecord> {
  const { lease } = await store.readLease();
  if (!leaseIsLive(lease) || lease.role !== 'service' || !lease.api) {
    const holder = leaseIsLive(lease) ? ` (the lease is held by tandem ${lease.role}, pid ${lease.pid} on ${lease.host})` : '';
    throw new TandemError('TANDEM_SERVICE_NOT_RUNNING', `no tandem run is running for migration ${config.migration}${holder}: ${what} is carried out by the service, so nothing was changed`, {
      fix: 'start the service (tandem run) and ask again; tandem status shows whether it runs',
    });
  }
  return lease;
}

export async function connectService(config: TandemConfig, opts: { token?: string; what: string }): Promise<ServiceClient> {
  const store = new StateStore(config);
  try {
    const lease = await serviceLease(config, store, opts.what);
    const token = opts.token ?? process.env.TANDEM_TOKEN;
    const actor = token ? 'token' : `local:${osUser()}`;
    const base = apiBase(lease.api ?? '');
    return {
      actor,
      endpoint: { url: base, token: token ?? lease.secret ?? '' },
      async request<T>(method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 10_000): Promise<ServiceResponse<T>> {
        let res: Response;
        try {
          res = await fetch(`${base}${path}`, {
            method,
            headers: {
              authorization: `Bearer ${token ?? lease.secret ?? ''}`,
              ...(token ? {} : { 'x-tandem-actor': actor }),
              ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
            },
            body: body !== undefined ? JSON.stringify(body) : undefined,
            signal: AbortSignal.timeout(timeoutMs),
          });
        } catch (err) {
          throw new TandemError('TANDEM_SERVICE_NOT_RUNNING', `the service at ${lease.api} (pid ${lease.pid} on ${lease.host}) did not answer: ${errorMessage(err)}`, {
            fix: 'check that tandem run is healthy (tandem status) and that this host can reach its API (api.listen)',
            retriable: true,
          });
        }
        const parsed = (await res.json().catch(() => ({}))) as T & { error?: { code?: string; message?: string; fix?: string } };
        // Approval refusals keep their own code (a 403 for approving one's own request is not a token problem).
        if ((res.status === 401 || res.status === 403) && !parsed.error?.code?.startsWith('TANDEM_APPROVAL')) {
          throw new TandemError(res.status === 401 ? 'TANDEM_API_UNAUTHORIZED' : 'TANDEM_API_FORBIDDEN', parsed.error?.message ?? `HTTP ${res.status}`, { fix: parsed.error?.fix });
        }
        return { status: res.status, body: parsed };
      },
      close: () => store.close(),
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** An error body from the API as a TandemError (the code the server gave, its message and fix). */
export function apiError(status: number, body: { error?: { code?: string; message?: string; fix?: string } }): TandemError {
  const code = body.error?.code;
  const known = code === 'TANDEM_STATE_CONFLICT' || code === 'TANDEM_GATE_REFUSED' || code === 'TANDEM_API_BAD_REQUEST' ? code : 'TANDEM_INTERNAL';
  return new TandemError(known, body.error?.message ?? `the service answered HTTP ${status}`, { fix: body.error?.fix });
}
