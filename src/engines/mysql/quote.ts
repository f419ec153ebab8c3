import { mysqlDriver } from './driver.js';

/** Quote an identifier by MySQL's rules (backticks, embedded backticks doubled). */
export function quoteMysqlIdent(name: string): string {
  return mysqlDriver().escapeId(name, true);
}

/** An account as CURRENT_USER() returns it ('user@host') in GRANT form: 'user'@'host'. */
export function quoteMysqlAccount(user: string): string {
  const at = user.lastIndexOf('@');
  return `'${user.slice(0, at).replace(/'/g, "''")}'@'${user.slice(at + 1).replace(/'/g, "''")}'`;
}
