/**
 * MySQL/MariaDB SQL for canonical value text (DESIGN.md "Canonical values", src/model/canonical.ts): per column its
 * canonical text, its verification order and the conversion of a canonical-text parameter back to the column's
 * type; per row the hash input. PostgreSQL computes the same texts (src/engines/postgres/canonical-sql.ts).
 *
 * Sessions run with time_zone '+00:00' and a utf8mb4 connection (connect.ts). Every text ends as utf8mb4 with one
 * explicit collation: CONCAT refuses to mix collations, and MD5 hashes the bytes of its argument's character set.
 * No REGEXP_REPLACE: its back-references are spelt differently in MySQL (ICU) and MariaDB (PCRE).
 */
import type { ColumnSchema } from '../../model/schema.js';
import type { LogicalType } from '../../model/types.js';
import { mysqlNativeTypes } from './native-types.js';
import { HASH_SLICE_HEX_DIGITS, LONG_VALUE_LENGTH, type CanonicalColumnSql, type ColumnForm, type HashPart, type LongValueSql } from '../shared/verify-sql.js';
import { quoteMysqlIdent } from './quote.js';

export interface MysqlCanonicalContext {
  /** The peer is MySQL/MariaDB too: JSON is hashed in the server's own normal form. */
  jsonInHash: boolean;
  /** MariaDB (JSON is LONGTEXT there, normalised by JSON_NORMALIZE) rather than MySQL (binary JSON). */
  mariadb: boolean;
  /** `null`: zero dates compare as NULL, which is what replication wrote to a PostgreSQL shadow (H13). */
  zeroDates: 'refuse' | 'null' | 'keep';
}

const utf8 = (x: string) => `CONVERT(${x} USING utf8mb4) COLLATE utf8mb4_bin`;

/** Significant digits and the exponent of the first one, from a positive number's plain or `de±N` text. */
function digitsAndExponent(abs: string): { digits: string; exponent: string } {
  const mantissa = `SUBSTRING_INDEX(${abs}, 'e', 1)`;
  const power = `IF(LOCATE('e', ${abs}) > 0, CAST(SUBSTRING_INDEX(${abs}, 'e', -1) AS SIGNED), 0)`;
  const all = `REPLACE(${mantissa}, '.', '')`;
  const leadingZeros = `(LENGTH(${all}) - LENGTH(TRIM(LEADING '0' FROM ${all})))`;
  return {
    digits: `TRIM(TRAILING '0' FROM TRIM(LEADING '0' FROM ${all}))`,
    exponent: `(LOCATE('.', CONCAT(${mantissa}, '.')) - 2 - ${leadingZeros} + ${power})`,
  };
}

/** `d[.ddd]e<exp>`: INSERT leaves a one-digit string as it is (position 2 is past its end). */
function scientific(sign: string, digits: string, exponent: string): string {
  return `CONCAT(${sign}, INSERT(${digits}, 2, 0, '.'), 'e', ${exponent})`;
}

/**
 * A float as canonicalFloat: the server prints a double's shortest round-trip digits, plain (0.000015) or as
 * 1e100. FLOAT is widened to DOUBLE first, exactly (its own text has 6 digits); a DOUBLE with a float32 peer
 * (VerifyTable.singlePrecision) is rounded to FLOAT first, as replication rounded it (H14).
 */
function mysqlFloat(c: string, bits: 32 | 64, single: boolean): string {
  const x = floatValue(c, bits, single);
  const { digits, exponent } = digitsAndExponent(`CAST(ABS(${x}) AS CHAR)`);
  return `IF(${x} = 0, '0', ${scientific(`IF(${x} < 0, '-', '')`, digits, exponent)})`;
}

/** Doubles below FLOAT32_MAX + half its ulp round to a finite float32; at or above, to infinity. */
const FLOAT32_LIMIT = '3.4028235677973366e38';

function floatValue(c: string, bits: 32 | 64, single: boolean): string {
  if (bits === 32) return `CAST(${c} AS DOUBLE)`;
  // Beyond FLOAT's range CAST would clamp: such a value differs from any float32 anyway.
  return single ? `IF(ABS(${c}) < ${FLOAT32_LIMIT}, CAST(CAST(${c} AS FLOAT) AS DOUBLE), ${c})` : c;
}

type DecimalType = Extract<LogicalType, { kind: 'decimal' }>;

/** The column's own precision and scale: every value of it fits, and comparisons stay DECIMAL. */
const decimalOf = (type: DecimalType) => `DECIMAL(${type.precision ?? 65},${type.scale ?? 0})`;

/**
 * canonicalDecimal: DECIMAL text with trailing fractional zeros and a bare point removed; -0 is 0. A ZEROFILL
 * column prints its padding (`00000012.50`): cast to the same DECIMAL first, which drops it.
 */
function mysqlDecimal(c: string, type: DecimalType, zerofill: boolean): string {
  const t = zerofill ? `CAST(CAST(${c} AS ${decimalOf(type)}) AS CHAR)` : `CAST(${c} AS CHAR)`;
  return `IF(${c} = 0, '0', IF(LOCATE('.', ${t}) > 0, TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM ${t})), ${t}))`;
}

/** A zero date (month or day 00) compares as NULL when replication writes NULL for it (H13). */
function zeroDate(c: string, text: string, ctx: MysqlCanonicalContext): string {
  return ctx.zeroDates === 'null' ? `IF(MONTH(${c}) = 0 OR DAYOFMONTH(${c}) = 0, NULL, ${text})` : text;
}

function canonicalText(c: string, type: LogicalType | undefined, single: boolean, zerofill: boolean, ctx: MysqlCanonicalContext): string {
  switch (type?.kind) {
    case 'integer':
      // Through a number: drops ZEROFILL padding, and YEAR's zero year prints 0 rather than 0000.
      return `CAST(CAST(${c} AS ${type.min < 0n ? 'SIGNED' : 'UNSIGNED'}) AS CHAR)`;
    case 'decimal':
      return mysqlDecimal(c, type, zerofill);
    case 'float':
      return mysqlFloat(c, type.bits, single);
    case 'boolean':
      return `CASE WHEN ${c} <> 0 THEN 't' WHEN ${c} = 0 THEN 'f' END`;
    case 'timestamp':
      return zeroDate(c, `DATE_FORMAT(${c}, '%Y-%m-%d %H:%i:%s.%f')`, ctx);
    case 'date':
      return zeroDate(c, `DATE_FORMAT(${c}, '%Y-%m-%d')`, ctx);
    case 'time':
      return `TIME_FORMAT(${c}, '%H:%i:%s.%f')`;
    case 'binary':
      return `LOWER(HEX(${c}))`;
    case 'bit':
      return `LPAD(BIN(${c}), ${type.length}, '0')`;
    case 'uuid':
      return `LOWER(CAST(${c} AS CHAR))`;
    case 'json':
      if (!ctx.jsonInHash) return rawText(c, type, ctx);
      // MariaDB's JSON_NORMALIZE also unifies numbers (52.0 and 52); MySQL's binary JSON prints in its own order.
      return ctx.mariadb ? `JSON_NORMALIZE(${c})` : `CAST(${c} AS CHAR)`;
    case 'text':
    case 'enum':
    case 'set':
      // As it is: utf8() converts it (once; a second CONVERT cost MariaDB about 4% of a pass over a text column).
      return c;
    default:
      // Types Tandem cannot map (INET6, GEOMETRY, ...) are only compared with MySQL/MariaDB: their bytes will do.
      return `LOWER(HEX(${c}))`;
  }
}

/** The column's own text; utf8() converts it. */
function rawText(c: string, type: LogicalType | undefined, ctx: MysqlCanonicalContext): string {
  return type?.kind === 'json' && !ctx.mariadb ? `CAST(${c} AS CHAR)` : c;
}

function ordering(c: string, text: string, type: LogicalType | undefined, single: boolean): { order: string; param: (p: string) => string } {
  switch (type?.kind) {
    case 'integer':
      return { order: c, param: (p) => `CAST(${p} AS ${type.min < 0n ? 'SIGNED' : 'UNSIGNED'})` };
    case 'decimal':
      return { order: c, param: (p) => `CAST(${p} AS ${decimalOf(type)})` };
    case 'float':
      if (type.bits === 32) return { order: c, param: (p) => `CAST(${p} AS FLOAT)` };
      return single ? { order: floatValue(c, 64, true), param: (p) => `CAST(CAST(${p} AS FLOAT) AS DOUBLE)` } : { order: c, param: (p) => `CAST(${p} AS DOUBLE)` };
    case 'boolean':
      return { order: `(${c} <> 0)`, param: (p) => `(${p} = 't')` };
    case 'timestamp':
      return { order: c, param: (p) => `CAST(${p} AS DATETIME(6))` };
    case 'date':
      return { order: c, param: (p) => `CAST(${p} AS DATE)` };
    case 'time':
      return { order: c, param: (p) => `CAST(${p} AS TIME(6))` };
    case 'binary':
      return { order: c, param: (p) => `UNHEX(${p})` };
    default:
      // Text, ENUM (whose own order is its declaration), SET, UUID (MariaDB's own order swaps its groups) and
      // BIT: the bytes of the canonical UTF-8 text, whatever the column's collation says (H16).
      return { order: `CAST(${text} AS BINARY)`, param: (p) => `CAST(${p} AS BINARY)` };
  }
}

/**
 * A digest column (VerifyTable.digest). The hashing subquery selects the column itself; the derived table is merged,
 * so the canonical text is computed only where the row hash or canonicalRows asks for it, after the digest. The
 * length is tested on the column, which costs next to nothing (LENGTH counts bytes in the column's character set,
 * never fewer than its characters), and characters are counted only past that; the conversion sits inside the IF,
 * so a short value costs nothing more.
 */
function mysqlLongValue(c: string, type: LogicalType | undefined, canonical: (x: string) => string): LongValueSql {
  if (type?.kind === 'binary') return { select: c, text: canonical, digest: (x) => `IF(LENGTH(${x}) > ${LONG_VALUE_LENGTH}, ${utf8(`MD5(${x})`)}, NULL)` };
  // Text, ENUM and SET: the canonical text has the column's characters. Anything else: measure the text itself.
  const measured = type?.kind === 'text' || type?.kind === 'enum' || type?.kind === 'set' ? (x: string) => x : canonical;
  return {
    select: c,
    text: canonical,
    digest: (x) => `IF(LENGTH(${measured(x)}) > ${LONG_VALUE_LENGTH} AND CHAR_LENGTH(${measured(x)}) > ${LONG_VALUE_LENGTH}, ${utf8(`MD5(${canonical(x)})`)}, NULL)`,
  };
}

/** 2000-01-01 00:00:00 in TO_SECONDS, which counts from the year 0. */
const SECONDS_BEFORE_2000 = 63113904000;

/**
 * A timestamp in a cross-engine fast summary (VerifyTable.timestampMicros): the decimal count of microseconds since
 * 2000-01-01, the count PostgreSQL's timestamp_send gives; far cheaper than DATE_FORMAT. Only from 0001-01-01 on,
 * where the two calendars agree (MariaDB's year 0 is not PostgreSQL's 1 BC); before that, and for a zero date or a
 * date with a zero month or day (TO_SECONDS is NULL for those), it is the canonical text, which has `:` and so
 * equals no count.
 */
function mysqlMicros(c: string, canonical: string): string {
  const micros = `TO_SECONDS(${c}) * 1000000 + MICROSECOND(${c}) - ${SECONDS_BEFORE_2000}000000`;
  return `COALESCE(IF(${c} >= TIMESTAMP'0001-01-01 00:00:00', ${micros}, NULL), ${canonical})`;
}

/**
 * The text a cross-engine fast summary takes (CanonicalColumnSql.fast): an integer as the server prints it (no
 * ZEROFILL padding, not YEAR, whose zero year prints 0000), which is its canonical text without two casts and a
 * conversion; a decimal of the peer's scale as its own text (VerifyTable.sameScale); a timestamp as microseconds;
 * anything else its canonical text.
 */
function mysqlFast(c: string, type: LogicalType | undefined, nativeType: string, zerofill: boolean, form: ColumnForm, text: string): string {
  if (type?.kind === 'integer' && !zerofill && !/^year\b/.test(nativeType)) return c;
  if (type?.kind === 'decimal' && form.sameScale) return zerofill ? `CAST(CAST(${c} AS ${decimalOf(type)}) AS CHAR)` : c;
  if (type?.kind === 'timestamp' && form.micros) return mysqlMicros(c, text);
  return text;
}

/** The column's SQL in the form the spec asks for (VerifyTable: singlePrecision, asInteger, digest). */
export function mysqlCanonicalColumn(col: ColumnSchema, form: ColumnForm, ctx: MysqlCanonicalContext): CanonicalColumnSql {
  const c = quoteMysqlIdent(col.name);
  const parsed = mysqlNativeTypes.parse(col.nativeType);
  // A tinyint(1) against a column that is not boolean is the integer it stores (DESIGN.md "Canonical values").
  const type = parsed.ok ? (form.asInteger && parsed.integer) || parsed.type : undefined;
  const json = type?.kind === 'json';
  const zerofill = /\bzerofill\b/i.test(col.nativeType);
  // Text already in utf8mb4 needs no conversion, only the one collation every text here ends in (CONVERT of a
  // utf8mb4 value to utf8mb4 still copies it: a fifth of the cost of a pass over a short text column).
  const asStored = (type?.kind === 'text' || type?.kind === 'enum' || type?.kind === 'set') && col.collation?.charset === 'utf8mb4';
  const canonical = (x: string) => (asStored ? `${x} COLLATE utf8mb4_bin` : utf8(canonicalText(x, type, form.single, zerofill, ctx)));
  const text = canonical(c);
  const raw = utf8(rawText(c, type, ctx));
  const fast = mysqlFast(c, type, col.nativeType, zerofill, form, text);
  const base = { name: col.name, json, text, raw, fast, ...ordering(c, text, type, form.single) };
  if (!form.digest || json) return { ...base, compared: json ? raw : text };
  const long = mysqlLongValue(c, type, canonical);
  return { ...base, long, compared: `COALESCE(CONCAT('#', ${long.digest(c)}), ${text})` };
}

/**
 * MD5 over the canonical texts in order: `<octet length>:<text>` (`N` for NULL), or `<text>|` (`N|`) for plain
 * parts; `#<md5>` for a long value of a digest column (its text is then never built).
 */
export function mysqlRowHash(parts: HashPart[]): string {
  return `MD5(${mysqlRowText(parts)})`;
}

/** The row's hash input (mysqlRowHash). */
export function mysqlRowText(parts: HashPart[]): string {
  // LENGTH counts bytes; CONCAT is NULL when any argument is, which COALESCE turns into the NULL marker. A derived
  // column named twice (LENGTH and text) is computed twice, since MariaDB merges the derived table: plain parts
  // name it once. COALESCE stops at its first value that is not NULL, so a digest leaves the text alone.
  const encoded = parts.map(({ text: x, plain, digest }) => {
    if (digest) return plain ? `COALESCE(CONCAT('#', ${digest}), CONCAT(COALESCE(${x}, 'N'), '|'))` : `COALESCE(CONCAT('#', ${digest}), CONCAT(LENGTH(${x}), ':', ${x}), 'N')`;
    return plain ? `COALESCE(${x}, 'N'), '|'` : `COALESCE(CONCAT(LENGTH(${x}), ':', ${x}), 'N')`;
  });
  return encoded.length ? `CONCAT(${encoded.join(', ')})` : `''`;
}

/** Count and the sum of the row hashes' first 60 bits (HASH_SLICE_HEX_DIGITS; a DECIMAL sum: exact however many rows). */
export function mysqlSummaryColumns(h: string): string[] {
  return ['CAST(COUNT(*) AS CHAR)', `CAST(COALESCE(SUM(CAST(CONV(LEFT(${h}, ${HASH_SLICE_HEX_DIGITS}), 16, 10) AS UNSIGNED)), 0) AS CHAR)`];
}
