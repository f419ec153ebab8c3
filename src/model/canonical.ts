/**
 * Canonical value text (DESIGN.md "Canonical values") computed in TypeScript: for unit tests, for display, and for
 * JSON, which neither engine can canonicalise in SQL. The engines compute the same forms in SQL
 * (src/engines/<engine>/canonical-sql.ts); the corpus test holds the two to each other.
 */
import { parse as parseLosslessJson } from 'lossless-json';

/**
 * A double in normalised scientific form with the shortest digits that read back as the same value: `1e-1`,
 * `1.23456e2`, `-2.5e-7`; `0` for either zero, `NaN`, `Infinity`, `-Infinity`. The digits are those of
 * Number.prototype.toString, which the language defines exactly (shortest; of equally short, the nearest; of two
 * equally near, the even one); MariaDB prints the same digits and PostgreSQL's are brought to them in SQL.
 *
 * A float32 (MySQL FLOAT, PostgreSQL real) is compared as its exact widened double, `canonicalFloat(Math.fround(x))`:
 * `1.0000000149011612e-1` for 0.1. Both engines widen exactly, where their float32 text is not comparable
 * (MariaDB prints 6 digits).
 */
export function canonicalFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (x === 0) return '0';
  return scientific(String(x));
}

/** `1.5e-7`, `0.000015`, `123.456`, `1e+21` (JavaScript's number text) → `d[.ddd]e<exponent>`. */
function scientific(text: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(text);
  if (!m) throw new SyntaxError(`not a number: ${text}`);
  const [, sign = '', int = '', frac = '', exp = '0'] = m;
  const digits = int + frac;
  const significant = digits.replace(/^0+/, '');
  const sd = significant.replace(/0+$/, '');
  const e = int.length - 1 - (digits.length - significant.length) + Number(exp);
  return `${sign}${sd[0]}${sd.length > 1 ? `.${sd.slice(1)}` : ''}e${e}`;
}

const DECIMAL = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
/** Beyond this decimal exponent the plain form would be mostly zeros: scientific form keeps such values short. */
const PLAIN_EXPONENT_LIMIT = 100;
/** Already canonicalDecimal's plain form (no sign but a minus, no leading or trailing zeros, within the limit), or `-0`. */
const CANONICAL_PLAIN = /^-?(?:0|[1-9]\d{0,99})(?:\.\d{0,99}[1-9])?$/;

/**
 * A decimal number in plain form: `1.500` → `1.5`, `-0.000` → `0`, `007.10` → `7.1`, `1.5E3` → `1500`. Values
 * whose first significant digit lies beyond 10^±100 use canonicalFloat's scientific form instead (`1e400`), so a
 * JSON number cannot expand into a huge string; the choice depends on the value only, never on how it was written.
 * `NaN`, `Infinity` and `-Infinity` (PostgreSQL numeric) are returned as they are.
 */
export function canonicalDecimal(text: string): string {
  // Most texts are already plain and canonical (every PostgreSQL integer, most keys of applied changes): no parse.
  if (CANONICAL_PLAIN.test(text) && text !== '-0') return text;
  const t = text.trim();
  if (t === 'NaN' || t === 'Infinity' || t === '-Infinity') return t;
  const m = DECIMAL.exec(t);
  const [, sign = '', int = '', frac = '', exp = '0'] = m ?? [];
  if (!m || int.length + frac.length === 0) throw new SyntaxError(`not a decimal number: ${JSON.stringify(text)}`);
  const digits = int + frac;
  const significant = digits.replace(/^0+/, '');
  const leadingZeros = digits.length - significant.length;
  const sd = significant.replace(/0+$/, '');
  if (sd === '') return '0';
  // Exponent of the first significant digit. BigInt: a JSON exponent may have any number of digits.
  const e = BigInt(int.length - 1 - leadingZeros) + BigInt(exp);
  const minus = sign === '-' ? '-' : '';
  const limit = BigInt(PLAIN_EXPONENT_LIMIT);
  if (e > limit || e < -limit) return `${minus}${sd[0]}${sd.length > 1 ? `.${sd.slice(1)}` : ''}e${e}`;
  const n = Number(e);
  if (n < 0) return `${minus}0.${'0'.repeat(-n - 1)}${sd}`;
  const intPart = sd.slice(0, n + 1).padEnd(n + 1, '0');
  const fracPart = sd.slice(n + 1);
  return `${minus}${intPart}${fracPart ? `.${fracPart}` : ''}`;
}

/** A JSON number kept as its text, so that no digit is lost to a JavaScript number. */
class JsonNumber {
  constructor(readonly text: string) {}
}

/** Object keys in UTF-8 byte order (not JavaScript's UTF-16 order, which differs above U+FFFF). */
function compareKeys(a: string, b: string): number {
  // Lone surrogates all encode as U+FFFD: fall back to code units so the order stays total.
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')) || (a < b ? -1 : a > b ? 1 : 0);
}

function serialize(value: unknown): string {
  if (value === null || value === true || value === false) return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof JsonNumber) return canonicalDecimal(value.text);
  if (Array.isArray(value)) return `[${value.map(serialize).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareKeys(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${serialize(v)}`).join(',')}}`;
  }
  throw new TypeError(`unexpected JSON value ${String(value)}`);
}

/**
 * JSON with object keys sorted by their UTF-8 bytes, no insignificant white space, numbers in canonicalDecimal's
 * form (`52.0`, `52` and `5.2e1` are one number) and strings re-escaped by JSON.stringify; of duplicate keys the
 * last wins, as in PostgreSQL jsonb. Throws SyntaxError for text that is not JSON.
 *
 * Parsed with lossless-json because JSON.parse turns every number into a double: 12345678901234567890 and
 * 12345678901234567891, or 0.1 and 0.10000000000000000001, would compare equal and hide a real change.
 */
export function canonicalJson(text: string): string {
  const value = parseLosslessJson(text, null, {
    parseNumber: (s) => new JsonNumber(s),
    onDuplicateKey: ({ newValue }) => newValue,
  });
  return serialize(value);
}
