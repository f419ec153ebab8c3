/**
 * Samples, every few seconds while `tandem run` runs with the Kafka transport, what the metrics need beyond the
 * feed's own position: the change topic's offsets (the lag's far end and the retention edge) and the state of the
 * connector and its tasks in Kafka Connect. Follows the direction that replicates now.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import { sidesOf, type Direction } from '../../model/direction.js';
import { KafkaInspector } from './client.js';
import { ConnectClient } from './connect-client.js';
import { changeTopic, connectorName } from './connectors.js';
import { emptyKafkaStats, type KafkaStats } from './stats.js';

const INTERVAL_MS = 5_000;

/** Connector states beyond Connect's own: it did not answer, or has no such connector. */
export const CONNECT_UNREACHABLE = 'UNREACHABLE';
export const CONNECTOR_ABSENT = 'ABSENT';

export function startKafkaSampler(config: TandemConfig, direction: () => Direction | undefined, holder: { kafka: KafkaStats | null }, log: Logger): { stop(): void } {
  const connect = new ConnectClient(config.transport.kafka.connectUrl, { retries: 0 });
  const inspector = new KafkaInspector(config.transport.kafka.brokers);
  let busy = false;
  const sample = async () => {
    const d = direction();
    if (busy || !d) return;
    busy = true;
    const stats = (holder.kafka ??= emptyKafkaStats());
    const side = sidesOf(d).active;
    const name = connectorName(config, side);
    const topic = changeTopic(config, side);
    try {
      stats.connector = name;
      const [status, offsets] = await Promise.all([
        connect.status(name).catch((err: unknown) => {
          log.debug({ err: errorMessage(err) }, 'cannot read the connector status');
          return null;
        }),
        inspector.offsets(topic).catch((err: unknown) => {
          log.debug({ err: errorMessage(err) }, 'cannot read the change topic offsets');
          return null;
        }),
      ]);
      stats.connectorState = status === null ? CONNECT_UNREACHABLE : (status?.connector.state ?? CONNECTOR_ABSENT);
      stats.tasks = status ? status.tasks.map((t) => ({ id: t.id, state: t.state })) : [];
      if (offsets !== null) {
        stats.lowOffset = offsets ? Number(offsets.low) : null;
        stats.highOffset = offsets ? Number(offsets.high) : null;
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void sample(), INTERVAL_MS);
  timer.unref();
  void sample();
  return {
    stop: () => {
      clearInterval(timer);
      void inspector.close();
    },
  };
}
