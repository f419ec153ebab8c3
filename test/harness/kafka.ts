import { existsSync, writeFileSync } from 'node:fs';
import { inject } from 'vitest';
import { kafkaUp } from '../../scripts/kafka-stack.js';

let up: Promise<void> | undefined;

/**
 * The local Kafka stack (broker, Connect, Debezium plugins) for Kafka test files: started once per test run, by the
 * first file that needs it (scripts/kafka-stack.ts serializes starters across workers with a lock file), and
 * reused when it already runs. The global teardown stops it when this run started it (the marker file says so).
 */
export function ensureKafka(): Promise<void> {
  up ??= kafkaUp().then(({ started }) => {
    const marker = inject('kafkaStartedMarker');
    if (started && marker && !existsSync(marker)) writeFileSync(marker, String(process.pid));
  });
  return up;
}

/** One connection of the atomic writer: writes one order and bumps the tally, in one transaction. */
export interface AtomicSession {
  writeOne(): Promise<void>;
  end(): Promise<void>;
}

/**
 * Orders and the tally bumped in one transaction each, at a steady pace (the tests measure correctness, and a
 * 2-core machine catches up in seconds): on the shadow, the orders counted must always equal the tally.
 */
export function startAtomicWriter(connect: () => Promise<AtomicSession>): { stop(): Promise<number> } {
  let stopping = false;
  let written = 0;
  const run = (async () => {
    const session = await connect();
    try {
      while (!stopping) {
        await session.writeOne();
        written++;
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      await session.end().catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      stopping = true;
      await run;
      return written;
    },
  };
}
