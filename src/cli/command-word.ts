/** Global options that take a value: the word after them is not the command. */
const VALUE_OPTIONS = new Set(['-c', '--config']);

/** The command word of `argv` (the first word that is neither an option nor an option's value), if any. */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}
