/**
 * The small interface the Kafka feed reads a topic through, so the client library can be replaced (issue 15: kafkajs
 * is the chosen client, pure JavaScript, last released in 2023). Offsets are decimal text (Kafka offsets are 64-bit).
 */
import { randomBytes } from 'node:crypto';
import kafkajs, { Kafka, logLevel, type Consumer, type Admin } from 'kafkajs';

// An enum kafkajs (CommonJS) exports only on its default object under Node's ESM loader.
const { ConfigResourceTypes } = kafkajs;
import { TandemError } from '../../errors.js';

export interface TopicRecord {
  offset: string;
  /** When Kafka stored it (ms since the epoch). */
  timestamp?: number;
  key: Buffer | null;
  value: Buffer | null;
}

export interface PartitionOffsets {
  partition: number;
  /** The first offset still held (retention deletes older ones). */
  low: string;
  /** The next offset to be written. */
  high: string;
}

export interface TopicReader {
  /** The topic exists (Connect creates it with the connector's first record). */
  topicExists(topic: string): Promise<boolean>;
  /** Partition 0's first held offset and next offset (the one partition of an ordered change topic). */
  offsets(topic: string): Promise<{ low: string; high: string }>;
  /** Every partition's first held offset and next offset, by partition number. */
  partitionOffsets(topic: string): Promise<PartitionOffsets[]>;
  /**
   * Starts fetching each partition of `starts` at its offset; each batch (one partition's records, in offset order)
   * is handed to `onBatch`.
   */
  subscribe(topic: string, starts: ReadonlyMap<number, string>, onBatch: (records: TopicRecord[], partition: number) => Promise<void>): Promise<void>;
  /** Stops fetching a partition (all when none is named) until resume(); records already fetched are still delivered. */
  pause(partition?: number): void;
  resume(partition?: number): void;
  /** Settles when the reader stops: resolves after close(), rejects when the client gave up. */
  readonly done: Promise<void>;
  close(): Promise<void>;
}

/** kafkajs behind TopicReader. Each reader uses a group of its own: Tandem keeps its offset in the shadow, not in Kafka. */
export class KafkajsReader implements TopicReader {
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  private admin: Admin | undefined;
  private topic = '';
  private settle!: { resolve: () => void; reject: (err: unknown) => void };
  readonly done: Promise<void>;
  private closed = false;

  constructor(brokers: string[], clientId: string) {
    this.kafka = new Kafka({ brokers, clientId, logLevel: logLevel.NOTHING, retry: { retries: 8 } });
    this.done = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.done.catch(() => undefined);
  }

  private async adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect().catch((err: unknown) => {
        throw unreachable(err);
      });
      this.admin = admin;
    }
    return this.admin;
  }

  async topicExists(topic: string): Promise<boolean> {
    const admin = await this.adminClient();
    return (await admin.listTopics().catch(transient)).includes(topic);
  }

  async offsets(topic: string): Promise<{ low: string; high: string }> {
    const p0 = (await this.partitionOffsets(topic)).find((p) => p.partition === 0);
    if (!p0) throw new TandemError('TANDEM_STATE', `topic ${topic} has no partition 0`, { fix: 'the change topic must have exactly one partition; delete it and apply the connector again' });
    return { low: p0.low, high: p0.high };
  }

  async partitionOffsets(topic: string): Promise<PartitionOffsets[]> {
    const admin = await this.adminClient();
    return (await admin.fetchTopicOffsets(topic).catch(transient)).map((p) => ({ partition: p.partition, low: p.low, high: p.high })).sort((a, b) => a.partition - b.partition);
  }

  async subscribe(topic: string, starts: ReadonlyMap<number, string>, onBatch: (records: TopicRecord[], partition: number) => Promise<void>): Promise<void> {
    this.topic = topic;
    // kafkajs restarts a crashed consumer by itself from the group's committed offset (none: Tandem keeps its offset
    // in the shadow), so it would read the topic again from its start. Tandem reopens the feed from the checkpoint instead.
    const consumer = this.kafka.consumer({
      groupId: `tandem-feed-${randomBytes(6).toString('hex')}`,
      maxWaitTimeInMs: 100,
      retry: { retries: 5, maxRetryTime: 5_000, restartOnFailure: async () => false },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.CRASH, (event) => {
      if (this.closed) return;
      const err = event.payload.error;
      this.settle.reject(new TandemError('TANDEM_CONNECT_FAILED', `the Kafka consumer stopped: ${err.message}`, { retriable: true, cause: err }));
    });
    // Where to go on: the group has no committed offset, so after a rejoin (a broker restart ends the member's session)
    // kafkajs would start each partition from its beginning again.
    const next = new Map(starts);
    let joins = 0;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      if (joins++ > 0 && !this.closed) for (const [partition, offset] of next) consumer.seek({ topic, partition, offset });
    });
    await consumer.connect().catch((err: unknown) => {
      throw unreachable(err);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: true,
      // One partition's batch at a time per call; partitions are fetched together.
      partitionsConsumedConcurrently: Math.max(1, starts.size),
      eachBatch: async ({ batch, heartbeat }) => {
        if (!next.has(batch.partition)) return; // a partition this reader was not asked for
        const records: TopicRecord[] = [];
        for (const m of batch.messages) records.push({ offset: m.offset, timestamp: Number(m.timestamp), key: m.key, value: m.value });
        await onBatch(records, batch.partition);
        const last = records[records.length - 1];
        if (last) next.set(batch.partition, String(BigInt(last.offset) + 1n));
        await heartbeat();
      },
    });
    for (const [partition, offset] of starts) consumer.seek({ topic, partition, offset });
  }

  pause(partition?: number): void {
    this.consumer?.pause([partition === undefined ? { topic: this.topic } : { topic: this.topic, partitions: [partition] }]);
  }

  resume(partition?: number): void {
    this.consumer?.resume([partition === undefined ? { topic: this.topic } : { topic: this.topic, partitions: [partition] }]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.consumer?.disconnect(), this.admin?.disconnect()]);
    this.settle.resolve();
  }
}

export interface TopicSettings {
  partitions: number;
  /** The topic's effective configuration (cleanup.policy, retention.ms, retention.bytes, …). */
  config: Record<string, string>;
}

/** What `tandem check` and the metrics read from the brokers: the cluster, a topic's settings, its offsets. */
export class KafkaInspector {
  private readonly kafka: Kafka;
  private admin: Admin | undefined;

  constructor(brokers: string[], opts: { connectionTimeoutMs?: number; retries?: number } = {}) {
    this.kafka = new Kafka({ brokers, clientId: 'tandem-inspect', logLevel: logLevel.NOTHING, connectionTimeout: opts.connectionTimeoutMs ?? 3_000, retry: { retries: opts.retries ?? 2 } });
  }

  private async client(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      await admin.connect().catch((err: unknown) => {
        throw unreachable(err);
      });
      this.admin = admin;
    }
    return this.admin;
  }

  async cluster(): Promise<{ clusterId: string; brokers: number }> {
    const c = await (await this.client()).describeCluster();
    return { clusterId: c.clusterId, brokers: c.brokers.length };
  }

  /** The topic's partition count and configuration; undefined when it does not exist. */
  async topic(name: string): Promise<TopicSettings | undefined> {
    const admin = await this.client();
    if (!(await admin.listTopics()).includes(name)) return undefined;
    const [meta] = (await admin.fetchTopicMetadata({ topics: [name] })).topics;
    const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name }] });
    const config: Record<string, string> = {};
    for (const e of described.resources[0]?.configEntries ?? []) config[e.configName] = e.configValue;
    return { partitions: meta?.partitions.length ?? 0, config };
  }

  /**
   * The first held offset and the next offset, summed over the topic's partitions (partition 0's alone for an ordered
   * change topic of one partition); undefined when the topic does not exist.
   */
  async offsets(topic: string): Promise<{ low: string; high: string } | undefined> {
    const admin = await this.client();
    if (!(await admin.listTopics()).includes(topic)) return undefined;
    const parts = await admin.fetchTopicOffsets(topic);
    if (parts.length === 0) return undefined;
    let low = 0n;
    let high = 0n;
    for (const p of parts) {
      low += BigInt(p.low);
      high += BigInt(p.high);
    }
    return { low: String(low), high: String(high) };
  }

  /** Deletes the topic; false when there was none. */
  async deleteTopic(name: string): Promise<boolean> {
    const admin = await this.client();
    if (!(await admin.listTopics()).includes(name)) return false;
    await admin.deleteTopics({ topics: [name], timeout: 10_000 });
    return true;
  }

  async close(): Promise<void> {
    await this.admin?.disconnect().catch(() => undefined);
    this.admin = undefined;
  }
}

/**
 * A broker's answer while the cluster settles (a topic Connect just created whose partitions have no leader yet, a
 * broker restarting) is an interruption: the feed reopens from the checkpoint, it does not stop replication.
 */
function transient(err: unknown): never {
  throw new TandemError('TANDEM_CONNECT_FAILED', `Kafka: ${(err as Error).message}`, { retriable: true, cause: err });
}

function unreachable(err: unknown): TandemError {
  return new TandemError('TANDEM_CONNECT_FAILED', `Kafka brokers unreachable: ${(err as Error).message}`, {
    retriable: true,
    fix: 'start Kafka (npm run kafka:up for the local stack) or set transport.kafka.brokers in tandem.yaml',
    cause: err,
  });
}
