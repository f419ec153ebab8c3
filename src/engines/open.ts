import { TandemError } from '../errors.js';
import { redactUrl } from '../config/redact.js';
import type { EngineKind } from '../model/schema.js';
import type { Database, SideName } from './engine.js';
import { PostgresDatabase } from './postgres/database.js';
import { MysqlDatabase } from './mysql/database.js';

export function engineOf(url: string): EngineKind {
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres';
  if (/^(mysql|mariadb):\/\//.test(url)) return 'mysql';
  throw new TandemError('TANDEM_UNSUPPORTED_URL', `unsupported database URL ${redactUrl(url)}`, {
    fix: 'use postgres://user@host:5432/db or mysql://user@host:3306/db (mysql:// covers MariaDB)',
  });
}

export function openDatabase(side: SideName, url: string): Promise<Database> {
  return engineOf(url) === 'postgres' ? PostgresDatabase.open(side, url) : MysqlDatabase.open(side, url);
}
