/**
 * MySQL/MariaDB column types: `information_schema.columns.column_type` spellings read as logical types, logical
 * types spelled for MySQL, and the facts about MySQL's values that the type-compatibility rules need.
 */
import type { NativeParse, NativeTypes } from '../engine.js';
import type { LogicalType, TranslatedType } from '../../model/types.js';
import { inetTextLength, integerRange, narrowestInteger, normalizeSpelling, parsed, unknown, unsupported, type IntegerType } from '../shared/native-types.js';

/** Longest varchar(n) that MySQL accepts under utf8mb4 (65535-byte row limit / 4 bytes per character). */
const MAX_VARCHAR = 16_383;
const UTF8MB4_MAX_BYTES_PER_CHAR = 4;

/** The text family's limits are bytes, not characters. */
const TEXT_BYTES: ReadonlyMap<string, number> = new Map([
  ['tinytext', 255],
  ['text', 65_535],
  ['mediumtext', 16_777_215],
  ['longtext', 4_294_967_295],
]);
const BLOB_BYTES: ReadonlyMap<string, number> = new Map([
  ['tinyblob', 255],
  ['blob', 65_535],
  ['mediumblob', 16_777_215],
  ['longblob', 4_294_967_295],
]);

const SPATIAL = new Set([
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
]);
const UNSUPPORTED: ReadonlyMap<string, string | undefined> = new Map([['vector', undefined]]);

const INTEGER_BITS: ReadonlyMap<string, number> = new Map([
  ['tinyint', 8],
  ['smallint', 16],
  ['mediumint', 24],
  ['int', 32],
  ['integer', 32],
  ['bigint', 64],
]);

/** Non-integer types that MySQL lets carry unsigned/zerofill (deprecated, but still reported). */
const SIGNABLE = new Set(['decimal', 'numeric', 'dec', 'fixed', 'float', 'double', 'double precision', 'real']);

/** base, then anything in parentheses (enum/set lists included), then the numeric modifiers. */
const SHAPE = /^([a-z][a-z0-9 ]*?)(?:\((.*)\))?((?: (?:unsigned|signed|zerofill))*)$/;
const QUOTED_LIST = /^'(?:[^']|'')*'(?:,'(?:[^']|'')*')*$/;

function parseQuotedList(args: string): string[] | null {
  if (!QUOTED_LIST.test(args)) return null;
  return [...args.matchAll(/'((?:[^']|'')*)'/g)].map((v) => (v[1] ?? '').replace(/''/g, "'"));
}

/** MySQL's boolean: a signed tinyint, which holds -128..127 as well as 0 and 1 (NativeType.integer). */
const tinyintBoolean = (): NativeParse => ({ ok: true, type: { kind: 'boolean' }, countsBytes: false, integer: integerRange(8, false) });

function parse(nativeType: string): NativeParse {
  const t = normalizeSpelling(nativeType);
  const m = SHAPE.exec(t);
  if (!m) return unknown();
  const [, base = '', args, mods = ''] = m;
  if (SPATIAL.has(base)) return unsupported('spatial types are not mapped');
  if (UNSUPPORTED.has(base)) return unsupported(UNSUPPORTED.get(base));

  // zerofill implies unsigned; MySQL 8 reports both, older servers may not.
  const unsigned = / unsigned| zerofill/.test(mods);
  const numbers = args === undefined ? [] : /^\d+(?:,\d+)?$/.test(args) ? args.split(',').map(Number) : null;
  const [n, scale] = numbers ?? [];
  const noArgs = args === undefined;
  const oneNumber = numbers !== null && scale === undefined;
  const when = (shapeFits: boolean, type: LogicalType): NativeParse => (shapeFits ? parsed(type) : unknown());

  if (mods !== '' && !INTEGER_BITS.has(base) && !SIGNABLE.has(base)) return unknown();

  const bits = INTEGER_BITS.get(base);
  if (bits !== undefined) {
    if (!oneNumber) return unknown();
    // The display width 1 on a signed tinyint is how MySQL spells BOOL; Tandem maps it as a boolean, and
    // verification compares it as the integer it stores unless the other side's column is a boolean (`integer`).
    if (base === 'tinyint' && n === 1 && !unsigned) return tinyintBoolean();
    return parsed(integerRange(bits, unsigned));
  }

  switch (base) {
    case 'bool':
    case 'boolean':
      // Synonyms of tinyint(1), which information_schema reports them as.
      return noArgs ? tinyintBoolean() : unknown();
    case 'serial':
      return when(noArgs, integerRange(64, true));
    case 'year':
      // YEAR stores 1901..2155 plus the zero year 0000.
      return when(noArgs || args === '4', { kind: 'integer', min: 0n, max: 2155n });
    case 'decimal':
    case 'numeric':
    case 'dec':
    case 'fixed':
      return when(numbers !== null, { kind: 'decimal', precision: n ?? 10, scale: scale ?? 0 });
    case 'float':
    case 'double':
    case 'double precision':
    case 'real': {
      if (numbers === null) return unknown();
      if (scale !== undefined) {
        const plain = base === 'float' ? 'float' : 'double';
        return unsupported(`it rounds values to ${scale} decimal places; decimal(${n ?? 0},${scale}) or ${plain} maps cleanly`);
      }
      // float(p) is double from p = 25 on, as in MySQL itself.
      const single = base === 'float' && (n === undefined || n <= 24);
      return parsed({ kind: 'float', bits: single ? 32 : 64 });
    }
    case 'char':
      return when(oneNumber, { kind: 'text', maxLength: n ?? 1, fixed: true });
    case 'varchar':
      return n !== undefined && oneNumber ? parsed({ kind: 'text', maxLength: n, fixed: false }) : unknown();
    case 'binary':
      return when(oneNumber, { kind: 'binary', maxLength: n ?? 1, fixed: true });
    case 'varbinary':
      return n !== undefined && oneNumber ? parsed({ kind: 'binary', maxLength: n, fixed: false }) : unknown();
    case 'date':
      return when(noArgs, { kind: 'date' });
    case 'time':
      return when(oneNumber, { kind: 'time', precision: n ?? 0 });
    case 'datetime':
    case 'timestamp':
      // MySQL timestamp is stored as a UTC instant and shown in the session time zone: a timestamptz.
      return when(oneNumber, { kind: 'timestamp', precision: n ?? 0, withTimeZone: base === 'timestamp' });
    case 'json':
      return when(noArgs, { kind: 'json' });
    case 'uuid':
      return when(noArgs, { kind: 'uuid' });
    case 'inet4':
    case 'inet6':
      // MariaDB 10.5+ (inet6) and 10.10+ (inet4): one address family each, never a netmask.
      return when(noArgs, { kind: 'inet', family: base === 'inet4' ? 4 : 6, netmask: false });
    case 'bit':
      return when(oneNumber, { kind: 'bit', length: n ?? 1 });
    case 'enum':
    case 'set': {
      const values = args === undefined ? null : parseQuotedList(args);
      if (values === null) return unknown();
      return parsed(base === 'enum' ? { kind: 'enum', values } : { kind: 'set', values });
    }
    default: {
      const textBytes = TEXT_BYTES.get(base);
      if (textBytes !== undefined && noArgs) return parsed({ kind: 'text', maxLength: textBytes, fixed: false }, true);
      const blobBytes = BLOB_BYTES.get(base);
      if (blobBytes !== undefined && noArgs) return parsed({ kind: 'binary', maxLength: blobBytes, fixed: false });
      return unknown();
    }
  }
}

const INTEGER_TYPES: ReadonlyArray<readonly [string, IntegerType]> = (
  [
    ['tinyint', 8],
    ['smallint', 16],
    ['mediumint', 24],
    ['int', 32],
    ['bigint', 64],
  ] as const
).flatMap(([name, bits]) => [[name, integerRange(bits, false)] as const, [`${name} unsigned`, integerRange(bits, true)] as const]);

/** varchar(n) counts characters, but beyond utf8mb4's row limit it must become a text type, which counts bytes. */
function textFor(chars: number): string {
  if (chars <= MAX_VARCHAR) return `varchar(${chars})`;
  const bytes = chars * UTF8MB4_MAX_BYTES_PER_CHAR;
  return bytes <= (TEXT_BYTES.get('mediumtext') ?? 0) ? 'mediumtext' : 'longtext';
}

const withPrecision = (name: string, p: number): string => (p === 0 ? name : `${name}(${p})`);

function render(t: LogicalType): TranslatedType {
  switch (t.kind) {
    case 'integer':
      return { ok: true, type: narrowestInteger(INTEGER_TYPES, t.min, t.max, (digits) => `decimal(${digits},0)`) };
    case 'boolean':
      return { ok: true, type: 'tinyint(1)' };
    case 'decimal': {
      if (t.precision === null) return { ok: true, type: 'decimal(65,30)' };
      // PostgreSQL allows negative scales and scale > precision; MySQL needs 0 <= s <= p.
      const scale = Math.max(t.scale ?? 0, 0);
      const precision = Math.max(t.precision - (t.scale ?? 0), 0) + scale;
      if (precision > 65 || scale > 30) return { ok: false, reason: `needs decimal(${precision},${scale}), beyond mysql's decimal(65,30)` };
      return { ok: true, type: `decimal(${Math.max(precision, 1)},${scale})` };
    }
    case 'float':
      return { ok: true, type: t.bits === 32 ? 'float' : 'double' };
    case 'text':
      if (t.maxLength === null) return { ok: true, type: 'longtext' };
      return { ok: true, type: t.fixed && t.maxLength <= 255 ? `char(${t.maxLength})` : textFor(t.maxLength) };
    case 'binary':
      return { ok: true, type: 'longblob' };
    case 'date':
      return { ok: true, type: 'date' };
    case 'time':
      return { ok: true, type: withPrecision('time', t.precision) };
    case 'timestamp':
      // datetime rather than timestamp: MySQL timestamp stops in 2038; Tandem writes UTC either way.
      return { ok: true, type: withPrecision('datetime', t.precision) };
    case 'json':
      return { ok: true, type: 'json' };
    case 'uuid':
      // char(36) rather than MariaDB uuid: it works on MySQL too.
      return { ok: true, type: 'char(36)' };
    case 'inet':
      // Text rather than MariaDB inet6/inet4, which work on MariaDB only and hold one address family without netmask.
      return { ok: true, type: `varchar(${inetTextLength(t)})` };
    case 'enum':
    case 'set':
      return { ok: true, type: 'text' };
    case 'bit':
      if (t.length > 64) return { ok: false, reason: `has ${t.length} bits; mysql bit holds at most 64` };
      return { ok: true, type: `bit(${t.length})` };
    case 'varbit':
      return { ok: false, reason: 'has no equivalent on mysql (mysql bit(n) is fixed-length, so bit-string lengths would be lost)' };
  }
}

export const mysqlNativeTypes: NativeTypes = {
  parse,
  normalize: normalizeSpelling,
  render,
  // The largest packet to or from a server is 1 GiB (max_allowed_packet's ceiling), and a row travels in one.
  maxValueLength: 1_073_741_824,
  maxEnumLabel: 255,
  nanAndInfinity: false,
  zeroDates: true,
  dateRange: '1000-01-01..9999-12-31',
  extraDates: null,
  zonedTimestampRange: '1970-01-01 00:00:01..2038-01-19 03:14:07 UTC',
  timeRange: '-838:59:59..838:59:59',
  timeOfDay: false,
};
