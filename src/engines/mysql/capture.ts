/**
 * Capture from a MySQL/MariaDB active side through the binary log in row format: the `CaptureSource` (settings,
 * positions, whether the binlog still holds a position, snapshots for backfill) and the wiring of a stream, the
 * listener (binlog-listener.ts, zongji) feeding the framer (binlog-framer.ts, what the events mean).
 *
 * Replication spec: docs/engines/mysql.md
 */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { TandemError } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import type { CaptureSink, CaptureSource, CaptureStream, SlotState, SnapshotHandle, TableReader } from '../engine.js';
import { connectMysql, mysqlOptions } from './connect.js';
import { listMysqlTables } from './introspect.js';
import type { ValuePolicy } from './binlog-values.js';
import { BinlogFramer } from './binlog-framer.js';
import { listenToBinlog } from './binlog-listener.js';
import { binlogDistance, comparePositions, formatPosition, parsePosition } from './position.js';
import { gtidAt, masterPosition, openMysqlReader, openMysqlSnapshot } from './reader.js';

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
      if (Number(r.log_bin) !== 1 && String(r.log_bin).toUpperCase() !== 'ON') throw new TandemError('TANDEM_SOURCE_MISCONFIGURED', `binary logging is off on ${redactUrl(this.url)}`, { fix });
      if (String(r.format).toUpperCase() !== 'ROW') throw new TandemError('TANDEM_SOURCE_MISCONFIGURED', `binlog_format is ${String(r.format)} on ${redactUrl(this.url)}, not ROW`, { fix });
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
      const oldest = [...logs.keys()][0] as string;
      const [settings] = await conn.query<RowDataPacket[]>(`SELECT @@GLOBAL.expire_logs_days AS days, @@GLOBAL.binlog_expire_logs_seconds AS seconds`).catch(async () => conn.query<RowDataPacket[]>(`SELECT @@GLOBAL.expire_logs_days AS days, NULL AS seconds`));
      const secs = Number(settings[0]?.seconds ?? 0) || Math.round(Number(settings[0]?.days ?? 0) * 86_400);
      // The binlog keeps nothing for Tandem: no retained bytes; what matters is how close purging is to the position.
      return { exists: true, logRetention: { headroomBytes: binlogDistance(formatPosition({ file: oldest, offset: 0 }), position, logs), retentionSeconds: secs > 0 ? secs : null } };
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** The binlog keeps no per-consumer state: nothing to drop, nothing to create. */
  async dropSlot(): Promise<void> {}

  async ensureSlot(): Promise<void> {}

  async removeCaptureObjects(): Promise<void> {}

  async clock(): Promise<Date> {
    const conn = await connectMysql(this.url, 'clock');
    try {
      // The session runs in UTC (connect.ts): the text is a UTC wall clock.
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT UTC_TIMESTAMP(6) AS now`);
      return new Date(`${String(rows[0]?.now).replace(' ', 'T')}Z`);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  async currentPosition(): Promise<string> {
    const conn = await connectMysql(this.url, 'position');
    try {
      await this.binaryLogs(conn);
      return await masterPosition(conn);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  createSlotWithSnapshot(opts?: { readers?: number }): Promise<SnapshotHandle> {
    return openMysqlSnapshot(this.url, opts?.readers ?? 1);
  }

  openReader(snapshot: string | undefined): Promise<TableReader> {
    return openMysqlReader(this.url, snapshot, this.values);
  }

  /** Streams committed transactions that begin at or after `from` into `sink`, until stopped or failed. */
  async start(from: string, sink: CaptureSink): Promise<CaptureStream> {
    const database = this.database;
    const ctrl = await connectMysql(this.url, 'capture metadata');
    let tables: Set<string>;
    let gtid: string | undefined;
    const start = parsePosition(from);
    try {
      tables = this.tables ?? new Set(await listMysqlTables(ctrl));
      gtid = start.gtid ?? (await gtidAt(ctrl, start.file, start.offset));
    } catch (err) {
      await ctrl.end().catch(() => undefined);
      throw err;
    }
    const framer = new BinlogFramer({ database, tables, values: this.values, start: { ...start, gtid }, emit: (event) => sink.push(event) });
    return listenToBinlog({ url: this.url, database, tables: [...tables], start, ctrl, sink, consumer: framer });
  }
}
