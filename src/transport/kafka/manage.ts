/**
 * Tandem's connectors in Kafka Connect: registered for the current direction, read back, removed.
 *
 * The backfill stays Tandem's: the connector starts exactly where the copy ended. PostgreSQL: Debezium streams from
 * Tandem's own slot (created with the copy's snapshot) with snapshot.mode=no_data. MariaDB: the connector is created
 * STOPPED (KIP-980), its offset set to the copy's binlog position (KIP-875), then resumed; snapshot.mode=no_data
 * records the tables' schema in its history without reading rows.
 */
import type { TandemConfig } from '../../config/schema.js';
import { TandemError } from '../../errors.js';
import type { Direction } from '../../model/direction.js';
import { ConnectClient, isRunning, type ConnectorOffsets, type ConnectorStatus } from './connect-client.js';
import { KafkaInspector } from './client.js';
import { renderConnector, schemaHistoryTopic, writeSecretsFile, type RenderedConnector } from './connectors.js';
import { lsnText } from './debezium.js';

export interface AppliedConnector {
  name: string;
  topic: string;
  action: 'created' | 'updated' | 'unchanged';
}

export function connectClient(config: TandemConfig): ConnectClient {
  return new ConnectClient(config.transport.kafka.connectUrl);
}

/** A MariaDB binlog position `file:offset[#gtid]` as Debezium's MySQL-family source offset. */
function mariadbOffset(position: string, serverName: string): ConnectorOffsets {
  const m = /^([^#]+):(\d+)(?:#(.*))?$/.exec(position);
  if (!m) throw new TandemError('TANDEM_STATE', `not a binlog position: ${position}`, { fix: 'run `tandem backfill --yes` to record a new one' });
  const offset: Record<string, unknown> = { file: m[1], pos: Number(m[2]) };
  if (m[3]) offset.gtids = m[3];
  return { offsets: [{ partition: { server: serverName }, offset }] };
}

/**
 * Registers (or updates) the connector of `direction`'s active side for `tables`. `startPosition` is where a new
 * MariaDB connector starts (the backfill's binlog position, or the checkpoint); PostgreSQL starts at its slot.
 */
export async function applyConnector(config: TandemConfig, direction: Direction, tables: readonly string[], startPosition?: string): Promise<AppliedConnector> {
  const rendered = renderConnector(config, direction, tables);
  writeSecretsFile(config);
  const client = connectClient(config);
  const existing = await client.exists(rendered.name);
  if (existing) {
    const current = await currentConfig(client, rendered.name);
    if (current && sameConfig(current, rendered.config)) return { name: rendered.name, topic: rendered.topic, action: 'unchanged' };
    await client.putConfig(rendered.name, rendered.config);
    return { name: rendered.name, topic: rendered.topic, action: 'updated' };
  }
  if (rendered.source === 'postgres') {
    await client.putConfig(rendered.name, rendered.config);
  } else {
    if (!startPosition) {
      throw new TandemError('TANDEM_STATE', `the MariaDB connector ${rendered.name} needs the binlog position the backfill ended at, and there is none yet`, {
        fix: 'run `tandem backfill` (or `tandem run`) first: the connector is created once the copy is done',
      });
    }
    await createAtPosition(client, rendered, startPosition);
  }
  return { name: rendered.name, topic: rendered.topic, action: 'created' };
}

async function createAtPosition(client: ConnectClient, rendered: RenderedConnector, position: string): Promise<void> {
  await client.createStopped(rendered.name, rendered.config);
  await client.patchOffsets(rendered.name, mariadbOffset(position, rendered.config['topic.prefix'] as string));
  await client.resume(rendered.name);
}

function currentConfig(client: ConnectClient, name: string): Promise<Record<string, string> | undefined> {
  return client.config(name);
}

function sameConfig(current: Record<string, string>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => current[k] === v) && Object.keys(current).every((k) => k === 'name' || k in wanted);
}

export interface ConnectorReport {
  name: string;
  topic: string;
  exists: boolean;
  status?: ConnectorStatus;
  offsets?: ConnectorOffsets;
}

/** The connector of `direction`'s active side: its state, its tasks' states and its stored source offsets. */
export async function connectorReport(config: TandemConfig, direction: Direction, tables: readonly string[]): Promise<ConnectorReport> {
  const rendered = renderConnector(config, direction, tables);
  const client = connectClient(config);
  const status = await client.status(rendered.name);
  if (!status) return { name: rendered.name, topic: rendered.topic, exists: false };
  const offsets = await client.offsets(rendered.name).catch(() => undefined);
  return { name: rendered.name, topic: rendered.topic, exists: true, status: scrubTraces(status), offsets };
}

/** Java stack traces of failed tasks can quote a connection string: only their first line is kept. */
function scrubTraces(status: ConnectorStatus): ConnectorStatus {
  const first = (t?: string) => t?.split('\n')[0];
  return {
    ...status,
    connector: { ...status.connector, trace: first(status.connector.trace) },
    tasks: status.tasks.map((t) => ({ ...t, trace: first(t.trace) })),
  };
}

/**
 * Removes the connector of `direction` with what Connect keeps for it: it is stopped, its stored source offsets are
 * deleted (KIP-875) and then the connector; a MariaDB connector's schema history topic goes too. A connector created
 * again under the same name (the next switch in that direction, a new copy) then starts where Tandem tells it, never
 * at a position left from an earlier run. The change topic stays: other consumers may read it, retention ends it.
 */
export async function deleteConnector(config: TandemConfig, direction: Direction, tables: readonly string[]): Promise<{ name: string; deleted: boolean }> {
  const rendered = renderConnector(config, direction, tables);
  const client = connectClient(config);
  if (!(await client.exists(rendered.name))) return { name: rendered.name, deleted: false };
  await client.stop(rendered.name);
  await waitState(client, rendered.name, 'STOPPED', 30_000);
  await client.deleteOffsets(rendered.name);
  const deleted = await client.delete(rendered.name);
  if (rendered.source === 'mariadb') {
    const inspector = new KafkaInspector(config.transport.kafka.brokers);
    try {
      await inspector.deleteTopic(schemaHistoryTopic(config, rendered.side));
    } finally {
      await inspector.close();
    }
  }
  return { name: rendered.name, deleted };
}

async function waitState(client: ConnectClient, name: string, state: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.status(name);
    if (!status || status.connector.state === state) return;
    if (Date.now() > deadline) {
      throw new TandemError('TANDEM_CONNECT_FAILED', `connector ${name} is still ${status.connector.state} ${timeoutMs / 1000} s after it was asked to be ${state}`, {
        fix: 'see `tandem connectors status` and the Connect worker log, then `tandem connectors delete`',
        retriable: true,
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * The offset of the last record now in `direction`'s change topic (-1 when it holds none or does not exist yet). A
 * checkpoint at this offset makes the reader start with the first record a connector created after now writes.
 */
export async function changeTopicEnd(config: TandemConfig, direction: Direction, tables: readonly string[]): Promise<string> {
  const rendered = renderConnector(config, direction, tables);
  const inspector = new KafkaInspector(config.transport.kafka.brokers);
  try {
    const offsets = await inspector.offsets(rendered.topic);
    return (BigInt(offsets?.high ?? '0') - 1n).toString();
  } finally {
    await inspector.close();
  }
}

/** Waits until the connector and its task run; a FAILED one is an error naming the task's first trace line. */
export async function waitRunning(config: TandemConfig, name: string, timeoutMs = 60_000): Promise<ConnectorStatus> {
  const client = connectClient(config);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.status(name);
    const failed = status && [status.connector, ...status.tasks].find((s) => s.state === 'FAILED');
    if (failed) {
      throw new TandemError('TANDEM_SOURCE_MISCONFIGURED', `connector ${name} failed: ${failed.trace?.split('\n')[0] ?? 'no reason given'}`, {
        fix: 'see `tandem connectors status` and the Connect worker log; after fixing, `tandem connectors apply` restarts it',
      });
    }
    if (status && isRunning(status)) return status;
    if (Date.now() > deadline) {
      throw new TandemError('TANDEM_CONNECT_FAILED', `connector ${name} is not running after ${timeoutMs / 1000} s (state ${status?.connector.state ?? 'absent'})`, {
        fix: 'see `tandem connectors status` and the Connect worker log',
        retriable: true,
      });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * The source position Connect has committed for the connector `name`: every record Debezium produced before it is
 * stored in Kafka (Connect commits a source offset only once all earlier records are acknowledged). PostgreSQL:
 * the last commit LSN the connector completed; MariaDB: just before the binlog position it would restart from.
 * Undefined while Connect holds no offset for it yet.
 */
export async function committedSourcePosition(config: TandemConfig, name: string, source: 'postgres' | 'mariadb'): Promise<string | undefined> {
  const stored = await connectClient(config).offsets(name);
  const offset = stored?.offsets[0]?.offset;
  if (!offset) return undefined;
  if (source === 'postgres') {
    const lsn = offset.lsn_commit;
    return typeof lsn === 'number' || (typeof lsn === 'string' && /^\d+$/.test(lsn)) ? lsnText(String(lsn)) : undefined;
  }
  const { file, pos } = offset as { file?: unknown; pos?: unknown };
  if (typeof file !== 'string' || (typeof pos !== 'number' && typeof pos !== 'string')) return undefined;
  // The transaction starting at `pos` may be partly sent: only what lies before it is whole in Kafka.
  return `${file}:${Math.max(0, Number(pos) - 1)}`;
}
