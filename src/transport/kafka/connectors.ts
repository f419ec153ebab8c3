/**
 * Debezium connector configurations for the Kafka transport, rendered from tandem.yaml for one direction: the active
 * side's connector writes every replicated table, its transaction boundaries and its heartbeats into one ordered
 * topic (one partition, cleanup.policy=delete), which Tandem's KafkaFeed reads. Passwords never appear in a
 * config: it names `${file:<secrets file>:<side>.password}`, resolved by Connect's FileConfigProvider (set in
 * deploy/kafka/connect.properties), and Tandem writes that file itself, mode 0600.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import type { TandemConfig } from '../../config/schema.js';
import { registerSecret } from '../../config/redact.js';
import { TandemError } from '../../errors.js';
import { sidesOf, type Direction, type SideName } from '../../model/direction.js';
import { MARKER_MESSAGE_PREFIX, MARKER_TABLE, publicationName, slotName } from '../../model/names.js';

export type SourceKind = 'postgres' | 'mariadb';

export interface RenderedConnector {
  /** The connector's name in Kafka Connect. */
  name: string;
  /** The one ordered topic all of the connector's events are routed into. */
  topic: string;
  source: SourceKind;
  side: SideName;
  /** The Debezium configuration, secrets only as config-provider references. */
  config: Record<string, string>;
}

interface ParsedUrl {
  kind: SourceKind;
  host: string;
  port: string;
  user: string;
  password: string;
  database: string;
}

function parseSourceUrl(url: string, side: SideName): ParsedUrl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TandemError('TANDEM_CONFIG_INVALID', `${side}.url cannot be parsed as a URL, so no connector can be rendered for it`, {
      fix: 'write it as postgres://user:password@host:5432/db or mysql://user:password@host:3306/db (percent-encode special characters in the password)',
    });
  }
  const scheme = u.protocol.replace(/:$/, '');
  const kind: SourceKind = scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : 'mariadb';
  const password = decodeURIComponent(u.password);
  registerSecret(password);
  return {
    kind,
    host: u.hostname || '127.0.0.1',
    port: u.port || (kind === 'postgres' ? '5432' : '3306'),
    user: decodeURIComponent(u.username),
    password,
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
}

/** The prefix that names the connector, its topics and its schema history: configured, or from the migration. */
export function connectorPrefix(config: TandemConfig): string {
  return config.transport.kafka.prefix ?? `tandem-${config.migration.replace(/_/g, '-')}`;
}

export function connectorName(config: TandemConfig, side: SideName): string {
  return `${connectorPrefix(config)}-${side}`;
}

export function changeTopic(config: TandemConfig, side: SideName): string {
  return `${connectorPrefix(config)}-${side}.changes`;
}

/** The MariaDB connector's schema history topic: Debezium reads it whole on every start, so it must keep every record. */
export function schemaHistoryTopic(config: TandemConfig, side: SideName): string {
  return `${connectorPrefix(config)}-${side}.schema-history`;
}

/** Default partitions (apply lanes) of a change topic with `transport.kafka.ordering: key`. */
export const DEFAULT_KEYED_PARTITIONS = 4;

/** The change topic's partition count: 1 for `ordering: transaction`, `partitions` (default 4) for `key`. */
export function changePartitions(config: TandemConfig): number {
  const k = config.transport.kafka;
  return k.ordering === 'key' ? (k.partitions ?? DEFAULT_KEYED_PARTITIONS) : 1;
}

/** Which Debezium connector captures a side, from its URL's scheme. */
export function sourceKindOf(url: string): SourceKind {
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  return scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : 'mariadb';
}

export function secretsFilePath(config: TandemConfig): string {
  const path = config.transport.kafka.secretsFile ?? resolve(config.state.dir, 'kafka-secrets.properties');
  return isAbsolute(path) ? path : resolve(path);
}

/** A Java properties value: backslashes, line breaks and leading blanks would change what Connect reads. */
function propertiesValue(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/^\s/, (c) => `\\${c}`)
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Writes both sides' passwords to the secrets file Connect's FileConfigProvider reads (mode 0600, created with
 * it). Returns its path. Run before a connector is registered: Connect resolves the reference when it starts a task.
 */
export function writeSecretsFile(config: TandemConfig): string {
  const path = secretsFilePath(config);
  mkdirSync(dirname(path), { recursive: true });
  const lines = (['old', 'new'] as const).map((side) => `${side}.password=${propertiesValue(parseSourceUrl(config[side].url, side).password)}`);
  writeFileSync(path, `# Written by Tandem for Kafka Connect's FileConfigProvider; never commit it.\n${lines.join('\n')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

/** A regular expression matching exactly this name (Debezium include lists are comma-separated regexes). */
function exactly(name: string): string {
  if (name.includes(',')) {
    throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `table ${name} has a comma in its name, which Debezium's include lists cannot express`, {
      fix: 'rename the table, or leave it out of the migration (exclude in tandem.yaml)',
    });
  }
  return name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Debezium's MariaDB server id: stable per connector, away from small ids servers usually have. */
function serverId(name: string): string {
  return String(100_000 + (createHash('sha256').update(name).digest().readUInt32BE(0) % 1_000_000_000));
}

/**
 * The connector of the active side of `direction`, for `tables`. `schema` is the PostgreSQL schema the tables live
 * in (Tandem replicates the connection's current schema).
 */
/** The Debezium connector class that captures each engine (also what `GET /connector-plugins` must list). */
export const CONNECTOR_CLASS: Record<SourceKind, string> = {
  postgres: 'io.debezium.connector.postgresql.PostgresConnector',
  mariadb: 'io.debezium.connector.mariadb.MariaDbConnector',
};

export function renderConnector(config: TandemConfig, direction: Direction, tables: readonly string[], opts: { schema?: string } = {}): RenderedConnector {
  const { active } = sidesOf(direction);
  const src = parseSourceUrl(config[active].url, active);
  const name = connectorName(config, active);
  const topic = changeTopic(config, active);
  const k = config.transport.kafka;
  const passwordRef = `\${file:${k.connectSecretsFile ?? secretsFilePath(config)}:${active}.password}`;
  const common: Record<string, string> = {
    'topic.prefix': `${connectorPrefix(config)}-${active}`,
    'database.hostname': src.host,
    'database.port': src.port,
    'database.user': src.user,
    'database.password': passwordRef,
    // Transaction boundaries and heartbeats go into the change topic with the rows (RegexRouter below), so the end
    // of a transaction is known without waiting for the next one.
    'provide.transaction.metadata': 'true',
    'heartbeat.interval.ms': String(k.heartbeatInterval),
    'decimal.handling.mode': 'string',
    // bytes (base64 in JSON): the schema then says bytes, which hex or base64 modes would turn into plain strings.
    'binary.handling.mode': 'bytes',
    'time.precision.mode': 'adaptive_time_microseconds',
    'interval.handling.mode': 'string',
    // TRUNCATE is replicated like any change (Debezium skips it by default).
    'skipped.operations': 'none',
    'tombstones.on.delete': 'false',
    'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'key.converter.schemas.enable': 'true',
    // The schema travels with each event: it names the logical types (decimals, times, JSON) the values decode by.
    'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
    'value.converter.schemas.enable': 'true',
    transforms: 'route',
    'transforms.route.type': 'org.apache.kafka.connect.transforms.RegexRouter',
    'transforms.route.regex': '.*',
    'transforms.route.replacement': topic,
    // One partition keeps every transaction whole and in order; with ordering: key, Connect's producer sends each
    // row change to the partition of its key (the primary key's bytes), so one key's changes stay in order.
    'topic.creation.default.partitions': String(changePartitions(config)),
    'topic.creation.default.replication.factor': String(k.replicationFactor),
    'topic.creation.default.cleanup.policy': 'delete',
    'topic.creation.default.retention.ms': String(k.retention),
    'tasks.max': '1',
    // Throughput and latency (measured, bench --only kafka): Debezium's defaults (batches of 2,048 events, a
    // 500 ms poll interval) bounded a 2-core machine at ~3,000 events/s, below a busy shop's rate, so the lag grew
    // for as long as the load lasted. Larger batches, a short poll and batched producer requests doubled it; the
    // queue stays bounded in bytes as well as in events (the Connect worker's heap).
    'max.batch.size': '8192',
    'max.queue.size': '32768',
    'max.queue.size.in.bytes': String(64 * 1024 * 1024),
    'poll.interval.ms': '20',
    'producer.override.linger.ms': '5',
    'producer.override.batch.size': String(1024 * 1024),
  };
  if (src.kind === 'postgres') {
    const schema = opts.schema ?? 'public';
    return {
      name,
      topic,
      source: 'postgres',
      side: active,
      config: {
        'connector.class': CONNECTOR_CLASS.postgres,
        ...common,
        'database.dbname': src.database,
        'plugin.name': 'pgoutput',
        // Tandem's own slot and publication: created with the backfill's snapshot, so the connector streams from
        // exactly where the copy ended; Debezium's own snapshot is never used.
        'slot.name': slotName(config.migration, active),
        'publication.name': publicationName(config.migration),
        'publication.autocreate.mode': 'disabled',
        'snapshot.mode': 'no_data',
        'slot.drop.on.stop': 'false',
        'table.include.list': tables.map((t) => `${exactly(schema)}\\.${exactly(t)}`).join(','),
        // The switch's drain marker is a transactional logical message; other applications' messages stay out.
        'message.prefix.include.list': exactly(MARKER_MESSAGE_PREFIX),
      },
    };
  }
  return {
    name,
    topic,
    source: 'mariadb',
    side: active,
    config: {
      'connector.class': CONNECTOR_CLASS.mariadb,
      ...common,
      'database.server.id': serverId(name),
      // BIGINT UNSIGNED beyond 2^63 arrives exact (as a decimal, which decimal.handling.mode sends as text).
      'bigint.unsigned.handling.mode': 'precise',
      'database.include.list': exactly(src.database),
      // The fence table carries the switch's drain marker (the decoder reads its writes as markers, never as rows).
      'table.include.list': [...tables, MARKER_TABLE].map((t) => `${exactly(src.database)}\\.${exactly(t)}`).join(','),
      'include.schema.changes': 'false',
      // Tandem sets the starting offset to its backfill's binlog position (manage.ts); `recovery` then records the
      // schema history from the tables as they are, reads no rows, and streams from that offset. (`no_data` would
      // refuse: an offset without a history.)
      'snapshot.mode': 'recovery',
      'schema.history.internal.kafka.bootstrap.servers': k.brokers.join(','),
      'schema.history.internal.kafka.topic': schemaHistoryTopic(config, active),
      'schema.history.internal.store.only.captured.tables.ddl': 'true',
    },
  };
}

/** A config as shown to people: any value that could hold a secret is masked unless it is a provider reference. */
export function redactedConfig(config: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    out[key] = /password|secret/i.test(key) && !/^\$\{[a-z]+:/.test(value) ? '***' : value;
  }
  return out;
}
