/**
 * Column type compatibility between engines.
 *
 * Each engine reads its native spellings into a small logical type (its NativeTypes, found through the registry);
 * the rules here work on logical types and on the facts each engine states about its values, so that a rule such
 * as "integer into integer needs a wider range" is written once for every engine pair. Rules are deliberately
 * strict: a mapping is ok only when every value the source column can hold survives unchanged (verification
 * compares canonical values, so a silently rounded or padded value is drift). Where the type alone cannot tell
 * (unbounded sources, NaN, zero dates, ...) the verdict is ok with a limit, and the apply side refuses the
 * offending value.
 */
import type { NativeTypes } from '../engines/engine.js';
import { engine, engineKinds } from '../engines/registry.js';
import { decimalDigits, inetTextLength } from '../engines/shared/native-types.js';
import type { EngineKind } from '../model/schema.js';
import type { LogicalType, MappingLimit, MappingRemedy, MappingVerdict, ParsedType, TranslatedType } from '../model/types.js';

type Kind = LogicalType['kind'];
type Of<K extends Kind> = Extract<LogicalType, { kind: K }>;

interface Side {
  engine: EngineKind;
  types: NativeTypes;
  /** The spelling, normalized. */
  native: string;
  type: LogicalType;
  countsBytes: boolean;
  label: string;
}

type SideResult = { ok: true; side: Side } | { ok: false; reason: string };

const UUID_TEXT_LENGTH = 36;
const UTF8_MAX_BYTES_PER_CHAR = 4;

/**
 * `other`: the engine the type was to map to, named in the reason when this engine's type has no equivalent.
 * Identical types on one engine never get here, so naming a different engine is right.
 */
function side(kind: EngineKind, nativeType: string, isEnum: boolean, other: string): SideResult {
  const types = engine(kind).nativeTypes;
  const native = types.normalize(nativeType);
  const parsed = types.parse(native, { isEnum });
  if (!parsed.ok) {
    const reason =
      parsed.problem === 'unsupported'
        ? `${native} has no equivalent on ${other}${parsed.hint ? ` (${parsed.hint})` : ''}`
        : `${kind} type ${native} is not one Tandem maps${parsed.hint ? ` (${parsed.hint})` : ''}`;
    return { ok: false, reason: `${reason}; exclude the table or change the column type` };
  }
  // An enum spelled by its name would read as an unknown type in messages.
  const label = parsed.type.kind === 'enum' && parsed.type.values === null ? `${kind} enum ${native}` : `${kind} ${native}`;
  return { ok: true, side: { engine: kind, types, native, type: parsed.type, countsBytes: parsed.countsBytes, label } };
}

/** Reads a native type on its own, not towards a particular engine: a failure names every other engine. */
export function parseNativeType(kind: EngineKind, nativeType: string, opts?: { isEnum?: boolean }): ParsedType {
  const others = engineKinds().filter((k) => k !== kind).join(' or ');
  const parsed = side(kind, nativeType, opts?.isEnum ?? false, others);
  return parsed.ok ? { ok: true, type: parsed.side.type } : parsed;
}

// ---------------------------------------------------------------------------------------------
// Translation: the type Tandem proposes on the other engine
// ---------------------------------------------------------------------------------------------

function translateSide(from: Side, toEngine: EngineKind): TranslatedType {
  if (from.engine === toEngine) return { ok: true, type: from.native };
  const rendered = engine(toEngine).nativeTypes.render(from.type, { countsBytes: from.countsBytes });
  return rendered.ok ? rendered : { ok: false, reason: `${from.label} ${rendered.reason}; change the column type or exclude the table` };
}

export function translateType(fromEngine: EngineKind, fromType: string, toEngine: EngineKind, opts?: { fromIsEnum?: boolean }): TranslatedType {
  if (fromEngine === toEngine) return { ok: true, type: fromType };
  const from = side(fromEngine, fromType, opts?.fromIsEnum ?? false, toEngine);
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
  inet: 'IP address',
  enum: 'enum',
  set: 'set',
  bit: 'bit-string',
  varbit: 'bit-string',
};

function accept(limits: MappingLimit[]): MappingVerdict {
  return limits.length === 0 ? { ok: true } : { ok: true, warning: limits.map((l) => l.warning).join('; '), limits };
}

const limit = (warning: string, remedy: MappingRemedy): MappingLimit => ({ warning, remedy });

/**
 * A limit that the type Tandem proposes for the source lifts; when the target already is that type (or there is
 * none), nothing wider exists and the source's `values` are what must change.
 */
function widen(from: Side, to: Side, warning: string, values: string): MappingLimit {
  const proposal = translateSide(from, to.engine);
  if (proposal.ok && to.types.normalize(proposal.type) !== to.native) return limit(warning, { kind: 'widen', type: proposal.type });
  return limit(warning, { kind: 'source-values', values });
}

function refuse(from: Side, to: Side, why: string): MappingVerdict {
  return { ok: false, reason: `${from.label} cannot be stored in ${to.label}: ${why}` };
}

function useInstead(from: Side, to: Side): string {
  const proposal = translateSide(from, to.engine);
  return proposal.ok ? `; use ${proposal.type}` : '';
}

/** `; use <type>` for a type the rules construct (a wide enough integer or decimal), when the target can spell it. */
function useType(to: Side, type: LogicalType): string {
  const rendered = to.types.render(type);
  return rendered.ok ? `; use ${rendered.type}` : '';
}

function mismatch(from: Side, to: Side, why?: string): MappingVerdict {
  const detail = why ?? `${KIND_WORD[from.type.kind]} → ${KIND_WORD[to.type.kind]} is not a lossless mapping`;
  return refuse(from, to, `${detail}${useInstead(from, to)}`);
}

/** A limit at least as large as the source engine's longest value takes anything that source produces. */
const effectivelyUnbounded = (from: Side, max: number | null): boolean => max === null || max >= from.types.maxValueLength;

/** Shared by text, binary and bit varying: every source value must fit the target's limit. */
function lengthRule(from: Side, to: Side, fromMax: number | null, toMax: number | null, unit: string, limits: MappingLimit[]): MappingVerdict {
  if (fromMax === null) {
    if (!effectivelyUnbounded(from, toMax)) {
      limits.push(widen(from, to, `values longer than ${toMax} ${unit} will be refused at apply time`, `values longer than ${toMax} ${unit}`));
    }
    return accept(limits);
  }
  if (toMax !== null && toMax < fromMax) {
    return refuse(from, to, `values of up to ${fromMax} ${unit} do not fit in ${toMax}${useInstead(from, to)}`);
  }
  return accept(limits);
}

function textRule(from: Side, f: Of<'text'>, to: Side, t: Of<'text'>): MappingVerdict {
  const limits: MappingLimit[] = [];
  if (t.fixed && !f.fixed) {
    const warning = `${to.native} is fixed-length: shorter values are space-padded and trailing spaces are not preserved`;
    limits.push(widen(from, to, warning, 'values with trailing spaces'));
  }
  if (to.countsBytes && !from.countsBytes && f.maxLength !== null && t.maxLength !== null) {
    const worst = f.maxLength * UTF8_MAX_BYTES_PER_CHAR;
    if (worst > t.maxLength) {
      const warning = `${to.native} holds ${t.maxLength} bytes, ${f.maxLength} characters can take ${worst}; longer values will be refused at apply time`;
      limits.push(widen(from, to, warning, `values longer than ${t.maxLength} bytes`));
    }
  }
  return lengthRule(from, to, f.maxLength, t.maxLength, 'characters', limits);
}

function labelsRule(from: Side, values: string[] | null, joined: boolean, to: Side, t: Of<'text'>): MappingVerdict {
  if (t.maxLength === null) return accept([]);
  if (values === null) {
    if (t.maxLength >= from.types.maxEnumLabel) return accept([]);
    return accept([widen(from, to, `labels longer than ${t.maxLength} characters will be refused at apply time`, `labels longer than ${t.maxLength} characters`)]);
  }
  const lengths = values.map((v) => [...v].length);
  // A set value is its members joined by commas, so the longest is all of them.
  const longest = joined ? lengths.reduce((a, b) => a + b, 0) + Math.max(values.length - 1, 0) : Math.max(0, ...lengths);
  return longest <= t.maxLength ? accept([]) : refuse(from, to, `values of up to ${longest} characters do not fit in ${t.maxLength}`);
}

function membersRule(from: Side, source: string[] | null, to: Side, target: string[] | null): MappingVerdict {
  if (source === null || target === null) {
    return accept([limit('enum labels cannot be compared from the type names alone; values missing from the target will be refused at apply time', { kind: 'enum-labels' })]);
  }
  const missing = source.filter((v) => !target.includes(v));
  return missing.length === 0 ? accept([]) : refuse(from, to, `${missing.map((v) => `'${v}'`).join(', ')} missing from the target`);
}

/** Range limits of the date/time types that the type names alone cannot rule out. */
function temporalLimits(from: Side, to: Side): MappingLimit[] {
  const limits: MappingLimit[] = [];
  const f = from.types;
  const t = to.types;
  const isTime = from.type.kind === 'time';
  if (!isTime && f.zeroDates && !t.zeroDates) {
    limits.push(limit(`${from.engine} zero dates (0000-00-00) have no ${to.engine} equivalent and will be refused at apply time`, { kind: 'zero-dates' }));
  }
  if (!isTime && t.dateRange !== null && f.dateRange !== t.dateRange) {
    const extra = f.extraDates ? ` (including ${f.extraDates})` : '';
    limits.push(
      limit(`${from.engine} values outside ${t.dateRange}${extra} have no ${to.engine} equivalent and will be refused at apply time`, {
        kind: 'source-values',
        values: `dates outside ${t.dateRange}${f.extraDates ? `, ${f.extraDates}` : ''}`,
      }),
    );
  }
  const zonedRange = (s: Side) => (s.type.kind === 'timestamp' && s.type.withTimeZone ? s.types.zonedTimestampRange : null);
  const targetZoned = zonedRange(to);
  if (targetZoned !== null && zonedRange(from) !== targetZoned) {
    const warning = `${to.engine} timestamp holds only ${targetZoned}; values outside that will be refused at apply time`;
    limits.push(widen(from, to, warning, `timestamps outside ${targetZoned}`));
  }
  if (isTime && !f.timeOfDay && t.timeOfDay) {
    limits.push(
      limit(`${from.engine} time values outside ${t.timeRange} (negative or longer durations) will be refused at apply time`, {
        kind: 'source-values',
        values: `times outside ${t.timeRange}`,
      }),
    );
  }
  return limits;
}

function precisionRule(from: Side, fromP: number, to: Side, toP: number): MappingVerdict {
  if (toP < fromP) {
    return refuse(from, to, `precision ${fromP} (fractional-second digits) would be rounded to precision ${toP}${useInstead(from, to)}`);
  }
  return accept(temporalLimits(from, to));
}

const FAMILY = { 4: 'IPv4', 6: 'IPv6' } as const;

/** An address fits when the target takes its family and, if it may carry one, its netmask. */
function inetRule(from: Side, f: Of<'inet'>, to: Side, t: Of<'inet'>): MappingVerdict {
  if (t.family !== null && f.family !== null && t.family !== f.family) {
    return refuse(from, to, `${FAMILY[f.family]} addresses do not fit an ${FAMILY[t.family]}-only type${useInstead(from, to)}`);
  }
  const refused = [
    ...(t.family !== null && f.family === null ? [`${FAMILY[t.family === 4 ? 6 : 4]} addresses`] : []),
    ...(f.netmask && !t.netmask ? ['addresses with a netmask (10.0.0.0/8)'] : []),
  ];
  if (refused.length === 0) return accept([]);
  const values = refused.join(' and ');
  return accept([widen(from, to, `${values} will be refused at apply time`, values)]);
}

function nanLimits(from: Side, to: Side): MappingLimit[] {
  if (!from.types.nanAndInfinity || to.types.nanAndInfinity) return [];
  return [limit(`NaN and infinity have no ${to.engine} equivalent and will be refused at apply time`, { kind: 'source-values', values: 'NaN or infinity' })];
}

function compare(from: Side, to: Side): MappingVerdict {
  const f = from.type;
  const t = to.type;
  switch (f.kind) {
    case 'integer':
      if (t.kind === 'integer') {
        if (t.min <= f.min && t.max >= f.max) return accept([]);
        return refuse(from, to, `values range over ${f.min}..${f.max}, ${to.native} holds only ${t.min}..${t.max}${useType(to, f)}`);
      }
      if (t.kind === 'decimal') {
        const needed = Math.max(decimalDigits(f.min), decimalDigits(f.max));
        if (t.precision === null || t.precision - (t.scale ?? 0) >= needed) return accept([]);
        return refuse(from, to, `values up to ${f.max} need ${needed} integer digits, ${to.native} has ${t.precision - (t.scale ?? 0)}${useType(to, { kind: 'decimal', precision: needed, scale: 0 })}`);
      }
      return mismatch(from, to);

    case 'boolean':
      return t.kind === 'boolean' || t.kind === 'integer' ? accept([]) : mismatch(from, to);

    case 'decimal': {
      if (t.kind === 'float') return mismatch(from, to, 'floating point cannot hold every decimal value exactly');
      if (t.kind !== 'decimal') return mismatch(from, to);
      if (t.precision === null) return accept([]);
      if (f.precision === null) {
        const warning = `values outside ${to.native} and NaN/infinity will be refused at apply time`;
        return accept([widen(from, to, warning, `values outside ${to.native}, NaN or infinity`)]);
      }
      const fScale = f.scale ?? 0;
      const tScale = t.scale ?? 0;
      const fDigits = f.precision - fScale;
      const tDigits = t.precision - tScale;
      if (tDigits < fDigits || tScale < fScale) {
        const digits = Math.max(fDigits, tDigits);
        const scale = Math.max(fScale, tScale, 0);
        const why = tDigits < fDigits ? `needs ${fDigits} integer digits, ${to.native} has ${tDigits}` : `scale ${fScale} would be rounded to scale ${tScale}`;
        return refuse(from, to, `${why}${useType(to, { kind: 'decimal', precision: Math.max(digits, 0) + scale, scale })}`);
      }
      return accept(nanLimits(from, to));
    }

    case 'float':
      if (t.kind !== 'float') return mismatch(from, to);
      if (t.bits < f.bits) return refuse(from, to, `double-precision values would be rounded to single precision${useInstead(from, to)}`);
      return accept(nanLimits(from, to));

    case 'text':
      if (t.kind === 'text') return textRule(from, f, to, t);
      if (t.kind === 'uuid') {
        if (f.maxLength !== null && f.maxLength < UUID_TEXT_LENGTH) return refuse(from, to, `${f.maxLength} characters cannot hold a UUID`);
        return accept([limit('strings that are not UUIDs will be refused at apply time', { kind: 'source-values', values: 'strings that are not UUIDs' })]);
      }
      if (t.kind === 'enum' || t.kind === 'set') return mismatch(from, to, 'free text cannot go into a fixed list of labels');
      return mismatch(from, to);

    case 'binary': {
      if (t.kind !== 'binary') return mismatch(from, to);
      const sameFixed = f.fixed && f.maxLength === t.maxLength;
      const padded = `${to.native} is fixed-length: shorter values will be right-padded with zero bytes`;
      const limits = t.fixed && !sameFixed ? [widen(from, to, padded, `values shorter than ${t.maxLength} bytes`)] : [];
      return lengthRule(from, to, f.maxLength, t.maxLength, 'bytes', limits);
    }

    case 'date':
      return t.kind === 'date' || t.kind === 'timestamp' ? accept(temporalLimits(from, to)) : mismatch(from, to);

    case 'time':
      return t.kind === 'time' ? precisionRule(from, f.precision, to, t.precision) : mismatch(from, to);

    case 'timestamp':
      // Time zone differences are fine: Tandem moves every timestamp as a UTC instant.
      return t.kind === 'timestamp' ? precisionRule(from, f.precision, to, t.precision) : mismatch(from, to);

    case 'json':
      if (t.kind === 'json') return accept([]);
      if (t.kind === 'text') {
        return effectivelyUnbounded(from, t.maxLength) ? accept([]) : refuse(from, to, `JSON documents have no length limit, ${to.native} holds ${t.maxLength}${useInstead(from, to)}`);
      }
      return mismatch(from, to);

    case 'uuid':
      if (t.kind === 'uuid') return accept([]);
      if (t.kind === 'text') {
        return t.maxLength === null || t.maxLength >= UUID_TEXT_LENGTH ? accept([]) : refuse(from, to, `a UUID needs ${UUID_TEXT_LENGTH} characters${useInstead(from, to)}`);
      }
      return mismatch(from, to);

    case 'inet':
      if (t.kind === 'inet') return inetRule(from, f, to, t);
      if (t.kind === 'text') {
        const needed = inetTextLength(f);
        return t.maxLength === null || t.maxLength >= needed ? accept([]) : refuse(from, to, `addresses need up to ${needed} characters${useInstead(from, to)}`);
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
  const normalize = engine(fromEngine).nativeTypes.normalize;
  // Identical types on one engine need no understanding of the type: the engine copies it as is.
  if (sameEngine && normalize(fromType) === normalize(toType)) return { ok: true };

  const from = side(fromEngine, fromType, opts?.fromIsEnum ?? false, toEngine);
  if (!from.ok) {
    if (!sameEngine) return from;
    return { ok: false, reason: `${fromEngine} ${normalize(fromType)} can only be replicated into the identical type, not ${normalize(toType)}` };
  }
  const to = side(toEngine, toType, opts?.toIsEnum ?? false, fromEngine);
  if (!to.ok) {
    if (!sameEngine) return to;
    return { ok: false, reason: `${from.side.label} cannot be stored in ${toEngine} ${normalize(toType)}: Tandem maps into that type only from the identical type` };
  }
  return compare(from.side, to.side);
}
