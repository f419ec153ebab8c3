/**
 * The Kafka transport's entry point for the pipeline: the connector of the current direction registered (or left as
 * it is), then a feed on its change topic.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../../config/schema.js';
import type { Direction } from '../../model/direction.js';
import type { Checkpoint } from '../../engines/engine.js';
import { changePartitions, renderConnector } from './connectors.js';
import { applyConnector, committedSourcePosition, waitRunning } from './manage.js';
import { KafkaFeed } from './feed.js';
import { KeyedKafkaFeed } from './keyed.js';
import { emptyKafkaStats, type KafkaStats } from './stats.js';

export async function openKafkaFeed(
  config: TandemConfig,
  direction: Direction,
  tables: readonly string[],
  checkpoint: Checkpoint | undefined,
  comparePositions: (a: string, b: string) => number,
  log: Logger,
  holder?: { kafka: KafkaStats | null },
): Promise<KafkaFeed | KeyedKafkaFeed> {
  const applied = await applyConnector(config, direction, tables, checkpoint?.sourcePosition);
  if (applied.action !== 'unchanged') log.info({ connector: applied.name, action: applied.action }, 'Debezium connector registered with Kafka Connect');
  await waitRunning(config, applied.name);
  const rendered = renderConnector(config, direction, tables);
  const stats = holder ? (holder.kafka ??= emptyKafkaStats()) : undefined;
  if (stats) stats.connector = applied.name;
  if (config.transport.kafka.ordering === 'key') {
    return new KeyedKafkaFeed({
      brokers: config.transport.kafka.brokers,
      topic: rendered.topic,
      source: rendered.source,
      partitions: changePartitions(config),
      // The queue bound is shared out: all lanes together hold at most as many changes as one ordered feed.
      queueChanges: Math.ceil(config.transport.queueChanges / changePartitions(config)),
      log,
      stats,
      committedPosition: () => committedSourcePosition(config, applied.name, rendered.source),
    });
  }
  return new KafkaFeed({ brokers: config.transport.kafka.brokers, topic: rendered.topic, source: rendered.source, comparePositions, queueChanges: config.transport.queueChanges, log, stats });
}
