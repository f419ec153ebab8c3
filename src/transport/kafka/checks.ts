/**
 * `tandem check` with `transport.kind: kafka`: what the Kafka transport needs beyond the databases. Each finding is
 * one check line with its fix:
 * - the brokers answer, and there are enough of them for transport.kafka.replicationFactor;
 * - Kafka Connect answers, and writes to the same Kafka cluster Tandem reads;
 * - the Debezium connector plugins of both sides are installed (old captures now, new after cutover);
 * - each existing change topic keeps the settings Tandem's guarantees rest on: one partition (a transaction arrives
 *   contiguous and in commit order), cleanup.policy=delete without compaction (compaction keeps only the last event
 *   per key: earlier changes of a row would vanish before Tandem reads them), and a retention no shorter than
 *   transport.kafka.retention (the longest Tandem may be stopped: Debezium lets the source free its log once events
 *   are in Kafka, so retention is the migration's durability bound) and not cut by size (retention.bytes);
 * - a MariaDB side's schema history topic keeps every record (Debezium reads it whole on each start: a deleted
 *   record makes the connector fail or misread rows), on one partition.
 */
import type { TandemConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import { fail, pass, warn, type CheckItem } from '../../engines/shared/checks.js';
import type { SideName } from '../../model/direction.js';
import { KafkaInspector, type TopicSettings } from './client.js';
import { laneConflictError, laneConflictingKeys } from './keyed.js';
import type { TableSchema } from '../../model/schema.js';
import { ConnectClient } from './connect-client.js';
import { CONNECTOR_CLASS, changePartitions, changeTopic, schemaHistoryTopic, sourceKindOf, type SourceKind } from './connectors.js';

const ARTIFACT: Record<SourceKind, string> = { postgres: 'debezium-connector-postgres', mariadb: 'debezium-connector-mariadb' };

const SIDES: readonly SideName[] = ['old', 'new'];

/** Milliseconds as people read them: `7d`, `36h`, `90m`, `45s`. */
function human(ms: number): string {
  if (ms < 0) return 'forever';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)}h` : `${ms}ms`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function alter(topic: string, setting: string): string {
  return `kafka-configs.sh --bootstrap-server <broker> --alter --entity-type topics --entity-name ${topic} --add-config ${setting}`;
}

export async function checkKafka(config: TandemConfig): Promise<CheckItem[]> {
  const k = config.transport.kafka;
  const items: CheckItem[] = [];
  const inspector = new KafkaInspector(k.brokers);
  try {
    let clusterId: string | undefined;
    try {
      const cluster = await inspector.cluster();
      clusterId = cluster.clusterId;
      items.push(pass('kafka.brokers', 'kafka', 'Kafka brokers reachable', `${cluster.brokers} broker(s) at ${k.brokers.join(', ')} (cluster ${cluster.clusterId})`));
      if (cluster.brokers < k.replicationFactor) {
        items.push(fail('kafka.replication_factor', 'kafka', 'not enough brokers for the replication factor', `transport.kafka.replicationFactor is ${k.replicationFactor} but the cluster has ${cluster.brokers} broker(s): Connect cannot create the change topic`, `set transport.kafka.replicationFactor to at most ${cluster.brokers}, or add brokers`));
      }
    } catch (err) {
      items.push(fail('kafka.brokers', 'kafka', 'cannot reach the Kafka brokers', `${k.brokers.join(', ')}: ${errorMessage(err)}`, 'start Kafka (npm run kafka:up for the local stack) or correct transport.kafka.brokers in tandem.yaml'));
    }
    items.push(orderingCheck(config));
    items.push(...(await checkConnect(config, clusterId)));
    if (clusterId !== undefined) {
      for (const side of SIDES) items.push(...(await checkTopics(config, inspector, side)));
    }
  } finally {
    await inspector.close();
  }
  return items;
}

async function checkConnect(config: TandemConfig, clusterId: string | undefined): Promise<CheckItem[]> {
  const url = config.transport.kafka.connectUrl;
  const client = new ConnectClient(url, { retries: 2 });
  const items: CheckItem[] = [];
  let plugins: Array<{ class: string; version?: string }>;
  try {
    const info = await client.info();
    items.push(pass('kafka.connect', 'kafka', 'Kafka Connect reachable', `Kafka Connect ${info.version} at ${url}`));
    if (clusterId !== undefined && info.kafka_cluster_id !== clusterId) {
      items.push(fail('kafka.connect_cluster', 'kafka', 'Kafka Connect writes to another Kafka cluster', `Connect at ${url} writes to cluster ${info.kafka_cluster_id}, transport.kafka.brokers are cluster ${clusterId}: Tandem would never see the changes`, "point transport.kafka.brokers at the brokers of Connect's bootstrap.servers (or connectUrl at a worker of this cluster)"));
    }
    plugins = await client.plugins();
  } catch (err) {
    items.push(fail('kafka.connect', 'kafka', 'cannot reach Kafka Connect', `${url}: ${errorMessage(err)}`, 'start Kafka Connect (npm run kafka:up for the local stack) or correct transport.kafka.connectUrl in tandem.yaml'));
    return items;
  }
  const needed = [...new Set(SIDES.map((side) => sourceKindOf(config[side].url)))];
  for (const kind of needed) {
    const [cls, artifact] = [CONNECTOR_CLASS[kind], ARTIFACT[kind]];
    const found = plugins.find((p) => p.class === cls);
    const sides = SIDES.filter((side) => sourceKindOf(config[side].url) === kind).join(' and ');
    items.push(
      found
        ? pass(`kafka.plugin.${kind}`, 'kafka', `Debezium ${kind === 'postgres' ? 'PostgreSQL' : 'MariaDB'} connector installed`, `${cls} ${found.version ?? ''} (captures ${sides})`.trim())
        : fail(`kafka.plugin.${kind}`, 'kafka', `Debezium ${kind === 'postgres' ? 'PostgreSQL' : 'MariaDB'} connector missing`, `Kafka Connect at ${url} does not list ${cls}, which captures ${sides}`, `unpack io.debezium:${artifact} (classifier plugin, zip) into a folder of the worker's plugin.path and restart it (deploy/kafka/pom.xml gathers both)`),
    );
  }
  return items;
}

async function checkTopics(config: TandemConfig, inspector: KafkaInspector, side: SideName): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  const topic = changeTopic(config, side);
  const settings = await inspector.topic(topic);
  const wanted = config.transport.kafka.retention;
  const partitions = changePartitions(config);
  if (!settings) {
    items.push(pass(`kafka.topic_${side}`, 'kafka', `change topic of ${side} not created yet`, `${topic}: Connect creates it with the connector (${plural(partitions, 'partition')}, cleanup.policy=delete, retention ${human(wanted)} from transport.kafka.retention)`));
  } else {
    items.push(...changeTopicChecks(side, topic, settings, wanted, partitions));
  }
  if (sourceKindOf(config[side].url) === 'mariadb') {
    const history = schemaHistoryTopic(config, side);
    const h = await inspector.topic(history);
    items.push(h ? historyCheck(side, history, h) : pass(`kafka.schema_history_${side}`, 'kafka', `schema history topic of ${side} not created yet`, `${history}: Debezium creates it with infinite retention when the connector first starts`));
  }
  return items;
}

function changeTopicChecks(side: SideName, topic: string, t: TopicSettings, wanted: number, partitions: number): CheckItem[] {
  const items: CheckItem[] = [];
  const id = `kafka.topic_${side}`;
  const policy = t.config['cleanup.policy'] ?? 'delete';
  const retention = Number(t.config['retention.ms'] ?? '604800000');
  const bytes = Number(t.config['retention.bytes'] ?? '-1');
  const problems: CheckItem[] = [];
  if (t.partitions !== partitions && partitions === 1) {
    problems.push(fail(`${id}.partitions`, 'kafka', `change topic of ${side} has ${t.partitions} partitions`, `${topic}: with more than one partition a source transaction's events and the transaction order are split across partitions`, `delete the topic and the connector (tandem connectors delete), then tandem backfill --yes and tandem run: Connect creates it again with one partition`));
  } else if (t.partitions !== partitions) {
    problems.push(fail(`${id}.partitions`, 'kafka', `change topic of ${side} has ${plural(t.partitions, 'partition')}, transport.kafka.partitions ${partitions}`, `${topic}: each partition is one apply lane; with another count, keys would be read from partitions no lane owns or partitions left unread`, `set transport.kafka.partitions to ${t.partitions}, or delete the topic and the connector (tandem connectors delete), then tandem backfill --yes and tandem run`));
  }
  if (policy.includes('compact')) {
    problems.push(fail(`${id}.cleanup`, 'kafka', `change topic of ${side} is compacted`, `${topic}: cleanup.policy=${policy} keeps only the last event of each key, so earlier changes of a row can vanish before Tandem reads them`, alter(topic, 'cleanup.policy=delete')));
  }
  if (retention >= 0 && retention < wanted) {
    problems.push(fail(`${id}.retention`, 'kafka', `change topic of ${side} keeps events ${human(retention)}`, `${topic}: retention.ms is ${human(retention)}, shorter than transport.kafka.retention (${human(wanted)}): a Tandem stopped longer than ${human(retention)} finds the events it needs deleted (the source freed its log once they were in Kafka)`, alter(topic, `retention.ms=${wanted}`)));
  }
  if (bytes >= 0) {
    problems.push(warn(`${id}.retention_bytes`, 'kafka', `change topic of ${side} is cut by size`, `${topic}: retention.bytes=${bytes} deletes the oldest events past that size whatever their age: a burst of writes can delete events Tandem has not read`, alter(topic, 'retention.bytes=-1')));
  }
  items.push(...problems);
  if (problems.length === 0) {
    items.push(pass(id, 'kafka', `change topic of ${side}`, `${topic}: ${plural(partitions, 'partition')}, cleanup.policy=${policy}, retention ${human(retention)} (transport.kafka.retention ${human(wanted)}), no size limit`));
  }
  return items;
}

function historyCheck(side: SideName, topic: string, t: TopicSettings): CheckItem {
  const id = `kafka.schema_history_${side}`;
  const policy = t.config['cleanup.policy'] ?? 'delete';
  const retention = Number(t.config['retention.ms'] ?? '604800000');
  const bytes = Number(t.config['retention.bytes'] ?? '-1');
  // Debezium creates it with retention.ms = Long.MAX_VALUE; -1 is the other way to say forever.
  const forever = retention < 0 || retention >= 9_000_000_000_000_000;
  const found = `retention ${forever ? 'forever' : human(retention)}, retention.bytes=${bytes}, cleanup.policy=${policy}, ${t.partitions} partition(s)`;
  if (!forever || bytes >= 0 || policy !== 'delete' || t.partitions !== 1) {
    return fail(id, 'kafka', `schema history topic of ${side} does not keep every record`, `${topic}: ${found}. Debezium reads the whole history on every start: a deleted record makes the connector fail or decode rows with an old schema`, `${alter(topic, 'retention.ms=-1,retention.bytes=-1,cleanup.policy=delete')} (a topic with several partitions must be recreated: delete the connector and the topic, then tandem backfill --yes)`);
  }
  return pass(id, 'kafka', `schema history topic of ${side}`, `${topic}: ${found}`);
}

/** H22: how the change topic orders changes, and what `ordering: key` gives up. */
function orderingCheck(config: TandemConfig): CheckItem {
  const k = config.transport.kafka;
  if (k.ordering === 'transaction') {
    return pass('kafka.ordering', 'kafka', 'changes applied by source transaction', 'ordering: transaction: one partition, each source transaction applied whole and in commit order on the shadow');
  }
  const partitions = changePartitions(config);
  return warn(
    'kafka.ordering',
    'kafka',
    'ordering: key gives up cross-row atomicity',
    `${partitions} partitions, one apply lane each: a row's changes stay in order, but a source transaction's rows reach the shadow at different moments (an order without its lines, a transfer with one side applied), so readers of the shadow can see states the source never had until the lanes catch up. Switches (cutover, rollback) are refused, TRUNCATE of a replicated table stops replication, and tables with a unique index besides the primary key are refused`,
    'use ordering: transaction (the default) unless the shadow is not read before cutover and throughput needs parallel apply',
  );
}

/** With ordering: key, the shadow's unique indexes besides the primary key (see laneConflictingKeys): a failure. */
export function laneConflictCheck(config: TandemConfig, shadow: SideName, schemas: ReadonlyMap<string, TableSchema>): CheckItem | undefined {
  if (config.transport.kind !== 'kafka' || config.transport.kafka.ordering !== 'key') return undefined;
  const found = laneConflictingKeys(schemas);
  if (found.length === 0) return pass('kafka.ordering_unique', shadow, 'no unique index besides the primary key', 'ordering: key: no value can collide between lanes');
  const err = laneConflictError(found, shadow);
  return fail('kafka.ordering_unique', shadow, 'unique indexes conflict with ordering: key', err.message, err.fix ?? '');
}
