import pg from 'pg';
import type { Row } from '../../model/change.js';
import type { ColumnSchema } from '../../model/schema.js';
import type { VerifyReaderOptions } from '../engine.js';
import type { CanonicalColumnSql, ColumnForm, HashPart } from '../shared/verify-sql.js';
import { SqlVerifyReader, type TablePlan, type TextRow } from '../shared/verify-reader-base.js';
import { pgCanonicalColumn, pgRowHash, pgSummaryColumns, type PgCanonicalContext } from './canonical-sql.js';
import { connectPostgres } from './connect.js';
import { describePgTables } from './introspect.js';
import { decodePgText, textTypes } from './values.js';
import { currentLsn } from './lsn.js';
import { oneQueryAtATime } from '../shared/one-query-at-a-time.js';

/** VerifyReader for PostgreSQL: one autocommit session with Tandem's settings (UTC, shortest float text). */
export class PgVerifyReader extends SqlVerifyReader {
  readonly engine = 'postgres' as const;

  private constructor(
    private readonly client: pg.Client,
    private readonly ctx: PgCanonicalContext,
    opts: VerifyReaderOptions,
  ) {
    super(opts, 'postgres');
  }

  static async open(url: string, opts: VerifyReaderOptions): Promise<PgVerifyReader> {
    const client = oneQueryAtATime(await connectPostgres(url, 'verify'));
    try {
      const r = await client.query<{ server_encoding: string }>('SHOW server_encoding');
      const utf8 = r.rows[0]?.server_encoding === 'UTF8';
      return new PgVerifyReader(client, { jsonInHash: opts.peer === 'postgres', utf8 }, opts);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  protected async describe(table: string): Promise<Map<string, ColumnSchema>> {
    const info = (await describePgTables(this.client, [table])).get(table);
    return new Map((info?.columns ?? []).map((c) => [c.name, c]));
  }

  protected canonical(col: ColumnSchema, form: ColumnForm): CanonicalColumnSql {
    return pgCanonicalColumn(col, form, this.ctx);
  }

  protected quote(name: string): string {
    return pg.escapeIdentifier(name);
  }

  protected readonly fence = 'OFFSET 0';

  /**
   * Both sides PostgreSQL with UTF-8 text: hashtextextended of the row's text, in the C collation (bytes, whatever
   * the database's collation; a nondeterministic one would hash equal-comparing texts alike). An unlike encoding
   * could give two different texts the same bytes, so the fast hash names the encoding and another leaves it out.
   */
  get fastHash(): string | undefined {
    return this.opts.peer === 'postgres' && this.ctx.utf8 ? 'postgres:hashtextextended:utf8' : undefined;
  }

  protected fastSql() {
    if (!this.fastHash) return undefined;
    return {
      rowHash: (values: string[]) => `hashtextextended((ROW(${values.join(', ')})::text) COLLATE "C", 0)`,
      summaryColumns: (h: string) => ['count(*)::text', `coalesce(sum(${h}), 0)::text`],
    };
  }

  protected placeholder(position: number): string {
    return `$${position}`;
  }

  protected rowHash(parts: HashPart[]): string {
    return pgRowHash(parts, this.ctx);
  }

  protected summaryColumns(hash: string): string[] {
    return pgSummaryColumns(hash);
  }

  protected async queryText(sql: string, params: string[]): Promise<TextRow[]> {
    const r = await this.client.query<TextRow>({ text: sql, values: params, rowMode: 'array', types: textTypes });
    return r.rows;
  }

  protected async readNeutral(plan: TablePlan, where: string, params: string[]): Promise<Row[]> {
    const names = plan.table.columns;
    const r = await this.client.query<TextRow>({
      text: `SELECT ${names.map((c) => pg.escapeIdentifier(c)).join(', ')} FROM ${plan.from} ${where}`,
      values: params,
      rowMode: 'array',
      types: textTypes,
    });
    return r.rows.map((values) => {
      const row: Row = {};
      names.forEach((name, i) => (row[name] = decodePgText(r.fields[i]?.dataTypeID ?? 0, values[i] ?? null)));
      return row;
    });
  }

  currentPosition(): Promise<string> {
    return currentLsn(this.client);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
