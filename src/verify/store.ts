import type { DriftKind } from './compare.js';

export interface DriftRecord {
  key: Record<string, string>;
  kind: DriftKind;
  columns: string[];
  firstSeen: string;
  lastSeen: string;
}

/** What verification knows about one table of one direction: its drift records and its last passes. */
export interface TableVerification {
  table: string;
  /** Rows compared by the last complete pass. */
  rowsCompared: number;
  lastPassStartedAt: string | null;
  /** When the last full pass over this table finished (the cutover gate reads it). */
  lastPassCompletedAt: string | null;
  drift: DriftRecord[];
  /**
   * Rows that differed but could not be confirmed (the shadow did not reach the position in time) in the last pass:
   * neither drift nor clean. Cleared by the next pass that confirms or clears them.
   */
  unconfirmed?: { rows: number; at: string; keys: Array<Record<string, string>> } | null;
  /** The last pass that failed on this table (an error before its end). */
  lastPassError?: { at: string; message: string } | null;
}

/**
 * Where verification keeps its records: the migration's state store in the databases (src/control wires it), for
 * one direction. `tandem run` and `tandem verify` may write at the same moment; each update of a table's record is
 * atomic (a row lock in the database), so neither loses the other's records.
 */
export interface VerificationStore {
  /** Every table's record. */
  read(): Promise<TableVerification[]>;
  /** Applies `change` to one table's record (created empty when missing) and returns the record as stored. */
  update(table: string, change: (entry: TableVerification) => void): Promise<TableVerification>;
}

export const emptyTableVerification = (table: string): TableVerification => ({ table, rowsCompared: 0, lastPassStartedAt: null, lastPassCompletedAt: null, drift: [] });

export const driftCountOf = (tables: readonly TableVerification[]): number => tables.reduce((n, t) => n + t.drift.length, 0);

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
