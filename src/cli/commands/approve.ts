/**
 * `tandem approve <request-id>`: the second actor of a two-person approval (cutover.approvals: 2). The running
 * service checks that the approver is not the requester and that the request has not expired, then runs the switch;
 * this prints its result like `tandem cutover` does (exit 0 done, 3 refused, 4 backed out or failed).
 */
import type { Command } from 'commander';
import type { SwitchResult } from '../../model/switch.js';
import { TandemError } from '../../errors.js';
import { loadCliConfig } from '../context.js';
import { printJson, printOut } from '../output.js';
import { apiError, connectService } from '../service-client.js';
import { exitOfResult, followSteps, renderSwitchResult } from './switch.js';

export function registerApprove(program: Command): void {
  program
    .command('approve')
    .description('approve a switch another actor requested (two-person approval); the switch then runs')
    .argument('<request-id>', 'the requestId the pending request printed')
    .option('--json', 'print the result as JSON (the API returns the same)')
    .option('--token <token>', 'an operate API token (default: $TANDEM_TOKEN; without one, act as the local operator)')
    .action(async (requestId: string, opts: { json?: boolean; token?: string }, cmd: Command) => {
      const { config } = loadCliConfig(cmd);
      if (!/^[a-z]+-[0-9A-Za-z-]{1,60}$/.test(requestId)) {
        throw new TandemError('TANDEM_USAGE', `"${requestId}" is not a switch request id`, { fix: 'copy the requestId the pending request printed, e.g. cutover-20261201T0400-1a2b3c4d' });
      }
      const client = await connectService(config, { token: opts.token, what: 'an approval' });
      try {
        const timeout = config.cutover.fenceTimeout + config.cutover.drainTimeout + config.cutover.holdTimeout + 30 * 60_000;
        const steps = followSteps(client, requestId.startsWith('rollback') ? 'rollback' : 'cutover', !!opts.json);
        const r = await client
          .request<SwitchResult & { error?: { code?: string; message?: string; fix?: string } }>('POST', `/api/v1/approvals/${encodeURIComponent(requestId)}`, {}, timeout)
          .finally(() => steps.stop());
        if (!('result' in r.body) || typeof r.body.result !== 'string') {
          const code = r.body.error?.code;
          if (code === 'TANDEM_APPROVAL_SELF' || code === 'TANDEM_APPROVAL_EXPIRED' || code === 'TANDEM_APPROVAL_NOT_FOUND') {
            throw new TandemError(code, r.body.error?.message ?? `HTTP ${r.status}`, { fix: r.body.error?.fix });
          }
          throw apiError(r.status, r.body);
        }
        if (opts.json) printJson(r.body);
        else printOut(renderSwitchResult(r.body));
        process.exitCode = exitOfResult(r.body);
      } finally {
        await client.close();
      }
    });
}
