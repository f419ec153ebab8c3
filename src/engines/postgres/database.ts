import type pg from 'pg';
import type { CheckContext, Database } from '../engine.js';
import type { SideName } from '../../model/direction.js';
import type { TableSchema } from '../../model/schema.js';
import { connectPostgres } from './connect.js';
import { describePgTables, listPgTables } from './introspect.js';
import { checkPgApply, checkPgCapture, checkPgFence } from './checks.js';

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

  /** Applying while this side is the shadow, and fencing it: the shadow is always fenced. */
  async checkApply(ctx: CheckContext) {
    const tables = await describePgTables(this.client, ctx.tables);
    return [...(await checkPgApply(this.client, ctx, tables)), ...(await checkPgFence(this.client, ctx, tables))];
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
