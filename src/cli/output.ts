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
