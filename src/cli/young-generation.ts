/**
 * The young generation of the commands that stream rows (`run`, `backfill`). V8 13 (Node 24) sizes it by the machine's
 * memory, up to 64 MiB semi-spaces where Node 20 and 22 keep 16: `tandem run` streaming a 1M-row transaction on a
 * 24 GiB machine peaked at 433 MiB RSS on Node 24 against 247 MiB with 16 MiB semi-spaces, at the same speed
 * (bench/README.md). The flag only works on the command line (V8 reads it when the heap is set up, and
 * `v8.setFlagsFromString` afterwards changes nothing), so the process replaces itself with one started with it:
 * `process.execve` keeps the process id, the standard streams, the environment and the arguments, and nothing has
 * been opened yet. Anyone who sets a young-generation flag of their own (NODE_OPTIONS or node's command line) keeps it.
 */
import { commandWord } from './command-word.js';

/** The commands that hold rows in flight for as long as they run. */
const STREAMING_COMMANDS = new Set(['run', 'backfill']);

/** Node 20 and 22's size: what every figure of Tandem's memory before Node 24 was measured with. */
const SEMI_SPACE_MIB = 16;

/** V8 versions from which the default young generation grows past SEMI_SPACE_MIB (Node 22 ships 12.4, Node 24 13.6). */
const FIRST_LARGER_V8 = 13;

export interface ProcessFacts {
  /** The command line after the script. */
  argv: readonly string[];
  execArgv: readonly string[];
  nodeOptions: string | undefined;
  /** `process.versions.v8`. */
  v8: string;
  /** Whether the process can replace itself (process.execve: Node 22.15+ and 23.11+, not on Windows). */
  canReplace: boolean;
}

/** Node's own arguments for a process that replaces this one with a bounded young generation, or undefined to stay. */
export function boundedYoungGeneration(facts: ProcessFacts): string[] | undefined {
  if (!facts.canReplace) return undefined;
  if (Number.parseInt(facts.v8, 10) < FIRST_LARGER_V8) return undefined;
  const word = commandWord(facts.argv);
  if (word === undefined || !STREAMING_COMMANDS.has(word)) return undefined;
  const chosen = (arg: string) => /^--(max|min)[-_]semi[-_]space[-_]size\b|^--semi[-_]space[-_]growth[-_]factor\b/.test(arg);
  if (facts.execArgv.some(chosen) || (facts.nodeOptions ?? '').split(/\s+/).some(chosen)) return undefined;
  return [`--max-semi-space-size=${SEMI_SPACE_MIB}`, ...facts.execArgv];
}

/** Replaces this process as boundedYoungGeneration says, before anything else loads; returns when it stays. */
export function boundYoungGeneration(): void {
  const execve = (process as { execve?: (file: string, args: string[], env: NodeJS.ProcessEnv) => never }).execve;
  const nodeArgs = boundedYoungGeneration({
    argv: process.argv.slice(2),
    execArgv: process.execArgv,
    nodeOptions: process.env.NODE_OPTIONS,
    v8: process.versions.v8,
    canReplace: typeof execve === 'function' && process.platform !== 'win32',
  });
  if (!nodeArgs || !execve) return;
  execve.call(process, process.execPath, [process.execPath, ...nodeArgs, ...process.argv.slice(1)], process.env);
}
