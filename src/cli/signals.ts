import type { Logger } from 'pino';

/** How long a graceful stop may take before the process exits anyway (the next start resumes from the checkpoint). */
const FORCED_EXIT_MS = 30_000;

/**
 * SIGTERM/SIGINT stop the service gracefully: the current batch is finished and its checkpoint committed. A second
 * signal, or a stop that hangs past FORCED_EXIT_MS, exits at once: nothing is lost, the shadow's checkpoint is the
 * truth and the next start resumes from it.
 */
export function onStopSignals(log: Logger, stop: () => Promise<void>): { dispose(): void } {
  let signals = 0;
  let timer: NodeJS.Timeout | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal: sig }, 'second signal: exiting without waiting; the next start resumes from the checkpoint');
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping: finishing the current batch and committing its checkpoint');
    timer = setTimeout(() => {
      log.error({ afterMs: FORCED_EXIT_MS }, 'the graceful stop did not finish in time: exiting; the next start resumes from the checkpoint');
      process.exit(4);
    }, FORCED_EXIT_MS);
    timer.unref();
    void stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return {
    dispose() {
      if (timer) clearTimeout(timer);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    },
  };
}
