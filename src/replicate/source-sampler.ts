import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { sidesOf, type Direction } from '../model/direction.js';
import { engineForUrl } from '../engines/registry.js';
import type { CaptureSource } from '../engines/engine.js';
import type { ReplicationStats } from './stats.js';

const INTERVAL_MS = 5_000;
const CHECK_MS = 200;

/**
 * Samples the active side for lag (log distance, never clock differences: H23) and the WAL the slot retains (H5),
 * so metrics and status show them while the service runs. Follows the direction that replicates now.
 */
export function startSourceSampler(config: TandemConfig, direction: () => Direction | undefined, stats: ReplicationStats, log: Logger): { stop(): void } {
  let busy = false;
  let sources: { direction: Direction; source: CaptureSource } | undefined;
  const sample = async () => {
    const d = direction();
    if (busy || !d) return;
    busy = true;
    try {
      if (sources?.direction !== d) {
        const side = sidesOf(d).active;
        const url = config[side].url;
        sources = { direction: d, source: engineForUrl(url).captureSource({ url, migration: config.migration, side }) };
      }
      const { source } = sources;
      // The active side's clock, read between two local readings: the midpoint is what it said at "now".
      const before = Date.now();
      const theirs = await source.clock();
      const after = Date.now();
      stats.lag?.setClockOffset(theirs.getTime() - (before + after) / 2);
      const checkpoint = stats.checkpoint;
      const acknowledged = stats.acknowledged ?? checkpoint;
      const [current, slot] = await Promise.all([source.currentPosition(), source.slotState(checkpoint ?? undefined)]);
      // Past the last applied transaction, the checkpoint also covers idle positions: log the shadow has nothing to
      // take from (other databases' writes on the same server, Tandem's own checkpoints), which is not lag.
      const applied = acknowledged && slot.confirmedPosition && source.comparePositions(slot.confirmedPosition, acknowledged) > 0 ? slot.confirmedPosition : acknowledged;
      stats.source = { lagBytes: applied ? source.distance(applied, current) : null, retainedBytes: slot.retainedBytes ?? null, logRetention: slot.logRetention ?? null, sampledAt: Date.now() };
    } catch (err) {
      log.debug({ err: errorMessage(err) }, 'cannot sample the active side');
    } finally {
      busy = false;
    }
  };
  // A new stream (after a switch, or a restart after an error) starts with its clock offset unknown, so its lag is
  // unknown and the switch's lag gate refuses: sample it at once rather than at the next interval.
  let sampledAt = 0;
  let sampledTracker: ReplicationStats['lag'] = null;
  const tick = () => {
    if (busy) return;
    if (Date.now() - sampledAt < INTERVAL_MS && stats.lag === sampledTracker) return;
    sampledAt = Date.now();
    sampledTracker = stats.lag;
    void sample();
  };
  const timer = setInterval(tick, CHECK_MS);
  timer.unref();
  tick();
  return { stop: () => clearInterval(timer) };
}
