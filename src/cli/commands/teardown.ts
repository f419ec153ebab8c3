import type { Command } from 'commander';
import { teardown } from '../../control/teardown.js';
import { ExitCode, TandemError } from '../../errors.js';
import { childLogger } from '../../log.js';
import { loadCliConfig } from '../context.js';
import { confirm, printErr, printJson, printOut } from '../output.js';

export function registerTeardown(program: Command): void {
  program
    .command('teardown')
    .description("remove Tandem from both sides (slots, publications, fences, checkpoints, state tables), leaving the data: abandon a migration before cutover, or clean up after finalize")
    .option('--yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--json', 'print what was removed as JSON')
    .action(async (opts: { yes?: boolean; json?: boolean }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      if (!opts.yes) {
        const question = `remove everything Tandem keeps for migration ${config.migration} from both sides (slots, publications, fences, checkpoints, state; the data stays)? [y/N] `;
        if (!(process.stdin.isTTY && process.stderr.isTTY)) {
          throw new TandemError('TANDEM_USAGE', `tandem teardown removes everything Tandem keeps for migration ${config.migration} (the data stays) and there is no terminal to confirm on`, { fix: 'run again with --yes' });
        }
        if (!(await confirm(question))) {
          printErr('nothing removed');
          process.exitCode = ExitCode.refused;
          return;
        }
      }
      const result = await teardown(config, childLogger('teardown', { migration: config.migration }));
      if (opts.json) printJson(result);
      else {
        for (const side of ['old', 'new'] as const) printOut(`${side}: ${result.removed[side].length ? result.removed[side].join('; ') : 'nothing of Tandem left'}`);
        for (const f of result.failed) printOut(`NOT REMOVED on ${f.side}: ${f.what}: ${f.error}`);
        if (result.failed.length) printOut('fix: make the side reachable and run tandem teardown --yes again');
      }
      if (result.failed.length) process.exitCode = ExitCode.runtime;
    });
}
