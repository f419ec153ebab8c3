#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { ExitCode, TandemError, errorMessage } from '../errors.js';
import { printErr } from './output.js';
import { commandWord } from './command-word.js';
type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when needed: a command run by name loads its own module alone, so that
 * `tandem verify` or `tandem status` does not first load the HTTP server, Kafka and every other command (about
 * 0.3 s of CPU before any work). Keyed by the command names each module registers.
 */
const COMMANDS: Array<{ names: string[]; load: () => Promise<Register> }> = [
  { names: ['check'], load: async () => (await import('./commands/check.js')).registerCheck },
  { names: ['run'], load: async () => (await import('./commands/run.js')).registerRun },
  { names: ['status'], load: async () => (await import('./commands/status.js')).registerStatus },
  { names: ['backfill'], load: async () => (await import('./commands/backfill.js')).registerBackfill },
  { names: ['schema'], load: async () => (await import('./commands/schema.js')).registerSchema },
  { names: ['verify'], load: async () => (await import('./commands/verify.js')).registerVerify },
  { names: ['repair'], load: async () => (await import('./commands/repair.js')).registerRepair },
  { names: ['cutover', 'rollback', 'finalize'], load: async () => (await import('./commands/switch.js')).registerSwitch },
  { names: ['teardown'], load: async () => (await import('./commands/teardown.js')).registerTeardown },
  { names: ['audit'], load: async () => (await import('./commands/audit.js')).registerAudit },
  { names: ['approve'], load: async () => (await import('./commands/approve.js')).registerApprove },
  { names: ['connectors'], load: async () => (await import('./commands/connectors.js')).registerConnectors },
  { names: ['plan'], load: async () => (await import('./commands/plan.js')).registerPlan },
  { names: ['drill'], load: async () => (await import('./commands/drill.js')).registerDrill },
];

/**
 * The program with the commands `argv` needs: only the named command's module when it names a known command;
 * every command otherwise (no argv, help, a misspelling: the full list and commander's suggestions need them all).
 */
export async function buildProgram(argv?: string[]): Promise<Command> {
  const program = new Command('tandem')
    .description('Change-data-capture shadow replication for database migrations')
    .option('-c, --config <file>', 'configuration file (default: $TANDEM_CONFIG or ./tandem.yaml)')
    .showHelpAfterError()
    .exitOverride();
  const word = argv && commandWord(argv);
  const named = word === undefined || word === 'help' ? undefined : COMMANDS.find((c) => c.names.includes(word));
  for (const register of await Promise.all((named ? [named] : COMMANDS).map((c) => c.load()))) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv, { from: 'user' });
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
