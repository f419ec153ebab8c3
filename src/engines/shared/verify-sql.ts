/**
 * The engine-neutral half of the verification SQL: key-range and key-list predicates over columns whose canonical
 * text, verification order and parameter conversion each engine supplies (src/engines/<engine>/canonical-sql.ts).
 */
import type { CanonicalKey, KeyRange } from '../engine.js';

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
  /** What canonicalRows reads: the canonical text (JSON: its own text), or `#` and the digest of a long value. */
  compared: string;
  /**
   * What a cross-engine fast summary hashes (VerifyReader.fastSummary): the canonical text in a cheaper spelling
   * where the engine has one, or a form both engines compute alike that stands for it (VerifyTable.timestampMicros,
   * sameScale). Never contains `|` where the canonical text does not, so the row encoding stays unambiguous.
   */
  fast: string;
  /** VerifyTable.digest columns: how the row hash takes a value that may be long. */
  long?: LongValueSql;
}

/**
 * A VerifyTable.digest column in the row hash. The subquery that computes the hashed texts selects `select` (the
 * column, or a text that costs nothing to build), and the row hash derives both forms from that selection: so the
 * subquery's projection, and with it PostgreSQL's plan for a chunk, stays what it is for a short text, and the
 * canonical text of a long value is never built.
 */
export interface LongValueSql {
  select: string;
  /** The canonical text, from the selection. */
  text(selected: string): string;
  /** From the selection: md5 (lowercase hex) of the bytes of a value longer than LONG_VALUE_LENGTH; otherwise NULL. */
  digest(selected: string): string;
}

/** How the spec has one column compared (VerifyTable: singlePrecision, asInteger, digest). */
export interface ColumnForm {
  /** A float compared at float32 precision. */
  single: boolean;
  /** A boolean stored as an integer (NativeType.integer), compared as that integer. */
  asInteger: boolean;
  /** Long values hashed by digest. */
  digest: boolean;
  /** VerifyTable.timestampMicros: a cross-engine fast summary takes the timestamp as microseconds since 2000-01-01. */
  micros?: boolean;
  /** VerifyTable.sameScale: a cross-engine fast summary takes the decimal's own text. */
  sameScale?: boolean;
}

/** A column compared as its type says. */
export const DEFAULT_FORM: ColumnForm = { single: false, asInteger: false, digest: false };

/**
 * Longest value compared by its canonical text in a VerifyTable.digest column: characters of text, bytes of binary
 * (whose hex text is twice that). Small enough that a row of such texts stays far below MySQL's max_allowed_packet
 * (a result beyond it is NULL); longer values are hashed by the md5 of their bytes, which no database has to build
 * a text for.
 */
export const LONG_VALUE_LENGTH = 1024;

/**
 * One value of the row hash: its canonical-text expression, whether it goes in plain (VerifyTable.plain), and for
 * a digest column the digest expression, which goes in as `#<md5>` when it is not NULL, in place of the text: no
 * canonical-text part starts with `#` (plain parts are text-free types; the others start with their length or `N`).
 */
export interface HashPart {
  text: string;
  plain: boolean;
  digest?: string;
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
