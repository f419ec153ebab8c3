import type { Command } from 'commander';
import { Option } from 'commander';
import { childLogger } from '../../log.js';
import { TandemError } from '../../errors.js';
import type { Direction } from '../../model/direction.js';
import { startService } from '../../server/service.js';
import { loadCliConfig } from '../context.js';
import { backfillProgress } from '../progress.js';
import { onStopSignals } from '../signals.js';

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('the replication service: backfill if needed, then stream changes from the active side (the stored direction) to the shadow')
    .option('--standby', 'wait for the instance that holds the lease to stop (or its lease to expire), then take over')
    .addOption(new Option('--direction <direction>', 'only asserts: refuse (exit 3) unless the stored direction is this one').choices(['forward', 'reverse']))
    .action(async (opts: { standby?: boolean; direction?: Direction }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      const log = childLogger('service', { migration: config.migration });
      const waiting = new AbortController();
      const progress = backfillProgress();
      let service: Awaited<ReturnType<typeof startService>> | undefined;
      // The stop reaches the service through `waiting` even while it is still starting (service not assigned yet).
      const signals = onStopSignals(log, async () => {
        waiting.abort();
        await service?.stop();
      });
      try {
        service = await startService(config, { log, standby: opts.standby, assertDirection: opts.direction, signal: waiting.signal, onProgress: progress.update });
        await service.done;
      } catch (err) {
        // A standby stopped while it waited has nothing to report.
        if (waiting.signal.aborted && err instanceof TandemError && err.code === 'TANDEM_LEASE_HELD') return;
        // Why the service stopped, as one structured record (the same text follows on stderr for people).
        if (err instanceof TandemError) log.error({ code: err.code, fix: err.fix, exitCode: err.exitCode, ...err.place }, err.message);
        else log.error({ code: 'TANDEM_INTERNAL' }, String(err));
        throw err;
      } finally {
        progress.end();
        signals.dispose();
      }
    });
}
