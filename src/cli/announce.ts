/**
 * Notifications sent by a command rather than by the service (tandem drill, tandem plan --approve): the same
 * webhooks (notify.webhooks) and delivery (src/control/notify.ts), but the command exits when it is done, so it
 * waits for delivery — bounded, while the retries back off.
 */
import type { TandemConfig } from '../config/schema.js';
import { childLogger } from '../log.js';
import { Notifier } from '../control/notify.js';
import { printErr } from './output.js';

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
