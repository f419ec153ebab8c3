import { randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { Row } from '../../model/change.js';
import type { SnapshotHandle, TableReader } from '../engine.js';
import { connectMysql } from './connect.js';
import { quoteMysqlIdent as q } from './quote.js';
import { neutralConverter, type ColumnType, type ValuePolicy } from './binlog-values.js';
import { TandemError } from '../../errors.js';
import { formatPosition } from './position.js';
import { withCommitsHeld } from './commit-hold.js';

/**
 * Snapshot connections held open by createSlotWithSnapshot, keyed by snapshot id: openReader(id) takes the next one
 * not yet taken. They are ended by the handle's release().
 */
const snapshots = new Map<string, { free: mysql.Connection[] }>();

/** Reader connections: JSON as text (MySQL), everything else as connect.ts sets it (exact numbers, date strings). */
const READER_OPTIONS: Partial<mysql.ConnectionOptions> = { jsonStrings: true } as Partial<mysql.ConnectionOptions>;

async function beginConsistentSnapshot(conn: mysql.Connection): Promise<void> {
  await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
}

const endAll = (conns: mysql.Connection[]) => Promise.all(conns.map((c) => c.end().catch(() => undefined)));

/**
 * Opens a consistent snapshot and returns it with the exact binlog position it corresponds to: a backfill read
 * through it plus the binlog from that position covers every change exactly once (H25).
 *
 * The snapshots are opened while commits are held (commit-hold.ts: BACKUP STAGE BLOCK_COMMIT on MariaDB, a brief
 * FLUSH TABLES WITH READ LOCK on MySQL; RELOAD). MariaDB's binlog_snapshot_position is not enough on its own:
 * under concurrent commits a snapshot can miss a transaction that lies before the position it reports, and the
 * stream, starting there, would never bring it. With commits held, no transaction is half-way between the binlog
 * and InnoDB's visibility, so SHOW MASTER STATUS is the position of every snapshot opened meanwhile.
 *
 * With `readers` > 1 (parallel backfill) that many connections open their snapshots inside the one hold: a
 * snapshot cannot be shared between connections, but snapshots taken while nothing commits hold the same
 * transactions, so they are one snapshot read through several connections.
 */
export async function openMysqlSnapshot(url: string, readers = 1): Promise<SnapshotHandle> {
  const group: mysql.Connection[] = [];
  try {
    for (let i = 0; i < Math.max(1, readers); i++) group.push(await connectMysql(url, 'backfill snapshot', READER_OPTIONS));
    const conn = group[0] as mysql.Connection;
    const { file, offset } = await withCommitsHeld(url, async () => {
      await Promise.all(group.map((c) => beginConsistentSnapshot(c)));
      return binlogEnd(conn);
    });
    const gtid = await gtidAt(conn, file, offset);
    const id = randomBytes(8).toString('hex');
    const held = [...group];
    snapshots.set(id, { free: [...group] });
    return {
      position: formatPosition({ file, offset, gtid }),
      snapshot: id,
      readers: group.length,
      release: async () => {
        snapshots.delete(id);
        await Promise.all(held.map(async (c) => {
          await c.query('COMMIT').catch(() => undefined);
          await c.end().catch(() => undefined);
        }));
      },
    };
  } catch (err) {
    await endAll(group);
    throw err;
  }
}

/** SHOW MASTER STATUS (SHOW BINARY LOG STATUS on MySQL 8.4+): the end of the binary log. */
async function binlogEnd(conn: mysql.Connection): Promise<{ file: string; offset: number }> {
  let rows: RowDataPacket[];
  try {
    [rows] = await conn.query<RowDataPacket[]>('SHOW MASTER STATUS');
  } catch {
    [rows] = await conn.query<RowDataPacket[]>('SHOW BINARY LOG STATUS');
  }
  const row = rows[0];
  if (!row) throw new TandemError('TANDEM_SOURCE_MISCONFIGURED', 'binary logging is off on the active side', { fix: 'enable log_bin (see tandem check)' });
  return { file: String(row.File), offset: Number(row.Position) };
}

/** The end of the binary log, with MariaDB's GTID position at that point. */
export async function masterPosition(conn: mysql.Connection): Promise<string> {
  const { file, offset } = await binlogEnd(conn);
  return formatPosition({ file, offset, gtid: await gtidAt(conn, file, offset) });
}

/** MariaDB's GTID position at a binlog file:offset (BINLOG_GTID_POS); undefined on MySQL or when unknown. */
export async function gtidAt(conn: mysql.Connection, file: string, offset: number): Promise<string | undefined> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT BINLOG_GTID_POS(?, ?) AS pos', [file, offset]);
    const pos = rows[0]?.pos;
    return pos ? String(pos) : undefined;
  } catch {
    return undefined;
  }
}

/** Column names and types of a table, in ordinal order (information_schema: the binlog carries no names). */
export async function columnTypes(conn: mysql.Connection, table: string): Promise<ColumnType[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT column_name AS name, LOWER(column_type) AS type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position`,
    [table],
  );
  return rows.map((r) => ({ name: String(r.name), columnType: String(r.type) }));
}

/**
 * Reads tables in primary-key order for backfill: through the snapshot's own connection when `snapshot` names one
 * (exactly the data at the snapshot's binlog position), else through a fresh consistent snapshot (resumed backfill,
 * see src/backfill). Values are converted by the same `toNeutral` as the binlog path (its per-column form, neutralConverter).
 *
 * Chunks are keyset pages, `WHERE (k) > (?) ORDER BY k LIMIT n`, and both the comparison and the sort use the key
 * column's own collation: the value is sent as a coercible literal and the column's collation (implicit) wins,
 * even for latin1 or utf8mb3 columns read over a utf8mb4 connection. A primary key never holds two values its
 * collation calls equal (PAD SPACE makes 'a' = 'a ', _ci makes 'a' = 'A'), so this order is strict and total:
 * no row is skipped or read twice, whatever the collation (H16, tested with nopad_bin, bin, general_ci,
 * unicode_ci, latin1_swedish_ci and utf8mb3 keys in 2-row chunks). The order is the source's; the shadow does not
 * need to share it. Comparing chunks across engines (verification) needs one order both engines agree on (bytes).
 */
export async function openMysqlReader(url: string, snapshot: string | undefined, policy: ValuePolicy = { zeroDates: 'refuse' }): Promise<TableReader> {
  const borrowed = snapshot ? snapshots.get(snapshot)?.free.shift() : undefined;
  if (snapshot && !borrowed) throw new Error(`snapshot ${snapshot} is not open in this process, or every connection of it is already reading`);
  const conn = borrowed ?? (await connectMysql(url, 'backfill', READER_OPTIONS));
  if (!borrowed) await beginConsistentSnapshot(conn);
  const types = new Map<string, Map<string, ColumnType>>();
  const typesOf = async (table: string) => {
    let t = types.get(table);
    if (!t) types.set(table, (t = new Map((await columnTypes(conn, table)).map((c) => [c.name, c]))));
    return t;
  };
  return {
    async estimateRows(table) {
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT table_rows AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, [table]);
      const estimate = Number(rows[0]?.n ?? 0);
      if (estimate > 0) return estimate;
      const [count] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(table)}`);
      return Number(count[0]?.n ?? 0);
    },
    async readChunk(table, columns, key, after, limit) {
      const cols = await typesOf(table);
      const params: unknown[] = [];
      let where = '';
      if (after) {
        for (const k of key) params.push(after[k]);
        where = `WHERE (${key.map(q).join(', ')}) > (${key.map(() => '?').join(', ')})`;
      }
      // MariaDB prints FLOAT with 6 significant digits (3.40282e+38): read it widened to DOUBLE, which is exact, so
      // the value equals the binlog's float32 (H14).
      const names = columns.length ? columns : [...cols.keys()];
      const list = names.map((c) => (/^float/.test(cols.get(c)?.columnType ?? '') ? `CAST(${q(c)} AS DOUBLE) AS ${q(c)}` : q(c))).join(', ');
      const [rows, fields] = await conn.query<RowDataPacket[]>({
        sql: `SELECT ${list} FROM ${q(table)} ${where} ORDER BY ${key.map(q).join(', ')} LIMIT ${Number(limit)}`,
        values: params,
        rowsAsArray: true,
      });
      const fieldNames = fields.map((f) => f.name);
      const convert = fields.map((f) => neutralConverter(table, cols.get(f.name) ?? { name: f.name, columnType: '' }, policy));
      return (rows as unknown as unknown[][]).map((values) => {
        const row: Row = {};
        for (let i = 0; i < fieldNames.length; i++) row[fieldNames[i] as string] = (convert[i] as (v: unknown) => Row[string])(values[i]);
        return row;
      });
    },
    async close() {
      // A borrowed snapshot connection is ended by its handle's release().
      if (borrowed) return;
      await conn.query('COMMIT').catch(() => undefined);
      await conn.end().catch(() => undefined);
    },
  };
}
