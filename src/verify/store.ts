import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DriftKind } from './compare.js';

export interface DriftRecord {
  key: Record<string, string>;
  kind: DriftKind;
  columns: string[];
  firstSeen: string;
  lastSeen: string;
}

export interface TableVerification {
  table: string;
  /** Rows compared by the last complete pass. */
  rowsCompared: number;
  lastPassStartedAt: string | null;
  /** When the last full pass over this table finished (the cutover gate reads it). */
  lastPassCompletedAt: string | null;
  drift: DriftRecord[];
}

/** What verification knows, kept beside the status file: written by `tandem run` and `tandem verify`, read by status. */
export interface VerificationState {
  migration: string;
  direction: string;
  updatedAt: string;
  tables: Record<string, TableVerification>;
}

export function verificationFilePath(stateDir: string, migration: string): string {
  return join(stateDir, `${migration}.verify.json`);
}

export function readVerification(stateDir: string, migration: string): VerificationState | undefined {
  try {
    return JSON.parse(readFileSync(verificationFilePath(stateDir, migration), 'utf8')) as VerificationState;
  } catch {
    return undefined;
  }
}

export const driftCountOf = (state: VerificationState | undefined): number => Object.values(state?.tables ?? {}).reduce((n, t) => n + t.drift.length, 0);

/**
 * Read, change, write aside and rename: readers never see half a file. Two writers (the service and a `tandem
 * verify` run) each hold the file only for the instant of one update, and each update touches only the rows or
 * tables it checked.
 */
export function updateVerification(stateDir: string, migration: string, direction: string, change: (state: VerificationState) => void): VerificationState {
  const state = readVerification(stateDir, migration);
  const next: VerificationState = state && state.direction === direction ? state : { migration, direction, updatedAt: '', tables: {} };
  change(next);
  next.updatedAt = new Date().toISOString();
  mkdirSync(stateDir, { recursive: true });
  const file = verificationFilePath(stateDir, migration);
  writeFileSync(`${file}.${process.pid}.tmp`, JSON.stringify(next, null, 2));
  renameSync(`${file}.${process.pid}.tmp`, file);
  return next;
}

export function tableEntry(state: VerificationState, table: string): TableVerification {
  return (state.tables[table] ??= { table, rowsCompared: 0, lastPassStartedAt: null, lastPassCompletedAt: null, drift: [] });
}

const recordId = (key: Record<string, string>) => JSON.stringify(key);

/**
 * Records what was found for the rows checked: new drift is added, drift seen again keeps its first-seen time, and
 * checked rows now equal (`cleared`) resolve themselves. With `complete`, every row of the table was checked, so
 * any record not seen again is resolved too, except rows still in flight (`undecided`), which keep their record.
 */
export function mergeFindings(
  entry: TableVerification,
  found: Array<{ key: Record<string, string>; kind: DriftKind; columns: string[] }>,
  cleared: Array<Record<string, string>>,
  opts: { complete: boolean; at: string; undecided?: Array<Record<string, string>> },
): void {
  const previous = new Map(entry.drift.map((d) => [recordId(d.key), d]));
  const kept = opts.complete ? new Map<string, DriftRecord>() : new Map(previous);
  for (const key of opts.undecided ?? []) {
    const record = previous.get(recordId(key));
    if (record) kept.set(recordId(key), record);
  }
  for (const key of cleared) kept.delete(recordId(key));
  for (const f of found) {
    const id = recordId(f.key);
    kept.set(id, { ...f, firstSeen: previous.get(id)?.firstSeen ?? opts.at, lastSeen: opts.at });
  }
  entry.drift = [...kept.values()];
}
