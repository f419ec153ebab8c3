/**
 * What the PostgreSQL and MySQL verify readers share: the statements of VerifyReader, written once over the SQL
 * pieces each engine supplies (canonical text, verification order, parameters, row hash, summary sums).
 */
import { TandemError } from '../../errors.js';
import { canonicalJson } from '../../model/canonical.js';
import type { Row } from '../../model/change.js';
import type { ColumnSchema, EngineKind, TableSchema } from '../../model/schema.js';
import type { CanonicalKey, CanonicalRow, ChunkSummary, KeyRange, PhysicalScan, RowHash, VerifyReader, VerifyReaderOptions, VerifyTable } from '../engine.js';
import { batches, DEFAULT_FORM, keyId, keyListCondition, rangeConditions, SqlParams, whereClause, type CanonicalColumnSql, type ColumnForm, type HashPart } from './verify-sql.js';

/** A result row as text, column by column (SQL NULL as null). */
export type TextRow = (string | null)[];

/**
 * How a reader computes its fast summary (VerifyReader.fastSummary). `row`: a hash of each row's values (each
 * column as it is when sameType, else as its compared text), summed. `concat`: the rows' hash inputs built from
 * CanonicalColumnSql.fast, concatenated in verification order and hashed once; `summary` is the statement over the
 * derived table `from` (columns c0…, order columns o0…) that yields count, md5 and, where known, the bytes hashed.
 */
/** VerifyReader.fastHash of the `concat` fast summary between PostgreSQL and MySQL/MariaDB (UTF-8 on both). */
export const CROSS_ENGINE_FAST_HASH = 'concat-md5:utf8';

export type FastSql =
  | { kind: 'row'; rowHash(values: string[]): string; summaryColumns(h: string): string[] }
  | { kind: 'concat'; summary(rowText: string, from: string, order: string[], indexOrder: boolean): string; rowDigest(rowText: string): string };

/** The columns of one VerifyTable as this side's SQL sees them. */
export interface TablePlan {
  table: VerifyTable;
  from: string;
  key: CanonicalColumnSql[];
  columns: CanonicalColumnSql[];
  /** What the row hash covers: every column, less JSON when the peer is another engine. */
  hashed: CanonicalColumnSql[];
  schema: Map<string, ColumnSchema>;
}

/** Canonical JSON of a column's text; text that is not JSON is kept as it is (it cannot equal canonical JSON of anything else). */
function jsonValue(raw: string | null): string | null {
  if (raw === null) return null;
  try {
    return canonicalJson(raw);
  } catch {
    return raw;
  }
}

/** A table's columns by name; empty when the table does not exist. */
const columnsOf = (schema: TableSchema | undefined): Map<string, ColumnSchema> => new Map((schema?.columns ?? []).map((c) => [c.name, c]));

export abstract class SqlVerifyReader implements VerifyReader {
  abstract readonly engine: EngineKind;
  readonly jsonInHash: boolean;
  abstract readonly fastHash: string | undefined;
  abstract readonly physical: PhysicalScan | undefined;
  private readonly schemas = new Map<string, Promise<Map<string, ColumnSchema>>>();

  protected constructor(protected readonly opts: VerifyReaderOptions, engine: EngineKind) {
    this.jsonInHash = opts.peer === engine;
  }

  abstract listTables(): Promise<string[]>;
  /** The schemas of the named tables that exist on this side, read on this reader's session. */
  protected abstract readSchemas(names: string[]): Promise<Map<string, TableSchema>>;
  /** The column's SQL in the form the spec asks for (VerifyTable: singlePrecision, asInteger, digest). */
  protected abstract canonical(col: ColumnSchema, form: ColumnForm): CanonicalColumnSql;
  protected abstract quote(name: string): string;
  protected abstract placeholder(position: number): string;
  protected abstract rowHash(parts: HashPart[]): string;
  /** The row's hash input, which rowHash hashes. */
  protected abstract rowText(parts: HashPart[]): string;
  /** Row count and the hash sum (see HASH_SLICE_HEX_DIGITS) of the row hashes `hash`, as text. */
  protected abstract summaryColumns(hash: string): string[];
  /** How this reader computes its fast summary; undefined when `fastHash` is. */
  protected abstract fastSql(): FastSql | undefined;
  protected abstract queryText(sql: string, params: string[]): Promise<TextRow[]>;
  /**
   * Ends the subquery that computes canonical texts, so that each is computed once per row although the row hash
   * names it twice (length and text). PostgreSQL would otherwise inline the subquery (`OFFSET 0` prevents it).
   */
  protected abstract readonly fence: string;
  /** The rows matching `where` as backfill reads them (neutral values). */
  protected abstract readNeutral(plan: TablePlan, where: string, params: string[]): Promise<Row[]>;
  abstract currentPosition(): Promise<string>;
  abstract close(): Promise<void>;

  describeTables(names: string[]): Promise<Map<string, TableSchema>> {
    const reading = this.readSchemas(names);
    // Kept as promises: a pass asks for several plans of a table at once, and they share this one read.
    for (const name of names) {
      const columns = reading.then((found) => columnsOf(found.get(name)));
      // A failed read is the caller's to see; here it only means the next plan reads again.
      columns.catch(() => undefined);
      this.schemas.set(name, columns);
    }
    return reading;
  }

  protected async plan(table: VerifyTable): Promise<TablePlan> {
    const known = this.schemas.get(table.name);
    let schema = known ? await known.catch(() => undefined) : undefined;
    // Read again when a column is not known: the table may have changed since (DDL during verification).
    if (!schema || [...table.columns, ...table.key].some((c) => !schema?.has(c))) schema = columnsOf((await this.describeTables([table.name])).get(table.name));
    const found = schema;
    const column = (name: string, form: ColumnForm): CanonicalColumnSql => {
      const col = found.get(name);
      if (!col) {
        throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `column ${name} of table ${table.name} does not exist on the ${this.engine} side`, {
          fix: 'check that the table has the same columns on both sides (tandem check), then verify again',
        });
      }
      return this.canonical(col, form);
    };
    const has = (list: string[] | undefined, name: string) => list?.includes(name) ?? false;
    const columns = table.columns.map((name) =>
      column(name, {
        single: has(table.singlePrecision, name),
        asInteger: has(table.asInteger, name),
        digest: has(table.digest, name) && !table.key.includes(name),
        micros: has(table.timestampMicros, name),
        sameScale: has(table.sameScale, name),
      }),
    );
    // Keys are compared, ordered and bound by their canonical text: never a digest.
    const key = table.key.map((name) => column(name, { ...DEFAULT_FORM, single: has(table.singlePrecision, name), asInteger: has(table.asInteger, name) }));
    const hashed = columns.filter((c) => this.jsonInHash || !c.json);
    return { table, from: this.quote(table.name), key, columns, hashed, schema: found };
  }

  protected params(): SqlParams {
    return new SqlParams((n) => this.placeholder(n));
  }

  /**
   * Key texts (k0…), then `extra`, then order expressions (o0…), all under generated names, sorted by the o's. A bare
   * column name in ORDER BY would otherwise mean an output column of that name: `"id"::text` is output `id`, and
   * PostgreSQL would sort by the text.
   */
  private orderedSelect(plan: TablePlan, extra: string[], rest: string): string {
    const select = [...plan.key.map((k, i) => `${k.text} AS k${i}`), ...extra.map((x, i) => `${x} AS x${i}`), ...plan.key.map((k, i) => `${k.order} AS o${i}`)];
    return `SELECT ${select.join(', ')} FROM ${plan.from} ${rest} ORDER BY ${plan.key.map((_, i) => `o${i}`).join(', ')}`;
  }

  private keyOf(row: TextRow, plan: TablePlan): CanonicalKey {
    return plan.key.map((_, i) => row[i] ?? '');
  }

  async jsonColumns(table: VerifyTable): Promise<string[]> {
    const plan = await this.plan(table);
    return plan.columns.filter((c) => c.json).map((c) => c.name);
  }

  /**
   * Canonical key texts (k0…), hashed texts (c0…; a digest column's selection; `fast`: the fast summary's texts) and
   * order expressions (o0…) of the rows in `range`.
   */
  private texts(plan: TablePlan, range: KeyRange, params: SqlParams, fast = false): string {
    // In verification order for a fast summary: PostgreSQL then walks the key's index rather than sorting above it.
    const order = fast ? `ORDER BY ${plan.key.map((_, i) => `o${i}`).join(', ')}` : '';
    return this.textsWhere(plan, whereClause(rangeConditions(plan.key, range, params)), fast, order);
  }

  private textsWhere(plan: TablePlan, where: string, fast: boolean, order = ''): string {
    const select = [
      ...plan.key.map((k, i) => `${k.text} AS k${i}`),
      ...plan.hashed.map((c, i) => `${c.long?.select ?? (fast ? c.fast : c.text)} AS c${i}`),
      ...plan.key.map((k, i) => `${k.order} AS o${i}`),
    ];
    return `(SELECT ${select.join(', ')} FROM ${plan.from} ${where} ${order} ${this.fence}) s`;
  }

  private hashParts(plan: TablePlan): HashPart[] {
    return plan.hashed.map((c, i): HashPart => {
      const plain = plan.table.plain?.includes(c.name) ?? false;
      return c.long ? { text: c.long.text(`c${i}`), plain, digest: c.long.digest(`c${i}`) } : { text: `c${i}`, plain };
    });
  }

  private hashOf(plan: TablePlan): string {
    return this.rowHash(this.hashParts(plan));
  }

  async summarize(table: VerifyTable, range: KeyRange): Promise<ChunkSummary> {
    const plan = await this.plan(table);
    const params = this.params();
    const rows = await this.queryText(`SELECT ${this.summaryColumns('h').join(', ')} FROM (SELECT ${this.hashOf(plan)} AS h FROM ${this.texts(plan, range, params)}) h`, params.values);
    const [count, sum] = rows[0] ?? [];
    return { rows: Number(count ?? 0), hash: sum ?? '0' };
  }

  async fastSummary(table: VerifyTable, range: KeyRange): Promise<ChunkSummary> {
    const fast = this.fastSql();
    if (!fast) throw new Error(`the ${this.engine} verify reader has no fast summary for a ${this.opts.peer} peer`);
    if (fast.kind === 'row') return this.fastSumWhere(table, fast, (params, plan) => whereClause(rangeConditions(plan.key, range, params)));
    const plan = await this.plan(table);
    const params = this.params();
    // A digest column's long values go in as their digest, as in the row hash: a row's text stays bounded.
    const order = plan.key.map((_, i) => `o${i}`);
    const indexOrder = plan.key.every((k) => k.order === this.quote(k.name));
    const sql = fast.summary(this.rowText(this.hashParts(plan)), this.texts(plan, range, params, true), order, indexOrder);
    const [count, hash, bytes] = (await this.queryText(sql, params.values))[0] ?? [];
    return { rows: Number(count ?? 0), hash: hash ?? '', ...(bytes === null || bytes === undefined ? {} : { bytes: Number(bytes) }) };
  }

  /** The `row` fast summary (a sum of row hashes) of the rows `where` selects: fastSummary's, and PhysicalScan.sums'. */
  protected async fastSumWhere(
    table: VerifyTable,
    fast: Extract<FastSql, { kind: 'row' }>,
    where: (params: SqlParams, plan: TablePlan) => string,
    also?: (params: SqlParams, plan: TablePlan) => string,
  ): Promise<ChunkSummary & { also?: string }> {
    const plan = await this.plan(table);
    const params = this.params();
    const columns = fast.summaryColumns(fast.rowHash(this.fastValues(plan)));
    // Bound before the WHERE clause's parameters: the statement names them in this order.
    const extra = also ? [also(params, plan)] : [];
    const sql = `SELECT ${[...columns, ...extra].join(', ')} FROM ${plan.from} ${where(params, plan)}`;
    const [count, sum, more] = (await this.queryText(sql, params.values))[0] ?? [];
    return { rows: Number(count ?? 0), hash: sum ?? '0', ...(more === null || more === undefined ? {} : { also: more }) };
  }

  /**
   * What the `row` fast hash covers: a column of the same type on both sides as it is (its type's text tells its
   * values apart); any other as the text canonicalRows compares (JSON in this engine's normal form), so that equal
   * there is equal here.
   */
  private fastValues(plan: TablePlan): string[] {
    const same = new Set(plan.table.sameType ?? []);
    return plan.columns.map((c) => (same.has(c.name) ? this.sameTypeValue(this.quote(c.name), plan.schema.get(c.name)) : c.json ? c.text : c.compared));
  }

  /**
   * A column of the same declared type on both sides, as the `row` fast hash takes it: the column itself (its type's
   * text), or any other form that tells every two values of the type apart and that both sides compute alike.
   */
  protected sameTypeValue(quoted: string, _col: ColumnSchema | undefined): string {
    return quoted;
  }

  async rowFastHashes(table: VerifyTable, keys: CanonicalKey[]): Promise<Map<string, string> | undefined> {
    const fast = this.fastSql();
    if (!fast) return undefined;
    const plan = await this.plan(table);
    // Across engines JSON is not in the hashed texts (compared through jsonRows in a pass): a hash would miss it.
    if (fast.kind === 'concat' && plan.hashed.length !== plan.columns.length) return undefined;
    const out = new Map<string, string>();
    for (const batch of batches(keys)) {
      const params = this.params();
      const where = whereClause([keyListCondition(plan.key, batch, params)]);
      const sql =
        fast.kind === 'row'
          ? `SELECT ${[...plan.key.map((k) => k.text), fast.rowHash(this.fastValues(plan))].join(', ')} FROM ${plan.from} ${where}`
          : `SELECT ${[...plan.key.map((_, i) => `k${i}`), fast.rowDigest(this.rowText(this.hashParts(plan)))].join(', ')} FROM ${this.textsWhere(plan, where, true)}`;
      for (const r of await this.queryText(sql, params.values)) out.set(keyId(this.keyOf(r, plan)), r[plan.key.length] ?? '');
    }
    return out;
  }

  async keyAfter(table: VerifyTable, after: CanonicalKey | undefined, n: number): Promise<CanonicalKey | undefined> {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`keyAfter: n must be a positive integer, got ${n}`);
    const plan = await this.plan(table);
    const params = this.params();
    const where = whereClause(rangeConditions(plan.key, { after }, params));
    const sql = `${this.orderedSelect(plan, [], where)} LIMIT 1 OFFSET ${n - 1}`;
    const rows = await this.queryText(sql, params.values);
    return rows[0] ? this.keyOf(rows[0], plan) : undefined;
  }

  async rowHashes(table: VerifyTable, range: KeyRange): Promise<RowHash[]> {
    const plan = await this.plan(table);
    const params = this.params();
    const keys = plan.key.map((_, i) => `k${i}`);
    const order = plan.key.map((_, i) => `o${i}`);
    const rows = await this.queryText(`SELECT ${[...keys, this.hashOf(plan)].join(', ')} FROM ${this.texts(plan, range, params)} ORDER BY ${order.join(', ')}`, params.values);
    return rows.map((r) => ({ key: this.keyOf(r, plan), hash: r[plan.key.length] ?? '' }));
  }

  async jsonRows(table: VerifyTable, columns: string[], range: KeyRange): Promise<CanonicalRow[]> {
    const plan = await this.plan(table);
    const raw = await this.plan({ ...table, columns });
    const params = this.params();
    const where = whereClause(rangeConditions(plan.key, range, params));
    const rows = await this.queryText(this.orderedSelect(plan, raw.columns.map((c) => c.raw), where), params.values);
    return rows.map((r) => ({
      key: this.keyOf(r, plan),
      values: Object.fromEntries(columns.map((c, i) => [c, jsonValue(r[plan.key.length + i] ?? null)])),
    }));
  }

  async canonicalRows(table: VerifyTable, keys: CanonicalKey[]): Promise<Map<string, CanonicalRow>> {
    const plan = await this.plan(table);
    const out = new Map<string, CanonicalRow>();
    // JSON always canonicalised here, so both sides give the same text whatever engine holds it; a long value in a
    // digest column is read as its digest.
    const select = [...plan.key.map((k) => k.text), ...plan.columns.map((c) => c.compared)];
    for (const batch of batches(keys)) {
      const params = this.params();
      const where = whereClause([keyListCondition(plan.key, batch, params)]);
      for (const r of await this.queryText(`SELECT ${select.join(', ')} FROM ${plan.from} ${where}`, params.values)) {
        const key = this.keyOf(r, plan);
        const values: Record<string, string | null> = {};
        plan.columns.forEach((c, i) => {
          const v = r[plan.key.length + i] ?? null;
          values[c.name] = c.json ? jsonValue(v) : v;
        });
        out.set(keyId(key), { key, values });
      }
    }
    return out;
  }

  async readRows(table: VerifyTable, keys: CanonicalKey[]): Promise<Row[]> {
    const plan = await this.plan(table);
    const out: Row[] = [];
    for (const batch of batches(keys)) {
      const params = this.params();
      const where = whereClause([keyListCondition(plan.key, batch, params)]);
      out.push(...(await this.readNeutral(plan, where, params.values)));
    }
    return out;
  }
}
