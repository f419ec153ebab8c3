import type mysql from 'mysql2/promise';
import type { CheckContext, Database, ValueCheckContext } from '../engine.js';
import type { SideName } from '../../model/direction.js';
import type { TableSchema } from '../../model/schema.js';
import { connectMysql } from './connect.js';
import { describeMysqlTables, listMysqlTables } from './introspect.js';
import { checkMysqlApply, checkMysqlBooleans, checkMysqlCapture, checkMysqlEnumLabels, checkMysqlFence, checkMysqlZeroDates } from './checks.js';

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

  /** Applying while this side is the shadow, and fencing it: the shadow is always fenced. */
  async checkApply(ctx: CheckContext) {
    return [...(await checkMysqlApply(this.conn, ctx, await describeMysqlTables(this.conn, ctx.tables))), ...(await checkMysqlFence(this.conn, ctx))];
  }

  async checkValues(ctx: ValueCheckContext) {
    const tables = await describeMysqlTables(this.conn, ctx.tables);
    return [...(await checkMysqlZeroDates(this.conn, ctx, tables)), ...(await checkMysqlBooleans(this.conn, ctx, tables)), ...(await checkMysqlEnumLabels(this.conn, ctx, tables))];
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
