/**
 * `tandem backfill`: empty the shadow tables and copy them again at a new consistent point. It writes to the
 * shadow, so it takes the lease like the service does (a running service makes it refuse), and the verification
 * records of that direction are forgotten: they describe rows that were just replaced.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import type { Direction } from '../model/direction.js';
import { runReplication } from '../replicate/runner.js';
import { replicatedTables } from '../replicate/tables.js';
import { emptyStats, type ReplicationStats } from '../replicate/stats.js';
import { Lease, newHolder, osUser } from './lease.js';
import { StateStore } from './state-store.js';

export interface BackfillRun {
  direction: Direction;
  stats: ReplicationStats;
  /** False when stopped (signal) before every table was copied: the next `tandem run` resumes the copy. */
  complete: boolean;
}

export async function backfillAgain(config: TandemConfig, opts: { log: Logger; signal: AbortSignal; onProgress?: (stats: ReplicationStats) => void }): Promise<BackfillRun> {
  const store = new StateStore(config, opts.log);
  try {
    const lease = await Lease.acquire(store, newHolder('backfill'), {
      ttlMs: config.lease.ttl,
      log: opts.log,
      heldFix: 'stop it first (the copy replaces every shadow row under it); tandem run resumes streaming from the new copy when started again',
    });
    try {
      lease.startRenewing(() => null);
      const actor = `local:${osUser()}`;
      const control = await store.ensureControl(actor);
      const { direction } = control.state;
      await lease.recordOn('new');
      await store.updateControl((s) => (s.direction === 'forward' && (s.phase === 'setup' || s.phase === 'shadowing') ? { ...s, phase: 'backfill' } : undefined), lease.epoch, actor);
      await store.clearVerification(direction);
      const stats = emptyStats();
      const tables = await replicatedTables(config, direction);
      await runReplication(config, {
        direction,
        epoch: lease.epoch,
        signal: opts.signal,
        stats,
        log: opts.log,
        tables,
        backfillOnly: true,
        reset: true,
        onProgress: opts.onProgress ? () => opts.onProgress?.(stats) : undefined,
        // The shadow has been emptied and the copy has begun: after an emergency rollback, new no longer holds
        // anything stale, and the service may apply to it again (it resumes this copy first).
        onStage: (stage) => {
          if (stage !== 'backfill') return;
          void store
            .updateControl((s) => (s.resyncRequired ? { ...s, resyncRequired: false } : undefined), lease.epoch, actor)
            .catch((err: unknown) => opts.log.warn({ err: String(err) }, 'cannot clear resyncRequired yet; it is cleared when the copy completes'));
        },
      });
      if (stats.stage === 'streaming') await store.updateControl((s) => (s.resyncRequired ? { ...s, resyncRequired: false } : undefined), lease.epoch, actor);
      await store
        .appendAudit({ at: new Date().toISOString(), action: 'backfill', event: stats.stage === 'streaming' ? 'done' : 'failed', requestId: `backfill-${Date.now()}`, actor, phase: control.state.phase, activeSide: control.state.activeSide, detail: { tables: tables.length, rows: stats.backfill?.rowsCopied ?? null } })
        .catch(() => undefined);
      lease.throwIfLost();
      return { direction, stats, complete: stats.stage === 'streaming' };
    } finally {
      await lease.release();
    }
  } finally {
    await store.close();
  }
}
