/**
 * The meaning of a MySQL/MariaDB binary log in row format: binlog events in, Tandem's transactions out
 * (`begin` / `relation` / `change` / `commit`, and `idle` on request). No I/O and no zongji here: the listener
 * (binlog-listener.ts) translates what its decoder reads into `BinlogEvent`s, so this module can be tested on
 * recorded events (test/fixtures/binlog).
 *
 * Replication spec: docs/engines/mysql.md
 */
import { TandemError } from '../../errors.js';
import type { CaptureEvent, Row, Value } from '../../model/change.js';
import { parseDdl } from './binlog-ddl.js';
import { neutralConverter, type ColumnType, type ValuePolicy } from './binlog-values.js';
import { advanceGtidPosition, formatPosition, type BinlogPosition } from './position.js';
import { MARKER_COLUMN, MARKER_TABLE } from '../../model/names.js';

/** A table as the decoder knew it when it read a rows event: columns in ordinal order. */
export interface BinlogTable {
  schema: string;
  name: string;
  columns: ColumnType[];
}

/** One row image by column name, values as the decoder produced them (binlog-values.ts lists their forms). */
export type BinlogRow = Record<string, unknown>;

interface RowsEventBase {
  kind: 'rows';
  table: BinlogTable;
  /** Columns the row images were logged with: fewer than `table.columns` for a row logged before an ADD COLUMN. */
  columnCount: number;
  /** The columns-present bitmaps (one, two for an update: before and after image). */
  present: Buffer[];
  end: number;
}

export type BinlogRowsEvent =
  | (RowsEventBase & { op: 'insert' | 'delete'; rows: BinlogRow[] })
  | (RowsEventBase & { op: 'update'; rows: Array<{ before: BinlogRow; after: BinlogRow }> });

/**
 * A binlog event, reduced to what framing reads. `end` is the event header's next position (the end of the event
 * in the current file, 0 where the server leaves it out), `time` the header's timestamp in milliseconds.
 */
export type BinlogEvent =
  /** The file changes (also the first event of every dump, naming where it starts). */
  | { kind: 'rotate'; file: string; position: number }
  | { kind: 'format' }
  /** MariaDB's GTID event: begins a transaction (the BEGIN) or a standalone group such as DDL. */
  | { kind: 'mariadb-gtid'; gtid: string; standalone: boolean }
  /** MySQL's GTID event; its uuid:n takes no part in positions yet (position.ts). */
  | { kind: 'mysql-gtid'; gtid: string }
  | { kind: 'query'; schema: string; sql: string; end: number; time: number }
  | { kind: 'xid'; end: number; time: number }
  | BinlogRowsEvent
  | { kind: 'heartbeat'; file: string; end: number }
  /** An event whose body the decoder cannot read, so changes would be lost silently. */
  | { kind: 'undecodable'; type: string }
  /** Anything else (table maps, GTID lists, checkpoints...): only its end matters, between transactions. */
  | { kind: 'other'; type: string; end: number };

/**
 * What the listener does, after a DDL statement touching replicated tables, before it feeds the next event: forget
 * the decoder's cached columns of `tables` (a renamed column must not be decoded under its old name) and, when
 * `describe` is set, look up their columns now and hand them to `resume`: the framer waits for them.
 */
export interface DdlFollowUp {
  tables: string[];
  describe: boolean;
}

export type IdleEvent = Extract<CaptureEvent, { kind: 'idle' }>;

export interface BinlogFramerOptions {
  /** The database whose tables are replicated. */
  database: string;
  tables: ReadonlySet<string>;
  values: ValuePolicy;
  /** Where the listener starts reading (a transaction boundary), with the GTID list there. */
  start: BinlogPosition;
  emit(event: CaptureEvent): void;
}

export class BinlogFramer {
  private file: string;
  private lastEnd: number;
  private gtidPos: string | undefined;
  private inTx = false;
  /** The transaction's own BEGIN: MariaDB's non-standalone GTID event, or MySQL's BEGIN query. */
  private explicitTx = false;
  private began = false;
  private txStart: string;
  private txGtid: string | undefined;
  /** The column list last sent per table, so a relation goes out only when it changes. */
  private readonly relations = new Map<string, string>();
  private readonly converters = new Map<string, { signature: string; convert: Array<(value: unknown) => Value> }>();
  /** A DDL statement waiting for its tables' columns. */
  private pending: { sql: string; tables: string[]; end: number; time: number } | undefined;

  constructor(private readonly opts: BinlogFramerOptions) {
    this.file = opts.start.file;
    this.lastEnd = opts.start.offset;
    this.gtidPos = opts.start.gtid;
    this.txStart = formatPosition(opts.start);
  }

  /**
   * Frames one event, in binlog order. Returns what the listener must do first when the event was a DDL statement
   * on replicated tables; while a `describe` is outstanding, only `resume` may follow.
   */
  next(ev: BinlogEvent): DdlFollowUp | undefined {
    if (this.pending) throw new TandemError('TANDEM_INTERNAL', `a binlog ${ev.kind} event arrived while the columns after \`${this.pending.sql}\` were being looked up`);
    switch (ev.kind) {
      case 'rotate':
        this.file = ev.file;
        this.lastEnd = ev.position;
        return undefined;
      case 'format':
        return undefined; // its header position is the start of the file, not where the dump is
      case 'mariadb-gtid':
        this.startTransaction(ev.gtid, !ev.standalone);
        return undefined;
      case 'mysql-gtid':
        this.startTransaction(undefined, false);
        return undefined;
      case 'query':
        return this.query(ev);
      case 'xid':
        this.endTransaction(ev.end, ev.time);
        return undefined;
      case 'rows':
        this.rows(ev);
        this.advanceBetweenTransactions(ev.end);
        return undefined;
      case 'undecodable':
        throw new TandemError('TANDEM_VALUE_UNSUPPORTED', `the binlog holds a ${ev.type} event, which Tandem cannot decode`, {
          fix: 'turn off binlog_transaction_compression and binlog_row_value_options=PARTIAL_JSON on the active side, then run `tandem backfill --yes`',
        });
      case 'heartbeat':
        if (!this.inTx && ev.end > 0) {
          this.file = ev.file;
          this.lastEnd = ev.end;
        }
        return undefined;
      case 'other':
        this.advanceBetweenTransactions(ev.end);
        return undefined;
    }
  }

  /** The columns of the tables a `describe` follow-up named, as they are after the DDL statement. */
  resume(columns: ReadonlyMap<string, readonly string[]>): void {
    const ddl = this.pending;
    if (!ddl) throw new TandemError('TANDEM_INTERNAL', 'binlog framer: columns arrived for no DDL statement');
    this.pending = undefined;
    for (const table of ddl.tables) {
      const names = [...(columns.get(table) ?? [])];
      this.relations.set(table, names.join('\u0000'));
      this.opts.emit({ kind: 'relation', table, columns: names, ddl: ddl.sql });
    }
    this.endTransaction(ddl.end, ddl.time);
  }

  /** Everything before the end of the last event read, when no transaction is open: a position safe to acknowledge. */
  idle(): IdleEvent | undefined {
    return this.inTx ? undefined : { kind: 'idle', position: this.position(this.lastEnd) };
  }

  private position(offset: number): string {
    return formatPosition({ file: this.file, offset, gtid: this.gtidPos });
  }

  /** Only between transactions is the end of an event a place a dump can restart from, so an idle position. */
  private advanceBetweenTransactions(end: number): void {
    if (!this.inTx && end > this.lastEnd) this.lastEnd = end;
  }

  private startTransaction(gtid: string | undefined, explicit: boolean): void {
    this.inTx = true;
    this.explicitTx = explicit;
    this.began = false;
    this.txGtid = gtid;
    this.txStart = this.position(this.lastEnd);
  }

  /** A transaction that touches no replicated table sends nothing: its begin goes out with its first change. */
  private beginIfNeeded(): void {
    if (this.began) return;
    this.began = true;
    this.opts.emit({ kind: 'begin', position: this.txStart });
  }

  private endTransaction(end: number, time: number): void {
    if (this.txGtid) this.gtidPos = advanceGtidPosition(this.gtidPos, this.txGtid);
    if (end > 0) this.lastEnd = end;
    if (this.began) this.opts.emit({ kind: 'commit', position: this.position(this.lastEnd), commitTime: new Date(time) });
    this.inTx = this.explicitTx = this.began = false;
    this.txGtid = undefined;
  }

  private rows(ev: BinlogRowsEvent): void {
    const { emit, database, tables } = this.opts;
    if (ev.table.schema !== database) return;
    if (ev.table.name === MARKER_TABLE) return this.marker(ev);
    if (!tables.has(ev.table.name)) return;
    const table = ev.table.name;
    const n = ev.columnCount;
    if (ev.present.some((b) => !allSet(b, n))) {
      throw new TandemError(
        'TANDEM_CAPTURE_ROW_IMAGE',
        `an ${ev.op.toUpperCase()} of ${table} in transaction ${this.txGtid ?? this.txStart} carries only some of the table's columns (it was logged with binlog_row_image MINIMAL or NOBLOB, e.g. SET SESSION binlog_row_image by the writing session); replication stopped before applying a partial row, at checkpoint position ${this.txStart}`,
        { fix: 'make every session log full row images (binlog_row_image=FULL, and no application SET SESSION binlog_row_image), then run `tandem backfill --yes`: the columns left out of that change are not in the binlog and cannot be recovered from it' },
      );
    }
    // The table's columns are as information_schema describes it now; a row logged before a later ADD COLUMN has
    // fewer, decoded by position (the decoder refuses the opposite case, a row with more columns than the table).
    const columns = ev.table.columns.slice(0, n);
    const names = columns.map((c) => c.name);
    if (this.relations.get(table) !== names.join('\u0000')) {
      this.relations.set(table, names.join('\u0000'));
      emit({ kind: 'relation', table, columns: names });
    }
    this.beginIfNeeded();
    const convert = this.convertersOf(table, columns);
    const neutral = (row: BinlogRow): Row => {
      const out: Row = {};
      for (let i = 0; i < columns.length; i++) {
        const name = (columns[i] as ColumnType).name;
        out[name] = (convert[i] as (value: unknown) => Value)(row[name]);
      }
      return out;
    };
    if (ev.op === 'update') {
      for (const r of ev.rows) emit({ kind: 'change', change: { op: 'update', table, before: neutral(r.before), after: neutral(r.after) } });
    } else if (ev.op === 'insert') {
      for (const row of ev.rows) emit({ kind: 'change', change: { op: 'insert', table, after: neutral(row) } });
    } else {
      for (const row of ev.rows) emit({ kind: 'change', change: { op: 'delete', table, before: neutral(row) } });
    }
  }

  /**
   * Each column's conversion to the neutral form, worked out once per table and column list (neutralConverter):
   * a rows event carries a few columns of many rows, and deciding from the type's text for every value was a
   * tenth of the capture's CPU time in a bulk insert.
   */
  private convertersOf(table: string, columns: readonly ColumnType[]): Array<(value: unknown) => Value> {
    const signature = columns.map((c) => `${c.name}\u0001${c.columnType}`).join('\u0000');
    const cached = this.converters.get(table);
    if (cached?.signature === signature) return cached.convert;
    const convert = columns.map((c) => neutralConverter(table, c, this.opts.values));
    this.converters.set(table, { signature, convert });
    return convert;
  }

  /** A write to Tandem's fence table carrying a drain marker (marker.ts). */
  private marker(ev: BinlogRowsEvent): void {
    if (ev.op === 'delete') return;
    for (const r of ev.rows) {
      const row = ev.op === 'update' ? (r as { after: BinlogRow }).after : (r as BinlogRow);
      const id = row[MARKER_COLUMN];
      if (id === null || id === undefined) continue;
      this.beginIfNeeded();
      this.opts.emit({ kind: 'marker', id: Buffer.isBuffer(id) ? id.toString('utf8') : String(id) });
    }
  }

  private query(ev: Extract<BinlogEvent, { kind: 'query' }>): DdlFollowUp | undefined {
    const sql = ev.sql.trim();
    const upper = sql.toUpperCase();
    if (upper === 'BEGIN' || upper.startsWith('XA START')) {
      if (!this.inTx) this.startTransaction(undefined, true);
      this.explicitTx = true;
      return undefined;
    }
    if (upper === 'COMMIT' || upper === 'ROLLBACK' || upper.startsWith('XA COMMIT') || upper.startsWith('XA ROLLBACK')) {
      // COMMIT closes a group of non-transactional tables; ROLLBACK is logged only when such changes stay behind.
      this.endTransaction(ev.end, ev.time);
      return undefined;
    }
    if (this.inTx && this.explicitTx) return undefined; // SAVEPOINT and the like inside a transaction
    // A standalone statement (DDL, ...): its own group, ending with this event.
    if (!this.inTx) this.startTransaction(undefined, false);
    const ddl = parseDdl(sql);
    const touched = (ddl?.tables ?? []).filter((t) => (t.schema ?? ev.schema) === this.opts.database && this.opts.tables.has(t.table)).map((t) => t.table);
    if (!ddl || touched.length === 0) {
      this.endTransaction(ev.end, ev.time);
      return undefined;
    }
    const tables = [...new Set(touched)];
    if (ddl.kind === 'truncate') {
      this.beginIfNeeded();
      this.opts.emit({ kind: 'change', change: { op: 'truncate', tables } });
      this.endTransaction(ev.end, ev.time);
      return { tables, describe: false };
    }
    // Column names are looked up again after any DDL: a renamed column must not keep its old name.
    this.pending = { sql, tables, end: ev.end, time: ev.time };
    return { tables, describe: true };
  }
}

function allSet(bitmap: Buffer, columns: number): boolean {
  for (let i = 0; i < columns; i++) if (((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) === 0) return false;
  return true;
}
