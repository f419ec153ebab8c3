import type { EngineKind, TableSchema } from '../model/schema.js';
import type { CheckItem } from './checks.js';
import type { CaptureEvent, Change, Row } from '../model/change.js';

export type SideName = 'old' | 'new';

export interface CheckContext {
  migration: string;
  side: SideName;
  tables: string[];
  minBinlogRetentionHours: number;
}

/** For Database.checkValues: this side is the active one and `shadow` the other, whose tables the values go into. */
export interface ValueCheckContext extends CheckContext {
  /** config values.zeroDates */
  zeroDates: 'refuse' | 'null';
  shadow: { engine: EngineKind; tables: Map<string, TableSchema> };
}

/**
 * What the engine-neutral layers (`control`, `replicate`, `verify`) may ask of a database. Everything behind it
 * lives under `src/engines/<engine>`.
 */
export interface Database {
  readonly engine: EngineKind;
  readonly side: SideName;
  /** Names of the base tables in the configured database / schema. */
  listTables(): Promise<string[]>;
  /** Schemas of the named tables that exist; missing ones are absent from the map. */
  describeTables(names: string[]): Promise<Map<string, TableSchema>>;
  /** Prerequisites for capturing changes from this side (it must hold on both sides: reverse runs after cutover). */
  checkCapture(ctx: CheckContext): Promise<CheckItem[]>;
  /** Prerequisites for Tandem applying changes to this side while it is the shadow. */
  checkApply(ctx: CheckContext): Promise<CheckItem[]>;
  /** Values stored on this side that the shadow cannot hold as they are (MySQL zero dates into PostgreSQL). */
  checkValues?(ctx: ValueCheckContext): Promise<CheckItem[]>;
  close(): Promise<void>;
}

// --- the data plane ---

/** Where a capture delivers events; `isFull` makes the capture stop reading from the source until there is room. */
export interface CaptureSink {
  push(event: CaptureEvent): void;
  isFull(): boolean;
  waitForRoom(): Promise<void>;
}

export interface CaptureStream {
  /** Settles when the stream ends: resolves after stop(), rejects on failure (TandemError, `retriable` says whether to reconnect). */
  readonly done: Promise<void>;
  /** Everything up to `position` is committed on the shadow: the source may release it. */
  acknowledge(position: string): void;
  stop(): Promise<void>;
}

export interface SlotState {
  exists: boolean;
  /** Why the source cannot continue from the position asked about (`exists` false), naming what is missing. */
  missing?: string;
  confirmedPosition?: string;
  retainedBytes?: number;
  active?: boolean;
}

/** A consistent snapshot of the active side at `position`, held open until released. */
export interface SnapshotHandle {
  position: string;
  snapshot: string;
  release(): Promise<void>;
}

/** Reads a table in primary-key order, in chunks, for backfill. */
export interface TableReader {
  estimateRows(table: string): Promise<number>;
  readChunk(table: string, columns: string[], key: string[], after: Row | undefined, limit: number): Promise<Row[]>;
  close(): Promise<void>;
}

export interface Checkpoint {
  position: string;
  commitTime: Date | null;
  appliedTransactions: number;
  phase: 'backfill' | 'shadowing';
  /** Highest source position acknowledged while idle (no change applied since `position`). */
  idlePosition: string | null;
  updatedAt: Date;
}

export interface BackfillProgress {
  table: string;
  lastKey: Row | null;
  rowsCopied: number;
  done: boolean;
}

/** Tandem's writes to the shadow side: changes, the checkpoint in the same transaction, backfill progress. */
export interface ShadowWriter {
  readonly engine: 'postgres' | 'mysql';
  /** Creates Tandem's state tables if needed and loads the shadow's table schemas. */
  prepare(tables: string[]): Promise<void>;
  /** Re-reads table schemas (after DDL); never changes anything, so it is safe inside an open transaction. */
  reloadSchema(tables: string[]): Promise<void>;
  columnsOf(table: string): string[] | undefined;
  primaryKeyOf(table: string): string[];
  readCheckpoint(): Promise<Checkpoint | undefined>;
  readBackfill(): Promise<BackfillProgress[]>;
  begin(): Promise<void>;
  apply(changes: Change[]): Promise<void>;
  /** Writes the checkpoint (and backfill progress, if given) and commits the open transaction. */
  commit(checkpoint: Omit<Checkpoint, 'updatedAt'>, backfill?: BackfillProgress[]): Promise<void>;
  rollback(): Promise<void>;
  /**
   * Repair, inside the open transaction: locks the shadow's rows with these keys (those that exist), so the service
   * cannot change them until this transaction ends.
   */
  lockRows(table: string, keys: Row[]): Promise<void>;
  /** Commits the open transaction without writing the checkpoint (repair changes rows, never the position). */
  commitRowsOnly(): Promise<void>;
  /** Forgets the checkpoint and backfill progress and empties the tables (for a fresh backfill). */
  reset(tables: string[]): Promise<void>;
  countRows(table: string): Promise<number>;
  close(): Promise<void>;
}

/** The active side as a source of changes: the engine-neutral face of a capture (PostgreSQL slot, MySQL binlog). */
export interface CaptureSource {
  readonly engine: 'postgres' | 'mysql';
  /** Creates what capture needs on the source (publication) for exactly these tables. */
  prepare(tables: string[]): Promise<void>;
  /** The slot (PostgreSQL), or whether the log still holds `position` (MySQL binlog: no server-side slot). */
  slotState(position?: string): Promise<SlotState>;
  createSlotWithSnapshot(): Promise<SnapshotHandle>;
  dropSlot(): Promise<void>;
  currentPosition(): Promise<string>;
  comparePositions(a: string, b: string): number;
  /** Bytes (or events) between two positions, for lag. */
  distance(from: string, to: string): number;
  start(from: string, sink: CaptureSink): Promise<CaptureStream>;
  openReader(snapshot: string | undefined): Promise<TableReader>;
}

// --- verification ---

/**
 * A primary key as the canonical text of each key column, in key order (DESIGN.md "Canonical values"). Key columns
 * are never NULL. Both engines accept these texts back as parameters for their own column types.
 */
export type CanonicalKey = string[];

/**
 * Rows whose key k satisfies `after < k <= upTo` in verification order (an open end when absent). Verification order
 * is the same in every engine: numbers, dates, times and timestamps by value; text, enum and uuid by UTF-8 bytes;
 * binary by bytes (H16: collations never decide a chunk's boundaries).
 */
export interface KeyRange {
  after?: CanonicalKey;
  upTo?: CanonicalKey;
}

/** The columns to compare and the key that orders them; the same spec is given to both sides. */
export interface VerifyTable {
  name: string;
  /** Primary-key columns, in key order (also part of `columns`). */
  key: string[];
  /** Columns both sides have, in one agreed order (the row hash depends on it). */
  columns: string[];
  /**
   * Float columns that one side stores as float32 (MySQL FLOAT, PostgreSQL real) and the other as a double: the
   * double is compared rounded to float32, as replication rounded it (H14). Float32 is always compared as its exact
   * widened double, so without this a FLOAT 0.1 and a double 0.1 differ (1.0000000149011612e-1 vs 1e-1).
   */
  singlePrecision?: string[];
  /**
   * Columns whose canonical text has no `|` on either side (numbers, booleans, dates and times, uuids, hex): the row
   * hash takes them as `text|` (`N|` for NULL). Every other column goes in as `<octet length>:text` (`N` for NULL),
   * which costs MariaDB a second evaluation of the text. Either form is unambiguous; both sides must use the same,
   * so the spec, not the reader, decides.
   */
  plain?: string[];
}

export interface ChunkSummary {
  rows: number;
  /** Order-independent hash of the rows' canonical text; equal on both sides iff the rows are (barring collisions). */
  hash: string;
}

export interface RowHash {
  key: CanonicalKey;
  hash: string;
}

export interface CanonicalRow {
  key: CanonicalKey;
  /** Canonical text per column (null for SQL NULL), JSON included (canonicalised in TypeScript). */
  values: Record<string, string | null>;
}

export interface VerifyReaderOptions {
  /** The engine of the other side: decides the JSON form in hashes and, on MySQL, what a zero date compares as. */
  peer: EngineKind;
  /** values.zeroDates as it applies to this pair: `null` makes a MySQL zero date compare as NULL (H13). */
  zeroDates: 'refuse' | 'null' | 'keep';
}

/**
 * What the verifier reads from one side. Canonical text is computed in the database, so an unchanged range costs
 * one small result. Reads are autocommit: each call sees the latest committed data.
 */
export interface VerifyReader {
  readonly engine: EngineKind;
  /**
   * JSON columns are in `summarize` and `rowHashes` only when both sides are the same engine (each engine's own
   * normal form). Across engines they are left out there and compared through `jsonRows`: neither engine can
   * produce canonical JSON (sorted keys, normalised numbers) in SQL.
   */
  readonly jsonInHash: boolean;
  /** Columns of `table` that are JSON on this side. */
  jsonColumns(table: VerifyTable): Promise<string[]>;
  summarize(table: VerifyTable, range: KeyRange): Promise<ChunkSummary>;
  /** The key of the `n`th row after `after` (1 = the next row) in verification order; undefined when fewer remain. */
  keyAfter(table: VerifyTable, after: CanonicalKey | undefined, n: number): Promise<CanonicalKey | undefined>;
  /** Key and hash of every row in the range, in verification order (for small ranges: it returns every row). */
  rowHashes(table: VerifyTable, range: KeyRange): Promise<RowHash[]>;
  /** Canonical JSON of the JSON columns (plus the key) of every row in the range, in verification order. */
  jsonRows(table: VerifyTable, columns: string[], range: KeyRange): Promise<CanonicalRow[]>;
  /** Every column's canonical text for the rows with these keys; keys without a row are absent from the map (keyed by JSON.stringify(key)). */
  canonicalRows(table: VerifyTable, keys: CanonicalKey[]): Promise<Map<string, CanonicalRow>>;
  /** The rows with these keys as neutral values (for repair through the apply path); absent keys are left out. */
  readRows(table: VerifyTable, keys: CanonicalKey[]): Promise<Row[]>;
  /**
   * This side's current log position, as CaptureSource.currentPosition gives it, read on this reader's own
   * connection: re-checks read it for every batch of suspects, too often for a connection each time.
   */
  currentPosition(): Promise<string>;
  close(): Promise<void>;
}
