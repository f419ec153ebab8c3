/**
 * The engine-neutral words of the data plane. Values never pass through a JavaScript number: text in the
 * neutral form below, bytes as Buffer, SQL NULL as null.
 *
 * Neutral text per type: integers and decimals as plain decimal text; booleans `t`/`f`; timestamps
 * `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC for time-zone-aware types); dates `YYYY-MM-DD`; JSON as text; everything
 * else as the source engine prints it.
 */
export type Value = string | Buffer | null;

/** A PostgreSQL value left out of an UPDATE because it is stored out of line and did not change (TOAST). */
export const UNCHANGED: unique symbol = Symbol('unchanged');
export type Unchanged = typeof UNCHANGED;

export type Row = Record<string, Value>;
export type RowImage = Record<string, Value | Unchanged>;

export type ChangeOp = 'insert' | 'update' | 'delete';

export interface RowChange {
  op: ChangeOp;
  table: string;
  /** For update and delete: the key (or full old row) identifying the row before the change. */
  before?: Row;
  /** For insert and update: the row after the change; an update may mark unchanged TOAST columns. */
  after?: RowImage;
}

export interface TruncateChange {
  op: 'truncate';
  tables: string[];
}

export type Change = RowChange | TruncateChange;

/** What a capture emits, in source commit order. */
export type CaptureEvent =
  | {
      kind: 'begin';
      /** position that orders this transaction; used to skip what the checkpoint covers */
      position: string;
      /** When the source says up front when the transaction committed (PostgreSQL does): for lag. */
      commitTime?: Date;
    }
  | { kind: 'change'; change: Change }
  /** `transportOffset`: where this commit sits in a transport with offsets of its own (Kafka), checkpointed beside the position. */
  | { kind: 'commit'; position: string; commitTime: Date; transportOffset?: string }
  /**
   * Inside a transaction: the switch's drain marker (DESIGN.md "The switch"), written by Tandem on the fenced active
   * side. Once its transaction is committed on the shadow, everything the application wrote before the fence is.
   */
  | { kind: 'marker'; id: string }
  /** The source has sent everything before `position` and no transaction is open: safe to acknowledge when idle. */
  | { kind: 'idle'; position: string }
  /** The source's column list for a table, sent before its first change and after DDL. */
  | {
      kind: 'relation';
      table: string;
      columns: string[];
      /**
       * Set when a DDL statement on the active side changed the table (sources without a relation protocol, MySQL):
       * the statement; `columns` are then the table's columns after it, empty when the table is gone.
       */
      ddl?: string;
    };

export function keyOf(row: Row | RowImage, keyColumns: string[]): Row {
  const key: Row = {};
  for (const k of keyColumns) {
    const v = row[k];
    key[k] = typeof v === 'symbol' || v === undefined ? null : v;
  }
  return key;
}

export function hasUnchanged(row: RowImage): boolean {
  return Object.values(row).some((v) => v === UNCHANGED);
}
