import type pg from 'pg';
import type { CheckContext, Database, SideName } from '../engine.js';
import type { TableSchema } from '../../model/schema.js';
import { connectPostgres } from './connect.js';
import { describePgTables, listPgTables } from './introspect.js';
import { checkPgApply, checkPgCapture } from './checks.js';

export class PostgresDatabase implements Database {
  readonly engine = 'postgres' as const;

  private constructor(
    readonly side: SideName,
    readonly client: pg.Client,
  ) {}

  static async open(side: SideName, url: string): Promise<PostgresDatabase> {
    return new PostgresDatabase(side, await connectPostgres(url, `${side} side`));
  }

  listTables(): Promise<string[]> {
    return listPgTables(this.client);
  }

  async describeTables(names: string[]): Promise<Map<string, TableSchema>> {
    return describePgTables(this.client, names);
  }

  async checkCapture(ctx: CheckContext) {
    return checkPgCapture(this.client, ctx, await describePgTables(this.client, ctx.tables));
  }

  async checkApply(ctx: CheckContext) {
    return checkPgApply(this.client, ctx, await describePgTables(this.client, ctx.tables));
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
