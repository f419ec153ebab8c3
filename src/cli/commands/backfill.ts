import type { Command } from 'commander';
import { confirm, printErr } from '../output.js';
import { TandemError } from '../../errors.js';
import { childLogger } from '../../log.js';
import { backfillAgain } from '../../control/backfill.js';
import { loadCliConfig } from '../context.js';
import { backfillProgress } from '../progress.js';
import { onStopSignals } from '../signals.js';

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('empty the shadow tables, then copy every included table again at a new consistent point (run then streams from it)')
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (opts: { yes?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      if (!opts.yes) {
        if (!process.stdin.isTTY) {
          throw new TandemError('TANDEM_USAGE', 'tandem backfill replaces every row of the shadow tables and needs confirmation', { fix: 'run it on a terminal, or pass --yes' });
        }
        if (!(await confirm('This empties the shadow tables and copies them again. Continue? [y/N] '))) throw new TandemError('TANDEM_USAGE', 'backfill cancelled', { fix: 'nothing was changed' });
      }
      const log = childLogger('backfill', { migration: config.migration });
      const controller = new AbortController();
      const progress = backfillProgress();
      const signals = onStopSignals(log, async () => controller.abort());
      try {
        const run = await backfillAgain(config, { log, signal: controller.signal, onProgress: progress.update });
        progress.end();
        if (!run.complete) printErr('tandem: backfill stopped before every table was copied; tandem run resumes the copy from the last chunk');
      } finally {
        signals.dispose();
      }
    });
}
