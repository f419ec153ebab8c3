import pg from 'pg';
import type { Row } from '../../model/change.js';
import type { ColumnSchema, TableSchema } from '../../model/schema.js';
import type { PhysicalScan, VerifyReaderOptions } from '../engine.js';
import type { CanonicalColumnSql, ColumnForm, HashPart } from '../shared/verify-sql.js';
import { CROSS_ENGINE_FAST_HASH, SqlVerifyReader, type FastSql, type TablePlan, type TextRow } from '../shared/verify-reader-base.js';
import { pgCanonicalColumn, pgRowHash, pgRowText, pgSummaryColumns, type PgCanonicalContext } from './canonical-sql.js';
import { connectPostgres } from './connect.js';
import { describePgTables, listPgTables } from './introspect.js';
import { decodePgText, textTypes } from './values.js';
import { currentLsn } from './lsn.js';
import { oneQueryAtATime } from '../shared/one-query-at-a-time.js';

/** The send function of each date and time type whose binary form is its stored value (precision left out). */
const BINARY_TIMES = new Map([
  ['timestamp with time zone', 'timestamptz_send'],
  ['timestamp without time zone', 'timestamp_send'],
  ['date', 'date_send'],
]);

/** A table's writes as its statistics count them; `table` is the placeholder of its quoted name. */
const WRITES_SQL = (table: string) => `SELECT (n_tup_ins + n_tup_upd + n_tup_del)::text FROM pg_stat_user_tables WHERE relid = ${table}::regclass`;

/** VerifyReader for PostgreSQL: one autocommit session with Tandem's settings (UTC, shortest float text). */
export class PgVerifyReader extends SqlVerifyReader {
  readonly engine = 'postgres' as const;

  private constructor(
    private readonly client: pg.Client,
    private readonly ctx: PgCanonicalContext,
    opts: VerifyReaderOptions,
    private readonly serverVersion: number,
  ) {
    super(opts, 'postgres');
  }

  static async open(url: string, opts: VerifyReaderOptions): Promise<PgVerifyReader> {
    const client = oneQueryAtATime(await connectPostgres(url, 'verify'));
    try {
      const r = await client.query<{ encoding: string; version: string }>(`SELECT current_setting('server_encoding') AS encoding, current_setting('server_version_num') AS version`);
      const utf8 = r.rows[0]?.encoding === 'UTF8';
      return new PgVerifyReader(client, { jsonInHash: opts.peer === 'postgres', utf8 }, opts, Number(r.rows[0]?.version ?? 0));
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
  }

  listTables(): Promise<string[]> {
    return listPgTables(this.client);
  }

  protected readSchemas(names: string[]): Promise<Map<string, TableSchema>> {
    return describePgTables(this.client, names);
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
   * Against MySQL/MariaDB (UTF-8 here too): CROSS_ENGINE_FAST_HASH.
   */
  get fastHash(): string | undefined {
    if (!this.ctx.utf8) return undefined;
    if (this.opts.peer === 'postgres') return 'postgres:hashtextextended:utf8:binary-times';
    return CROSS_ENGINE_FAST_HASH;
  }

  /**
   * Dates and timestamps go into the fast hash as their binary form (the stored days or microseconds, as the
   * wire's binary format sends them; bytea's hex in the row's text): formatting a timestamp as text (the time zone,
   * the calendar) was the costliest part of a row's hash (a pass over 1M rows with one timestamptz column: about a
   * fifth less database time). The binary form is the value itself, so two values are equal in it exactly when their
   * texts are, whatever either session's settings.
   */
  protected override sameTypeValue(quoted: string, col: ColumnSchema | undefined): string {
    const send = col && BINARY_TIMES.get(col.nativeType.replace(/\(\d+\)/, ''));
    return send ? `${send}(${quoted})` : quoted;
  }

  /** string_agg's text is limited to 1 GB; a chunk is kept far below that. */
  readonly fastBytesLimit = 256 * 2 ** 20;

  protected fastSql(): FastSql | undefined {
    if (!this.fastHash) return undefined;
    if (this.opts.peer === 'postgres') {
      return {
        kind: 'row',
        rowHash: (values: string[]) => `hashtextextended((ROW(${values.join(', ')})::text) COLLATE "C", 0)`,
        summaryColumns: (h: string) => ['count(*)::text', `coalesce(sum(${h}), 0)::text`],
      };
    }
    // The rows come in the order of the derived table (ordered by key), which string_agg keeps; the two string_agg
    // calls are one aggregate to PostgreSQL.
    return {
      kind: 'concat',
      summary: (rowText, from) => `SELECT count(*)::text, md5(string_agg(r, '')), octet_length(string_agg(r, ''))::text FROM (SELECT ${rowText} AS r FROM ${from}) f`,
      rowDigest: (rowText) => `md5(${rowText})`,
    };
  }

  /**
   * Between two PostgreSQL databases the fast summary is a sum, so each side may be read in its own physical order:
   * block ranges by ctid, which PostgreSQL 14 and later read as a TID range scan (no index, no sort).
   */
  get physical(): PhysicalScan | undefined {
    const fast = this.fastSql();
    if (fast?.kind !== 'row' || this.serverVersion < 140000) return undefined;
    return {
      extent: async (table) => {
        const plan = await this.plan(table);
        const [row] = await this.queryText(
          `SELECT (pg_relation_size(c.oid) / current_setting('block_size')::int)::text, c.reltuples::text FROM pg_class c WHERE c.oid = $1::regclass`,
          [plan.from],
        );
        const rows = Number(row?.[1] ?? NaN);
        // reltuples is -1 for a table never vacuumed or analyzed.
        return { blocks: Number(row?.[0] ?? 0), rows: rows >= 0 ? rows : NaN };
      },
      // The write count is read in the same statement, once the range is read (an uncorrelated subquery in the
      // target list is evaluated when the aggregate's row is formed).
      sums: async (table, blocks) => {
        const tid = (block: number) => `(${block},0)`;
        const { also, ...sum } = await this.fastSumWhere(
          table,
          fast,
          (params) => `WHERE ctid >= ${params.add(tid(blocks.from))}::tid${blocks.to === undefined ? '' : ` AND ctid < ${params.add(tid(blocks.to))}::tid`}`,
          (params, plan) => `(${WRITES_SQL(params.add(plan.from))})`,
        );
        return also === undefined ? sum : { ...sum, writes: also };
      },
      // Counted by the writing sessions, which publish them when idle, at most once a second (and when they end).
      writes: async (table) => {
        const plan = await this.plan(table);
        const [row] = await this.queryText(WRITES_SQL('$1'), [plan.from]);
        return row?.[0] ?? undefined;
      },
    };
  }

  protected placeholder(position: number): string {
    return `$${position}`;
  }

  protected rowHash(parts: HashPart[]): string {
    return pgRowHash(parts, this.ctx);
  }

  protected rowText(parts: HashPart[]): string {
    return pgRowText(parts, this.ctx);
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
