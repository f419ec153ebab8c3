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
