import type { Logger } from 'pino';
import { errorMessage } from '../errors.js';
import { openCaptureSource } from '../engines/factory.js';
import type { ReplicationStats } from './stats.js';

const INTERVAL_MS = 5_000;

/**
 * Samples the active side for lag (log distance, never clock differences: H23) and the WAL the slot retains (H5),
 * so metrics and status show them while the service runs.
 */
export function startSourceSampler(activeUrl: string, migration: string, stats: ReplicationStats, log: Logger): { stop(): void } {
  const source = openCaptureSource(activeUrl, migration);
  let busy = false;
  const sample = async () => {
    if (busy) return;
    busy = true;
    try {
      const [current, slot] = await Promise.all([source.currentPosition(), source.slotState()]);
      const checkpoint = stats.checkpoint;
      // What the slot confirmed includes idle positions Tandem acknowledged after its last applied transaction.
      const applied = checkpoint && slot.confirmedPosition && source.comparePositions(slot.confirmedPosition, checkpoint) > 0 ? slot.confirmedPosition : checkpoint;
      stats.source = { lagBytes: applied ? source.distance(applied, current) : null, retainedBytes: slot.retainedBytes ?? null, sampledAt: Date.now() };
    } catch (err) {
      log.debug({ err: errorMessage(err) }, 'cannot sample the active side');
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void sample(), INTERVAL_MS);
  timer.unref();
  void sample();
  return { stop: () => clearInterval(timer) };
}
