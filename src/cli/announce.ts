/**
 * What a command rather than the service makes known (tandem drill, tandem plan --approve):
 * - notifications, through the same webhooks (notify.webhooks) and delivery (src/control/notify.ts); the command
 *   exits when it is done, so it waits for delivery — bounded, while the retries back off;
 * - its audit entries as the running service's live events (GET /api/v1/events, the dashboard), as the service's
 *   own entries are: the service is asked to read them back from the audit log and send them.
 */
import type { TandemConfig } from '../config/schema.js';
import { childLogger } from '../log.js';
import { leaseIsLive } from '../model/control.js';
import type { AuditEntry } from '../model/switch.js';
import { osUser } from '../control/lease.js';
import { Notifier } from '../control/notify.js';
import type { StateStore } from '../control/state-store.js';
import { askService } from '../control/status.js';
import { printErr } from './output.js';

/**
 * Appends `entry` to the audit log and, when `tandem run` is running, has it sent as a live event. The entry is kept
 * either way; a service that does not answer only misses the live event (its dashboard reads the log on reload).
 */
export async function auditAndAnnounce(store: StateStore, entry: AuditEntry): Promise<void> {
  await store.appendAudit(entry);
  const { lease } = await store.readLease().catch(() => ({ lease: undefined }));
  if (!leaseIsLive(lease) || lease.role !== 'service' || !lease.api || !lease.secret) return;
  await askService(lease, '/api/v1/audit/announce', { method: 'POST', body: { at: entry.at, requestId: entry.requestId }, actor: `local:${osUser()}` }).catch(() => undefined);
}

/** How long a command that is about to exit waits for its notifications (they retry with backoff meanwhile). */
export const NOTIFY_WAIT_MS = 15_000;

/** Tells the stakeholders (notify.webhooks) and waits for delivery, bounded: the command exits right after. */
export async function announce(config: TandemConfig, send: (n: Notifier) => void): Promise<void> {
  if (!config.notify.webhooks.length) return;
  const log = childLogger('notify', { migration: config.migration });
  const notifier = new Notifier(config, log);
  send(notifier);
  if (!(await notifier.settledWithin(NOTIFY_WAIT_MS))) printErr(`tandem: notifications still undelivered after ${NOTIFY_WAIT_MS / 1000} s were given up (notify.webhooks)`);
}
