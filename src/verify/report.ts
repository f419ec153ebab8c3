import type { VerifyTable } from '../engines/engine.js';
import type { Finding } from './compare.js';
import { keyObject } from './keys.js';
import type { TableProblem, TableResult, Verifier } from './verifier.js';
import { mergeFindings, type TableVerification, type VerificationStore } from './store.js';

/** `tandem verify --json`, and what `tandem run` records after each pass. */
export interface VerificationReport {
  startedAt: string;
  completedAt: string;
  tables: Array<{
    table: string;
    rowsCompared: number;
    drift: Array<{ key: Record<string, string>; kind: string; columns: string[] }>;
    changing: number;
    /** `keys`: the first UNCONFIRMED_KEYS_SHOWN of them, to look at by hand or verify again. */
    unconfirmed: { rows: number; waitingFor: string; applied: string | null; keys: Array<Record<string, string>> } | null;
    columnsNotCompared: string[];
    complete: boolean;
  }>;
  driftCount: number;
  problems: TableProblem[];
  /** Rows that differed but could not be confirmed: the shadow's checkpoint did not reach the position in time. */
  unconfirmedCount: number;
}

/** Findings as drift records and reports show them: keys by column name. */
export function driftEntries(spec: VerifyTable, findings: Finding[]): Array<{ key: Record<string, string>; kind: Finding['kind']; columns: string[] }> {
  return findings.map((f) => ({ key: keyObject(spec, f.key), kind: f.kind, columns: f.columns }));
}

/** Unconfirmed rows can be many (a stopped service): the report names this many of them per table. */
export const UNCONFIRMED_KEYS_SHOWN = 100;

export function buildReport(verifier: Verifier, results: TableResult[], problems: TableProblem[], startedAt: string): VerificationReport {
  const tables = results.map((r) => {
    const spec = verifier.specs.get(r.table) as VerifyTable;
    return {
      table: r.table,
      rowsCompared: r.rowsCompared,
      drift: driftEntries(spec, r.drift),
      changing: r.changing.length,
      unconfirmed: r.unconfirmed
        ? { rows: r.unconfirmed.keys.length, waitingFor: r.unconfirmed.waitingFor, applied: r.unconfirmed.applied, keys: r.unconfirmed.keys.slice(0, UNCONFIRMED_KEYS_SHOWN).map((k) => keyObject(spec, k)) }
        : null,
      columnsNotCompared: r.columnsNotCompared,
      complete: r.complete,
    };
  });
  return {
    startedAt,
    completedAt: new Date().toISOString(),
    tables,
    driftCount: tables.reduce((n, t) => n + t.drift.length, 0),
    problems,
    unconfirmedCount: tables.reduce((n, t) => n + (t.unconfirmed?.rows ?? 0), 0),
  };
}

/** Stores a table's full-pass result: its drift records replace the old ones (rows in flight keep theirs). Returns the stored record. */
export async function recordPass(store: VerificationStore, verifier: Verifier, result: TableResult, startedAt: string): Promise<TableVerification | undefined> {
  const spec = verifier.specs.get(result.table);
  if (!spec) return undefined;
  return store.update(result.table, (entry) => {
    const at = new Date().toISOString();
    mergeFindings(
      entry,
      driftEntries(spec, result.drift),
      [],
      { complete: result.complete, at, undecided: [...(result.unconfirmed?.keys ?? []), ...result.changing].map((k) => keyObject(spec, k)) },
    );
    entry.lastPassStartedAt = startedAt;
    entry.unconfirmed = result.unconfirmed ? { rows: result.unconfirmed.keys.length, at, keys: result.unconfirmed.keys.slice(0, UNCONFIRMED_KEYS_SHOWN).map((k) => keyObject(spec, k)) } : null;
    // A pass whose differing rows could not be confirmed is not a clean pass of the table.
    if (result.complete && !result.unconfirmed) {
      entry.rowsCompared = result.rowsCompared;
      entry.lastPassCompletedAt = at;
      entry.lastPassError = null;
    }
  });
}
