/**
 * `tandem teardown`: abandon a migration before its cutover, or clean up after `finalize`. Removes Tandem's capture
 * slots and publications (and Kafka connectors), fences, checkpoints and state tables on both sides, and leaves the data. It takes the
 * lease like the service (a running service makes it refuse: stop it first) and refuses in a phase where the
 * application's writes depend on Tandem (cutting-over, cutover, rolling-back).
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { engineForUrl } from '../engines/registry.js';
import type { SideName } from '../model/direction.js';
import { replicatedTables } from '../replicate/tables.js';
import { Lease, newHolder } from './lease.js';
import { StateStore } from './state-store.js';
import { transportSwitch } from './transport-switch.js';

export interface TeardownResult {
  phase: string;
  removed: Record<SideName, string[]>;
  /** What could not be removed (a side unreachable), with the error: run teardown again once it is back. */
  failed: Array<{ side: SideName; what: string; error: string }>;
}

const ALLOWED = new Set(['setup', 'backfill', 'shadowing', 'finalized']);

export async function teardown(config: TandemConfig, log: Logger): Promise<TeardownResult> {
  const store = new StateStore(config, log);
  let lease: Lease | undefined;
  try {
    lease = await Lease.acquire(store, newHolder('teardown'), { ttlMs: config.lease.ttl, log, heldFix: 'stop tandem run first: teardown removes the slots, fences and state it uses' });
    const state = (await store.readControl())?.state;
    const phase = state?.phase ?? 'setup';
    if (!ALLOWED.has(phase) || state?.switch) {
      throw new TandemError('TANDEM_GATE_REFUSED', `teardown refused in phase ${phase}: the application writes to ${state?.activeSide ?? 'old'} and Tandem keeps the other side in step for a rollback; nothing was removed`, {
        fix: phase === 'cutover' ? 'finalize first (tandem finalize --yes) once new is confirmed good, or roll back (tandem rollback)' : 'wait for the switch to finish (tandem status)',
      });
    }
    const tables = await replicatedTables(config, state?.direction ?? 'forward').catch(() => config.tables ?? []);
    const result: TeardownResult = { phase, removed: { old: [], new: [] }, failed: [] };
    const attempt = async (side: SideName, what: string, work: () => Promise<string[] | void>) => {
      try {
        const out = await work();
        result.removed[side].push(...(out ?? [what]));
      } catch (err) {
        result.failed.push({ side, what, error: errorMessage(err) });
      }
    };
    // Over Kafka a connector reads a side's slot: it goes first (its change topic stays for other consumers).
    if (config.transport.kind === 'kafka') {
      for (const [side, direction] of [['new', 'reverse'], ['old', 'forward']] as const) await attempt(side, 'Kafka connector', () => transportSwitch(config).stop(direction, tables));
    }
    for (const side of ['new', 'old'] as const) {
      const url = config[side].url;
      const engine = engineForUrl(url);
      await attempt(side, 'capture slot and publication', () => engine.captureSource({ url, migration: config.migration, side, tables }).removeCaptureObjects());
      await attempt(side, 'fence', async () => {
        const s = await engine.openSwitchSide(url);
        try {
          await s.unfence({ migration: config.migration, tables });
        } finally {
          await s.close();
        }
      });
    }
    // The lease goes last, with the state tables on old that hold it.
    await lease.release();
    lease = undefined;
    for (const side of ['new', 'old'] as const) {
      const url = config[side].url;
      await attempt(side, 'checkpoint, state and fence records', () => engineForUrl(url).removeTandemObjects(url, config.migration));
    }
    log.info({ removed: result.removed, failed: result.failed }, 'teardown done');
    return result;
  } finally {
    await lease?.release();
    await store.close();
  }
}
