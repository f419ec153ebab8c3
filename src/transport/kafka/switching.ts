/**
 * The Kafka transport's part in a switch (control/switch.ts, docs/kafka.md "Switches"). The drain marker comes
 * through the connector that runs (connectors.ts routes it into the change topic); after the drain, inside the
 * window, the connector of the direction that starts is created on the side becoming active, at the drained
 * position, and must run before the switch passes its point of no return (a connector that fails to start backs the
 * switch out); the connector of the direction that ended is removed once the switch is recorded.
 */
import type { TandemConfig } from '../../config/schema.js';
import { errorMessage } from '../../errors.js';
import type { Direction } from '../../model/direction.js';
import { connectClient, applyConnector, changeTopicEnd, deleteConnector, waitRunning } from './manage.js';
import { CONNECTOR_CLASS, renderConnector } from './connectors.js';
import { isRunning, statesOf } from './connect-client.js';

export interface TransportFinding {
  ok: boolean;
  value: string;
  detail: string;
}

/**
 * Can a switch from `current` to `next` run over Kafka? The connector of `current` runs (it carries the drain
 * marker), and Connect answers and has the Debezium plugin that captures the side becoming active.
 */
export async function kafkaSwitchReadiness(config: TandemConfig, current: Direction, next: Direction, tables: readonly string[]): Promise<TransportFinding> {
  const running = renderConnector(config, current, tables);
  const starting = renderConnector(config, next, tables);
  if (config.transport.kafka.ordering === 'key') {
    // The drain needs the marker's transaction after everything before it, and the new direction one checkpoint
    // offset: both only hold on one ordered partition.
    return {
      ok: false,
      value: 'ordering: key',
      detail: `with transport.kafka.ordering: key the change topic ${running.topic} has several partitions applied by lanes of their own, so the switch's drain cannot be ordered after every change: switch with ordering: transaction (one partition), which needs a new change topic and a new copy (tandem connectors delete, set ordering: transaction, tandem backfill --yes, tandem run)`,
    };
  }
  const client = connectClient(config);
  try {
    const status = await client.status(running.name);
    const states = status ? statesOf(status) : [];
    if (!status || !isRunning(status)) {
      return {
        ok: false,
        value: `${running.name} ${status ? states.join('/') : 'absent'}`,
        detail: `the connector ${running.name} must run to carry the drain marker through Kafka (it is ${status ? states.join(', ') : 'not registered'}): see tandem connectors status; tandem connectors apply registers or restarts it`,
      };
    }
    const plugins = await client.plugins();
    if (!plugins.some((p) => p.class === CONNECTOR_CLASS[starting.source])) {
      return {
        ok: false,
        value: `${CONNECTOR_CLASS[starting.source]} missing`,
        detail: `Kafka Connect lacks the Debezium ${starting.source === 'postgres' ? 'PostgreSQL' : 'MariaDB'} connector that captures ${starting.side} after the switch: install it in the worker's plugin.path (deploy/kafka/pom.xml gathers it) and restart the worker`,
      };
    }
    return { ok: true, value: `${running.name} RUNNING`, detail: `the drain marker comes through ${running.name}; ${starting.name} is created at the drained position` };
  } catch (err) {
    return { ok: false, value: 'Kafka Connect unreachable', detail: `Kafka Connect at ${config.transport.kafka.connectUrl} does not answer (${errorMessage(err)}): the switch needs it to create the connector of the new direction` };
  }
}

/**
 * Creates the connector of `direction` so that it captures from `position` on (PostgreSQL: the side's slot, which
 * the switch advanced there; MariaDB: that binlog position as its starting offset) and waits until it runs. Returns
 * the change topic's offset the direction's checkpoint starts after: the last record before this connector's first.
 * A connector of that name left from before (a switch backed out) is removed first, its offsets with it.
 */
export async function startDirectionCapture(config: TandemConfig, direction: Direction, tables: readonly string[], position: string, timeoutMs: number): Promise<string> {
  await deleteConnector(config, direction, tables);
  const end = await changeTopicEnd(config, direction, tables);
  const applied = await applyConnector(config, direction, tables, position);
  await waitRunning(config, applied.name, timeoutMs);
  return end;
}

/** The connector of `direction`: running or not, said as `tandem connectors status` would (rollback readiness). */
export async function directionCaptureState(config: TandemConfig, direction: Direction, tables: readonly string[]): Promise<{ ok: boolean; detail: string }> {
  const rendered = renderConnector(config, direction, tables);
  try {
    const status = await connectClient(config).status(rendered.name);
    if (!status) return { ok: false, detail: `the connector ${rendered.name} is not registered: tandem connectors apply registers it` };
    const ok = isRunning(status);
    return { ok, detail: `the connector ${rendered.name} is ${ok ? 'RUNNING' : `${statesOf(status).join(', ')}: see tandem connectors status`}` };
  } catch (err) {
    return { ok: false, detail: `Kafka Connect does not answer: ${errorMessage(err)}` };
  }
}

export { deleteConnector as stopDirectionCapture };
