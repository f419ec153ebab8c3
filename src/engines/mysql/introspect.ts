import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { TableSchema } from '../../model/schema.js';

export async function listMysqlTables(conn: mysql.Connection): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  return rows.map((r) => String(r.name));
}

export async function describeMysqlTables(conn: mysql.Connection, names: string[]): Promise<Map<string, TableSchema>> {
  const out = new Map<string, TableSchema>();
  if (names.length === 0) return out;
  const [columns] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, column_name AS col, LOWER(column_type) AS type, is_nullable = 'YES' AS nullable,
            (column_default IS NOT NULL OR extra LIKE '%auto_increment%') AS has_default
       FROM information_schema.columns
      WHERE table_schema = DATABASE() AND table_name IN (?)
      ORDER BY table_name, ordinal_position`,
    [names],
  );
  // MariaDB stores JSON as LONGTEXT with a json_valid() CHECK; that CHECK is what makes the column JSON.
  const [checks] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, check_clause AS clause FROM information_schema.check_constraints
      WHERE constraint_schema = DATABASE() AND table_name IN (?) AND check_clause LIKE 'json_valid(%'`,
    [names],
  );
  const jsonColumns = new Set(checks.map((c) => `${String(c.tbl)}\u0000${String(c.clause).replace(/^json_valid\(`?(.*?)`?\)$/, '$1').replace(/``/g, '`')}`));
  for (const c of columns) {
    const name = String(c.tbl);
    const type = String(c.type) === 'longtext' && jsonColumns.has(`${name}\u0000${String(c.col)}`) ? 'json' : String(c.type);
    let table = out.get(name);
    if (!table) out.set(name, (table = { name, columns: [], primaryKey: [] }));
    table.columns.push({ name: String(c.col), nativeType: type, nullable: Number(c.nullable) === 1, hasDefault: Number(c.has_default) === 1 });
  }
  const [keys] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, column_name AS col FROM information_schema.key_column_usage
      WHERE table_schema = DATABASE() AND constraint_name = 'PRIMARY' AND table_name IN (?)
      ORDER BY table_name, ordinal_position`,
    [names],
  );
  for (const k of keys) out.get(String(k.tbl))?.primaryKey.push(String(k.col));
  return out;
}
