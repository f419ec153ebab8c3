import { stringify } from 'yaml';
import { writeTempFile } from './servers.js';

/** Writes a tandem.yaml for a test and returns its path. */
export function writeConfig(config: Record<string, unknown>): string {
  return writeTempFile('tandem.yaml', stringify(config));
}
