import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { Row } from '../../model/change.js';
import type { ColumnSchema, TableSchema } from '../../model/schema.js';
import { mysqlNativeTypes } from './native-types.js';
import type { VerifyReaderOptions } from '../engine.js';
import type { CanonicalColumnSql, ColumnForm, HashPart } from '../shared/verify-sql.js';
import { CROSS_ENGINE_FAST_HASH, SqlVerifyReader, type FastSql, type TablePlan, type TextRow } from '../shared/verify-reader-base.js';
import { toNeutral, type ValuePolicy } from './binlog-values.js';
import { mysqlCanonicalColumn, mysqlRowHash, mysqlRowText, mysqlSummaryColumns, type MysqlCanonicalContext } from './canonical-sql.js';
import { connectMysql } from './connect.js';
import { describeMysqlTables, listMysqlTables } from './introspect.js';
import { quoteMysqlIdent as q } from './quote.js';
import { masterPosition } from './reader.js';
import { oneQueryAtATime } from '../shared/one-query-at-a-time.js';

/** VerifyReader for MySQL/MariaDB: one autocommit session with Tandem's settings (UTC, utf8mb4, exact numbers). */
export class MysqlVerifyReader extends SqlVerifyReader {
  readonly engine = 'mysql' as const;
  /** How readRows converts values: the same policy replication applies to this pair (H13). */
  private readonly policy: ValuePolicy;

  private constructor(
    private readonly conn: mysql.Connection,
    private readonly ctx: MysqlCanonicalContext,
    opts: VerifyReaderOptions,
    readonly fastBytesLimit: number,
  ) {
    super(opts, 'mysql');
    this.policy = { zeroDates: opts.zeroDates };
  }

  static async open(url: string, opts: VerifyReaderOptions): Promise<MysqlVerifyReader> {
    // JSON as text (MySQL's binary JSON), as the backfill reader reads it.
    const conn = oneQueryAtATime(await connectMysql(url, 'verify', { jsonStrings: true } as Partial<mysql.ConnectionOptions>));
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v, @@max_allowed_packet AS packet');
      const mariadb = /mariadb/i.test(String(rows[0]?.v ?? ''));
      // GROUP_CONCAT stops at the smaller of group_concat_max_len and max_allowed_packet (which a session cannot
      // raise): the fast summary's chunks are kept under the packet size.
      await conn.query('SET SESSION group_concat_max_len = @@max_allowed_packet');
      return new MysqlVerifyReader(conn, { jsonInHash: opts.peer === 'mysql', mariadb, zeroDates: opts.zeroDates }, opts, Number(rows[0]?.packet ?? 0));
    } catch (err) {
      await conn.end().catch(() => undefined);
      throw err;
    }
  }

  listTables(): Promise<string[]> {
    return listMysqlTables(this.conn);
  }

  protected readSchemas(names: string[]): Promise<Map<string, TableSchema>> {
    return describeMysqlTables(this.conn, names);
  }

  protected canonical(col: ColumnSchema, form: ColumnForm): CanonicalColumnSql {
    return mysqlCanonicalColumn(col, form, this.ctx);
  }

  protected quote(name: string): string {
    return q(name);
  }

  protected readonly fence = '';

  /**
   * Against PostgreSQL: CROSS_ENGINE_FAST_HASH (the connection is utf8mb4). None against MySQL/MariaDB: it has no
   * cheap 64-bit hash of a row (CRC32 is too narrow to stand for a chunk), and two servers with the same
   * max_allowed_packet would cut an oversized GROUP_CONCAT at the same byte, hiding what follows.
   */
  get fastHash(): string | undefined {
    return this.opts.peer === 'postgres' ? CROSS_ENGINE_FAST_HASH : undefined;
  }

  /**
   * InnoDB stores a table in its primary key's order, so a pass along the key already reads it as stored; and the
   * cross-engine fast summary is not a sum.
   */
  readonly physical = undefined;

  protected fastSql(): FastSql | undefined {
    if (!this.fastHash) return undefined;
    // GROUP_CONCAT's own ORDER BY sorts every chunk (a third more time in a pass); a derived table's ORDER BY is
    // dropped by the optimizer. Where the verification order is the primary key's own (integers, decimals, dates
    // and times), the key range is read along the primary key, in that order. Should a server read it otherwise,
    // the two md5s differ and the chunk is summarized canonically: slower, never wrong.
    return {
      kind: 'concat',
      summary: (rowText, from, order, indexOrder) =>
        `SELECT CAST(COUNT(*) AS CHAR), MD5(GROUP_CONCAT(${rowText} ${indexOrder ? '' : `ORDER BY ${order.join(', ')}`} SEPARATOR '')), NULL FROM ${from}`,
      rowDigest: (rowText) => `MD5(${rowText})`,
    };
  }

  protected placeholder(): string {
    return '?';
  }

  protected rowHash(parts: HashPart[]): string {
    return mysqlRowHash(parts);
  }

  protected rowText(parts: HashPart[]): string {
    return mysqlRowText(parts);
  }

  protected summaryColumns(hash: string): string[] {
    return mysqlSummaryColumns(hash);
  }

  protected async queryText(sql: string, params: string[]): Promise<TextRow[]> {
    const [rows] = await this.conn.query<RowDataPacket[]>({ sql, values: params, rowsAsArray: true });
    return (rows as unknown as unknown[][]).map((r) => r.map((v) => (v === null || v === undefined ? null : Buffer.isBuffer(v) ? v.toString('utf8') : String(v))));
  }

  protected async readNeutral(plan: TablePlan, where: string, params: string[]): Promise<Row[]> {
    const names = plan.table.columns;
    // FLOAT read widened to DOUBLE, exactly as backfill reads it (src/engines/mysql/reader.ts), so toNeutral
    // turns it into the same shortest float32 text.
    const list = names.map((name) => {
      const type = mysqlNativeTypes.parse(plan.schema.get(name)?.nativeType ?? '');
      const isFloat = type.ok && type.type.kind === 'float' && type.type.bits === 32;
      return isFloat ? `CAST(${q(name)} AS DOUBLE) AS ${q(name)}` : q(name);
    });
    const [rows] = await this.conn.query<RowDataPacket[]>({ sql: `SELECT ${list.join(', ')} FROM ${plan.from} ${where}`, values: params, rowsAsArray: true });
    return (rows as unknown as unknown[][]).map((values) => {
      const row: Row = {};
      names.forEach((name, i) => {
        const columnType = plan.schema.get(name)?.nativeType ?? '';
        row[name] = toNeutral(plan.table.name, { name, columnType }, values[i], this.policy);
      });
      return row;
    });
  }

  currentPosition(): Promise<string> {
    return masterPosition(this.conn);
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
