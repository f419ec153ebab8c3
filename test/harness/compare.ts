/**
 * Direct reads of both databases for comparisons in tests: never through Tandem's own code. Each query returns
 * rows as arrays of text in a form both engines can produce; callers pass engine-specific SELECT lists when the
 * types print differently.
 */
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';

export async function pgRows(client: pg.Client, sql: string): Promise<string[][]> {
  const r = await client.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } });
  return (r.rows as Array<Array<string | null>>).map((row) => row.map((v) => (v === null ? '∅NULL' : v)));
}

export async function mysqlRows(conn: mysql.Connection, sql: string): Promise<string[][]> {
  const [rows] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true });
  return (rows as unknown as unknown[][]).map((row) => row.map((v) => (v === null ? '∅NULL' : Buffer.isBuffer(v) ? v.toString('hex') : String(v))));
}

export async function pgCount(client: pg.Client, table: string): Promise<number> {
  const r = await client.query<{ n: string }>(`select count(*)::text as n from ${table}`);
  return Number(r.rows[0]?.n);
}
