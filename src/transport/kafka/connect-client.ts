/**
 * Kafka Connect's REST API, with Node's fetch: registering, reading back and removing Tandem's connectors. Connect
 * answers 409 while its workers rebalance; those calls are retried. Nothing here needs a Kafka client library.
 */
import pRetry, { AbortError } from 'p-retry';
import { redact } from '../../config/redact.js';
import { TandemError } from '../../errors.js';

export interface ConnectorStatus {
  name: string;
  connector: { state: string; worker_id?: string; trace?: string };
  tasks: Array<{ id: number; state: string; worker_id?: string; trace?: string }>;
}

/** The connector and every one of its tasks (at least one) are RUNNING. */
export function isRunning(status: ConnectorStatus): boolean {
  return status.connector.state === 'RUNNING' && status.tasks.length > 0 && status.tasks.every((t) => t.state === 'RUNNING');
}

/** The connector's state, then its tasks', as `RUNNING/RUNNING`-style words. */
export function statesOf(status: ConnectorStatus): string[] {
  return [status.connector.state, ...status.tasks.map((t) => t.state)];
}

export interface ConnectorOffsets {
  offsets: Array<{ partition: Record<string, unknown>; offset: Record<string, unknown> }>;
}

class RetryableStatus extends Error {}

export class ConnectClient {
  constructor(
    private readonly baseUrl: string,
    private readonly opts: { retries?: number } = {},
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, accept: number[] = []): Promise<{ status: number; body: T }> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${path}`;
    return pRetry(
      async () => {
        let res: Response;
        try {
          res = await fetch(url, {
            method,
            headers: body === undefined ? {} : { 'content-type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
          });
        } catch (err) {
          throw new AbortError(
            new TandemError('TANDEM_CONNECT_FAILED', `Kafka Connect at ${this.baseUrl} did not answer ${method} ${path}: ${(err as Error).message}`, {
              fix: 'start Kafka Connect (npm run kafka:up for the local stack) or set transport.kafka.connectUrl in tandem.yaml',
              retriable: true,
            }),
          );
        }
        const text = await res.text();
        // 409: a rebalance is in progress; 5xx during a worker start: both pass.
        if (res.status === 409 || res.status >= 500) throw new RetryableStatus(`${method} ${path}: ${res.status} ${redact(text).slice(0, 300)}`);
        if (!res.ok && !accept.includes(res.status)) {
          throw new AbortError(
            new TandemError('TANDEM_SOURCE_MISCONFIGURED', `Kafka Connect refused ${method} ${path}: ${res.status} ${redact(text).slice(0, 500)}`, {
              fix: 'see the message; `tandem connectors render` shows the configuration Tandem sends',
            }),
          );
        }
        return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
      },
      { retries: this.opts.retries ?? 20, minTimeout: 250, maxTimeout: 3_000 },
    ).catch((err: unknown) => {
      if (err instanceof TandemError) throw err;
      throw new TandemError('TANDEM_CONNECT_FAILED', `Kafka Connect kept refusing: ${(err as Error).message}`, { retriable: true, fix: 'check the Connect worker log' });
    });
  }

  /** Creates or updates the connector (idempotent). */
  async putConfig(name: string, config: Record<string, string>): Promise<void> {
    await this.call('PUT', `/connectors/${encodeURIComponent(name)}/config`, config);
  }

  /** Creates the connector without starting it (KIP-980), so its offsets can be set first. */
  async createStopped(name: string, config: Record<string, string>): Promise<void> {
    await this.call('POST', '/connectors', { name, config, initial_state: 'STOPPED' });
  }

  async exists(name: string): Promise<boolean> {
    const res = await this.call('GET', `/connectors/${encodeURIComponent(name)}`, undefined, [404]);
    return res.status !== 404;
  }

  /** The stored config (provider references unresolved, as registered). */
  async config(name: string): Promise<Record<string, string> | undefined> {
    const res = await this.call<Record<string, string>>('GET', `/connectors/${encodeURIComponent(name)}/config`, undefined, [404]);
    return res.status === 404 ? undefined : res.body;
  }

  async status(name: string): Promise<ConnectorStatus | undefined> {
    const res = await this.call<ConnectorStatus>('GET', `/connectors/${encodeURIComponent(name)}/status`, undefined, [404]);
    return res.status === 404 ? undefined : res.body;
  }

  async offsets(name: string): Promise<ConnectorOffsets | undefined> {
    const res = await this.call<ConnectorOffsets>('GET', `/connectors/${encodeURIComponent(name)}/offsets`, undefined, [404]);
    return res.status === 404 ? undefined : res.body;
  }

  /** Sets a stopped connector's source offsets (KIP-875). */
  async patchOffsets(name: string, offsets: ConnectorOffsets): Promise<void> {
    await this.call('PATCH', `/connectors/${encodeURIComponent(name)}/offsets`, offsets);
  }

  async resume(name: string): Promise<void> {
    await this.call('PUT', `/connectors/${encodeURIComponent(name)}/resume`);
  }

  async stop(name: string): Promise<void> {
    await this.call('PUT', `/connectors/${encodeURIComponent(name)}/stop`);
  }

  /** Deletes a stopped connector's source offsets (KIP-875): a connector created again under its name starts afresh. */
  async deleteOffsets(name: string): Promise<void> {
    await this.call('DELETE', `/connectors/${encodeURIComponent(name)}/offsets`);
  }

  async restart(name: string): Promise<void> {
    await this.call('POST', `/connectors/${encodeURIComponent(name)}/restart?includeTasks=true&onlyFailed=true`);
  }

  /** Removes the connector; true when there was one. */
  async delete(name: string): Promise<boolean> {
    const res = await this.call('DELETE', `/connectors/${encodeURIComponent(name)}`, undefined, [404]);
    return res.status !== 404;
  }

  /** The worker's version and the id of the Kafka cluster it writes to. */
  async info(): Promise<{ version: string; kafka_cluster_id: string }> {
    return (await this.call<{ version: string; kafka_cluster_id: string }>('GET', '/')).body;
  }

  async plugins(): Promise<Array<{ class: string; version?: string }>> {
    return (await this.call<Array<{ class: string; version?: string }>>('GET', '/connector-plugins')).body;
  }
}
