/**
 * The Kafka transport's metrics (src/server/metrics.ts, src/transport/kafka/stats.ts): lag in records and seconds,
 * retention headroom, records read and copies dropped, connector and task states; absent with the embedded transport.
 */
import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/server/metrics.js';
import { emptyStats } from '../../src/replicate/stats.js';
import { emptyKafkaStats, kafkaLagOffsets, kafkaLagSeconds, kafkaRetentionHeadroom } from '../../src/transport/kafka/stats.js';

const metricsOf = (stats: ReturnType<typeof emptyStats>) =>
  createMetrics({ stats, migration: 'm', version: 'test', direction: () => 'forward', phase: () => 'shadowing' }).metrics();

describe('Kafka transport metrics', () => {
  it('lag is what the topic holds beyond the settled offset; its age is that of the oldest unsettled record read', () => {
    const k = { ...emptyKafkaStats(), lowOffset: 100, highOffset: 1_000, settledOffset: 899, oldestUnsettledAt: 10_000 };
    expect(kafkaLagOffsets(k)).toBe(100);
    expect(kafkaLagSeconds(k, 12_500)).toBe(2.5);
    expect(kafkaRetentionHeadroom(k)).toBe(800);
    // Caught up: the last record (offset high - 1) is settled, nothing read waits.
    expect(kafkaLagOffsets({ ...k, settledOffset: 999 })).toBe(0);
    expect(kafkaLagSeconds({ ...k, settledOffset: 999, oldestUnsettledAt: null })).toBe(0);
    // Before the feed has started: unknown, not 0.
    expect(kafkaLagOffsets(emptyKafkaStats())).toBeNull();
    expect(kafkaLagSeconds(emptyKafkaStats())).toBeNull();
  });

  it('exports lag, headroom, records, copies and the connector and task states; nothing of it with the embedded transport', async () => {
    const stats = emptyStats();
    stats.kafka = { ...emptyKafkaStats(), topic: 't', connector: 'tandem-m-old', lowOffset: 0, highOffset: 50, settledOffset: 39, oldestUnsettledAt: null, eventsRead: 40, redeliveredEvents: 3, connectorState: 'RUNNING', tasks: [{ id: 0, state: 'FAILED' }] };
    const text = await metricsOf(stats);
    expect(text).toContain('tandem_kafka_lag_offsets{direction="forward",migration="m"} 10');
    expect(text).toContain('tandem_kafka_lag_seconds{direction="forward",migration="m"} 0');
    expect(text).toContain('tandem_kafka_retention_headroom_offsets{direction="forward",migration="m"} 40');
    expect(text).toContain('tandem_kafka_records_read_total{direction="forward",migration="m"} 40');
    expect(text).toContain('tandem_kafka_redelivered_records_total{direction="forward",migration="m"} 3');
    expect(text).toContain('tandem_kafka_connector_state{connector="tandem-m-old",state="RUNNING",migration="m"} 1');
    expect(text).toContain('tandem_kafka_task_state{connector="tandem-m-old",task="0",state="FAILED",migration="m"} 1');
    const embedded = await metricsOf(emptyStats());
    expect(embedded).not.toMatch(/^tandem_kafka_\w+\{/m);
  });
});
