#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitCode, TandemError, errorMessage } from '../errors.js';
import { printErr } from './output.js';
import { registerCheck } from './commands/check.js';
import { registerRun } from './commands/run.js';
import { registerStatus } from './commands/status.js';
import { registerBackfill } from './commands/backfill.js';
import { registerSchema } from './commands/schema.js';
import { registerVerify } from './commands/verify.js';
import { registerRepair } from './commands/repair.js';
import { registerSwitch } from './commands/switch.js';
import { registerTeardown } from './commands/teardown.js';
import { registerAudit } from './commands/audit.js';
import { registerApprove } from './commands/approve.js';
import { registerConnectors } from './commands/connectors.js';
import { registerPlan } from './commands/plan.js';
import { registerDrill } from './commands/drill.js';

export function buildProgram(): Command {
  const program = new Command('tandem')
    .description('Change-data-capture shadow replication for database migrations')
    .option('-c, --config <file>', 'configuration file (default: $TANDEM_CONFIG or ./tandem.yaml)')
    .showHelpAfterError()
    .exitOverride();
  registerCheck(program);
  registerRun(program);
  registerStatus(program);
  registerBackfill(program);
  registerSchema(program);
  registerVerify(program);
  registerRepair(program);
  registerSwitch(program);
  registerTeardown(program);
  registerAudit(program);
  registerApprove(program);
  registerConnectors(program);
  registerPlan(program);
  registerDrill(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    if (err instanceof TandemError) {
      printErr(`tandem: ${err.message}`);
      const where = Object.entries(err.place).map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
      if (where.length) printErr(`  where: ${where.join(', ')}`);
      if (err.fix) printErr(`  fix: ${err.fix}`);
      printErr(`  code: ${err.code}`);
      return err.exitCode;
    }
    printErr(`tandem: unexpected failure: ${errorMessage(err)}`);
    if (err instanceof Error && err.stack && process.env.TANDEM_LOG_LEVEL === 'debug') printErr(err.stack);
    return ExitCode.runtime;
  }
}

const code = await main(process.argv.slice(2));
process.exit(code);
