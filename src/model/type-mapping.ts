/**
 * Column type mapping between PostgreSQL and MySQL/MariaDB.
 *
 * Native type strings are first parsed (one parser per engine) into a small logical type; the
 * compatibility rules then work on logical types only, so that a rule such as "integer into
 * integer needs a wider range" is written once for every engine pair. Rules are deliberately
 * strict: a mapping is ok only when every value the source column can hold survives unchanged
 * (verification compares canonical values, so a silently rounded or padded value is drift).
 * Where the type alone cannot tell (unbounded sources, NaN, zero dates, ...) the verdict is ok
 * with a warning, and the apply side refuses the offending value.
 */
import type { EngineKind } from './schema.js';

export type LogicalType =
  | { kind: 'integer'; min: bigint; max: bigint }
  | { kind: 'boolean' }
  /** `precision` null: unbounded PostgreSQL numeric (scale then null too). */
  | { kind: 'decimal'; precision: number | null; scale: number | null }
  | { kind: 'float'; bits: 32 | 64 }
  /** Characters, except the MySQL text family whose limits are bytes. null: no limit (PostgreSQL). */
  | { kind: 'text'; maxLength: number | null; fixed: boolean }
  /** `fixed`: MySQL binary(n), which right-pads shorter values with zero bytes. */
  | { kind: 'binary'; maxLength: number | null; fixed: boolean }
  | { kind: 'date' }
  | { kind: 'time'; precision: number }
  | { kind: 'timestamp'; precision: number; withTimeZone: boolean }
  | { kind: 'json' }
  | { kind: 'uuid' }
  /** `values` null: a PostgreSQL enum, whose labels are not part of the type string. */
  | { kind: 'enum'; values: string[] | null }
  | { kind: 'set'; values: string[] }
  | { kind: 'bit'; length: number }
  /** PostgreSQL bit varying: kept apart from bit because the bit-string length is part of the value. */
  | { kind: 'varbit'; maxLength: number | null };

export type ParsedType = { ok: true; type: LogicalType } | { ok: false; reason: string };
export type MappingVerdict = { ok: true; warning?: string } | { ok: false; reason: string };
export type TranslatedType = { ok: true; type: string } | { ok: false; reason: string };

type Kind = LogicalType['kind'];
type Of<K extends Kind> = Extract<LogicalType, { kind: K }>;

/** A parsed type plus the engine's own base name, which some rules need (MySQL text family, ...). */
type Parsed = { ok: true; type: LogicalType; base: string } | { ok: false; reason: string };

interface Side {
  engine: EngineKind;
  native: string;
  base: string;
  type: LogicalType;
  label: string;
}

/** PostgreSQL's largest varlena value; a limit at least this large is as good as none for a PostgreSQL source. */
const PG_MAX_VARLENA = 1_073_741_823;
/** Longest varchar(n) that MySQL accepts under utf8mb4 (65535-byte row limit / 4 bytes per character). */
const MYSQL_MAX_VARCHAR = 16_383;
const UTF8MB4_MAX_BYTES_PER_CHAR = 4;
const UUID_TEXT_LENGTH = 36;
/** PostgreSQL enum labels are at most NAMEDATALEN - 1 bytes. */
const PG_ENUM_LABEL_MAX = 63;

const MYSQL_TEXT_BYTES: ReadonlyMap<string, number> = new Map([
  ['tinytext', 255],
  ['text', 65_535],
  ['mediumtext', 16_777_215],
  ['longtext', 4_294_967_295],
]);
const MYSQL_BLOB_BYTES: ReadonlyMap<string, number> = new Map([
  ['tinyblob', 255],
  ['blob', 65_535],
  ['mediumblob', 16_777_215],
  ['longblob', 4_294_967_295],
]);

const otherEngine = (engine: EngineKind): EngineKind => (engine === 'postgres' ? 'mysql' : 'postgres');

function intRange(bits: number, unsigned: boolean): Of<'integer'> {
  const b = BigInt(bits);
  return unsigned
    ? { kind: 'integer', min: 0n, max: (1n << b) - 1n }
    : { kind: 'integer', min: -(1n << (b - 1n)), max: (1n << (b - 1n)) - 1n };
}

// ---------------------------------------------------------------------------------------------
// Normalization
// ---------------------------------------------------------------------------------------------

/**
 * Lower-cases and tidies white space outside quotes only: MySQL enum/set values are quoted in
 * column_type and their case and spacing are part of the data.
 */
function normalize(nativeType: string): string {
  return nativeType
    .trim()
    .split(/('(?:[^']|'')*')/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .toLowerCase()
            .replace(/\s+/g, ' ')
            .replace(/\s*\(\s*/g, '(')
            .replace(/\s*,\s*/g, ',')
            .replace(/\s*\)/g, ')'),
    )
    .join('');
}

const ok = (type: LogicalType, base: string): Parsed => ({ ok: true, type, base });

function unsupported(type: string, engine: EngineKind, hint?: string): Parsed {
  const instead = hint ? ` (${hint})` : '';
  return {
    ok: false,
    reason: `${type} has no equivalent on ${otherEngine(engine)}${instead}; exclude the table or change the column type`,
  };
}

function unknownType(type: string, engine: EngineKind): Parsed {
  const enumHint = engine === 'postgres' ? '; if it is an enum, pass isEnum' : '';
  return {
    ok: false,
    reason: `${type} is not a ${engine} type Tandem can map${enumHint}; exclude the table or change the column type`,
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL parser (format_type() spelling)
// ---------------------------------------------------------------------------------------------

/** Unsupported PostgreSQL types, with what to use instead when there is an obvious choice. */
const PG_UNSUPPORTED: ReadonlyMap<string, string | undefined> = new Map([
  ['interval', undefined],
  ['money', 'numeric(19,2) maps cleanly'],
  ['point', undefined],
  ['line', undefined],
  ['lseg', undefined],
  ['box', undefined],
  ['path', undefined],
  ['polygon', undefined],
  ['circle', undefined],
  ['geometry', undefined],
  ['geography', undefined],
  ['xml', 'text maps cleanly'],
  ['tsvector', undefined],
  ['tsquery', undefined],
  ['inet', 'text maps cleanly'],
  ['cidr', 'text maps cleanly'],
  ['macaddr', 'text maps cleanly'],
  ['macaddr8', 'text maps cleanly'],
  ['hstore', 'jsonb maps cleanly'],
  ['oid', undefined],
  ['pg_lsn', undefined],
  ['txid_snapshot', undefined],
  ['pg_snapshot', undefined],
  ['timetz', 'time zones on times of day cannot be kept'],
]);

const PG_ALIASES: ReadonlyMap<string, string> = new Map([
  ['int', 'integer'],
  ['int4', 'integer'],
  ['serial', 'integer'],
  ['serial4', 'integer'],
  ['int2', 'smallint'],
  ['smallserial', 'smallint'],
  ['serial2', 'smallint'],
  ['int8', 'bigint'],
  ['bigserial', 'bigint'],
  ['serial8', 'bigint'],
  ['bool', 'boolean'],
  ['float4', 'real'],
  ['float8', 'double precision'],
  ['decimal', 'numeric'],
  ['varchar', 'character varying'],
  ['char', 'character'],
  ['varbit', 'bit varying'],
]);

/** base, then optional (n) or (p,s), then the time zone clause that only time/timestamp take. */
const PG_SHAPE = /^([a-z][a-z0-9_ ]*?)(?:\((\d+)(?:,(-?\d+))?\))?( with time zone| without time zone)?$/;

function parsePostgres(t: string, isEnum: boolean): Parsed {
  // An enum's type string is its (user-chosen) name, so nothing else about it can be parsed.
  if (isEnum) return ok({ kind: 'enum', values: null }, 'enum');
  if (t.endsWith('[]')) return unsupported(t, 'postgres', 'arrays are not mapped; jsonb maps cleanly');

  const head = t.split(/[ (]/)[0] ?? t;
  if (PG_UNSUPPORTED.has(head)) return unsupported(t, 'postgres', PG_UNSUPPORTED.get(head));
  if (head.endsWith('range')) return unsupported(t, 'postgres', 'range types are not mapped');
  if (head.startsWith('reg')) return unsupported(t, 'postgres', 'object identifiers are local to a database');

  const m = PG_SHAPE.exec(t);
  if (!m) return unknownType(t, 'postgres');
  const [, rawBase = '', arg1, arg2, zone] = m;
  let base = PG_ALIASES.get(rawBase) ?? rawBase;
  let withTimeZone = zone === ' with time zone';
  if (base === 'timestamptz') {
    base = 'timestamp';
    withTimeZone = true;
  }
  const n = arg1 === undefined ? undefined : Number(arg1);
  const scale = arg2 === undefined ? undefined : Number(arg2);
  const bare = n === undefined && zone === undefined;
  const oneArg = scale === undefined && zone === undefined;

  switch (base) {
    case 'smallint':
      return bare ? ok(intRange(16, false), base) : unknownType(t, 'postgres');
    case 'integer':
      return bare ? ok(intRange(32, false), base) : unknownType(t, 'postgres');
    case 'bigint':
      return bare ? ok(intRange(64, false), base) : unknownType(t, 'postgres');
    case 'boolean':
      return bare ? ok({ kind: 'boolean' }, base) : unknownType(t, 'postgres');
    case 'numeric':
      if (zone !== undefined) return unknownType(t, 'postgres');
      return ok({ kind: 'decimal', precision: n ?? null, scale: n === undefined ? null : (scale ?? 0) }, base);
    case 'real':
      return bare ? ok({ kind: 'float', bits: 32 }, base) : unknownType(t, 'postgres');
    case 'double precision':
      return bare ? ok({ kind: 'float', bits: 64 }, base) : unknownType(t, 'postgres');
    case 'float': {
      // float(p) follows the SQL standard: p is binary digits, 24 is the most a real keeps.
      if (!oneArg) return unknownType(t, 'postgres');
      const single = n !== undefined && n <= 24;
      return ok({ kind: 'float', bits: single ? 32 : 64 }, single ? 'real' : 'double precision');
    }
    case 'text':
      return bare ? ok({ kind: 'text', maxLength: null, fixed: false }, base) : unknownType(t, 'postgres');
    case 'character varying':
      return oneArg ? ok({ kind: 'text', maxLength: n ?? null, fixed: false }, base) : unknownType(t, 'postgres');
    case 'character':
      return oneArg ? ok({ kind: 'text', maxLength: n ?? 1, fixed: true }, base) : unknownType(t, 'postgres');
    case 'bpchar':
      return bare ? ok({ kind: 'text', maxLength: null, fixed: true }, base) : unknownType(t, 'postgres');
    case 'bytea':
      return bare ? ok({ kind: 'binary', maxLength: null, fixed: false }, base) : unknownType(t, 'postgres');
    case 'date':
      return bare ? ok({ kind: 'date' }, base) : unknownType(t, 'postgres');
    case 'time':
      if (scale !== undefined) return unknownType(t, 'postgres');
      if (withTimeZone) return unsupported(t, 'postgres', 'time zones on times of day cannot be kept');
      return ok({ kind: 'time', precision: n ?? 6 }, base);
    case 'timestamp':
      if (scale !== undefined) return unknownType(t, 'postgres');
      return ok({ kind: 'timestamp', precision: n ?? 6, withTimeZone }, base);
    case 'json':
    case 'jsonb':
      return bare ? ok({ kind: 'json' }, base) : unknownType(t, 'postgres');
    case 'uuid':
      return bare ? ok({ kind: 'uuid' }, base) : unknownType(t, 'postgres');
    case 'bit':
      return oneArg ? ok({ kind: 'bit', length: n ?? 1 }, base) : unknownType(t, 'postgres');
    case 'bit varying':
      return oneArg ? ok({ kind: 'varbit', maxLength: n ?? null }, base) : unknownType(t, 'postgres');
    default:
      return unknownType(t, 'postgres');
  }
}

// ---------------------------------------------------------------------------------------------
// MySQL / MariaDB parser (information_schema.columns.column_type spelling)
// ---------------------------------------------------------------------------------------------

const MYSQL_SPATIAL = new Set([
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
const MYSQL_UNSUPPORTED: ReadonlyMap<string, string | undefined> = new Map([
  ['inet4', 'char(15) maps cleanly'],
  ['inet6', 'varchar(39) maps cleanly'],
  ['vector', undefined],
]);

const MYSQL_INTEGER_BITS: ReadonlyMap<string, number> = new Map([
  ['tinyint', 8],
  ['smallint', 16],
  ['mediumint', 24],
  ['int', 32],
  ['integer', 32],
  ['bigint', 64],
]);

/** Non-integer types that MySQL lets carry unsigned/zerofill (deprecated, but still reported). */
const MYSQL_SIGNABLE = new Set(['decimal', 'numeric', 'dec', 'fixed', 'float', 'double', 'double precision', 'real']);

/** base, then anything in parentheses (enum/set lists included), then the numeric modifiers. */
const MYSQL_SHAPE = /^([a-z][a-z0-9 ]*?)(?:\((.*)\))?((?: (?:unsigned|signed|zerofill))*)$/;
const QUOTED_LIST = /^'(?:[^']|'')*'(?:,'(?:[^']|'')*')*$/;

function parseQuotedList(args: string): string[] | null {
  if (!QUOTED_LIST.test(args)) return null;
  return [...args.matchAll(/'((?:[^']|'')*)'/g)].map((v) => (v[1] ?? '').replace(/''/g, "'"));
}

function parseMysql(t: string): Parsed {
  const m = MYSQL_SHAPE.exec(t);
  if (!m) return unknownType(t, 'mysql');
  const [, base = '', args, mods = ''] = m;
  if (MYSQL_SPATIAL.has(base)) return unsupported(t, 'mysql', 'spatial types are not mapped');
  if (MYSQL_UNSUPPORTED.has(base)) return unsupported(t, 'mysql', MYSQL_UNSUPPORTED.get(base));

  // zerofill implies unsigned; MySQL 8 reports both, older servers may not.
  const unsigned = / unsigned| zerofill/.test(mods);
  const numbers = args === undefined ? [] : /^\d+(?:,\d+)?$/.test(args) ? args.split(',').map(Number) : null;
  const [n, scale] = numbers ?? [];
  const noArgs = args === undefined;
  const oneNumber = numbers !== null && scale === undefined;

  if (mods !== '' && !MYSQL_INTEGER_BITS.has(base) && !MYSQL_SIGNABLE.has(base)) {
    return unknownType(t, 'mysql');
  }

  const bits = MYSQL_INTEGER_BITS.get(base);
  if (bits !== undefined) {
    if (!oneNumber) return unknownType(t, 'mysql');
    // The display width 1 on a signed tinyint is how MySQL spells BOOL; Tandem treats it as boolean
    // throughout (canonical values `t`/`f`), so a bare tinyint(1) is never an integer here.
    if (base === 'tinyint' && n === 1 && !unsigned) return ok({ kind: 'boolean' }, 'tinyint(1)');
    return ok(intRange(bits, unsigned), base === 'integer' ? 'int' : base);
  }

  switch (base) {
    case 'bool':
    case 'boolean':
      return noArgs ? ok({ kind: 'boolean' }, 'tinyint(1)') : unknownType(t, 'mysql');
    case 'serial':
      return noArgs ? ok(intRange(64, true), 'bigint') : unknownType(t, 'mysql');
    case 'year':
      // YEAR stores 1901..2155 plus the zero year 0000.
      return noArgs || args === '4' ? ok({ kind: 'integer', min: 0n, max: 2155n }, 'year') : unknownType(t, 'mysql');
    case 'decimal':
    case 'numeric':
    case 'dec':
    case 'fixed':
      if (numbers === null) return unknownType(t, 'mysql');
      return ok({ kind: 'decimal', precision: n ?? 10, scale: scale ?? 0 }, 'decimal');
    case 'float':
    case 'double':
    case 'double precision':
    case 'real': {
      if (numbers === null) return unknownType(t, 'mysql');
      if (scale !== undefined) {
        const plain = base === 'float' ? 'float' : 'double';
        return { ok: false, reason: `${t} rounds values to ${scale} decimal places and has no equivalent on postgres; change the column type to decimal(${n ?? 0},${scale}) or ${plain}, or exclude the table` };
      }
      // float(p) is double from p = 25 on, as in MySQL itself.
      const single = base === 'float' && (n === undefined || n <= 24);
      return ok({ kind: 'float', bits: single ? 32 : 64 }, single ? 'float' : 'double');
    }
    case 'char':
      return oneNumber ? ok({ kind: 'text', maxLength: n ?? 1, fixed: true }, base) : unknownType(t, 'mysql');
    case 'varchar':
      return oneNumber && n !== undefined ? ok({ kind: 'text', maxLength: n, fixed: false }, base) : unknownType(t, 'mysql');
    case 'binary':
      return oneNumber ? ok({ kind: 'binary', maxLength: n ?? 1, fixed: true }, base) : unknownType(t, 'mysql');
    case 'varbinary':
      return oneNumber && n !== undefined ? ok({ kind: 'binary', maxLength: n, fixed: false }, base) : unknownType(t, 'mysql');
    case 'date':
      return noArgs ? ok({ kind: 'date' }, base) : unknownType(t, 'mysql');
    case 'time':
      return oneNumber ? ok({ kind: 'time', precision: n ?? 0 }, base) : unknownType(t, 'mysql');
    case 'datetime':
    case 'timestamp':
      // MySQL timestamp is stored as a UTC instant and shown in the session time zone: a timestamptz.
      return oneNumber ? ok({ kind: 'timestamp', precision: n ?? 0, withTimeZone: base === 'timestamp' }, base) : unknownType(t, 'mysql');
    case 'json':
      return noArgs ? ok({ kind: 'json' }, base) : unknownType(t, 'mysql');
    case 'uuid':
      return noArgs ? ok({ kind: 'uuid' }, base) : unknownType(t, 'mysql');
    case 'bit':
      return oneNumber ? ok({ kind: 'bit', length: n ?? 1 }, base) : unknownType(t, 'mysql');
    case 'enum':
    case 'set': {
      const values = args === undefined ? null : parseQuotedList(args);
      if (values === null) return unknownType(t, 'mysql');
      return ok(base === 'enum' ? { kind: 'enum', values } : { kind: 'set', values }, base);
    }
    default: {
      const textBytes = MYSQL_TEXT_BYTES.get(base);
      if (textBytes !== undefined && noArgs) return ok({ kind: 'text', maxLength: textBytes, fixed: false }, base);
      const blobBytes = MYSQL_BLOB_BYTES.get(base);
      if (blobBytes !== undefined && noArgs) return ok({ kind: 'binary', maxLength: blobBytes, fixed: false }, base);
      return unknownType(t, 'mysql');
    }
  }
}

function parse(engine: EngineKind, normalized: string, isEnum: boolean): Parsed {
  return engine === 'postgres' ? parsePostgres(normalized, isEnum) : parseMysql(normalized);
}

export function parseNativeType(engine: EngineKind, nativeType: string, opts?: { isEnum?: boolean }): ParsedType {
  const parsed = parse(engine, normalize(nativeType), opts?.isEnum ?? false);
  return parsed.ok ? { ok: true, type: parsed.type } : parsed;
}

function side(engine: EngineKind, nativeType: string, isEnum: boolean): { ok: true; side: Side } | { ok: false; reason: string } {
  const native = normalize(nativeType);
  const parsed = parse(engine, native, isEnum);
  if (!parsed.ok) return parsed;
  const label = isEnum && engine === 'postgres' ? `postgres enum ${native}` : `${engine} ${native}`;
  return { ok: true, side: { engine, native, base: parsed.base, type: parsed.type, label } };
}

// ---------------------------------------------------------------------------------------------
// Translation: the type Tandem proposes on the other engine
// ---------------------------------------------------------------------------------------------

const PG_INTEGER_TYPES: ReadonlyArray<readonly [string, Of<'integer'>]> = [
  ['smallint', intRange(16, false)],
  ['integer', intRange(32, false)],
  ['bigint', intRange(64, false)],
];
const MYSQL_INTEGER_TYPES: ReadonlyArray<readonly [string, Of<'integer'>]> = (
  [
    ['tinyint', 8],
    ['smallint', 16],
    ['mediumint', 24],
    ['int', 32],
    ['bigint', 64],
  ] as const
).flatMap(([name, bits]) => [
  [name, intRange(bits, false)] as const,
  [`${name} unsigned`, intRange(bits, true)] as const,
]);

const decimalDigits = (v: bigint): number => (v < 0n ? -v : v).toString().length;

function decimalSpelling(engine: EngineKind, precision: number, scale: number): string {
  return `${engine === 'postgres' ? 'numeric' : 'decimal'}(${precision},${scale})`;
}

/** The narrowest integer type on `engine` holding min..max, else an exact decimal. */
function integerTypeFor(engine: EngineKind, min: bigint, max: bigint): string {
  const candidates = engine === 'postgres' ? PG_INTEGER_TYPES : MYSQL_INTEGER_TYPES;
  const fit = candidates.find(([, r]) => r.min <= min && r.max >= max);
  return fit ? fit[0] : decimalSpelling(engine, Math.max(decimalDigits(min), decimalDigits(max)), 0);
}

/** PostgreSQL varchar(n) is n characters; MySQL varchar(n) beyond utf8mb4's row limit must become a text type. */
function mysqlTextFor(chars: number): string {
  if (chars <= MYSQL_MAX_VARCHAR) return `varchar(${chars})`;
  const bytes = chars * UTF8MB4_MAX_BYTES_PER_CHAR;
  return bytes <= (MYSQL_TEXT_BYTES.get('mediumtext') ?? 0) ? 'mediumtext' : 'longtext';
}

const withPrecision = (name: string, p: number): string => (p === 0 ? name : `${name}(${p})`);

function toPostgres(from: Side): TranslatedType {
  const t = from.type;
  switch (t.kind) {
    case 'integer':
      return { ok: true, type: integerTypeFor('postgres', t.min, t.max) };
    case 'boolean':
      return { ok: true, type: 'boolean' };
    case 'decimal':
      return { ok: true, type: t.precision === null ? 'numeric' : `numeric(${t.precision},${t.scale ?? 0})` };
    case 'float':
      return { ok: true, type: t.bits === 32 ? 'real' : 'double precision' };
    case 'text':
      if (t.maxLength === null || MYSQL_TEXT_BYTES.has(from.base)) return { ok: true, type: 'text' };
      return { ok: true, type: t.fixed ? `character(${t.maxLength})` : `character varying(${t.maxLength})` };
    case 'binary':
      return { ok: true, type: 'bytea' };
    case 'date':
      return { ok: true, type: 'date' };
    case 'time':
      return { ok: true, type: `time(${t.precision}) without time zone` };
    case 'timestamp':
      return { ok: true, type: `timestamp(${t.precision}) ${t.withTimeZone ? 'with' : 'without'} time zone` };
    case 'json':
      return { ok: true, type: 'jsonb' };
    case 'uuid':
      return { ok: true, type: 'uuid' };
    case 'enum':
    case 'set':
      return { ok: true, type: 'text' };
    case 'bit':
      return { ok: true, type: `bit(${t.length})` };
    case 'varbit':
      return { ok: true, type: t.maxLength === null ? 'bit varying' : `bit varying(${t.maxLength})` };
  }
}

function toMysql(from: Side): TranslatedType {
  const t = from.type;
  switch (t.kind) {
    case 'integer':
      return { ok: true, type: integerTypeFor('mysql', t.min, t.max) };
    case 'boolean':
      return { ok: true, type: 'tinyint(1)' };
    case 'decimal': {
      if (t.precision === null) return { ok: true, type: 'decimal(65,30)' };
      // PostgreSQL allows negative scales and scale > precision; MySQL needs 0 <= s <= p.
      const scale = Math.max(t.scale ?? 0, 0);
      const precision = Math.max(t.precision - (t.scale ?? 0), 0) + scale;
      if (precision > 65 || scale > 30) {
        return { ok: false, reason: `${from.label} needs decimal(${precision},${scale}), beyond mysql's decimal(65,30); change the column type or exclude the table` };
      }
      return { ok: true, type: `decimal(${Math.max(precision, 1)},${scale})` };
    }
    case 'float':
      return { ok: true, type: t.bits === 32 ? 'float' : 'double' };
    case 'text':
      if (t.maxLength === null) return { ok: true, type: 'longtext' };
      return { ok: true, type: t.fixed && t.maxLength <= 255 ? `char(${t.maxLength})` : mysqlTextFor(t.maxLength) };
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
    case 'enum':
    case 'set':
      return { ok: true, type: 'text' };
    case 'bit':
      if (t.length > 64) return { ok: false, reason: `${from.label} has ${t.length} bits; mysql bit holds at most 64; change the column type or exclude the table` };
      return { ok: true, type: `bit(${t.length})` };
    case 'varbit':
      return { ok: false, reason: `${from.native} has no equivalent on mysql (mysql bit(n) is fixed-length, so bit-string lengths would be lost); exclude the table or change the column type` };
  }
}

function translateSide(from: Side, toEngine: EngineKind): TranslatedType {
  if (from.engine === toEngine) return { ok: true, type: from.native };
  return toEngine === 'postgres' ? toPostgres(from) : toMysql(from);
}

export function translateType(fromEngine: EngineKind, fromType: string, toEngine: EngineKind, opts?: { fromIsEnum?: boolean }): TranslatedType {
  if (fromEngine === toEngine) return { ok: true, type: fromType };
  const from = side(fromEngine, fromType, opts?.fromIsEnum ?? false);
  return from.ok ? translateSide(from.side, toEngine) : from;
}

// ---------------------------------------------------------------------------------------------
// Compatibility rules
// ---------------------------------------------------------------------------------------------

const KIND_WORD: Readonly<Record<Kind, string>> = {
  integer: 'integer',
  boolean: 'boolean',
  decimal: 'decimal',
  float: 'floating-point',
  text: 'text',
  binary: 'binary',
  date: 'date',
  time: 'time',
  timestamp: 'timestamp',
  json: 'JSON',
  uuid: 'UUID',
  enum: 'enum',
  set: 'set',
  bit: 'bit-string',
  varbit: 'bit-string',
};

function accept(warnings: string[]): MappingVerdict {
  return warnings.length === 0 ? { ok: true } : { ok: true, warning: warnings.join('; ') };
}

function refuse(from: Side, to: Side, why: string): MappingVerdict {
  return { ok: false, reason: `${from.label} cannot be stored in ${to.label}: ${why}` };
}

function useInstead(from: Side, to: Side): string {
  const proposal = translateSide(from, to.engine);
  return proposal.ok ? `; use ${proposal.type}` : '';
}

function mismatch(from: Side, to: Side, why?: string): MappingVerdict {
  const detail = why ?? `${KIND_WORD[from.type.kind]} → ${KIND_WORD[to.type.kind]} is not a lossless mapping`;
  return refuse(from, to, `${detail}${useInstead(from, to)}`);
}

/** A limit this large takes anything the other engine can produce, so it counts as unbounded. */
const effectivelyUnbounded = (max: number | null): boolean => max === null || max >= PG_MAX_VARLENA;

/** Shared by text, binary and bit varying: every source value must fit the target's limit. */
function lengthRule(from: Side, to: Side, fromMax: number | null, toMax: number | null, unit: string, warnings: string[]): MappingVerdict {
  if (fromMax === null) {
    if (!effectivelyUnbounded(toMax)) warnings.push(`values longer than ${toMax} ${unit} will be refused at apply time`);
    return accept(warnings);
  }
  if (toMax !== null && toMax < fromMax) {
    return refuse(from, to, `values of up to ${fromMax} ${unit} do not fit in ${toMax}${useInstead(from, to)}`);
  }
  return accept(warnings);
}

/** MySQL's text family counts bytes, everything else (char, varchar, PostgreSQL) characters. */
const countsBytes = (s: Side): boolean => s.engine === 'mysql' && MYSQL_TEXT_BYTES.has(s.base);

function textRule(from: Side, f: Of<'text'>, to: Side, t: Of<'text'>): MappingVerdict {
  const warnings: string[] = [];
  if (t.fixed && !f.fixed) warnings.push(`${to.native} is fixed-length: shorter values are space-padded and trailing spaces are not preserved`);
  if (countsBytes(to) && !countsBytes(from) && f.maxLength !== null && t.maxLength !== null) {
    const worst = f.maxLength * UTF8MB4_MAX_BYTES_PER_CHAR;
    if (worst > t.maxLength) {
      warnings.push(`${to.native} holds ${t.maxLength} bytes, ${f.maxLength} characters can take ${worst}; longer values will be refused at apply time`);
    }
  }
  return lengthRule(from, to, f.maxLength, t.maxLength, 'characters', warnings);
}

function labelsRule(from: Side, values: string[] | null, joined: boolean, to: Side, t: Of<'text'>): MappingVerdict {
  if (t.maxLength === null) return accept([]);
  if (values === null) {
    return t.maxLength >= PG_ENUM_LABEL_MAX ? accept([]) : accept([`labels longer than ${t.maxLength} characters will be refused at apply time`]);
  }
  const lengths = values.map((v) => [...v].length);
  // A set value is its members joined by commas, so the longest is all of them.
  const longest = joined ? lengths.reduce((a, b) => a + b, 0) + Math.max(values.length - 1, 0) : Math.max(0, ...lengths);
  return longest <= t.maxLength ? accept([]) : refuse(from, to, `values of up to ${longest} characters do not fit in ${t.maxLength}`);
}

function membersRule(from: Side, source: string[] | null, to: Side, target: string[] | null): MappingVerdict {
  if (source === null || target === null) {
    return accept(['enum labels cannot be compared from the type names alone; values missing from the target will be refused at apply time']);
  }
  const missing = source.filter((v) => !target.includes(v));
  return missing.length === 0 ? accept([]) : refuse(from, to, `${missing.map((v) => `'${v}'`).join(', ')} missing from the target`);
}

/** Range limits of the date/time types that the type names alone cannot rule out. */
function temporalWarnings(from: Side, to: Side): string[] {
  const warnings: string[] = [];
  if (from.engine === 'mysql' && to.engine === 'postgres' && from.type.kind !== 'time') {
    warnings.push('mysql zero dates (0000-00-00) have no postgres equivalent and will be refused at apply time');
  }
  if (from.engine === 'postgres' && to.engine === 'mysql' && from.type.kind !== 'time') {
    warnings.push('postgres values outside 1000-01-01..9999-12-31 (including infinity and BC dates) have no mysql equivalent and will be refused at apply time');
  }
  const toMysqlTimestamp = to.engine === 'mysql' && to.type.kind === 'timestamp' && to.type.withTimeZone;
  const fromMysqlTimestamp = from.engine === 'mysql' && from.type.kind === 'timestamp' && from.type.withTimeZone;
  if (toMysqlTimestamp && !fromMysqlTimestamp) {
    warnings.push('mysql timestamp holds only 1970-01-01 00:00:01..2038-01-19 03:14:07 UTC; values outside that will be refused at apply time');
  }
  if (from.engine === 'mysql' && to.engine === 'postgres' && from.type.kind === 'time') {
    warnings.push('mysql time values outside 00:00:00..24:00:00 (negative or longer durations) will be refused at apply time');
  }
  return warnings;
}

function precisionRule(from: Side, fromP: number, to: Side, toP: number): MappingVerdict {
  if (toP < fromP) {
    return refuse(from, to, `precision ${fromP} (fractional-second digits) would be rounded to precision ${toP}${useInstead(from, to)}`);
  }
  return accept(temporalWarnings(from, to));
}

const NAN_WARNING = 'NaN and infinity have no mysql equivalent and will be refused at apply time';

function compare(from: Side, to: Side): MappingVerdict {
  const f = from.type;
  const t = to.type;
  const pgToMysql = from.engine === 'postgres' && to.engine === 'mysql';
  switch (f.kind) {
    case 'integer':
      if (t.kind === 'integer') {
        if (t.min <= f.min && t.max >= f.max) return accept([]);
        return refuse(from, to, `values range over ${f.min}..${f.max}, ${to.native} holds only ${t.min}..${t.max}; use ${integerTypeFor(to.engine, f.min, f.max)}`);
      }
      if (t.kind === 'decimal') {
        const needed = Math.max(decimalDigits(f.min), decimalDigits(f.max));
        if (t.precision === null || t.precision - (t.scale ?? 0) >= needed) return accept([]);
        return refuse(from, to, `values up to ${f.max} need ${needed} integer digits, ${to.native} has ${t.precision - (t.scale ?? 0)}; use ${decimalSpelling(to.engine, needed, 0)}`);
      }
      return mismatch(from, to);

    case 'boolean':
      return t.kind === 'boolean' || t.kind === 'integer' ? accept([]) : mismatch(from, to);

    case 'decimal': {
      if (t.kind === 'float') return mismatch(from, to, 'floating point cannot hold every decimal value exactly');
      if (t.kind !== 'decimal') return mismatch(from, to);
      if (t.precision === null) return accept([]);
      if (f.precision === null) {
        return accept([`values outside ${to.native} and NaN/infinity will be refused at apply time`]);
      }
      const fScale = f.scale ?? 0;
      const tScale = t.scale ?? 0;
      const fDigits = f.precision - fScale;
      const tDigits = t.precision - tScale;
      if (tDigits < fDigits || tScale < fScale) {
        const digits = Math.max(fDigits, tDigits);
        const scale = Math.max(fScale, tScale, 0);
        const why = tDigits < fDigits ? `needs ${fDigits} integer digits, ${to.native} has ${tDigits}` : `scale ${fScale} would be rounded to scale ${tScale}`;
        return refuse(from, to, `${why}; use ${decimalSpelling(to.engine, Math.max(digits, 0) + scale, scale)}`);
      }
      return accept(pgToMysql ? [NAN_WARNING] : []);
    }

    case 'float':
      if (t.kind !== 'float') return mismatch(from, to);
      if (t.bits < f.bits) return refuse(from, to, `double-precision values would be rounded to single precision${useInstead(from, to)}`);
      return accept(pgToMysql ? [NAN_WARNING] : []);

    case 'text':
      if (t.kind === 'text') return textRule(from, f, to, t);
      if (t.kind === 'uuid') {
        if (f.maxLength !== null && f.maxLength < UUID_TEXT_LENGTH) return refuse(from, to, `${f.maxLength} characters cannot hold a UUID`);
        return accept(['strings that are not UUIDs will be refused at apply time']);
      }
      if (t.kind === 'enum' || t.kind === 'set') return mismatch(from, to, 'free text cannot go into a fixed list of labels');
      return mismatch(from, to);

    case 'binary': {
      if (t.kind !== 'binary') return mismatch(from, to);
      const sameFixed = f.fixed && f.maxLength === t.maxLength;
      const warnings = t.fixed && !sameFixed ? [`${to.native} is fixed-length: shorter values will be right-padded with zero bytes`] : [];
      return lengthRule(from, to, f.maxLength, t.maxLength, 'bytes', warnings);
    }

    case 'date':
      return t.kind === 'date' || t.kind === 'timestamp' ? accept(temporalWarnings(from, to)) : mismatch(from, to);

    case 'time':
      return t.kind === 'time' ? precisionRule(from, f.precision, to, t.precision) : mismatch(from, to);

    case 'timestamp':
      // Time zone differences are fine: Tandem moves every timestamp as a UTC instant.
      return t.kind === 'timestamp' ? precisionRule(from, f.precision, to, t.precision) : mismatch(from, to);

    case 'json':
      if (t.kind === 'json') return accept([]);
      if (t.kind === 'text') {
        return effectivelyUnbounded(t.maxLength) ? accept([]) : refuse(from, to, `JSON documents have no length limit, ${to.native} holds ${t.maxLength}${useInstead(from, to)}`);
      }
      return mismatch(from, to);

    case 'uuid':
      if (t.kind === 'uuid') return accept([]);
      if (t.kind === 'text') {
        return t.maxLength === null || t.maxLength >= UUID_TEXT_LENGTH ? accept([]) : refuse(from, to, `a UUID needs ${UUID_TEXT_LENGTH} characters${useInstead(from, to)}`);
      }
      return mismatch(from, to);

    case 'enum':
      if (t.kind === 'text') return labelsRule(from, f.values, false, to, t);
      if (t.kind === 'enum') return membersRule(from, f.values, to, t.values);
      return mismatch(from, to);

    case 'set':
      if (t.kind === 'text') return labelsRule(from, f.values, true, to, t);
      if (t.kind === 'set') return membersRule(from, f.values, to, t.values);
      return mismatch(from, to);

    case 'bit':
      if (t.kind === 'bit') return t.length >= f.length ? accept([]) : refuse(from, to, `${f.length} bits do not fit in ${t.length}${useInstead(from, to)}`);
      if (t.kind === 'varbit') return lengthRule(from, to, f.length, t.maxLength, 'bits', []);
      return mismatch(from, to);

    case 'varbit':
      if (t.kind === 'varbit') return lengthRule(from, to, f.maxLength, t.maxLength, 'bits', []);
      return mismatch(from, to, t.kind === 'bit' ? 'a fixed-length bit(n) would pad shorter bit strings' : undefined);
  }
}

export function checkTypeMapping(
  fromEngine: EngineKind,
  fromType: string,
  toEngine: EngineKind,
  toType: string,
  opts?: { fromIsEnum?: boolean; toIsEnum?: boolean },
): MappingVerdict {
  const sameEngine = fromEngine === toEngine;
  // Identical types on one engine need no understanding of the type: the engine copies it as is.
  if (sameEngine && normalize(fromType) === normalize(toType)) return { ok: true };

  const from = side(fromEngine, fromType, opts?.fromIsEnum ?? false);
  if (!from.ok) {
    if (!sameEngine) return from;
    return { ok: false, reason: `${fromEngine} ${normalize(fromType)} can only be replicated into the identical type, not ${normalize(toType)}` };
  }
  const to = side(toEngine, toType, opts?.toIsEnum ?? false);
  if (!to.ok) {
    if (!sameEngine) return to;
    return { ok: false, reason: `${from.side.label} cannot be stored in ${toEngine} ${normalize(toType)}: Tandem maps into that type only from the identical type` };
  }
  return compare(from.side, to.side);
}
