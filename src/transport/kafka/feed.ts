/**
 * The Kafka transport as a ChangeFeed: Debezium (in Kafka Connect) captures the active side into one ordered topic;
 * this reads it from just after the checkpointed offset and hands the pipeline one source transaction at a time,
 * each commit carrying its Kafka offset, which the pipeline writes into the shadow in the same transaction as the
 * data (so a restart resumes exactly there). Memory is bounded by the same queue as the embedded transport: when it
 * is full, fetching pauses.
 */
import type { Logger } from 'pino';
import { TandemError } from '../../errors.js';
import type { CaptureEvent } from '../../model/change.js';
import { appliedThrough, type Checkpoint } from '../../engines/engine.js';
import type { ChangeFeed, FeedSubscription } from '../change-feed.js';
import { EmbeddedQueue } from '../embedded.js';
import { KafkajsReader, type TopicReader } from './client.js';
import { DebeziumDecoder } from './debezium.js';
import type { SourceKind } from './connectors.js';
import type { KafkaStats } from './stats.js';

export interface KafkaFeedOptions {
  brokers: string[];
  topic: string;
  source: SourceKind;
  comparePositions(a: string, b: string): number;
  queueChanges: number;
  log: Logger;
  /** How long open() waits for the topic to appear (Connect creates it with the connector's first record). */
  topicWaitMs?: number;
  /** Another client behind the same interface (tests, a future node-rdkafka adapter). */
  reader?: () => TopicReader;
  /** Where the feed publishes its position in the topic (metrics). */
  stats?: KafkaStats;
}

/**
 * Which records of the topic the shadow holds: those up to the last acknowledged END, and heartbeats read while
 * nothing was waiting to be applied. What is read and not yet settled is the lag (offsets, and the age of the oldest).
 */
export class Settlement {
  private settled: bigint;
  /** END offsets handed to the pipeline and not yet acknowledged. */
  private readonly unacked: bigint[] = [];
  private lastIdle = -1n;
  private readonly unsettled: Array<{ offset: bigint; at: number }> = [];
  private head = 0;

  constructor(
    start: bigint,
    private readonly stats: KafkaStats | undefined,
  ) {
    this.settled = start - 1n;
    this.publish();
  }

  read(offset: bigint, at: number): void {
    this.unsettled.push({ offset, at });
    if (this.stats) this.stats.eventsRead++;
    this.publish();
  }

  delivered(endOffset: bigint): void {
    this.unacked.push(endOffset);
  }

  /** A heartbeat became an idle event at `offset`: settled now if nothing waits to be applied, else with the last END. */
  idle(offset: bigint): void {
    if (this.unacked.length === 0) this.settle(offset);
    else this.lastIdle = offset;
  }

  acknowledged(endOffset: bigint): void {
    while (this.unacked.length && (this.unacked[0] as bigint) <= endOffset) this.unacked.shift();
    this.settle(this.unacked.length === 0 && this.lastIdle > endOffset ? this.lastIdle : endOffset);
  }

  private settle(offset: bigint): void {
    if (offset > this.settled) this.settled = offset;
    while (this.head < this.unsettled.length && (this.unsettled[this.head] as { offset: bigint }).offset <= this.settled) this.head++;
    if (this.head > 1024 && this.head * 2 > this.unsettled.length) {
      this.unsettled.splice(0, this.head);
      this.head = 0;
    }
    this.publish();
  }

  private publish(): void {
    if (!this.stats) return;
    this.stats.settledOffset = Number(this.settled);
    this.stats.oldestUnsettledAt = this.unsettled[this.head]?.at ?? null;
  }
}

export class KafkaFeed implements ChangeFeed {
  constructor(private readonly opts: KafkaFeedOptions) {}

  async open(from: Checkpoint, hooks: { onRead?(event: CaptureEvent): void } = {}): Promise<FeedSubscription> {
    const { topic, log } = this.opts;
    const reader = this.opts.reader?.() ?? new KafkajsReader(this.opts.brokers, 'tandem');
    try {
      await waitForTopic(reader, topic, this.opts.topicWaitMs);
      const { low } = await reader.offsets(topic);
      const start = startOffset(topic, low, from.transportOffset);
      const queue = new EmbeddedQueue(this.opts.queueChanges);
      const onRead = hooks.onRead;
      const stats = this.opts.stats;
      if (stats) stats.topic = topic;
      const settlement = new Settlement(BigInt(start), stats);
      let current = 0n;
      const decoder = new DebeziumDecoder({
        source: this.opts.source,
        compare: this.opts.comparePositions,
        appliedThrough: appliedThrough(from, this.opts.comparePositions),
        maxBuffered: Math.max(1, Math.floor(this.opts.queueChanges / 2)),
        emit: (event) => {
          if (event.kind === 'commit' && event.transportOffset !== undefined) settlement.delivered(BigInt(event.transportOffset));
          else if (event.kind === 'idle') settlement.idle(current);
          onRead?.(event);
          queue.push(event);
        },
      });
      let redelivered = 0;
      let failed: unknown;
      let next = BigInt(start);
      let paused = false;
      await reader.subscribe(topic, new Map([[0, start]]), async (records) => {
        for (const rec of records) {
          // A client may hand over records before its seek took effect, or again after a reconnect.
          if (BigInt(rec.offset) < next) continue;
          next = BigInt(rec.offset) + 1n;
          current = BigInt(rec.offset);
          settlement.read(current, rec.timestamp ?? Date.now());
          try {
            decoder.record(rec);
          } catch (err) {
            failed = err;
            queue.close();
            return;
          }
        }
        if (decoder.redeliveredEvents > redelivered) {
          log.info({ topic, events: decoder.redeliveredEvents - redelivered, offset: records[records.length - 1]?.offset }, 'dropped change events Debezium sent again (at-least-once delivery after a restart)');
          if (stats) stats.redeliveredEvents += decoder.redeliveredEvents - redelivered;
          redelivered = decoder.redeliveredEvents;
        }
        if (queue.isFull() && !paused) {
          paused = true;
          reader.pause();
          void queue.waitForRoom().then(() => {
            paused = false;
            reader.resume();
          });
        }
      });
      log.info({ topic, offset: start }, 'reading the Kafka change topic');
      const done = reader.done.finally(() => queue.close());
      done.catch(() => undefined);
      // Its rejection is also thrown by next(), which the pipeline awaits first: unobserved it would end the process.
      const settled = done.then(() => {
        if (failed) throw failed;
      });
      settled.catch(() => undefined);
      return {
        next: async () => {
          const event = await queue.next();
          if (event === undefined && failed) throw failed;
          return event;
        },
        get backlog() {
          return queue.size;
        },
        // The offset lives in the shadow's checkpoint: nothing to tell Kafka (Debezium tells the source). It settles
        // the records up to it, for the lag metrics.
        acknowledge: (_position, transportOffset) => {
          if (transportOffset !== undefined && transportOffset !== null) settlement.acknowledged(BigInt(transportOffset));
        },
        done: settled,
        close: async () => {
          queue.close();
          await reader.close();
        },
      };
    } catch (err) {
      await reader.close();
      throw err;
    }
  }

}

/** Waits for the change topic (Connect creates it with the connector's first record). */
export async function waitForTopic(reader: TopicReader, topic: string, waitMs = 30_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!(await reader.topicExists(topic))) {
    if (Date.now() > deadline) {
      throw new TandemError('TANDEM_CONNECT_FAILED', `the Kafka change topic ${topic} does not exist (yet)`, {
        fix: 'register the connector (`tandem connectors apply`) and check it runs (`tandem connectors status`)',
        retriable: true,
      });
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Where a partition is read from: just after the checkpointed offset, or its first held record when there is none
 * yet. Refused when retention already deleted events the shadow still needs. `partition` names it in the error when
 * the topic has several.
 */
export function startOffset(topic: string, low: string, checkpointed: string | null, partition?: number): string {
  const start = checkpointed === null ? BigInt(low) : BigInt(checkpointed) + 1n;
  const lost = checkpointed === null ? BigInt(low) > 0n : start < BigInt(low);
  if (lost) {
    const where = partition === undefined ? `the Kafka change topic ${topic}` : `partition ${partition} of the Kafka change topic ${topic}`;
    throw new TandemError('TANDEM_CAPTURE_POSITION_PURGED', `${where} starts at offset ${low} (retention deleted older events), but the shadow needs events from offset ${start}: continuing would silently skip them`, {
      fix: 'run `tandem backfill --yes` to copy the tables again, and raise transport.kafka.retention above the longest time Tandem may be stopped',
    });
  }
  return String(start);
}
