import type mysql from 'mysql2/promise';
import type { CheckContext, Database, SideName, ValueCheckContext } from '../engine.js';
import type { TableSchema } from '../../model/schema.js';
import { connectMysql } from './connect.js';
import { describeMysqlTables, listMysqlTables } from './introspect.js';
import { checkMysqlApply, checkMysqlCapture, checkMysqlZeroDates } from './checks.js';

export class MysqlDatabase implements Database {
  readonly engine = 'mysql' as const;

  private constructor(
    readonly side: SideName,
    readonly conn: mysql.Connection,
  ) {}

  static async open(side: SideName, url: string): Promise<MysqlDatabase> {
    return new MysqlDatabase(side, await connectMysql(url, `${side} side`));
  }

  listTables(): Promise<string[]> {
    return listMysqlTables(this.conn);
  }

  describeTables(names: string[]): Promise<Map<string, TableSchema>> {
    return describeMysqlTables(this.conn, names);
  }

  async checkCapture(ctx: CheckContext) {
    return checkMysqlCapture(this.conn, ctx, await describeMysqlTables(this.conn, ctx.tables));
  }

  async checkApply(ctx: CheckContext) {
    return checkMysqlApply(this.conn, ctx, await describeMysqlTables(this.conn, ctx.tables));
  }

  async checkValues(ctx: ValueCheckContext) {
    return checkMysqlZeroDates(this.conn, ctx, await describeMysqlTables(this.conn, ctx.tables));
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
