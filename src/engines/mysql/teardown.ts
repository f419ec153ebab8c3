/**
 * Removing Tandem from a MySQL/MariaDB side (tandem teardown): the migration's rows in Tandem's tables (the fence
 * record included; read_only is switched off by the unfence before this), and a table left empty is dropped. The
 * application's tables and rows are never touched.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { connectMysql } from './connect.js';
import { quoteMysqlIdent as q } from './quote.js';

const TABLES = ['tandem_checkpoint', 'tandem_backfill', 'tandem_state', 'tandem_lease', 'tandem_fence'];

export async function removeMysqlTandemObjects(url: string, migration: string): Promise<string[]> {
  const conn = await connectMysql(url, 'teardown');
  const removed: string[] = [];
  try {
    for (const t of TABLES) {
      const [exists] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, [t]);
      if (exists.length === 0) continue;
      const [del] = await conn.query(`DELETE FROM ${q(t)} WHERE migration = ?`, [migration]);
      const n = (del as { affectedRows?: number }).affectedRows ?? 0;
      if (n) removed.push(`${n} row(s) of ${t}`);
      const [left] = await conn.query<RowDataPacket[]>(`SELECT 1 FROM ${q(t)} LIMIT 1`);
      if (left.length === 0) {
        await conn.query(`DROP TABLE ${q(t)}`);
        removed.push(`table ${t}`);
      }
    }
    return removed;
  } finally {
    await conn.end().catch(() => undefined);
  }
}
