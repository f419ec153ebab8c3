/**
 * The engine-neutral half of the verification SQL: key-range and key-list predicates over columns whose canonical
 * text, verification order and parameter conversion each engine supplies (src/engines/<engine>/canonical-sql.ts).
 */
import type { CanonicalKey, KeyRange } from './engine.js';

/** One column as one engine's SQL sees it during verification. */
export interface CanonicalColumnSql {
  name: string;
  /** JSON on this side: left out of row hashes across engines, compared through canonicalJson instead. */
  json: boolean;
  /** Canonical text (DESIGN.md "Canonical values"); SQL NULL for NULL. */
  text: string;
  /** The column's own text, for JSON compared in TypeScript. */
  raw: string;
  /** Orders key values in verification order: by value or by bytes, never by a collation. */
  order: string;
  /** A bound canonical-text parameter converted into something `order` compares with. */
  param(placeholder: string): string;
}

/** One value of the row hash: its canonical-text expression, and whether it goes in plain (VerifyTable.plain). */
export interface HashPart {
  text: string;
  plain: boolean;
}

/** Collects bound parameters; `add` returns the placeholder to put in the SQL text. */
export class SqlParams {
  readonly values: string[] = [];
  constructor(private readonly placeholder: (position: number) => string) {}

  add(value: string): string {
    this.values.push(value);
    return this.placeholder(this.values.length);
  }
}

function row(exprs: string[]): string {
  return `(${exprs.join(', ')})`;
}

function paramsRow(keys: CanonicalColumnSql[], key: CanonicalKey, params: SqlParams): string {
  if (key.length !== keys.length) throw new Error(`a key of ${keys.length} column(s) was expected, got ${JSON.stringify(key)}`);
  return row(keys.map((k, i) => k.param(params.add(key[i] as string))));
}

/** `after < k <= upTo` as row comparisons in verification order; empty when the range is unbounded. */
export function rangeConditions(keys: CanonicalColumnSql[], range: KeyRange, params: SqlParams): string[] {
  const order = row(keys.map((k) => k.order));
  const out: string[] = [];
  if (range.after) out.push(`${order} > ${paramsRow(keys, range.after, params)}`);
  if (range.upTo) out.push(`${order} <= ${paramsRow(keys, range.upTo, params)}`);
  return out;
}

/** The rows whose key is one of `list` (not empty). */
export function keyListCondition(keys: CanonicalColumnSql[], list: CanonicalKey[], params: SqlParams): string {
  return `${row(keys.map((k) => k.order))} IN (${list.map((key) => paramsRow(keys, key, params)).join(', ')})`;
}

export function whereClause(conditions: string[]): string {
  return conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
}

/** Keys per query when reading rows by key: bounded statements, well under PostgreSQL's 65535 parameters. */
export const KEY_BATCH = 500;

export function batches<T>(items: T[], size = KEY_BATCH): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** One string per key, for maps and sets, and the map key of VerifyReader.canonicalRows results (JSON of the canonical texts: unambiguous for any text). */
export const keyId = (key: CanonicalKey): string => JSON.stringify(key);

/**
 * A chunk's hash is the sum of the first 60 bits of each row's md5, as decimal text: exact in both engines (numeric
 * and DECIMAL sums), additive over ranges (bisection subtracts), independent of row order. One slice, because each
 * further slice names the row hash again and MariaDB (which merges derived tables) then computes the md5 again:
 * a second slice made a pass about twice as slow on both engines. A random difference escapes a chunk's sum with
 * probability 2^-60; the count is compared too.
 */
export const HASH_SLICE_HEX_DIGITS = 15;
