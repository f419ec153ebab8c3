import mysql from 'mysql2/promise';

/** Quote an identifier by MySQL's rules (backticks, embedded backticks doubled). */
export function quoteMysqlIdent(name: string): string {
  return mysql.escapeId(name, true);
}
