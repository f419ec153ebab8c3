import type { Command } from 'commander';
import { confirm } from '../output.js';
import { TandemError } from '../../errors.js';
import type { Direction } from '../../model/direction.js';
import { directionOption, runWithStatus } from './run.js';

export function registerBackfill(program: Command): void {
  program
    .command('backfill')
    .description('empty the shadow tables, then copy every included table again at a new consistent point (run then streams from it)')
    .addOption(directionOption())
    .option('--yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (opts: { direction: Direction; yes?: boolean }, cmd: Command) => {
      if (!opts.yes) {
        if (!process.stdin.isTTY) {
          throw new TandemError('TANDEM_USAGE', 'tandem backfill replaces every row of the shadow tables and needs confirmation', { fix: 'run it on a terminal, or pass --yes' });
        }
        if (!(await confirm('This empties the shadow tables and copies them again. Stop `tandem run` first. Continue? [y/N] '))) throw new TandemError('TANDEM_USAGE', 'backfill cancelled', { fix: 'nothing was changed' });
      }
      await runWithStatus(cmd, opts.direction, { backfillOnly: true, reset: true });
    });
}
