/**
 * The zongji side of MySQL/MariaDB capture: the binlog dump connection, read from a file:offset with
 * @vlasky/zongji, every event translated into the framer's `BinlogEvent` (binlog-framer.ts) and handed on in binlog
 * order. Everything that waits on the network is here: backpressure, the column lookups after DDL, the idle timer,
 * the end of the connection and its errors.
 *
 * Replication spec: docs/engines/mysql.md
 */
import type mysql from 'mysql2/promise';
import type ZongJiType from '@vlasky/zongji';
import type { AnyBinlogEvent, DeleteRowsEvent, HeartbeatEvent, MariadbGtidEvent, QueryEvent, RotateEvent, TableMapEntry, UpdateRowsEvent, WriteRowsEvent } from '@vlasky/zongji';
import { TandemError } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import type { CaptureSink, CaptureStream } from '../engine.js';
import type { BinlogEvent, BinlogRowsEvent, BinlogTable, DdlFollowUp, IdleEvent } from './binlog-framer.js';
import { mysqlOptions } from './connect.js';
import { mapBinlogError } from './errors.js';
import { columnTypes } from './reader.js';
import { MARKER_TABLE } from '../../model/names.js';

type ZongJiClass = typeof ZongJiType;
// zongji is an ES module with a default export; loaded lazily so PostgreSQL-only runs never load it.
let zongjiClass: ZongJiClass | undefined;
async function loadZongJi(): Promise<ZongJiClass> {
  if (!zongjiClass) zongjiClass = (await import('@vlasky/zongji')).default;
  return zongjiClass;
}

/** How often, with no transaction open, the end of the last event read is offered as an idle position. */
const IDLE_INTERVAL_MS = 1_000;

/** What the listener feeds: the framer (BinlogFramer), or a recorder around it (test/tools/record-binlog.ts). */
export interface BinlogConsumer {
  next(event: BinlogEvent): DdlFollowUp | undefined;
  resume(columns: ReadonlyMap<string, readonly string[]>): void;
  idle(): IdleEvent | undefined;
}

export interface BinlogListenerOptions {
  url: string;
  database: string;
  /** The tables whose events are decoded and delivered (zongji's includeSchema). */
  tables: readonly string[];
  /** Where the dump starts: a transaction boundary. */
  start: { file: string; offset: number };
  /** A connection to `database` for the column lookups after DDL; the listener ends it when the stream ends. */
  ctrl: mysql.Connection;
  /** Where the consumer's events go: the listener reads its fullness for backpressure and adds idle positions. */
  sink: CaptureSink;
  consumer: BinlogConsumer;
}

/** Starts the binlog dump; events flow to `opts.consumer` until the stream is stopped or fails. */
export async function listenToBinlog(opts: BinlogListenerOptions): Promise<CaptureStream> {
  const { url, database, ctrl, sink, consumer } = opts;
  let ZongJi: ZongJiClass;
  try {
    ZongJi = await loadZongJi();
  } catch (err) {
    await ctrl.end().catch(() => undefined);
    throw err;
  }
  const base = mysqlOptions(url);
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

  let stopped = false;
  let paused = false;
  let lastIdle = '';
  let lastIdleAt = 0;

  let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => undefined);

  const finish = (err?: unknown) => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    zj.stop();
    void ctrl.end().catch(() => undefined);
    if (err === undefined) settle?.resolve();
    else settle?.reject(mapBinlogError(err, redactUrl(url)));
  };

  /** mysql2's pause()/resume() queues packets exactly, so a paused dump loses and reorders nothing. */
  const backpressure = () => {
    if (!sink.isFull()) return;
    zj.connection?.pause();
    if (paused) return;
    paused = true;
    void sink.waitForRoom().then(() => {
      paused = false;
      if (!stopped) zj.connection?.resume();
    });
  };

  /** Keeps the dump paused while the columns after a DDL statement are looked up: the framer waits for them. */
  const describe = (tables: string[]) => {
    zj.connection?.pause();
    const lookup = async () => {
      const columns = new Map<string, string[]>();
      for (const table of tables) columns.set(table, (await columnTypes(ctrl, table)).map((c) => c.name));
      consumer.resume(columns);
      backpressure();
    };
    lookup().then(
      () => {
        if (!stopped && !paused) zj.connection?.resume();
      },
      (err: unknown) => finish(err),
    );
  };

  const followUp = (ddl: DdlFollowUp) => {
    // zongji caches columns by table id and refreshes them only when the column count changes: a renamed column
    // would keep its old name.
    for (const [id, entry] of Object.entries(zj.tableMap)) if (ddl.tables.includes(entry.tableName)) delete zj.tableMap[Number(id)];
    if (ddl.describe) describe(ddl.tables);
  };

  zj.on('binlog', (ev: AnyBinlogEvent) => {
    if (stopped) return;
    try {
      if (paused && sink.isFull()) zj.connection?.pause(); // zongji resumed the connection after a metadata lookup
      const ddl = consumer.next(translate(ev, zj.tableMap));
      backpressure();
      if (ddl) followUp(ddl);
    } catch (err) {
      finish(err);
    }
  });
  zj.on('error', (err: unknown) => finish(err));

  const timer = setInterval(() => {
    if (stopped || sink.isFull()) return;
    const idle = consumer.idle();
    if (!idle) return;
    if (idle.position === lastIdle && Date.now() - lastIdleAt < 10 * IDLE_INTERVAL_MS) return;
    lastIdle = idle.position;
    lastIdleAt = Date.now();
    sink.push(idle);
  }, IDLE_INTERVAL_MS);

  zj.on('ready', () => {
    zj.connection?.once('end', () => finish(new TandemError('TANDEM_CONNECT_FAILED', 'the binlog connection was closed by the server', { retriable: true })));
  });
  zj.start({
    // Each dump connection needs a server id no other replica uses; a random one avoids two Tandem processes
    // (or a restart racing its predecessor) kicking each other off.
    serverId: 0x10000 + Math.floor(Math.random() * 0x7ffe0000),
    filename: opts.start.file,
    position: opts.start.offset,
    // Only the replicated tables: zongji looks up the columns of every table map it keeps, and a table outside the
    // migration that was written and then dropped (or renamed) before its events are read has no columns to find,
    // which zongji reports as a fatal error.
    includeSchema: { [database]: [...opts.tables, MARKER_TABLE] },
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

/** zongji's rows events carry the columns-present bitmaps without declaring them. */
type ZongJiRowsEvent = (WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent) & { columns_present_bitmap?: unknown; columns_present_bitmap2?: unknown };

/** A zongji event as the framer reads it; `tableMap` is zongji's column cache at the time the event is read. */
function translate(ev: AnyBinlogEvent, tableMap: Readonly<Record<number, TableMapEntry>>): BinlogEvent {
  const type = ev.getTypeName();
  switch (type) {
    case 'Rotate': {
      const e = ev as RotateEvent;
      return { kind: 'rotate', file: String(e.binlogName), position: Number(e.position) };
    }
    case 'Format':
      return { kind: 'format' };
    case 'MariadbGtid': {
      const e = ev as MariadbGtidEvent;
      return { kind: 'mariadb-gtid', gtid: String(e.gtid), standalone: Boolean(e.standalone) };
    }
    case 'Gtid':
      return { kind: 'mysql-gtid', gtid: String(ev.gtid) };
    case 'Query': {
      const e = ev as QueryEvent;
      return { kind: 'query', schema: String(e.schema ?? ''), sql: String(e.query ?? ''), end: e.nextPosition, time: e.timestamp };
    }
    case 'Xid':
      return { kind: 'xid', end: ev.nextPosition, time: ev.timestamp };
    case 'WriteRows':
    case 'UpdateRows':
    case 'DeleteRows': {
      const e = ev as ZongJiRowsEvent;
      const entry = tableMap[e.tableId];
      // No entry: the table map was filtered out (includeSchema) or dropped after a failed lookup.
      if (!entry) return { kind: 'other', type, end: e.nextPosition };
      const table: BinlogTable = {
        schema: entry.parentSchema,
        name: entry.tableName,
        columns: entry.columnSchemas.map((c) => ({ name: c.COLUMN_NAME, columnType: c.COLUMN_TYPE.toLowerCase() })),
      };
      const present = [e.columns_present_bitmap, e.columns_present_bitmap2].filter(Buffer.isBuffer);
      const base = { kind: 'rows', table, columnCount: e.numberOfColumns, present, end: e.nextPosition } as const;
      const rows: BinlogRowsEvent =
        type === 'UpdateRows' ? { ...base, op: 'update', rows: (e as UpdateRowsEvent).rows } : { ...base, op: type === 'WriteRows' ? 'insert' : 'delete', rows: (e as WriteRowsEvent | DeleteRowsEvent).rows };
      return rows;
    }
    case 'TransactionPayload':
    case 'PartialUpdateRows':
      return { kind: 'undecodable', type };
    case 'Heartbeat': {
      const e = ev as HeartbeatEvent;
      return { kind: 'heartbeat', file: String(e.binlogName), end: e.nextPosition };
    }
    default:
      return { kind: 'other', type, end: ev.nextPosition };
  }
}
