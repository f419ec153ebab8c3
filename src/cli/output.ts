import { createInterface } from 'node:readline/promises';
import { redact } from '../config/redact.js';

/** Data for the user or a script: stdout. Passes through redaction like everything Tandem prints. */
export function printOut(text: string): void {
  process.stdout.write(redact(text.endsWith('\n') ? text : `${text}\n`));
}

/** Diagnostics: stderr. */
export function printErr(text: string): void {
  process.stderr.write(redact(text.endsWith('\n') ? text : `${text}\n`));
}

export function printJson(value: unknown): void {
  printOut(JSON.stringify(value, null, 2));
}

/** Asks a yes/no question on the terminal (prompt on stderr, so stdout stays data); only `y` or `yes` is a yes. */
export async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
