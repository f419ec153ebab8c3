/**
 * PostgreSQL column types: `format_type()` spellings read as logical types, logical types spelled for PostgreSQL,
 * and the facts about PostgreSQL's values that the type-compatibility rules need.
 */
import type { NativeParse, NativeTypes } from '../engine.js';
import type { LogicalType, TranslatedType } from '../../model/types.js';
import { integerRange, narrowestInteger, normalizeSpelling, parsed, unknown, unsupported, type IntegerType } from '../shared/native-types.js';

/** Unsupported types, with what to use instead when there is an obvious choice. */
const UNSUPPORTED: ReadonlyMap<string, string | undefined> = new Map([
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

const ALIASES: ReadonlyMap<string, string> = new Map([
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
const SHAPE = /^([a-z][a-z0-9_ ]*?)(?:\((\d+)(?:,(-?\d+))?\))?( with time zone| without time zone)?$/;

/**
 * format_type() gives a user-defined type its bare name. Introspection reads enums as enums and domains as their
 * base types, so a name left over is some other user-defined type.
 */
const notMapped = (): NativeParse => unknown('composite, range and extension types are not mapped, only built-in types, enums and domains over them');

function parse(nativeType: string, opts?: { isEnum?: boolean }): NativeParse {
  // An enum's type string is its (user-chosen) name, so nothing else about it can be parsed.
  if (opts?.isEnum) return parsed({ kind: 'enum', values: null });
  const t = normalizeSpelling(nativeType);
  if (t.endsWith('[]')) return unsupported('arrays are not mapped; jsonb maps cleanly');

  const head = t.split(/[ (]/)[0] ?? t;
  if (UNSUPPORTED.has(head)) return unsupported(UNSUPPORTED.get(head));
  if (head.endsWith('range')) return unsupported('range types are not mapped');
  if (head.startsWith('reg')) return unsupported('object identifiers are local to a database');

  const m = SHAPE.exec(t);
  if (!m) return notMapped();
  const [, rawBase = '', arg1, arg2, zone] = m;
  let base = ALIASES.get(rawBase) ?? rawBase;
  let withTimeZone = zone === ' with time zone';
  if (base === 'timestamptz') {
    base = 'timestamp';
    withTimeZone = true;
  }
  const n = arg1 === undefined ? undefined : Number(arg1);
  const scale = arg2 === undefined ? undefined : Number(arg2);
  const bare = n === undefined && zone === undefined;
  const oneArg = scale === undefined && zone === undefined;
  const when = (shapeFits: boolean, type: LogicalType): NativeParse => (shapeFits ? parsed(type) : unknown());

  switch (base) {
    case 'smallint':
      return when(bare, integerRange(16, false));
    case 'integer':
      return when(bare, integerRange(32, false));
    case 'bigint':
      return when(bare, integerRange(64, false));
    case 'boolean':
      return when(bare, { kind: 'boolean' });
    case 'numeric':
      return when(zone === undefined, { kind: 'decimal', precision: n ?? null, scale: n === undefined ? null : (scale ?? 0) });
    case 'real':
      return when(bare, { kind: 'float', bits: 32 });
    case 'double precision':
      return when(bare, { kind: 'float', bits: 64 });
    case 'float':
      // float(p) follows the SQL standard: p is binary digits, 24 is the most a real keeps.
      return when(oneArg, { kind: 'float', bits: n !== undefined && n <= 24 ? 32 : 64 });
    case 'text':
      return when(bare, { kind: 'text', maxLength: null, fixed: false });
    case 'character varying':
      return when(oneArg, { kind: 'text', maxLength: n ?? null, fixed: false });
    case 'character':
      return when(oneArg, { kind: 'text', maxLength: n ?? 1, fixed: true });
    case 'bpchar':
      return when(bare, { kind: 'text', maxLength: null, fixed: true });
    case 'bytea':
      return when(bare, { kind: 'binary', maxLength: null, fixed: false });
    case 'date':
      return when(bare, { kind: 'date' });
    case 'time':
      if (scale !== undefined) return unknown();
      if (withTimeZone) return unsupported('time zones on times of day cannot be kept');
      return parsed({ kind: 'time', precision: n ?? 6 });
    case 'timestamp':
      return when(scale === undefined, { kind: 'timestamp', precision: n ?? 6, withTimeZone });
    case 'json':
    case 'jsonb':
      return when(bare, { kind: 'json' });
    case 'uuid':
      return when(bare, { kind: 'uuid' });
    case 'inet':
      return when(bare, { kind: 'inet', family: null, netmask: true });
    case 'bit':
      return when(oneArg, { kind: 'bit', length: n ?? 1 });
    case 'bit varying':
      return when(oneArg, { kind: 'varbit', maxLength: n ?? null });
    default:
      return notMapped();
  }
}

const INTEGER_TYPES: ReadonlyArray<readonly [string, IntegerType]> = [
  ['smallint', integerRange(16, false)],
  ['integer', integerRange(32, false)],
  ['bigint', integerRange(64, false)],
];

function render(t: LogicalType, opts?: { countsBytes?: boolean }): TranslatedType {
  switch (t.kind) {
    case 'integer':
      return { ok: true, type: narrowestInteger(INTEGER_TYPES, t.min, t.max, (digits) => `numeric(${digits},0)`) };
    case 'boolean':
      return { ok: true, type: 'boolean' };
    case 'decimal':
      return { ok: true, type: t.precision === null ? 'numeric' : `numeric(${t.precision},${t.scale ?? 0})` };
    case 'float':
      return { ok: true, type: t.bits === 32 ? 'real' : 'double precision' };
    case 'text':
      // A limit in bytes is no limit in characters that PostgreSQL could check.
      if (t.maxLength === null || opts?.countsBytes) return { ok: true, type: 'text' };
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
    case 'inet':
      return { ok: true, type: 'inet' };
    case 'enum':
    case 'set':
      return { ok: true, type: 'text' };
    case 'bit':
      return { ok: true, type: `bit(${t.length})` };
    case 'varbit':
      return { ok: true, type: t.maxLength === null ? 'bit varying' : `bit varying(${t.maxLength})` };
  }
}

export const postgresNativeTypes: NativeTypes = {
  parse,
  normalize: normalizeSpelling,
  render,
  // The largest varlena.
  maxValueLength: 1_073_741_823,
  // Enum labels are names: at most NAMEDATALEN - 1 bytes.
  maxEnumLabel: 63,
  nanAndInfinity: true,
  zeroDates: false,
  dateRange: null,
  extraDates: 'infinity and BC dates',
  zonedTimestampRange: null,
  timeRange: '00:00:00..24:00:00',
  timeOfDay: true,
};
