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
}

export class KafkaFeed implements ChangeFeed {
  constructor(private readonly opts: KafkaFeedOptions) {}

  async open(from: Checkpoint, hooks: { onRead?(event: CaptureEvent): void } = {}): Promise<FeedSubscription> {
    const { topic, log } = this.opts;
    const reader = this.opts.reader?.() ?? new KafkajsReader(this.opts.brokers, 'tandem');
    try {
      await this.waitForTopic(reader);
      const start = await this.startOffset(reader, from);
      const queue = new EmbeddedQueue(this.opts.queueChanges);
      const onRead = hooks.onRead;
      const decoder = new DebeziumDecoder({
        source: this.opts.source,
        compare: this.opts.comparePositions,
        appliedThrough: appliedThrough(from, this.opts.comparePositions),
        maxBuffered: Math.max(1, Math.floor(this.opts.queueChanges / 2)),
        emit: (event) => {
          onRead?.(event);
          queue.push(event);
        },
      });
      let redelivered = 0;
      let failed: unknown;
      let next = BigInt(start);
      let paused = false;
      await reader.subscribe(topic, start, async (records) => {
        for (const rec of records) {
          // A client may hand over records before its seek took effect, or again after a reconnect.
          if (BigInt(rec.offset) < next) continue;
          next = BigInt(rec.offset) + 1n;
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
      return {
        next: async () => {
          const event = await queue.next();
          if (event === undefined && failed) throw failed;
          return event;
        },
        get backlog() {
          return queue.size;
        },
        // The offset lives in the shadow's checkpoint: nothing to tell Kafka. Debezium tells the source.
        acknowledge: () => undefined,
        done: done.then(() => {
          if (failed) throw failed;
        }),
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

  private async waitForTopic(reader: TopicReader): Promise<void> {
    const deadline = Date.now() + (this.opts.topicWaitMs ?? 30_000);
    while (!(await reader.topicExists(this.opts.topic))) {
      if (Date.now() > deadline) {
        throw new TandemError('TANDEM_CONNECT_FAILED', `the Kafka change topic ${this.opts.topic} does not exist (yet)`, {
          fix: 'register the connector (`tandem connectors apply`) and check it runs (`tandem connectors status`)',
          retriable: true,
        });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Just after the checkpointed offset; refused when retention already deleted events the shadow still needs. */
  private async startOffset(reader: TopicReader, from: Checkpoint): Promise<string> {
    const { low } = await reader.offsets(this.opts.topic);
    const start = from.transportOffset === null ? BigInt(low) : BigInt(from.transportOffset) + 1n;
    const lost = from.transportOffset === null ? BigInt(low) > 0n : start < BigInt(low);
    if (lost) {
      throw new TandemError(
        'TANDEM_CAPTURE_POSITION_PURGED',
        `the Kafka change topic ${this.opts.topic} starts at offset ${low} (retention deleted older events), but the shadow needs events from offset ${start}: continuing would silently skip them`,
        { fix: 'run `tandem backfill --yes` to copy the tables again, and raise transport.kafka.retention above the longest time Tandem may be stopped' },
      );
    }
    return String(start);
  }
}
