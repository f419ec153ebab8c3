import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { TableSchema, UniqueKeySchema } from '../../model/schema.js';
import { describeCollation, readMysqlServer } from './collations.js';

export async function listMysqlTables(conn: mysql.Connection): Promise<string[]> {
  const [rows] = await conn.query<RowDataPacket[]>(
    // The tandem_ prefix is Tandem's own (checkpoint, state, lease): never application tables to replicate.
    `SELECT table_name AS name FROM information_schema.tables
      WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'tandem\\_%' ORDER BY table_name`,
  );
  return rows.map((r) => String(r.name));
}

export async function describeMysqlTables(conn: mysql.Connection, names: string[]): Promise<Map<string, TableSchema>> {
  const out = new Map<string, TableSchema>();
  if (names.length === 0) return out;
  const [columns] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, column_name AS col, LOWER(column_type) AS type, is_nullable = 'YES' AS nullable,
            (column_default IS NOT NULL OR extra LIKE '%auto_increment%') AS has_default,
            (extra LIKE '%GENERATED%' OR extra IN ('VIRTUAL', 'PERSISTENT', 'STORED')) AS is_generated,
            collation_name AS coll, character_set_name AS charset
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
  // Whether a collation pads, and which exact one the server offers instead, are the server's to say.
  const server = columns.some((c) => c.coll !== null && c.coll !== undefined) ? await readMysqlServer(conn) : undefined;
  for (const c of columns) {
    const name = String(c.tbl);
    const type = String(c.type) === 'longtext' && jsonColumns.has(`${name}\u0000${String(c.col)}`) ? 'json' : String(c.type);
    let table = out.get(name);
    if (!table) out.set(name, (table = { name, columns: [], primaryKey: [], uniqueKeys: [] }));
    const collation = c.coll === null || c.coll === undefined || type === 'json' ? undefined : describeCollation(String(c.coll), server, c.charset === null ? undefined : String(c.charset));
    table.columns.push({
      name: String(c.col),
      nativeType: type,
      nullable: Number(c.nullable) === 1,
      hasDefault: Number(c.has_default) === 1,
      ...(Number(c.is_generated) === 1 ? { isGenerated: true } : {}),
      ...(collation ? { collation } : {}),
    });
  }
  const [keys] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, index_name AS idx, column_name AS col FROM information_schema.statistics
      WHERE table_schema = DATABASE() AND non_unique = 0 AND table_name IN (?)
      ORDER BY table_name, index_name = 'PRIMARY' DESC, index_name, seq_in_index`,
    [names],
  );
  const unique = new Map<string, UniqueKeySchema | null>();
  for (const k of keys) {
    const table = out.get(String(k.tbl));
    if (!table) continue;
    if (String(k.idx) === 'PRIMARY') {
      table.primaryKey.push(String(k.col));
      continue;
    }
    const id = `${table.name}\u0000${String(k.idx)}`;
    let index = unique.get(id);
    if (index === undefined) {
      index = { name: String(k.idx), parts: [] };
      unique.set(id, index);
      table.uniqueKeys?.push(index);
    }
    // A functional key part (MySQL 8) has no column: the index is not one of columns, so it is not listed.
    if (k.col === null || k.col === undefined) {
      if (index) table.uniqueKeys = table.uniqueKeys?.filter((u) => u !== index);
      unique.set(id, null);
    } else index?.parts.push({ column: String(k.col) });
  }
  return out;
}
