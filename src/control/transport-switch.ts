/**
 * What a switch asks of the transport. The embedded transport needs nothing: a direction's capture starts with it, at
 * its checkpoint. Over Kafka (docs/kafka.md "Switches") capture is a connector in Kafka Connect: the drain marker
 * must come through the running one, the new direction's connector is created inside the window at the drained
 * position (its failure backs the switch out), and the ended direction's connector is removed after the switch.
 */
import type { TandemConfig } from '../config/schema.js';
import { engineForUrl } from '../engines/registry.js';
import type { CaptureSource } from '../engines/engine.js';
import { TandemError } from '../errors.js';
import { sidesOf, type Direction } from '../model/direction.js';
import type { Gate } from '../model/switch.js';
import { directionCaptureState, kafkaSwitchReadiness, startDirectionCapture, stopDirectionCapture } from '../transport/kafka/switching.js';

export interface TransportSwitch {
  /** The `transport` gate: can this transport carry the drain of `current` and start `next`? */
  gate(current: Direction, next: Direction, tables: readonly string[]): Promise<Gate>;
  /**
   * After the drain: `next`'s capture starts at `position` on its active side. Returns the transport offset its
   * checkpoint starts after (null when the transport has none).
   */
  start(next: Direction, position: string, tables: readonly string[]): Promise<string | null>;
  /** Removes `direction`'s capture outside the process (a backed-out start; the direction a switch ended). */
  stop(direction: Direction, tables: readonly string[]): Promise<void>;
  /** Whether `direction`'s capture runs (rollback readiness); undefined when it runs inside the process. */
  state(direction: Direction, tables: readonly string[]): Promise<{ ok: boolean; detail: string } | undefined>;
}

const embedded: TransportSwitch = {
  gate: () => Promise.resolve({ name: 'transport', ok: true, value: 'embedded', threshold: 'the transport carries the drain and starts the new direction', detail: 'the embedded transport carries the drain marker and starts the new direction in the process' }),
  start: () => Promise.resolve(null),
  stop: () => Promise.resolve(),
  state: () => Promise.resolve(undefined),
};

function kafka(config: TandemConfig): TransportSwitch {
  return {
    async gate(current, next, tables) {
      const found = await kafkaSwitchReadiness(config, current, next, tables);
      return { name: 'transport', ok: found.ok, value: found.value, threshold: 'the running connector carries the drain; Connect can start the next one', detail: found.detail };
    },
    async start(next, position, tables) {
      // PostgreSQL: Debezium starts at the slot's own start, which must be the drained position: the changes the
      // old direction applied there before it are not sent back (the checkpoint would skip them too, but a large
      // transaction is streamed before its end is seen).
      const { active } = sidesOf(next);
      const url = config[active].url;
      const source = engineForUrl(url).captureSource({ url, migration: config.migration, side: active });
      await source.advanceSlot?.(position);
      await slotFree(source, active);
      return startDirectionCapture(config, next, tables, position, config.cutover.drainTimeout);
    },
    async stop(direction, tables) {
      await stopDirectionCapture(config, direction, tables);
    },
    state: (direction, tables) => directionCaptureState(config, direction, tables),
  };
}

export function transportSwitch(config: TandemConfig): TransportSwitch {
  return config.transport.kind === 'kafka' ? kafka(config) : embedded;
}

/**
 * The slot the new direction's connector will read is free. Another reader holding it (a leftover consumer, a tool
 * someone pointed at it) would keep Debezium's task retrying while Connect already reports it RUNNING: the switch
 * would end with a reverse capture that captures nothing. A stopped connector's reader may take a moment to go.
 */
async function slotFree(source: CaptureSource, side: string, waitMs = 5_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const state = await source.slotState();
    if (!state.active) return;
    if (Date.now() > deadline) {
      throw new TandemError('TANDEM_STATE_CONFLICT', `the replication slot Tandem captures ${side} with is held by another reader, so the new direction's connector could not read it`, {
        fix: `find the reader in pg_stat_replication on ${side} (pg_replication_slots.active_pid) and stop it, then switch again`,
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
