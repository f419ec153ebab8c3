import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReplicationStats } from '../replicate/stats.js';
import type { Direction } from '../model/direction.js';

/** What `tandem run` publishes for `tandem status` (and what survives it as the last known state). */
export interface PublishedStatus extends ReplicationStats {
  pid: number;
  migration: string;
  direction: Direction;
  startedAt: string;
  updatedAt: string;
  running: boolean;
}

export function statusFilePath(stateDir: string, migration: string): string {
  return join(stateDir, `${migration}.status.json`);
}

export function writeStatus(stateDir: string, status: PublishedStatus): void {
  mkdirSync(stateDir, { recursive: true });
  const file = statusFilePath(stateDir, status.migration);
  // Written aside and renamed, so a reader never sees half a file.
  writeFileSync(`${file}.tmp`, JSON.stringify(status, null, 2));
  renameSync(`${file}.tmp`, file);
}

export function readStatus(stateDir: string, migration: string): PublishedStatus | undefined {
  try {
    return JSON.parse(readFileSync(statusFilePath(stateDir, migration), 'utf8')) as PublishedStatus;
  } catch {
    return undefined;
  }
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
