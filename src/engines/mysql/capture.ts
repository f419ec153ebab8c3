/**
 * Capture from a MySQL/MariaDB active side: the binary log in row format, read with @vlasky/zongji 0.9.
 *
 * Why zongji (its source was read before relying on it):
 * - it is built on mysql2 (Tandem's driver), speaks MariaDB's dump dialect (announces @mariadb_slave_capability=4,
 *   decodes MARIADB_GTID_EVENT 162 with domain/server/seq, standalone and DDL flags, GTID lists) and MySQL 8's
 *   GTID events; it starts a dump at any file:position, emits Rotate, Query (the statement text, for DDL
 *   detection and COMMIT of non-transactional engines), Xid (with the event header's next position = the end of
 *   the commit), TableMap and row events; and it pauses its own connection while it fetches column metadata, so
 *   mysql2's pause()/resume() (which queues packets exactly) is a sound backpressure mechanism.
 * - values: 64-bit integers are assembled with BigInt (a number only within ±(2^53−1), exact text beyond), DECIMAL
 *   is decoded digit by digit as text, DATETIME/TIMESTAMP/DATE/TIME are formatted as text with the `dateStrings`
 *   option (TIMESTAMP from its epoch seconds in UTC with `timezone: 'Z'`; no local-time conversion), fractions
 *   keep the declared digits, text columns are decoded in their own character set (4-byte UTF-8 intact, latin1 as
 *   cp1252), BLOB/BINARY stay Buffers (charset `binary`), BIT stays a Buffer, ENUM/SET become labels, MySQL binary
 *   JSON is rendered as text with `jsonStrings` (MariaDB JSON is LONGTEXT anyway).
 * - what Tandem fixes in its own value layer (binlog-values.ts): FLOAT arrives widened to a double
 *   (0.10000000149011612) → rewritten as the shortest text that reads back to the same float32; integers that
 *   arrive as safe numbers → decimal text; BIT → `0`/`1` text of the declared width; YEAR (a number) → text. The
 *   same function converts backfill reads, so both paths agree (tested).
 * - what zongji cannot tell by itself: the binlog has no column names (unless binlog_row_metadata=FULL), so zongji
 *   looks them up in information_schema when it sees a TableMap (cached by table id, refreshed when the column
 *   count changes). Tandem also forgets the cached entries of a table whenever a DDL statement touches it, so a
 *   renamed column is never decoded under its old name. Limitation: rows logged under an older definition of a
 *   table and read after a later DDL (Tandem was behind, or restarted from a checkpoint before the DDL) are decoded
 *   by position against today's columns: right for columns added at the end (the usual ADD COLUMN), wrong for a
 *   column added with FIRST/AFTER or renamed in between; a row with more columns than the table (a later DROP
 *   COLUMN) is refused loudly by zongji. With binlog_row_metadata=FULL (MariaDB 10.5+, MySQL 8) zongji takes names
 *   and types from the event itself and this limitation goes away: recommended.
 * - it fills columns missing from a row image with NULL: Tandem checks the columns-present bitmaps itself and stops
 *   with TANDEM_CAPTURE_ROW_IMAGE rather than apply such a row (binlog_row_image MINIMAL/NOBLOB, H4).
 *
 * Positions are `file:offset[#gtid]` (position.ts): a transaction begins where the previous event ended (the start
 * of its GTID event) and commits at the end of its XID event. The binlog keeps no per-consumer state (no slot):
 * slotState(position) reports whether the file holding the position is still listed by SHOW BINARY LOGS (H7).
 * Several GTID domains (H8): transactions of every domain are written to the same binlog one after another, so
 * file:offset orders them all and the checkpoint is one file:offset; the `#gtid` suffix carries the whole GTID list
 * (one `domain-server-seq` per domain, each commit replacing its own domain's entry), e.g. `#0-1-10,1-1-5`.
 *
 * Idle: MariaDB sends heartbeats only when the replica asks for them, which zongji does not. Instead a timer emits
 * `idle` at the end of the last event read whenever no transaction is open, so a quiet database (or one whose
 * writes all go to other tables) still advances the checkpoint and lag reaches zero.
 *
 * Loop guard (not built yet): DESIGN asks for "a marker the MySQL capture recognizes" on Tandem's own writes when
 * MySQL is the shadow and later becomes active (reverse). The plan: the MySQL shadow writer tags each applied
 * transaction (a row in tandem_checkpoint is already written in every such transaction, so a capture can recognize
 * a transaction touching `tandem_checkpoint` and drop it whole, or MariaDB's @@skip_replication flag on the apply
 * session, which is logged in the event header and can be filtered with it). Today the reverse capture starts at a
 * recorded position, which is the primary guard.
 */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type ZongJiType from '@vlasky/zongji';
import type { TableMapEntry } from '@vlasky/zongji';
import { TandemError, errorMessage } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import type { CaptureEvent, Row } from '../../model/change.js';
import type { CaptureSink, CaptureSource, CaptureStream, SlotState, SnapshotHandle, TableReader } from '../engine.js';
import { connectMysql, mysqlOptions } from './connect.js';
import { listMysqlTables } from './introspect.js';
import { toNeutral, type ColumnType, type ValuePolicy } from './binlog-values.js';
import { parseDdl } from './binlog-ddl.js';
import { advanceGtidPosition, binlogDistance, comparePositions, formatPosition, parsePosition } from './position.js';
import { columnTypes, gtidAt, masterPosition, openMysqlReader, openMysqlSnapshot } from './reader.js';
import { isTransientMysqlError } from './shadow.js';

type ZongJiClass = typeof ZongJiType;
// zongji is an ES module with a default export; loaded lazily so PostgreSQL-only runs never load it.
let zongjiClass: ZongJiClass | undefined;
async function loadZongJi(): Promise<ZongJiClass> {
  if (!zongjiClass) zongjiClass = (await import('@vlasky/zongji')).default;
  return zongjiClass;
}

/** How often, with no transaction open, the end of the last event read is offered as an idle position. */
const IDLE_INTERVAL_MS = 1_000;

interface ZjEvent {
  getTypeName(): string;
  timestamp: number;
  nextPosition: number;
  [key: string]: unknown;
}

interface ZjConnection {
  pause(): void;
  resume(): void;
  once(event: string, listener: (...args: unknown[]) => void): void;
}

/** Capture from MySQL/MariaDB through the binary log (row format, full row images). */
export class MysqlCapture implements CaptureSource {
  readonly engine = 'mysql' as const;
  private tables: Set<string> | undefined;
  /** Binlog file sizes from the last SHOW BINARY LOGS, for distance(). */
  private sizes = new Map<string, number>();
  private readonly database: string;

  constructor(
    private readonly url: string,
    readonly migration: string,
    tables?: string[],
    /** Zero dates and other values the shadow cannot hold (binlog-values.ts); the same policy for backfill reads. */
    private readonly values: ValuePolicy = { zeroDates: 'refuse' },
  ) {
    this.tables = tables ? new Set(tables) : undefined;
    this.database = String(mysqlOptions(url).database ?? '');
  }

  /** Nothing to create on MySQL (no slot, no publication): records the tables and verifies the binlog settings. */
  async prepare(tables: string[]): Promise<void> {
    this.tables = new Set(tables);
    const conn = await connectMysql(this.url, 'capture settings');
    try {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT @@GLOBAL.log_bin AS log_bin, @@GLOBAL.binlog_format AS format, @@GLOBAL.binlog_row_image AS image`);
      const r: RowDataPacket = rows[0] ?? ({} as RowDataPacket);
      const fix = 'set log_bin, binlog_format=ROW and binlog_row_image=FULL on the active side (see tandem check)';
      if (Number(r.log_bin) !== 1 && String(r.log_bin).toUpperCase() !== 'ON') throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `binary logging is off on ${redactUrl(this.url)}`, { fix });
      if (String(r.format).toUpperCase() !== 'ROW') throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `binlog_format is ${String(r.format)} on ${redactUrl(this.url)}, not ROW`, { fix });
      if (String(r.image).toUpperCase() !== 'FULL') throw new TandemError('TANDEM_CAPTURE_ROW_IMAGE', `binlog_row_image is ${String(r.image)} on ${redactUrl(this.url)}, not FULL: row changes would arrive without all their columns`, { fix });
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  comparePositions(a: string, b: string): number {
    return comparePositions(a, b);
  }

  /** Bytes of binlog between the positions; file sizes come from the last currentPosition()/slotState() call. */
  distance(from: string, to: string): number {
    return binlogDistance(from, to, this.sizes);
  }

  private async binaryLogs(conn: mysql.Connection): Promise<Map<string, number>> {
    const [rows] = await conn.query<RowDataPacket[]>('SHOW BINARY LOGS');
    this.sizes = new Map(rows.map((r) => [String(r.Log_name), Number(r.File_size)]));
    return this.sizes;
  }

  async slotState(position?: string): Promise<SlotState> {
    const conn = await connectMysql(this.url, 'binlog state');
    try {
      const logs = await this.binaryLogs(conn);
      if (!position) return { exists: true };
      const p = parsePosition(position);
      if (!logs.has(p.file)) {
        const oldest = [...logs.keys()][0];
        return {
          exists: false,
          missing: `binlog file ${p.file} (checkpoint position ${position}) is no longer on the active side ${redactUrl(this.url)}: it was purged${oldest ? ` (the oldest binlog there is ${oldest})` : ''}`,
        };
      }
      const last = [...logs.entries()].at(-1);
      const end = last ? formatPosition({ file: last[0], offset: last[1] }) : position;
      return { exists: true, confirmedPosition: undefined, retainedBytes: binlogDistance(position, end, logs) };
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** The binlog keeps no per-consumer state: nothing to drop. */
  async dropSlot(): Promise<void> {}

  async currentPosition(): Promise<string> {
    const conn = await connectMysql(this.url, 'position');
    try {
      await this.binaryLogs(conn);
      return await masterPosition(conn);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  createSlotWithSnapshot(): Promise<SnapshotHandle> {
    return openMysqlSnapshot(this.url);
  }

  openReader(snapshot: string | undefined): Promise<TableReader> {
    return openMysqlReader(this.url, snapshot, this.values);
  }

  /** Streams committed transactions that begin at or after `from` into `sink`, until stopped or failed. */
  async start(from: string, sink: CaptureSink): Promise<CaptureStream> {
    const ZongJi = await loadZongJi();
    const db = this.database;
    const values = this.values;
    const ctrl = await connectMysql(this.url, 'capture metadata');
    let tables: Set<string>;
    let gtidPos: string | undefined;
    const start = parsePosition(from);
    try {
      tables = this.tables ?? new Set(await listMysqlTables(ctrl));
      gtidPos = start.gtid ?? (await gtidAt(ctrl, start.file, start.offset));
    } catch (err) {
      await ctrl.end().catch(() => undefined);
      throw err;
    }

    const base = mysqlOptions(this.url);
    const zj = new ZongJi({
      host: base.host,
      port: base.port,
      user: base.user,
      password: base.password,
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
      timezone: 'Z',
      jsonStrings: true,
      charset: 'utf8mb4_bin',
    } as mysql.ConnectionOptions);
    const tableMap = (): Record<number, TableMapEntry> => (zj as unknown as { tableMap: Record<number, TableMapEntry> }).tableMap;
    const conn = (): ZjConnection | null => (zj as unknown as { connection: ZjConnection | null }).connection;

    let file = start.file;
    let lastEnd = start.offset;
    let inTx = false;
    /** The transaction's own BEGIN: MariaDB's non-standalone GTID event, or MySQL's BEGIN query. */
    let explicitTx = false;
    let began = false;
    let txStart = from;
    let txGtid: string | undefined;
    let stopped = false;
    let paused = false;
    let lastIdle = '';
    let lastIdleAt = 0;
    const relations = new Map<string, string>();

    let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    done.catch(() => undefined);

    const position = (offset: number) => formatPosition({ file, offset, gtid: gtidPos });

    const finish = (err?: unknown) => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      zj.stop();
      void ctrl.end().catch(() => undefined);
      if (err === undefined) settle?.resolve();
      else settle?.reject(this.mapError(err));
    };

    const push = (event: CaptureEvent) => {
      sink.push(event);
      if (sink.isFull()) {
        conn()?.pause();
        if (!paused) {
          paused = true;
          void sink.waitForRoom().then(() => {
            paused = false;
            if (!stopped) conn()?.resume();
          });
        }
      }
    };

    /** Pauses the binlog connection while `work` runs, keeping event order (mysql2 queues packets while paused). */
    const hold = (work: () => Promise<void>) => {
      conn()?.pause();
      work().then(
        () => {
          if (!stopped && !paused) conn()?.resume();
        },
        (err: unknown) => finish(err),
      );
    };

    const beginIfNeeded = () => {
      if (began) return;
      began = true;
      push({ kind: 'begin', position: txStart });
    };

    const endTransaction = (ev: ZjEvent) => {
      if (txGtid) gtidPos = advanceGtidPosition(gtidPos, txGtid);
      if (ev.nextPosition > 0) lastEnd = ev.nextPosition;
      if (began) push({ kind: 'commit', position: position(lastEnd), commitTime: new Date(ev.timestamp) });
      inTx = explicitTx = began = false;
      txGtid = undefined;
    };

    const startTransaction = (gtid: string | undefined, explicit: boolean) => {
      inTx = true;
      explicitTx = explicit;
      began = false;
      txGtid = gtid;
      txStart = position(lastEnd);
    };

    const rowsEvent = (ev: ZjEvent, op: 'insert' | 'update' | 'delete') => {
      const entry = tableMap()[ev.tableId as number];
      if (!entry || entry.parentSchema !== db || !tables.has(entry.tableName)) return;
      const table = entry.tableName;
      const n = ev.numberOfColumns as number;
      const bitmaps = [ev.columns_present_bitmap, ev.columns_present_bitmap2].filter(Buffer.isBuffer) as Buffer[];
      if (bitmaps.some((b) => !allSet(b, n))) {
        throw new TandemError(
          'TANDEM_CAPTURE_ROW_IMAGE',
          `an ${op.toUpperCase()} of ${table} in transaction ${txGtid ?? txStart} carries only some of the table's columns (it was logged with binlog_row_image MINIMAL or NOBLOB, e.g. SET SESSION binlog_row_image by the writing session); replication stopped before applying a partial row, at checkpoint position ${txStart}`,
          { fix: 'make every session log full row images (binlog_row_image=FULL, and no application SET SESSION binlog_row_image), then run `tandem backfill --yes`: the columns left out of that change are not in the binlog and cannot be recovered from it' },
        );
      }
      // information_schema describes the table as it is now; a row logged before a later ADD COLUMN has fewer
      // columns, decoded by position (zongji refuses the opposite case, a row with more columns than the table).
      const columns: ColumnType[] = entry.columnSchemas.slice(0, n).map((c) => ({ name: c.COLUMN_NAME, columnType: c.COLUMN_TYPE.toLowerCase() }));
      const names = columns.map((c) => c.name);
      if (relations.get(table) !== names.join('\u0000')) {
        relations.set(table, names.join('\u0000'));
        push({ kind: 'relation', table, columns: names });
      }
      beginIfNeeded();
      const neutral = (row: Record<string, unknown>): Row => {
        const out: Row = {};
        for (const c of columns) out[c.name] = toNeutral(table, c, row[c.name], values);
        return out;
      };
      for (const row of ev.rows as Array<Record<string, unknown>>) {
        if (op === 'insert') push({ kind: 'change', change: { op, table, after: neutral(row) } });
        else if (op === 'delete') push({ kind: 'change', change: { op, table, before: neutral(row) } });
        else {
          const r = row as { before: Record<string, unknown>; after: Record<string, unknown> };
          push({ kind: 'change', change: { op, table, before: neutral(r.before), after: neutral(r.after) } });
        }
      }
    };

    const queryEvent = (ev: ZjEvent) => {
      const sql = String(ev.query ?? '').trim();
      const upper = sql.toUpperCase();
      if (upper === 'BEGIN' || upper.startsWith('XA START')) {
        if (!inTx) startTransaction(undefined, true);
        explicitTx = true;
        return;
      }
      if (upper === 'COMMIT' || upper === 'ROLLBACK' || upper.startsWith('XA COMMIT') || upper.startsWith('XA ROLLBACK')) {
        // COMMIT closes a group of non-transactional tables; ROLLBACK is logged only when such changes stay behind.
        endTransaction(ev);
        return;
      }
      if (inTx && explicitTx) return; // SAVEPOINT and the like inside a transaction
      // A standalone statement (DDL, ...): its own group, ending with this event.
      if (!inTx) startTransaction(undefined, false);
      const ddl = parseDdl(sql);
      const touched = (ddl?.tables ?? []).filter((t) => (t.schema ?? String(ev.schema ?? '')) === db && tables.has(t.table)).map((t) => t.table);
      if (!ddl || touched.length === 0) {
        endTransaction(ev);
        return;
      }
      // Column names are looked up again after any DDL: a renamed column must not keep its old name.
      const map = tableMap();
      for (const [id, entry] of Object.entries(map)) if (touched.includes(entry.tableName)) delete map[Number(id)];
      if (ddl.kind === 'truncate') {
        beginIfNeeded();
        push({ kind: 'change', change: { op: 'truncate', tables: [...new Set(touched)] } });
        endTransaction(ev);
        return;
      }
      hold(async () => {
        for (const table of new Set(touched)) {
          const columns = (await columnTypes(ctrl, table)).map((c) => c.name);
          relations.set(table, columns.join('\u0000'));
          push({ kind: 'relation', table, columns, ddl: sql });
        }
        endTransaction(ev);
      });
    };

    zj.on('binlog', (raw: unknown) => {
      if (stopped) return;
      const ev = raw as ZjEvent;
      try {
        if (paused && sink.isFull()) conn()?.pause(); // zongji resumed the connection after a metadata lookup
        switch (ev.getTypeName()) {
          case 'Rotate':
            file = String(ev.binlogName);
            lastEnd = Number(ev.position);
            return;
          case 'MariadbGtid':
            startTransaction(String(ev.gtid), !ev.standalone);
            break;
          case 'Gtid':
            startTransaction(undefined, false);
            break;
          case 'Query':
            queryEvent(ev);
            return;
          case 'Xid':
            endTransaction(ev);
            return;
          case 'WriteRows':
            rowsEvent(ev, 'insert');
            break;
          case 'UpdateRows':
            rowsEvent(ev, 'update');
            break;
          case 'DeleteRows':
            rowsEvent(ev, 'delete');
            break;
          case 'TransactionPayload':
          case 'PartialUpdateRows':
            throw new TandemError('TANDEM_VALUE_UNSUPPORTED', `the binlog holds a ${ev.getTypeName()} event, which Tandem cannot decode`, {
              fix: 'turn off binlog_transaction_compression and binlog_row_value_options=PARTIAL_JSON on the active side, then run `tandem backfill --yes`',
            });
          case 'Heartbeat':
            if (!inTx && ev.nextPosition > 0) {
              file = String(ev.binlogName);
              lastEnd = ev.nextPosition;
            }
            return;
          case 'Format':
            return; // its header position is the start of the file, not where the dump is
          default:
            break;
        }
        if (!inTx && ev.nextPosition > lastEnd) lastEnd = ev.nextPosition;
      } catch (err) {
        finish(err);
      }
    });
    zj.on('error', (err: unknown) => finish(err));

    const timer = setInterval(() => {
      if (stopped || inTx || sink.isFull()) return;
      const p = position(lastEnd);
      if (p === lastIdle && Date.now() - lastIdleAt < 10 * IDLE_INTERVAL_MS) return;
      lastIdle = p;
      lastIdleAt = Date.now();
      sink.push({ kind: 'idle', position: p });
    }, IDLE_INTERVAL_MS);

    zj.on('ready', () => {
      conn()?.once('end', () => finish(new TandemError('TANDEM_CONNECT_FAILED', 'the binlog connection was closed by the server', { retriable: true })));
    });
    zj.start({
      // Each dump connection needs a server id no other replica uses; a random one avoids two Tandem processes
      // (or a restart racing its predecessor) kicking each other off.
      serverId: 0x10000 + Math.floor(Math.random() * 0x7ffe0000),
      filename: start.file,
      position: start.offset,
      // Only the replicated tables: zongji looks up the columns of every table map it keeps, and a table outside the
      // migration that was written and then dropped (or renamed) before its events are read has no columns to find,
      // which zongji reports as a fatal error.
      includeSchema: { [db]: [...tables] },
    });

    return {
      done,
      acknowledge: () => undefined, // the binlog keeps no per-consumer position
      stop: async () => {
        finish();
        await done.catch(() => undefined);
      },
    };
  }

  private mapError(err: unknown): Error {
    if (err instanceof TandemError) return err;
    const msg = errorMessage(err);
    const errno = (err as { errno?: number }).errno;
    if (errno === 1236 || /Could not find first log file|binary log is not open|purged/i.test(msg)) {
      return new TandemError('TANDEM_CAPTURE_POSITION_PURGED', `the active side ${redactUrl(this.url)} cannot send its binlog from the checkpoint: ${msg}`, {
        fix: 'run `tandem backfill --yes` to copy the tables again from a new consistent point',
      });
    }
    if (isTransientMysqlError(err) || /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection lost|closed|shutdown/i.test(msg)) {
      return new TandemError('TANDEM_CONNECT_FAILED', `binlog connection to ${redactUrl(this.url)} failed: ${msg}`, { retriable: true, cause: err });
    }
    return new TandemError('TANDEM_INTERNAL', `reading the binlog of ${redactUrl(this.url)} failed: ${msg}`, {
      fix: 'see the message; Tandem resumes from its checkpoint when started again',
      cause: err,
    });
  }
}

function allSet(bitmap: Buffer, columns: number): boolean {
  for (let i = 0; i < columns; i++) if (((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) === 0) return false;
  return true;
}
