import type { ColumnSchema, EngineKind, TableSchema } from '../model/schema.js';
import type { ColumnDefault, DdlTable, PlannedColumn, PlannedStatement, TablePlan } from '../model/ddl.js';
import type { CheckItem } from './shared/checks.js';
import type { CaptureEvent, Change, Row } from '../model/change.js';
import type { Direction, SideName } from '../model/direction.js';
import type { LeaseHolder, LeaseRecord } from '../model/control.js';
import type { LogicalType, TranslatedType } from '../model/types.js';
import type { TandemError } from '../errors.js';
import type { Readable } from 'node:stream';


export interface CheckContext {
  migration: string;
  side: SideName;
  tables: string[];
  minBinlogRetentionHours: number;
  /**
   * What a backfill reading this side needs is checked too (its snapshot's privileges): a failure on the side
   * copied first (old), a warning on the other (only a new copy after cutover reads it). A switch's gate leaves it
   * out: a switch copies nothing.
   */
  backfill?: boolean;
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
  /** Values this side holds or streams that the shadow cannot take as they are (MySQL zero dates, tinyint(1) beyond 0/1 into a PostgreSQL boolean). */
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
  /** Log the source keeps because of Tandem (a PostgreSQL slot's retained WAL); absent where the source keeps nothing for it. */
  retainedBytes?: number;
  active?: boolean;
  /**
   * Where the source purges its log on its own schedule (MySQL binlog): bytes of log kept before the asked position
   * (how far purging can go before it reaches it) and the server's retention, in seconds (null: kept until purged by
   * hand). Lag approaching the retention means the position may be purged before Tandem reads it (H7).
   */
  logRetention?: { headroomBytes: number; retentionSeconds: number | null };
}

/** A consistent snapshot of the active side at `position`, held open until released. */
export interface SnapshotHandle {
  position: string;
  snapshot: string;
  /**
   * How many readers may read this very snapshot at once, each through openReader(snapshot): at least 1, at most
   * the `readers` asked for. PostgreSQL exports the slot's snapshot to any number of sessions; MariaDB's lives in
   * one connection per reader, opened up front, and only those proven to sit at `position` count.
   */
  readers: number;
  release(): Promise<void>;
}

/** Reads a table in primary-key order, in chunks, for backfill. */
export interface TableReader {
  estimateRows(table: string): Promise<number>;
  readChunk(table: string, columns: string[], key: string[], after: Row | undefined, limit: number): Promise<Row[]>;
  /** The same-engine fast path, where the engine has one (see BulkReader). */
  readonly bulk?: BulkReader;
  close(): Promise<void>;
}

/**
 * Backfill between two sides of one engine with no per-row work in Tandem: the source's bulk export streams into the
 * shadow's bulk load (PostgreSQL: COPY … TO STDOUT into COPY … FROM STDIN). Only for a table whose copied columns
 * have identical types on both sides, where a value's text means the same thing to both (a narrower shadow type
 * would be rounded or cut silently by the load): src/backfill checks that through `columnTypes`.
 */
export interface BulkReader {
  /** Names the format of the chunks; a BulkLoader with the same format loads them unchanged. */
  readonly format: string;
  /** Column → the engine's own type name (with modifiers), read in the snapshot the chunks come from. */
  columnTypes(table: string): Promise<Map<string, string>>;
  /**
   * Streams the rows after `after` in key order, at most `limit` of them, as one chunk in `format` into `load`.
   * Returns how many rows it held and the key of its last row (undefined when it held none).
   */
  copyChunk(table: string, columns: string[], key: string[], after: Row | undefined, limit: number, load: (data: Readable) => Promise<void>): Promise<{ rows: number; lastKey: Row | undefined }>;
}

/** The shadow's side of BulkReader: loads a chunk into a table that does not hold its rows (backfill only). */
export interface BulkLoader {
  readonly format: string;
  /** Column → the engine's own type name, for the columns a backfill writes; undefined for an unknown table. */
  columnTypes(table: string): Map<string, string> | undefined;
  /** Loads `data` into the open transaction. */
  load(table: string, columns: string[], data: Readable): Promise<void>;
}

/**
 * The checkpoint, kept in the shadow in the same transaction as the data it covers. Positions are always the
 * source's (LSN, binlog file:offset), whatever the transport, so drains and verification compare source positions;
 * a transport with offsets of its own (Kafka) records its offset of the same point beside it.
 */
export interface Checkpoint {
  /** The commit position of the last applied source transaction (or the backfill's consistent point). */
  sourcePosition: string;
  transportOffset: string | null;
  commitTime: Date | null;
  appliedTransactions: number;
  /** The shadow's own progress: the initial copy, then streaming. (Not the control state's phase.) */
  stage: CheckpointStage;
  /** Highest source position acknowledged while idle (no change applied since `sourcePosition`). */
  idlePosition: string | null;
  updatedAt: Date;
}

export type CheckpointStage = 'backfill' | 'streaming';

/** The furthest source position the shadow is known to have: the last applied commit, or a later idle position. */
export function appliedThrough(cp: Checkpoint, compare: (a: string, b: string) => number): string {
  return cp.idlePosition && compare(cp.idlePosition, cp.sourcePosition) > 0 ? cp.idlePosition : cp.sourcePosition;
}

export interface BackfillProgress {
  table: string;
  lastKey: Row | null;
  rowsCopied: number;
  done: boolean;
}

export interface CommitOptions {
  /** false: the commit may return before the shadow's disk has it (see ShadowWriter.defersDurability). Default true. */
  durable?: boolean;
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
  /** The same-engine fast path of backfill, where the engine has one (see BulkReader). */
  readonly bulk?: BulkLoader;
  /**
   * Backfill, inside the open transaction: rows the table does not hold (the initial copy, after the last committed
   * chunk), each value checked as apply checks it, loaded without an upsert's conflict handling. Where an engine
   * has no faster way it is absent, and apply() with inserts does the same job.
   */
  insertNew?(table: string, rows: Row[]): Promise<void>;
  readCheckpoint(): Promise<Checkpoint | undefined>;
  readBackfill(): Promise<BackfillProgress[]>;
  begin(): Promise<void>;
  apply(changes: Change[]): Promise<void>;
  /**
   * The shadow can commit without waiting for its disk (commit options `durable: false`): such a commit is visible at
   * once but may be lost in a crash of the shadow's server, so the source must not release its position until a
   * later durable commit returns (every durable commit makes the ones before it durable too). Absent: every commit is
   * durable, whatever it is asked.
   */
  readonly defersDurability?: boolean;
  /**
   * Writes the checkpoint (and backfill progress, if given) and commits the open transaction, durably unless
   * `durable: false` is asked of a shadow that `defersDurability`.
   */
  commit(checkpoint: Omit<Checkpoint, 'updatedAt'>, backfill?: BackfillProgress[], options?: CommitOptions): Promise<void>;
  /**
   * apply() then commit(), with the last statements, the lease guard, the checkpoint and COMMIT in one round trip
   * (a stream of small transactions pays one round trip per shadow commit, not two). Errors are apply()'s and
   * commit()'s: a rejected change is named by its tables, a lost lease as a lost lease.
   */
  applyAndCommit(changes: Change[], checkpoint: Omit<Checkpoint, 'updatedAt'>, options?: CommitOptions): Promise<void>;
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
  /**
   * `lockTimeoutMs` bounds how long it waits for locks on the tables (PostgreSQL: creating or changing the publication
   * waits behind an ALTER TABLE or LOCK TABLE); past it, it fails instead of waiting on.
   */
  prepare(tables: string[], opts?: { lockTimeoutMs?: number }): Promise<void>;
  /**
   * The statement an administrator runs so that this source captures `table` when Tandem may not do it itself
   * (PostgreSQL: adding a table to the publication needs the table's owner); undefined when nothing is needed.
   */
  joinStatement?(table: string): string;
  /** The slot (PostgreSQL), or whether the log still holds `position` (MySQL binlog: no server-side slot). */
  slotState(position?: string): Promise<SlotState>;
  /** `readers`: how many readers the backfill would like on the snapshot (SnapshotHandle.readers says how many it got). */
  createSlotWithSnapshot(opts?: { readers?: number }): Promise<SnapshotHandle>;
  /**
   * Creates the slot without a snapshot when it does not exist (the switch, before its window: creating a logical
   * slot waits for every running transaction of the cluster). Streaming from it later starts at a given position.
   */
  ensureSlot(opts?: { timeoutMs?: number }): Promise<void>;
  dropSlot(): Promise<void>;
  /**
   * Moves the slot's start up to `position` (never back), so a consumer that starts on the slot without a position
   * of its own (Debezium, the Kafka transport) sends nothing before it. Engines without server-side slots omit it.
   */
  advanceSlot?(position: string): Promise<void>;
  /** Drops the slot and what capture created for it (publication): finalize, teardown. */
  removeCaptureObjects(): Promise<void>;
  currentPosition(): Promise<string>;
  /** The active side's clock now (lag is measured on it, never by comparing two hosts' clocks). */
  clock(): Promise<Date>;
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
  /**
   * Columns that can hold long values on either side (text and binary types without a small limit; never key
   * columns). A value longer than LONG_VALUE_LENGTH (characters of canonical text; bytes of binary) is hashed and
   * read as `#` and the md5 of its bytes (UTF-8 for text) instead of its canonical text, so no database builds a
   * text of it: MariaDB returns NULL for a result beyond max_allowed_packet, and the hex of a blob doubles it.
   * Shorter values keep their canonical text. Both sides must use the same form, so the spec decides.
   */
  digest?: string[];
  /**
   * Columns that one side reads as boolean but stores as an integer (MySQL tinyint(1), NativeType.integer) while
   * the other side's column is not a boolean: compared as that integer (DESIGN.md: tinyint(1) counts as boolean
   * only against a boolean column), so 2 against a smallint 2 is equal and against 1 is not.
   */
  asInteger?: string[];
  /**
   * Columns whose declared type is the same on both sides of a same-engine pair: a reader's fast summary may hash
   * the value's own text (the type's output, which tells any two values of the type apart) instead of building its
   * canonical text. Every other column goes into a fast summary as its canonical text.
   */
  sameType?: string[];
  /**
   * Columns that are timestamps on both sides of a pair of different engines: a cross-engine fast summary takes
   * them as microseconds since 2000-01-01 UTC (the 64-bit count in decimal), which both engines
   * compute without formatting a date; equal counts are equal instants, so equal canonical text.
   */
  timestampMicros?: string[];
  /**
   * Columns that are decimals of the same declared scale on both sides of a pair of different engines: a
   * cross-engine fast summary takes their own text, which then has exactly that many fractional digits on both
   * (equal texts are equal values, so equal canonical text).
   */
  sameScale?: string[];
}

export interface ChunkSummary {
  rows: number;
  /** Order-independent hash of the rows' canonical text; equal on both sides iff the rows are (barring collisions). */
  hash: string;
  /** A fast summary's: bytes of text it hashed, where the reader knows them (sizes the next chunk, see fastBytesLimit). */
  bytes?: number;
}

/** A table read in the order it is stored (VerifyReader.physical). */
export interface PhysicalScan {
  /** The table's size in blocks now, and about how many rows it holds (NaN when the engine has no estimate). */
  extent(table: VerifyTable): Promise<{ blocks: number; rows: number }>;
  /**
   * The fast summary (VerifyReader.fastSummary, a sum of row hashes) of the rows stored in blocks [from, to); to
   * the end, blocks added since included, when `to` is undefined. `writes`: what `writes` would say once the range
   * is read, where the engine reads it in the same statement (a round trip less per range).
   */
  sums(table: VerifyTable, blocks: { from: number; to?: number }): Promise<ChunkSummary & { writes?: string }>;
  /**
   * A count that moves when rows of the table are written (it may lag the writes by a few seconds), or undefined
   * when the engine keeps none: a pass stops reading in physical order once the table is seen changing.
   */
  writes(table: VerifyTable): Promise<string | undefined>;
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
  /**
   * This side's base tables (Database.listTables), read on the reader's own session: a verification needs no other
   * connection to learn what to compare.
   */
  listTables(): Promise<string[]>;
  /**
   * Schemas of the named tables that exist (Database.describeTables), read on the reader's session. The reader plans
   * its queries from what it read here; a column it is later asked for and did not find is read again (DDL during
   * verification).
   */
  describeTables(names: string[]): Promise<Map<string, TableSchema>>;
  /** Columns of `table` that are JSON on this side. */
  jsonColumns(table: VerifyTable): Promise<string[]>;
  summarize(table: VerifyTable, range: KeyRange): Promise<ChunkSummary>;
  /**
   * What `fastSummary` computes, when this reader has one for this peer: two readers whose `fastHash` are equal
   * compute comparable fast summaries. Undefined: no fast summary.
   */
  readonly fastHash: string | undefined;
  /**
   * A cheaper summary of the range: equal fast summaries on both sides mean the rows are equal (barring a hash
   * collision), as `summarize` would say; a difference only means the range must be summarized canonically (it may
   * come from values of different types that compare equal). Between two PostgreSQL databases a 64-bit hash of each
   * row's own text; across engines the md5 of the rows' texts (canonical, or the cheaper forms of
   * VerifyTable.timestampMicros and sameScale) concatenated in verification order. Not additive across ranges and
   * never used for bisection.
   */
  fastSummary(table: VerifyTable, range: KeyRange): Promise<ChunkSummary>;
  /**
   * The most bytes of text one fast summary can hash on this side (MySQL/MariaDB: max_allowed_packet, beyond which
   * GROUP_CONCAT cuts its result): chunks are sized to stay under it. Undefined: no limit that matters.
   */
  readonly fastBytesLimit?: number;
  /**
   * Each row with these keys as one hash of the fastSummary kind (keyed by keyId; keys without a row are absent),
   * for re-checks: equal hashes on both sides mean equal rows, as canonicalRows would say (barring a collision);
   * different ones only mean the rows must be read canonically. Undefined when this reader has no fast summary, or
   * its fast hash leaves out columns canonicalRows compares (JSON across engines).
   */
  rowFastHashes(table: VerifyTable, keys: CanonicalKey[]): Promise<Map<string, string> | undefined>;
  /** The key of the `n`th row after `after` (1 = the next row) in verification order; undefined when fewer remain. */
  keyAfter(table: VerifyTable, after: CanonicalKey | undefined, n: number): Promise<CanonicalKey | undefined>;
  /**
   * Reads the table in the order it is stored, without an index, for an unthrottled pass (verify/sequential.ts).
   * Undefined when this reader cannot, or when its fast summary is not a sum of row hashes (only a sum adds up
   * over rows read in another order than the peer's).
   */
  readonly physical: PhysicalScan | undefined;
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

// --- column types ---

/** A native type as its engine reads it. */
export interface NativeType {
  type: LogicalType;
  /** A text type whose maxLength counts bytes rather than characters (MySQL's tinytext..longtext). */
  countsBytes: boolean;
  /**
   * A boolean that this engine stores as an integer and lets hold other values (MySQL tinyint(1): -128..127): that
   * integer type. Verification compares it as this integer unless the other side's column is a boolean.
   */
  integer?: Extract<LogicalType, { kind: 'integer' }>;
}

/**
 * A parse that fails says why without naming another engine (the rules, which know the pair, do):
 * `unsupported`, a type of this engine that Tandem maps to no other (`hint`: what maps instead, or why not);
 * `unknown`, a spelling Tandem does not recognise (`hint`: what the caller may have missed).
 */
export type NativeParse = ({ ok: true } & NativeType) | { ok: false; problem: 'unsupported' | 'unknown'; hint?: string };

/**
 * An engine's column types: its spellings read as logical types and logical types spelled its way, plus the facts
 * about its values that decide whether a mapping from or to another engine has limits
 * (src/schema/type-rules.ts reads these facts rather than asking which engine a side is).
 */
export interface NativeTypes {
  /**
   * Reads this engine's spelling (PostgreSQL `format_type()`, MySQL `column_type`); case and white space outside
   * quotes do not matter. `isEnum`: the spelling is a user-defined enum's name (PostgreSQL).
   */
  parse(nativeType: string, opts?: { isEnum?: boolean }): NativeParse;
  /** The spelling with case and white space tidied as `parse` reads it: identical types compare equal. */
  normalize(nativeType: string): string;
  /**
   * This engine's type for a column holding `type`, chosen to hold every value of it, or why none can; the reason
   * reads after the source type's name (`needs decimal(70,2), beyond ...`). `countsBytes`: a text limit in bytes.
   */
  render(type: LogicalType, opts?: { countsBytes?: boolean }): TranslatedType;

  /** No value is longer (bytes): a limit this large is as good as none for a source of this engine. */
  readonly maxValueLength: number;
  /** Longest label of an enum whose labels are not in its spelling (`enum` with `values` null). */
  readonly maxEnumLabel: number;
  /** Floating-point and decimal columns hold NaN and ±infinity. */
  readonly nanAndInfinity: boolean;
  /** Date and datetime columns hold zero dates (0000-00-00). */
  readonly zeroDates: boolean;
  /** The dates date and timestamp columns hold (`1000-01-01..9999-12-31`); null when they hold any other engine's dates. */
  readonly dateRange: string | null;
  /** Dates beyond any other engine's range that this engine holds, for messages (`infinity and BC dates`). */
  readonly extraDates: string | null;
  /** The instants a timestamp with time zone holds, when narrower than the dates (MySQL timestamp stops in 2038). */
  readonly zonedTimestampRange: string | null;
  /** What a time column holds (`00:00:00..24:00:00`); `timeOfDay` false: durations, negative or beyond a day. */
  readonly timeRange: string;
  readonly timeOfDay: boolean;
}

// --- schema translation ---

/** What an engine contributes to schema translation: its spelling and its limits. */
export interface SchemaDialect {
  readonly engine: EngineKind;
  quoteIdent(name: string): string;
  /** The default in this engine's SQL for this column, or undefined when this engine cannot express it. */
  renderDefault(def: ColumnDefault, column: PlannedColumn): string | undefined;
  /** Engine limits (key lengths, identity types, name lengths...): may change the plan, and adds a warning when it does. */
  adjust(plan: TablePlan): void;
  /** The statements creating the table and its indexes, in order, without trailing semicolons. */
  render(plan: TablePlan): PlannedStatement[];
  /**
   * The statement that makes an existing text column compare values exactly (code points, trailing spaces count),
   * for `tandem check` to print: `column` as this engine describes it, `logical` its type.
   */
  exactComparisonSql(table: string, column: ColumnSchema, logical: LogicalType | undefined): string;
  /**
   * A unique index over `parts` that refuses values differing only in what each part folds (letter case, trailing
   * spaces); undefined when this engine cannot index such expressions.
   */
  foldedUniqueIndexSql(table: string, name: string, parts: FoldedPart[]): string | undefined;
}

/** A column of a unique index, folded so that values differing only in case and/or trailing spaces collide. */
export interface FoldedPart {
  column: string;
  ignoresCase: boolean;
  ignoresTrailingSpaces: boolean;
}

/** One side's database as schema translation uses it: describe tables there, create missing ones. */
export interface SchemaSide {
  readonly dialect: SchemaDialect;
  listTables(): Promise<string[]>;
  describe(names: string[]): Promise<Map<string, DdlTable>>;
  /** Creates the planned tables that do not exist; never drops or alters anything. */
  createMissing(plans: TablePlan[]): Promise<{ created: string[]; existed: string[] }>;
  close(): Promise<void>;
}

// --- Tandem's control state, as one database keeps it ---

/** One versioned document of the control state (the control record, a table's verification record, ...). */
export interface StateDocument {
  key: string;
  /** Starts at 1; every write adds one (compare-and-set). */
  version: number;
  /** JSON text. */
  value: string;
  updatedAt: Date;
}

/**
 * Tandem's state tables in one database: versioned documents and the lease. The control layer keeps the primary
 * copy on `old` and a mirror on `new` (src/control/state-store.ts); this is one database's half of that. Lease
 * expiry is judged by this database's clock, never the caller's.
 */
export interface StateBackend {
  readonly engine: EngineKind;
  /** Creates the state tables when missing (idempotent). */
  ensureTables(): Promise<void>;
  get(migration: string, key: string): Promise<StateDocument | undefined>;
  /** Documents whose key starts with `prefix`. */
  list(migration: string, prefix: string): Promise<StateDocument[]>;
  /**
   * Compare-and-set: stores `value` as version `expected + 1` when the stored version is `expected` (0: absent).
   * With `epoch`, the same transaction proves the caller still holds the lease (TANDEM_LEASE_LOST otherwise).
   * Returns false when the version did not match.
   */
  put(migration: string, key: string, value: string, expected: number, epoch?: number): Promise<boolean>;
  /** A mirror's write: stores `value` at `version` unless the stored version is already as new. */
  putVersion(migration: string, key: string, value: string, version: number, updatedAt: Date): Promise<void>;
  /**
   * Read-modify-write under a row lock: concurrent writers (the service and a `tandem verify` run) serialize, and
   * neither loses the other's change. Returns the stored document.
   */
  update(migration: string, key: string, change: (current: string | undefined) => string): Promise<StateDocument>;
  /** Removes every document whose key starts with `prefix`. */
  remove(migration: string, prefix: string): Promise<void>;

  readLease(migration: string): Promise<LeaseRecord | undefined>;
  /**
   * Takes the lease when it is free or expired (this database's clock), or when it is held by `replacing` (a
   * holder known to be dead); undefined when another holder has it.
   */
  tryAcquireLease(migration: string, holder: LeaseHolder, ttlMs: number, secret: string, replacing?: string): Promise<LeaseRecord | undefined>;
  /** Extends the lease; false when `epoch` no longer holds it (another instance took over). */
  renewLease(migration: string, holderId: string, epoch: number, ttlMs: number, heartbeat: string | null): Promise<boolean>;
  releaseLease(migration: string, holderId: string, epoch: number): Promise<void>;
  /**
   * Records `lease` on a database that is not the lease's home (the mirror, the shadow), so that writes guarded by
   * an older epoch fail there too. False when a newer epoch is already recorded.
   */
  recordEpoch(migration: string, lease: LeaseRecord): Promise<boolean>;
  close(): Promise<void>;
}

// --- the switch: fencing, the drain marker, counters ---

export interface FenceOptions {
  migration: string;
  /** The side being fenced, and the side applications should write to (named in the error they get). */
  side: SideName;
  activeSide: SideName;
  tables: string[];
  /** How long to wait for application transactions that wrote before the fence; past it they are ended. */
  timeoutMs: number;
}

export interface FenceResult {
  /** Application transactions ended to put the fence up (they would have committed after it). */
  endedTransactions: number;
  /**
   * This side's log position once the fence is up; absent when the side keeps no log (a MariaDB shadow without a
   * binary log: it needs one only to become active, which the cutover's capture-prerequisites gate checks).
   */
  position?: string;
}

/** An auto-increment counter (PostgreSQL sequence or identity, MySQL AUTO_INCREMENT): the next value it gives. */
export interface Counter {
  table: string;
  column: string;
  /** Decimal text: the next value a plain INSERT would take (past every value the table holds). */
  next: string;
}

/**
 * What the switch asks of one side (DESIGN.md "The switch"). A fence is held by the database itself, so it
 * survives Tandem: every application write to the replicated tables is refused, Tandem's own sessions still write.
 */
export interface SwitchSide {
  readonly engine: EngineKind;
  /** Puts the fence up (idempotent): waits out, or past the timeout ends, application transactions that wrote. */
  fence(opts: FenceOptions): Promise<FenceResult>;
  /** Takes the fence down (idempotent). */
  unfence(opts: { migration: string; tables: string[] }): Promise<void>;
  /** The tables among `tables` that are fenced now. */
  fencedTables(opts: { migration: string; tables: string[] }): Promise<string[]>;
  /** Writes a marker transaction (Tandem is exempt from the fence) and returns a position past its commit. */
  writeMarker(migration: string, requestId: string): Promise<string>;
  currentPosition(): Promise<string>;
  /** The auto-increment counters of these tables. */
  counters(tables: string[]): Promise<Counter[]>;
  /** Raises each counter to at least `next` (never lowers one); returns where each now stands. */
  advanceCounters(floors: Counter[]): Promise<Counter[]>;
  close(): Promise<void>;
}

// --- one engine, as the layers above see it ---

export interface CaptureOptions {
  url: string;
  migration: string;
  /** The side captured: names its slot (PostgreSQL). */
  side: SideName;
  /** The replicated tables (the MySQL binlog carries every table; PostgreSQL's publication is set in prepare). */
  tables?: string[];
  /** The shadow's engine and config values.zeroDates: what happens to values the shadow cannot hold. */
  shadowEngine?: EngineKind;
  zeroDates?: 'refuse' | 'null';
  /** Told of each value written other than it was captured (values.zeroDates: null). */
  onLossyValue?: (table: string, column: string) => void;
}

export interface ShadowWriterOptions {
  url: string;
  migration: string;
  direction: Direction;
  /** Rows per multi-row statement. */
  maxRows: number;
  /**
   * The lease epoch this writer acts under: every commit proves it in the same transaction (a fencing token), so a
   * holder that lost the lease cannot commit. Absent for writers that never touch the checkpoint (repair).
   */
  epoch?: number;
  /**
   * An apply lane (Kafka `ordering: key`): this writer's checkpoint is the lane's own row, its position the lane's
   * partition offset. Absent for the direction's own checkpoint.
   */
  lane?: number;
}

/**
 * Everything an engine offers the layers above it. Upper layers find an engine through the registry
 * (src/engines/registry.ts), by kind or by the scheme of a URL, and never test a URL themselves.
 */
export interface EngineModule {
  readonly kind: EngineKind;
  /** For messages: `PostgreSQL`, `MySQL/MariaDB`. */
  readonly label: string;
  /** URL schemes this engine answers (`postgres`, `postgresql`). */
  readonly urlSchemes: readonly string[];
  /** Whether this engine's change stream carries the values of generated (computed) columns. */
  readonly captureSendsGeneratedColumns: boolean;
  /** Orders two log positions of this engine (pure: no connection). Negative, zero or positive. */
  comparePositions(a: string, b: string): number;
  /** This engine's spelling and limits in schema translation. */
  readonly dialect: SchemaDialect;
  /** This engine's column types: parser, renderer and the facts the type-compatibility rules need. */
  readonly nativeTypes: NativeTypes;
  openDatabase(side: SideName, url: string): Promise<Database>;
  captureSource(opts: CaptureOptions): CaptureSource;
  openShadowWriter(opts: ShadowWriterOptions): Promise<ShadowWriter>;
  openVerifyReader(url: string, opts: VerifyReaderOptions): Promise<VerifyReader>;
  openSchemaSide(side: SideName, url: string): Promise<SchemaSide>;
  openStateBackend(url: string): Promise<StateBackend>;
  openSwitchSide(url: string): Promise<SwitchSide>;
  /**
   * Removes what Tandem keeps on a side for `migration` (fence objects, checkpoint, state, lease; tables no other
   * migration uses): tandem teardown. Returns what was removed, for the operator. Never touches application data.
   */
  removeTandemObjects(url: string, migration: string): Promise<string[]>;
  /**
   * A driver error → TandemError, with `retriable` telling the retry policy whether waiting can help (a lost
   * connection) or cannot (a wrong password, a missing privilege). TandemErrors pass through unchanged.
   */
  mapError(err: unknown, context: string): TandemError;
}
