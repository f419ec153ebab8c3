import { TandemError } from '../../errors.js';
import type { Value } from '../../model/change.js';

/**
 * MySQL/MariaDB values → the neutral form (model/change.ts), for both paths that read them: the binlog (values as
 * @vlasky/zongji decodes them) and backfill (values as mysql2 returns them with Tandem's connection options). Both
 * end in `toNeutral`, so a row read by backfill and the same row arriving through the binlog are identical (tested).
 *
 * What each decoder hands over, and what is done with it:
 * - integers: zongji gives a JavaScript number within ±(2^53−1) and exact decimal text beyond (it assembles 64-bit
 *   values with BigInt); mysql2 gives numbers for INT and smaller, text for BIGINT (bigNumberStrings). A safe
 *   integer prints exactly, so `String(n)` loses nothing. tinyint(1) stays `0`/`1`/… (PostgreSQL's boolean input
 *   accepts `1`/`0`; any other value is refused there rather than folded to true).
 * - DECIMAL: exact text from both (zongji's decoder builds digits as text unless decimalNumbers is set; it is not).
 * - ZEROFILL: a query prints DECIMAL and BIGINT values padded with zeros (`00000012.50`), the binlog does not; the
 *   padding is dropped (`12.50`), as every engine reads the value anyway.
 * - FLOAT / DOUBLE: numbers from both, rewritten as the shortest text that reads back to the same float32 /
 *   float64. A FLOAT arrives from the binlog as the widened float32 (0.10000000149011612) and from a query as the
 *   server's short text (0.1): both become `0.1`.
 * - DATE / DATETIME / TIMESTAMP / TIME: text from both (dateStrings). zongji formats TIMESTAMP's epoch seconds in
 *   UTC (timezone 'Z'); Tandem's sessions run with time_zone '+00:00', so queries print TIMESTAMP in UTC too.
 *   Fractions keep the column's declared digits on both paths. Zero dates (month or day 00: `0000-00-00`,
 *   `2022-11-00`, a zero TIMESTAMP; zongji prints a zero TIMESTAMP as `0000-00-00 00:00:00`, not 1970) follow
 *   the configured policy (`values.zeroDates`, H13) here and only here, so backfill and stream agree: `keep`
 *   (a MySQL shadow holds them), `refuse` (TANDEM_VALUE_UNSUPPORTED naming table and column), `null`.
 * - BIT(n): a Buffer from both → a string of exactly n `0`/`1` characters (PostgreSQL bit(n) input; the MySQL
 *   shadow turns it back into bytes).
 * - binary strings and BLOBs: Buffers from both (charset `binary`); BINARY(n) is right-padded to n by both.
 * - text: strings. zongji decodes each column in its own character set (CHARACTER_SET_NAME: latin1 through
 *   iconv's cp1252, which is what MySQL's latin1 is), mysql2 receives the server's conversion to utf8mb4.
 * - JSON: MariaDB stores JSON as LONGTEXT, so it is text on both paths, byte for byte as stored. MySQL's binary
 *   JSON is rendered as text by zongji (jsonStrings) and by the server for queries; these two renderings are not
 *   guaranteed identical in white space (verification canonicalizes JSON; H15).
 * - ENUM / SET: the labels as text from both.
 * - GEOMETRY: refused (no neutral form yet).
 */
export interface ColumnType {
  name: string;
  /** information_schema COLUMN_TYPE, lower case (`bigint(20) unsigned`, `bit(3)`, `float`). */
  columnType: string;
}

/**
 * How values the shadow cannot hold are converted. `zeroDates`: `keep` passes them through (a MySQL/MariaDB
 * shadow), `refuse` stops replication, `null` writes NULL (config `values.zeroDates`, for a PostgreSQL shadow).
 */
export interface ValuePolicy {
  zeroDates: 'keep' | 'refuse' | 'null';
  /** Told each time a value is written other than it was (a zero date as NULL): rollback readiness counts them. */
  onLossy?: (table: string, column: string) => void;
}

export const KEEP_VALUES: ValuePolicy = { zeroDates: 'keep' };

/** A DATE/DATETIME/TIMESTAMP text with month or day 00 (`0000-00-00`, `2022-11-00`, `2022-00-05 10:00:00`). */
export function isZeroDate(text: string): boolean {
  // Character tests rather than a regular expression: every DATETIME of a bulk insert passes through here.
  if (text.length < 10 || text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH) return false;
  for (const i of DATE_DIGITS) if (!isDigit(text.charCodeAt(i))) return false;
  return twoZeros(text, 5) || twoZeros(text, 8);
}

const DASH = 0x2d;
const ZERO = 0x30;
/** Where YYYY-MM-DD has its digits. */
const DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9];
const isDigit = (c: number) => c >= ZERO && c <= 0x39;
const twoZeros = (text: string, at: number) => text.charCodeAt(at) === ZERO && text.charCodeAt(at + 1) === ZERO;

export function toNeutral(table: string, col: ColumnType, value: unknown, policy: ValuePolicy = KEEP_VALUES): Value {
  return neutralConverter(table, col, policy)(value);
}

/**
 * `toNeutral` for one column, with what its type decides worked out once: a backfill converts millions of values of
 * a handful of columns, and testing the type's text for every value was a fifth of its CPU time.
 */
export function neutralConverter(table: string, col: ColumnType, policy: ValuePolicy = KEEP_VALUES): (value: unknown) => Value {
  const type = col.columnType;
  const zeroDates = policy.zeroDates !== 'keep' && /^(date|datetime|timestamp)\b/.test(type);
  const bits = /^bit\((\d+)\)/.exec(type);
  const bitCount = bits ? Number(bits[1]) : 0;
  const float = /^(float|double|real)/.test(type);
  const single = /^float/.test(type) && !/^float\(\s*(2[5-9]|[3-5]\d)/.test(type);
  const zerofill = / zerofill/.test(type);
  const year = /^year/.test(type);
  const general = (value: unknown): Value => {
    if (value === null || value === undefined) return null;
    if (zeroDates && typeof value === 'string' && isZeroDate(value)) {
      if (policy.zeroDates === 'null') {
        policy.onLossy?.(table, col.name);
        return null;
      }
      throw new TandemError(
        'TANDEM_VALUE_UNSUPPORTED',
        `${table}.${col.name} (${col.columnType}) holds the zero date ${value}, which PostgreSQL cannot store; replication stopped before applying it`,
        {
          fix: `set values.zeroDates: null in tandem.yaml (TANDEM_VALUES_ZERO_DATES=null) and restart: zero dates are then written as NULL (the shadow column must be nullable). That is the only way past a zero date already in the binlog: fixing the rows on the active side (UPDATE ${table} SET ${col.name} = NULL WHERE MONTH(${col.name}) = 0 OR DAYOFMONTH(${col.name}) = 0) keeps new ones out, but the change already logged is applied as it was written`,
          place: { table, column: col.name },
        },
      );
    }
    if (Buffer.isBuffer(value)) {
      if (bits) return bitString(value, bitCount);
      return value;
    }
    if (float) {
      const n = typeof value === 'number' ? value : Number(String(value));
      return single ? shortestFloat32(n) : shortestDouble(n);
    }
    if (typeof value === 'string') return zerofill ? unpadded(value) : value;
    // zongji decodes YEAR as 1900 + the stored byte, so the zero year (stored 0) arrives as 1900, which YEAR cannot
    // hold otherwise (1901..2155); a query returns it as 0.
    if (value === 1900 && year) return '0';
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw unsupported(table, col, String(value));
      return String(value);
    }
    if (typeof value === 'bigint') return value.toString();
    throw unsupported(table, col, Object.prototype.toString.call(value));
  };
  // Text that no rule of its type touches (character types, decimals, JSON, dates without the zero-date check) is
  // already neutral: the common case takes one typeof.
  if (!zeroDates && !float && !zerofill) return (value) => (typeof value === 'string' ? value : general(value));
  return general;
}

/** A ZEROFILL value's text without its padding: `00000012.50` → `12.50`, `0000` → `0` (ZEROFILL is unsigned). */
export function unpadded(text: string): string {
  return text.replace(/^0+(?=\d)/, '');
}

function unsupported(table: string, col: ColumnType, what: string): TandemError {
  return new TandemError('TANDEM_VALUE_UNSUPPORTED', `${table}.${col.name} (${col.columnType}): a value of this type (${what}) has no neutral form in Tandem`, {
    fix: `exclude ${table} from the migration (tandem.yaml exclude), or change the column's type`,
  });
}

/** The leftmost `bits` bits of a big-endian BIT value, as `0`/`1` text. */
export function bitString(buf: Buffer, bits: number): string {
  let out = '';
  for (const byte of buf) out += byte.toString(2).padStart(8, '0');
  return out.slice(-bits).padStart(bits, '0');
}

/** Shortest decimal text that reads back as the same float32 (MySQL FLOAT). */
export function shortestFloat32(n: number): string {
  const f = Math.fround(n);
  if (!Number.isFinite(f)) return String(f);
  for (let p = 1; p <= 9; p++) {
    const text = f.toPrecision(p);
    if (Math.fround(Number(text)) === f) return String(Number(text));
  }
  return String(f);
}

/** Shortest decimal text that reads back as the same float64 (JavaScript's own number printing). */
export function shortestDouble(n: number): string {
  return String(n);
}
