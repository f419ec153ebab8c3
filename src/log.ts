import pino, { type Logger } from 'pino';
import { redact } from './config/redact.js';

/**
 * Logs go to stderr (stdout carries command output) and pass through `redact` on their way out, so a secret
 * that reaches a log call by any route is still never written.
 */
export const logger: Logger = pino(
  { level: process.env.TANDEM_LOG_LEVEL ?? 'info', base: undefined },
  { write: (line: string) => process.stderr.write(redact(line)) },
);

export function childLogger(component: string, bindings: Record<string, string> = {}): Logger {
  return logger.child({ component, ...bindings });
}
