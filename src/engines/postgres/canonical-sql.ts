/**
 * PostgreSQL SQL for canonical value text (DESIGN.md "Canonical values", src/model/canonical.ts): per column its
 * canonical text, its verification order and the conversion of a canonical-text parameter back to the column's
 * type; per row the hash input. MySQL/MariaDB computes the same texts (src/engines/mysql/canonical-sql.ts).
 *
 * Sessions run with TimeZone=UTC, DateStyle=ISO and extra_float_digits=3 (connect.ts), which some of the text
 * below relies on: float text is then the shortest that reads back exactly.
 */
import pg from 'pg';
import type { ColumnSchema } from '../../model/schema.js';
import type { LogicalType } from '../../model/types.js';
import { postgresNativeTypes } from './native-types.js';
import { HASH_SLICE_HEX_DIGITS, LONG_VALUE_LENGTH, type CanonicalColumnSql, type ColumnForm, type HashPart, type LongValueSql } from '../shared/verify-sql.js';

export interface PgCanonicalContext {
  /** The peer is PostgreSQL too: JSON is hashed in jsonb's own normal form. */
  jsonInHash: boolean;
  /** server_encoding is UTF8: text is compared and hashed as stored, otherwise converted to UTF-8 first. */
  utf8: boolean;
}

const INFINITE_OR_NAN = `('NaN', 'Infinity', '-Infinity')`;
/**
 * Doubles strictly between these round to a finite, non-zero float32 (below FLT_MAX plus half its ulp, above half
 * the smallest subnormal); float8 → real refuses the others, which no float32 peer can hold anyway.
 */
const FLOAT32_LIMIT = '3.4028235677973366e38';
const FLOAT32_HALF_MIN = '7.006492321624085e-46';

/**
 * Plain decimal text (`0.000015`, `-123.4500`, `100`) as canonicalDecimal's scientific form (`1.5e-5`). Used only
 * beyond 10^±100, where numeric text has no exponent to tidy.
 */
function pgScientific(t: string): string {
  const abs = `ltrim(${t}, '-')`;
  const digits = `replace(${abs}, '.', '')`;
  const significant = `btrim(${digits}, '0')`;
  const exponent = `(strpos(${abs} || '.', '.') - 2 - (length(${digits}) - length(ltrim(${digits}, '0'))))`;
  const sign = `CASE WHEN left(${t}, 1) = '-' THEN '-' ELSE '' END`;
  return `CASE WHEN ${t} IN ${INFINITE_OR_NAN} THEN ${t} WHEN ${significant} = '' THEN '0'
    ELSE ${sign} || regexp_replace(${significant}, '^(.)(?=.)', '\\1.') || 'e' || ${exponent}::text END`;
}

/** Doubles from here on are integers: the only ones whose shortest text Ryu can miss (see pgDouble). */
const FLOAT8_INTEGERS = '9007199254740992';

/**
 * A double as canonicalFloat. PostgreSQL prints the shortest digits strictly inside the value's rounding interval
 * (Ryu), where JavaScript and MariaDB also accept its bounds when they read back (round-half-even): 36771020660923744
 * is 3.6771020660923744e+16 here, 3.677102066092374e16 there. That bound can only be shorter for an integer
 * beyond 2^53 printed with 16 or 17 digits (a bound of fewer digits than Ryu's needs a grid of such numbers finer
 * than one ulp), and it is then Ryu's text cut to one digit fewer, rounded down or up: whichever reads back as the
 * same double (numeric → float8 rounds exactly). Only those rare values take the slower exact path.
 */
function pgDouble(x: string): string {
  const t = `(${x})::text`;
  const abs = `ltrim(${t}, '-')`;
  const sign = `CASE WHEN left(${t}, 1) = '-' THEN '-' ELSE '' END`;
  const mantissaDigits = `rtrim(replace(split_part(${abs}, 'e', 1), '.', ''), '0')`;
  // Plain text (0.000015, 123.456, 100, 9007199254740993): significant digits and the exponent of the first.
  const digits = `replace(${abs}, '.', '')`;
  const significant = `btrim(${digits}, '0')`;
  const exponent = `(strpos(${abs} || '.', '.') - 2 - (length(${digits}) - length(ltrim(${digits}, '0'))))`;
  const bound = `(SELECT ${sign} || regexp_replace(rtrim(w::text, '0'), '^(.)(?=.)', '\\1.') || 'e' || (length(w::text) - 1)
    FROM (SELECT abs(${x}) AS ax, ${abs}::numeric AS nn, length(${mantissaDigits}) AS n) a
    CROSS JOIN LATERAL (SELECT ('1e' || (length(nn::text) - n + 1))::numeric AS u) b
    CROSS JOIN LATERAL (SELECT floor(nn / u) * u AS lo) c
    CROSS JOIN LATERAL (SELECT CASE WHEN lo::float8 = ax THEN lo WHEN lo + u > 1.7976931348623157e308 THEN nn
      WHEN (lo + u)::float8 = ax THEN lo + u ELSE nn END AS w) d)`;
  return `CASE WHEN ${t} IN ${INFINITE_OR_NAN} THEN ${t}
    WHEN abs(${x}) >= ${FLOAT8_INTEGERS} AND length(${mantissaDigits}) >= 16 THEN ${bound}
    WHEN strpos(${t}, 'e') > 0 THEN regexp_replace(${t}, 'e\\+?(-?)0*', 'e\\1')
    WHEN ${significant} = '' THEN '0'
    ELSE ${sign} || regexp_replace(${significant}, '^(.)(?=.)', '\\1.') || 'e' || ${exponent}::text END`;
}

/** The value compared: a double, or float32 widened exactly; a double with a float32 peer rounded to float32 first. */
function pgFloatValue(c: string, bits: 32 | 64, single: boolean): string {
  if (bits === 32) return `${c}::float8`;
  if (!single) return c;
  return `CASE WHEN abs(${c}) < ${FLOAT32_LIMIT} AND (${c} = 0 OR abs(${c}) > ${FLOAT32_HALF_MIN}) THEN ${c}::real::float8 ELSE ${c} END`;
}

/** canonicalDecimal: plain, except beyond 10^±100 where it switches to the scientific form. */
function pgDecimal(c: string): string {
  const plain = `trim_scale(${c})::text`;
  return `CASE WHEN ${c} <> 0 AND (abs(${c}) >= 1e101 OR abs(${c}) < 1e-100) THEN ${pgScientific(plain)} ELSE ${plain} END`;
}

/**
 * Timestamps `YYYY-MM-DD HH:MM:SS.ffffff` in UTC. Infinite and BC values, which only another PostgreSQL can hold,
 * keep PostgreSQL's own text (to_char drops the era, which would make 1 BC equal to AD 1).
 */
function pgTimestamp(c: string, withTimeZone: boolean): string {
  const utc = withTimeZone ? `(${c} AT TIME ZONE 'UTC')` : c;
  return `CASE WHEN isfinite(${c}) AND ${utc} >= '0001-01-01' THEN to_char(${utc}, 'YYYY-MM-DD HH24:MI:SS.US') ELSE ${c}::text END`;
}

/** `HH:MM:SS.ffffff`: time's text trims the fraction. Built from text so that 24:00:00 survives. */
function pgTime(c: string): string {
  const t = `${c}::text`;
  return `CASE WHEN strpos(${t}, '.') > 0 THEN rpad(${t}, 15, '0') ELSE ${t} || '.000000' END`;
}

/**
 * jsonb's text (keys sorted and de-duplicated, no insignificant white space) with trailing fractional zeros of
 * numbers removed, so that `52.0` and `52` hash alike as canonicalJson says they are. jsonb prints numbers without
 * exponent; the first alternative consumes whole strings so that digits inside them are left alone.
 */
function pgJsonb(c: string): string {
  const text = `${c}::jsonb::text`;
  const string = `"(?:[^"\\\\]|\\\\.)*"`;
  const trimmed = `regexp_replace(${text}, '(${string})|(\\.[0-9]*[1-9])0+(?=[],} ]|$)', '\\1\\2', 'g')`;
  return `regexp_replace(${trimmed}, '(${string})|\\.0+(?=[],} ]|$)', '\\1', 'g')`;
}

function canonicalText(c: string, type: LogicalType | undefined, single: boolean, ctx: PgCanonicalContext): string {
  switch (type?.kind) {
    case 'integer':
      return `${c}::text`;
    case 'decimal':
      return pgDecimal(c);
    case 'float':
      return pgDouble(pgFloatValue(c, type.bits, single));
    case 'boolean':
      return `CASE WHEN ${c} THEN 't' WHEN NOT ${c} THEN 'f' END`;
    case 'timestamp':
      return pgTimestamp(c, type.withTimeZone);
    case 'date':
      return `${c}::text`;
    case 'time':
      return pgTime(c);
    case 'binary':
      return `encode(${c}, 'hex')`;
    case 'json':
      return ctx.jsonInHash ? pgJsonb(c) : `${c}::text`;
    default:
      // text, char(n) (the cast drops the padding, as MySQL does on reading), enum, uuid (lower case), bit, varbit,
      // and the types Tandem cannot map, which are only ever compared with PostgreSQL.
      return `${c}::text`;
  }
}

function textOrder(text: string, ctx: PgCanonicalContext): { order: string; param: (p: string) => string } {
  // Byte order of the UTF-8 text. In a UTF8 database the C collation is exactly that (and cheaper).
  return ctx.utf8
    ? { order: `(${text}) COLLATE "C"`, param: (p) => `${p}::text` }
    : { order: `convert_to(${text}, 'UTF8')`, param: (p) => `convert_to(${p}::text, 'UTF8')` };
}

function ordering(c: string, text: string, type: LogicalType | undefined, single: boolean, ctx: PgCanonicalContext): { order: string; param: (p: string) => string } {
  switch (type?.kind) {
    case 'integer':
      return { order: c, param: (p) => `${p}::bigint` };
    case 'decimal':
      return { order: c, param: (p) => `${p}::numeric` };
    case 'float':
      if (type.bits === 32) return { order: c, param: (p) => `${p}::real` };
      // A double with a float32 peer is ordered as the value compared: rounded to float32.
      return single ? { order: pgFloatValue(c, 64, true), param: (p) => `${p}::real::float8` } : { order: c, param: (p) => `${p}::float8` };
    case 'boolean':
      return { order: c, param: (p) => `${p}::boolean` };
    case 'timestamp':
      return { order: c, param: (p) => (type.withTimeZone ? `(${p}::timestamp AT TIME ZONE 'UTC')` : `${p}::timestamp`) };
    case 'date':
      return { order: c, param: (p) => `${p}::date` };
    case 'time':
      return { order: c, param: (p) => `${p}::time` };
    case 'binary':
      return { order: c, param: (p) => `decode(${p}, 'hex')` };
    case 'uuid':
      // uuid's own order is its bytes, which is the order of its lower-case hex text.
      return { order: c, param: (p) => `${p}::uuid` };
    default:
      return textOrder(text, ctx);
  }
}

const utf8Bytes = (x: string, ctx: PgCanonicalContext) => (ctx.utf8 ? x : `convert_to(${x}, 'UTF8')`);

/**
 * A digest column (VerifyTable.digest). The hashing subquery selects the bytea itself, or the canonical text of a
 * text (the column as it is): a CASE or an encode() there would make each chunk's projection dearer and tip the
 * planner into parallel plans, which cost more CPU. octet_length needs no detoasting, and a text has at least as
 * many bytes as characters, so a short value costs one comparison.
 */
function pgLongValue(c: string, text: string, type: LogicalType | undefined, ctx: PgCanonicalContext): LongValueSql {
  if (type?.kind === 'binary') {
    return { select: c, text: (x) => `encode(${x}, 'hex')`, digest: (x) => `CASE WHEN octet_length(${x}) > ${LONG_VALUE_LENGTH} THEN md5(${x}) END` };
  }
  return {
    select: text,
    text: (x) => x,
    digest: (x) => `CASE WHEN octet_length(${x}) > ${LONG_VALUE_LENGTH} AND char_length(${x}) > ${LONG_VALUE_LENGTH} THEN md5(${utf8Bytes(x, ctx)}) END`,
  };
}

/**
 * The text a cross-engine fast summary takes (CanonicalColumnSql.fast): a decimal of the peer's scale as its own
 * text (VerifyTable.sameScale: the typmod fixes its fractional digits); a timestamp as the decimal count of
 * microseconds since 2000-01-01, the binary send format's own count (VerifyTable.timestampMicros; far cheaper than
 * to_char). In decimal rather than the send format's hex because MariaDB, the slower side of such a pass, prints a
 * decimal for about half what its hex, padding and case cost (bench/README.md, 2026-12-02). Infinities and BC values
 * get counts no MySQL/MariaDB value has (mysqlMicros). Anything else its canonical text.
 */
function pgFast(c: string, type: LogicalType | undefined, form: ColumnForm, text: string): string {
  if (type?.kind === 'decimal' && form.sameScale && type.scale !== null) return `${c}::text`;
  if (type?.kind === 'timestamp' && form.micros) return `(('x' || encode(${type.withTimeZone ? 'timestamptz_send' : 'timestamp_send'}(${c}), 'hex'))::bit(64)::bigint)::text`;
  return text;
}

/** The column's SQL in the form the spec asks for (VerifyTable: singlePrecision, asInteger, digest). */
export function pgCanonicalColumn(col: ColumnSchema, form: ColumnForm, ctx: PgCanonicalContext): CanonicalColumnSql {
  const c = pg.escapeIdentifier(col.name);
  const parsed = postgresNativeTypes.parse(col.nativeType, { isEnum: col.isEnum });
  const type = parsed.ok ? (form.asInteger && parsed.integer) || parsed.type : undefined;
  const json = type?.kind === 'json';
  const text = canonicalText(c, type, form.single, ctx);
  const base = { name: col.name, json, text, raw: `${c}::text`, fast: pgFast(c, type, form, text), ...ordering(c, text, type, form.single, ctx) };
  if (!form.digest || json) return { ...base, compared: json ? base.raw : text };
  const long = pgLongValue(c, text, type, ctx);
  return { ...base, long, compared: `coalesce('#' || ${long.digest(long.select)}, ${long.text(long.select)})` };
}

/**
 * md5 over the canonical texts in order: `<octet length>:<text>` (`N` for NULL), or `<text>|` (`N|`) for plain
 * parts; `#<md5>` for a long value of a digest column.
 */
export function pgRowHash(parts: HashPart[], ctx: PgCanonicalContext): string {
  return `md5(${utf8Bytes(pgRowText(parts, ctx), ctx)})`;
}

/** The row's hash input (pgRowHash), as text in the database's encoding. */
export function pgRowText(parts: HashPart[], ctx: PgCanonicalContext): string {
  const encoded = parts.map(({ text: x, plain, digest }) => {
    const part = plain ? `coalesce(${x}, 'N') || '|'` : `coalesce(octet_length(${utf8Bytes(x, ctx)})::text || ':' || ${x}, 'N')`;
    return digest ? `coalesce('#' || ${digest}, ${part})` : part;
  });
  return encoded.length ? encoded.join(' || ') : `''`;
}

/** Count and the sum of the row hashes' first 60 bits (HASH_SLICE_HEX_DIGITS; a numeric sum: exact however many rows). */
export function pgSummaryColumns(h: string): string[] {
  return ['count(*)::text', `coalesce(sum(('x' || left(${h}, ${HASH_SLICE_HEX_DIGITS}))::bit(${HASH_SLICE_HEX_DIGITS * 4})::bigint), 0)::text`];
}
