/**
 * The Kafka transport with `transport.kafka.ordering: key` (H22): the change topic has several partitions, Connect's
 * producer sends each row change to the partition of its primary key, and each partition is an apply lane of its own
 * (src/replicate/lanes.ts runs one pipeline per lane, each with its own shadow session and checkpoint row).
 *
 * What holds, and what does not:
 * - One row's changes stay in order: they share a partition, and a lane applies its partition in offset order.
 * - A source transaction's rows are spread over lanes, so the shadow shows them at different moments: no cross-row
 *   atomicity. Foreign keys are not checked by apply (session_replication_role / foreign_key_checks), so a child row
 *   applied before its parent is accepted and the pair is whole once both lanes passed it.
 * - A lane's position is its partition's offset: each change is a transaction of its own to the pipeline, checkpointed
 *   with that offset in the shadow transaction that applies it (a restart resumes exactly there). Debezium's copies
 *   after a Connect restart are recognised within the lane by transaction identity and place; any the lane cannot
 *   recognise (sent again across a restart of Tandem) are re-applied, which is harmless: apply writes whole row
 *   images by key (upsert, delete by key), so re-applying an older run of one key's changes ends on its latest.
 * - The shadow's source position (what verification, status and lag in bytes read) is known only for all lanes
 *   together: `barrier()` takes the source position Connect committed for the connector (every record before it is
 *   in Kafka) and the partitions' ends, and the position holds once every lane has settled its partition to there.
 * - TRUNCATE cannot be ordered against other lanes' rows: it stops replication with an error naming the fix.
 */
import type { Logger } from 'pino';
import { TandemError } from '../../errors.js';
import type { CaptureEvent } from '../../model/change.js';
import type { Checkpoint } from '../../engines/engine.js';
import type { TableSchema } from '../../model/schema.js';
import type { ChangeFeed, FeedSubscription, LaneFeed } from '../change-feed.js';
import { EmbeddedQueue } from '../embedded.js';
import { KafkajsReader, type PartitionOffsets, type TopicReader, type TopicRecord } from './client.js';
import { compareKeys, decodeChange, eventKey, isHeartbeat, markerOf, parseJson, type EventKey } from './debezium.js';
import { Settlement, startOffset, waitForTopic } from './feed.js';
import type { SourceKind } from './connectors.js';
import { emptyKafkaStats, type KafkaStats } from './stats.js';

/**
 * The unique indexes besides the primary key on the shadow's tables, as `table (index)`: with `ordering: key` two
 * rows' changes travel in different lanes, so a value moving from one row to another can reach the shadow in the
 * other order and be refused as a duplicate, and a lane behind one that holds the value for good would never pass.
 */
export function laneConflictingKeys(schemas: ReadonlyMap<string, TableSchema>): string[] {
  return [...schemas.values()].flatMap((t) => (t.uniqueKeys ?? []).map((u) => `${t.name} (${u.name})`));
}

export function laneConflictError(found: readonly string[], side: string): TandemError {
  return new TandemError('TANDEM_CONFIG_INVALID', `transport.kafka.ordering: key cannot apply to ${side}: unique index(es) besides the primary key on ${found.join(', ')} would refuse a value that moves between rows whenever the rows' lanes apply out of step`, {
    fix: 'use ordering: transaction (the default), or drop those unique indexes on the shadow for the migration and exclude their tables until it is done',
  });
}

/** Orders two lane positions (partition offsets, decimal text). */
export function compareOffsets(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The lane position before a partition's first record. */
export const LANE_START = '-1';

const RECENT_IDS = 10_000;

/**
 * One partition's Debezium records as the pipeline's capture events: each row change a transaction of its own at
 * its offset; heartbeats idle events; transaction boundaries, markers and copies nothing (`none`).
 */
export class KeyedDecoder {
  /** The transaction whose rows the lane reads now, and the last event of it taken: a copy is at or before it. */
  private current: { identity: string; last: EventKey } | undefined;
  /** Transactions the lane has moved past: an event of one is a copy. */
  private readonly past = new Set<string>();
  redelivered = 0;

  constructor(
    private readonly source: SourceKind,
    private readonly emit: (event: CaptureEvent) => void,
  ) {}

  record(rec: TopicRecord): 'change' | 'idle' | 'none' {
    const value = parseJson(rec.value);
    const payload = value?.payload;
    if (!value || !payload) return 'none';
    if (isHeartbeat(value)) {
      this.emit({ kind: 'idle', position: rec.offset });
      return 'idle';
    }
    if (typeof payload.status === 'string' || typeof payload.op !== 'string') return 'none';
    const source = (payload.source ?? {}) as Record<string, string | number | null>;
    const table = String(source.table);
    if (markerOf(this.source, payload, table) !== undefined) return 'none'; // switches need ordering: transaction
    const meta = payload.transaction as { id?: unknown; total_order?: unknown } | null | undefined;
    if (meta?.id !== undefined && meta.id !== null && this.isCopy(this.identity(String(meta.id)), eventKey(this.source, source, meta.total_order))) {
      this.redelivered++;
      return 'none';
    }
    const change = decodeChange(value, rec, table);
    if (!change) return 'none';
    if (change.op === 'truncate') {
      throw new TandemError('TANDEM_STATE', `TRUNCATE of ${table} arrived at offset ${rec.offset} with transport.kafka.ordering: key, where it cannot be ordered against the rows other lanes are still applying`, {
        fix: 'stop Tandem, set transport.kafka.ordering: transaction (a new change topic of one partition), then copy again (`tandem connectors delete`, `tandem backfill --yes`, `tandem run`); or avoid TRUNCATE on replicated tables while ordering by key',
      });
    }
    const commitTime = new Date(Number(source.ts_ms ?? payload.ts_ms ?? Date.now()));
    this.emit({ kind: 'begin', position: rec.offset, commitTime });
    this.emit({ kind: 'change', change });
    this.emit({ kind: 'commit', position: rec.offset, commitTime, transportOffset: rec.offset });
    return 'change';
  }

  /** PostgreSQL transaction ids are `xid:lsn`, the lsn differing between a transaction's events. */
  private identity(id: string): string {
    return this.source === 'postgres' ? (id.split(':')[0] ?? id) : id;
  }

  /**
   * A partition holds each transaction's rows contiguously and in order, so an event of a transaction the lane has
   * moved past, or of the current one at or before its last event, is a copy Debezium sent again.
   */
  private isCopy(identity: string, key: EventKey): boolean {
    if (this.past.has(identity)) return true;
    if (this.current?.identity === identity) {
      if (compareKeys(key, this.current.last) <= 0) return true;
      this.current.last = key;
      return false;
    }
    if (this.current) {
      this.past.add(this.current.identity);
      if (this.past.size > RECENT_IDS) this.past.delete(this.past.values().next().value as string);
    }
    this.current = { identity, last: key };
    return false;
  }
}

export interface KeyedFeedOptions {
  brokers: string[];
  topic: string;
  source: SourceKind;
  /** The partitions (lanes) the config asks for: the topic must have exactly these. */
  partitions: number;
  /** Changes held per lane before its partition's fetching pauses. */
  queueChanges: number;
  log: Logger;
  topicWaitMs?: number;
  reader?: () => TopicReader;
  /** The transport's figures for metrics, summed over partitions. */
  stats?: KafkaStats;
  /** The source position Connect committed for the connector (manage.ts committedSourcePosition). */
  committedPosition(): Promise<string | undefined>;
}

interface Lane {
  partition: number;
  /** The offset the lane's checkpoint holds (null: none yet). */
  checkpointed: string | null;
  /** The next offset to read. */
  start: string;
  queue: EmbeddedQueue;
  decoder: KeyedDecoder;
  settlement: Settlement;
  stats: KafkaStats;
  paused: boolean;
  failed?: unknown;
}

/**
 * All lanes of one change topic, read by one consumer. Each lane is a ChangeFeed of its own for the pipeline; the
 * consumer starts once every lane has opened (each at its checkpointed offset).
 */
export class KeyedKafkaFeed implements LaneFeed {
  readonly laneStart = LANE_START;
  readonly compareLane = compareOffsets;

  private readonly lanes = new Map<number, Lane>();
  private readonly opened: Array<() => void> = [];
  private reader: TopicReader | undefined;
  private starting: Promise<void> | undefined;
  private aggregate: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: KeyedFeedOptions) {}

  get partitions(): number {
    return this.opts.partitions;
  }

  /** The feed of partition `partition`'s lane. */
  lane(partition: number): ChangeFeed {
    return { open: (from) => this.openLane(partition, from) };
  }

  /**
   * Every lane has settled its partition up to `ends` (each partition's next offset, exclusive): whatever those
   * records carry is on the shadow.
   */
  settledThrough(ends: readonly PartitionOffsets[]): boolean {
    return ends.every((e) => {
      const lane = this.lanes.get(e.partition);
      return lane !== undefined && lane.stats.settledOffset !== null && BigInt(lane.stats.settledOffset) >= BigInt(e.high) - 1n;
    });
  }

  /**
   * The source position the shadow holds in all lanes together, or undefined when it cannot be told yet. Connect's
   * committed position comes first: every record before it is in Kafka, so below the partitions' ends read after it;
   * once every lane has settled its partition to its end, everything up to that position is on the shadow. Waits
   * up to `waitMs` for the lanes.
   */
  async barrier(waitMs: number): Promise<string | undefined> {
    if (!this.reader || this.closed) return undefined;
    const position = await this.opts.committedPosition();
    if (position === undefined) return undefined;
    const ends = await this.reader.partitionOffsets(this.opts.topic);
    const deadline = Date.now() + waitMs;
    while (!this.settledThrough(ends)) {
      if (this.closed || Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 50));
    }
    return position;
  }

  private async openLane(partition: number, from: Checkpoint): Promise<FeedSubscription> {
    if (this.closed) throw new TandemError('TANDEM_CONNECT_FAILED', 'the Kafka feed was closed', { retriable: true });
    const stats = emptyKafkaStats();
    const queue = new EmbeddedQueue(Math.max(1, this.opts.queueChanges));
    const lane: Lane = {
      partition,
      checkpointed: from.transportOffset,
      start: '',
      queue,
      decoder: new KeyedDecoder(this.opts.source, (event) => {
        if (event.kind === 'commit' && event.transportOffset !== undefined) lane.settlement.delivered(BigInt(event.transportOffset));
        queue.push(event);
      }),
      settlement: undefined as unknown as Settlement,
      stats,
      paused: false,
    };
    this.lanes.set(partition, lane);
    // Every lane opens before the consumer starts: one subscription carries them all.
    const all = new Promise<void>((resolve) => this.opened.push(resolve));
    if (this.lanes.size === this.opts.partitions) {
      this.starting = this.start();
      for (const release of this.opened.splice(0)) release();
    }
    await all;
    await this.starting;
    const reader = this.reader;
    if (this.closed || !reader) throw new TandemError('TANDEM_CONNECT_FAILED', 'the Kafka feed was closed while its lanes opened', { retriable: true });
    return {
      next: async () => {
        const event = await queue.next();
        if (event === undefined && lane.failed) throw lane.failed;
        return event;
      },
      get backlog() {
        return queue.size;
      },
      // A lane's positions are its offsets: the pipeline's position (an applied change or a later heartbeat) settles
      // its partition up to there.
      acknowledge: (position) => lane.settlement.acknowledged(BigInt(position)),
      done: reader.done.then(() => {
        if (lane.failed) throw lane.failed;
      }),
      close: async () => {
        queue.close();
        await this.close();
      },
    };
  }

  private async start(): Promise<void> {
    const { topic, log } = this.opts;
    const reader = this.opts.reader?.() ?? new KafkajsReader(this.opts.brokers, 'tandem');
    this.reader = reader;
    try {
      await waitForTopic(reader, topic, this.opts.topicWaitMs);
      const offsets = await reader.partitionOffsets(topic);
      if (offsets.length !== this.opts.partitions) {
        throw new TandemError('TANDEM_CONFIG_INVALID', `the Kafka change topic ${topic} has ${offsets.length} partition(s) but transport.kafka.partitions asks for ${this.opts.partitions} lanes: a key's changes would be read from a partition no lane owns, or partitions would be left unread`, {
          fix: 'set transport.kafka.partitions to the topic\'s partition count, or start again on a new topic (`tandem connectors delete`, delete the topic, `tandem backfill --yes`, `tandem run`)',
        });
      }
      const starts = new Map<number, string>();
      for (const o of offsets) {
        const lane = this.lanes.get(o.partition) as Lane;
        const start = startOffset(topic, o.low, lane.checkpointed, o.partition);
        lane.start = start;
        lane.settlement = new Settlement(BigInt(start), lane.stats);
        starts.set(o.partition, start);
      }
      await reader.subscribe(topic, starts, async (records, partition) => this.deliver(partition, records));
      log.info({ topic, lanes: Object.fromEntries(starts) }, 'reading the Kafka change topic by key (one apply lane per partition)');
      if (this.opts.stats) {
        const total = this.opts.stats;
        total.topic = topic;
        this.aggregate = setInterval(() => this.publish(total), 250);
        this.aggregate.unref();
      }
    } catch (err) {
      for (const lane of this.lanes.values()) {
        lane.failed = err;
        lane.queue.close();
      }
      await reader.close();
      throw err;
    }
    reader.done.catch((err: unknown) => {
      for (const lane of this.lanes.values()) {
        lane.failed ??= err;
        lane.queue.close();
      }
    });
  }

  private async deliver(partition: number, records: TopicRecord[]): Promise<void> {
    const lane = this.lanes.get(partition);
    if (!lane || lane.failed) return;
    for (const rec of records) {
      if (BigInt(rec.offset) < BigInt(lane.start)) continue; // before the seek took effect, or again after a reconnect
      lane.start = String(BigInt(rec.offset) + 1n);
      lane.settlement.read(BigInt(rec.offset), rec.timestamp ?? Date.now());
      let kind: 'change' | 'idle' | 'none';
      try {
        kind = lane.decoder.record(rec);
      } catch (err) {
        lane.failed = err;
        lane.queue.close();
        return;
      }
      // Nothing to apply (a boundary, a copy): settled with what came before it.
      if (kind !== 'change') lane.settlement.idle(BigInt(rec.offset));
    }
    lane.stats.redeliveredEvents = lane.decoder.redelivered;
    if (lane.queue.isFull() && !lane.paused) {
      lane.paused = true;
      this.reader?.pause(partition);
      void lane.queue.waitForRoom().then(() => {
        lane.paused = false;
        this.reader?.resume(partition);
      });
    }
  }

  /** The lanes' figures summed into the transport's: records read, unsettled, and the oldest unsettled. */
  private publish(total: KafkaStats): void {
    let settled = 0;
    let read = 0;
    let copies = 0;
    let oldest: number | null = null;
    for (const lane of this.lanes.values()) {
      settled += (lane.stats.settledOffset ?? -1) + 1;
      read += lane.stats.eventsRead;
      copies += lane.stats.redeliveredEvents;
      const at = lane.stats.oldestUnsettledAt;
      if (at !== null && (oldest === null || at < oldest)) oldest = at;
    }
    // Summed over partitions, like the sampler's low and high offsets: high - 1 - settled is what is left to apply.
    total.settledOffset = settled - 1;
    total.eventsRead = read;
    total.redeliveredEvents = copies;
    total.oldestUnsettledAt = oldest;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.aggregate) clearInterval(this.aggregate);
    for (const lane of this.lanes.values()) lane.queue.close();
    for (const release of this.opened.splice(0)) release();
    await this.reader?.close();
  }
}
