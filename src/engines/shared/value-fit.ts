/**
 * Values a shadow column would store altered without an error: a decimal with more fractional digits than the
 * column's scale is rounded (PostgreSQL numeric(p,s) and MySQL DECIMAL alike, even in strict mode), a timestamp or
 * time with more fractional-second digits than the column's precision is rounded, and a boolean column given a
 * number other than 0/1 fails without naming the column. Each shadow writer checks every value it writes against
 * its column's type here, on the apply path, and refuses with the table and column named rather than store
 * something else. Errors the databases raise themselves and name (a text too long on MySQL) are left to them.
 */
import { TandemError } from '../../errors.js';
import type { Change, Value } from '../../model/change.js';
import type { LogicalType } from '../../model/types.js';

export interface ColumnFit {
  table: string;
  column: string;
  /** The column's type as the shadow spells it, for messages. */
  native: string;
  type: LogicalType | undefined;
  /** The widest the shadow's engine goes, so that a fix never proposes a column that cannot exist. */
  limits: EngineLimits;
}

/** The widest decimal and time columns an engine has. */
export interface EngineLimits {
  decimalPrecision: number;
  decimalScale: number;
  secondDigits: number;
  /** Times are times of day, 00:00:00..24:00:00 (PostgreSQL): MySQL's negative and longer durations do not fit. */
  timeOfDay?: boolean;
  /** JSON columns may be jsonb (PostgreSQL), which refuses the escape \u0000 without naming the column. */
  jsonb?: boolean;
}

/** Can a value of this type be stored altered or refused unnamed? Only such columns are checked on the hot path. */
function needsCheck(type: LogicalType | undefined, strictBoolean: boolean, limits: EngineLimits): boolean {
  if (!type) return false;
  switch (type.kind) {
    case 'decimal':
      return type.precision !== null;
    case 'timestamp':
      return type.precision < 6;
    case 'time':
      return type.precision < 6 || limits.timeOfDay === true;
    case 'json':
      return limits.jsonb === true;
    case 'boolean':
      return strictBoolean;
    default:
      return false;
  }
}

/**
 * The columns of one shadow table worth checking, from its column types. `strictBoolean`: the engine's boolean is a
 * true boolean (PostgreSQL); MySQL's is tinyint(1), which holds other small numbers.
 */
export function columnsToCheck(table: string, columns: Array<{ name: string; nativeType: string; type: LogicalType | undefined }>, strictBoolean: boolean, limits: EngineLimits): ColumnFit[] {
  return columns.filter((c) => needsCheck(c.type, strictBoolean, limits)).map((c) => ({ table, column: c.name, native: c.nativeType, type: c.type, limits }));
}

/** Throws the first value among `changes` that its shadow column would alter (see misfit). */
export function assertChangesFit(changes: readonly Change[], checkedColumns: (table: string) => readonly ColumnFit[]): void {
  for (const change of changes) {
    if (change.op === 'truncate' || change.op === 'delete' || !change.after) continue;
    const fits = checkedColumns(change.table);
    for (const fit of fits) {
      const value = change.after[fit.column];
      if (value === undefined || typeof value === 'symbol') continue;
      const err = misfit(fit, value);
      if (err) throw err;
    }
  }
}

/**
 * Digits of a plain decimal text (`[-+]digits[.digits]`), integer part without leading zeros, fraction without
 * trailing zeros; undefined for anything else (NaN, Infinity, an exponent). Counted by hand: every value of every
 * checked decimal column passes here on the apply path, and a regular expression with two replaces allocated more
 * there than the row itself.
 */
function decimalDigits(text: string): { integer: number; fraction: number } | undefined {
  const s = text.trim();
  let i = s.length > 0 && (s.charCodeAt(0) === 0x2b || s.charCodeAt(0) === 0x2d) ? 1 : 0;
  let integer = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) break;
    if (c < 0x30 || c > 0x39) return undefined;
    if (integer > 0 || c !== 0x30) integer++;
  }
  let fraction = 0;
  for (let n = 0, j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c < 0x30 || c > 0x39) return undefined;
    n++;
    if (c !== 0x30) fraction = n;
  }
  return { integer, fraction };
}

/** Fractional-second digits of a time or timestamp text (`… 10:11:12.123400`), trailing zeros not counted. */
function secondDigits(text: string): number {
  const m = /\d{2}:\d{2}:\d{2}\.(\d+)/.exec(text);
  return m ? (m[1] as string).replace(/0+$/, '').length : 0;
}

/** A time text within 00:00:00..24:00:00. */
function timeOfDay(text: string): boolean {
  const m = /^(-?)(\d+):(\d{2}):(\d{2})(?:\.(\d+))?$/.exec(text.trim());
  if (!m) return true; // not a duration text: left to the database
  if (m[1] === '-') return /^0+$/.test(`${m[2]}${m[3]}${m[4]}${m[5] ?? ''}`); // -00:00:00 is midnight
  const hours = Number(m[2]);
  return hours < 24 || (hours === 24 && m[3] === '00' && m[4] === '00' && /^0*$/.test(m[5] ?? ''));
}

/** The escape \u0000 itself, not an escaped backslash followed by `u0000`. */
const JSON_NUL = /(?:^|[^\\])(?:\\\\)*\\u0000/;

const BOOLEAN_TEXT = /^(t|f|true|false|y|n|yes|no|on|off|1|0)$/i;

function refuse(fit: ColumnFit, value: string, why: string, fix: string): TandemError {
  const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
  return new TandemError('TANDEM_VALUE_UNSUPPORTED', `${fit.table}.${fit.column}: the value ${JSON.stringify(shown)} cannot be stored as it is in the shadow's ${fit.native}: ${why}; replication stopped before applying it`, {
    fix: `${fix}, then start again: the transaction holding the value stays in the source's log and is applied then (tandem check lists the columns whose mapping can hit this)`,
    place: { table: fit.table, column: fit.column },
  });
}

/** undefined when `value` is stored exactly; otherwise the error naming the table and column. */
export function misfit(fit: ColumnFit, value: Value): TandemError | undefined {
  if (value === null || Buffer.isBuffer(value) || !fit.type) return undefined;
  const t = fit.type;
  switch (t.kind) {
    case 'decimal': {
      if (t.precision === null) return undefined;
      // NaN and infinities have no digits to round: decimalDigits leaves them to the database, as before.
      const d = decimalDigits(value);
      if (!d) return undefined;
      const scale = t.scale ?? 0;
      const { decimalPrecision, decimalScale } = fit.limits;
      if (d.fraction > scale) {
        const fix =
          d.fraction <= decimalScale && d.fraction + Math.max(d.integer, t.precision - scale) <= decimalPrecision
            ? `widen ${fit.table}.${fit.column} on the shadow to hold ${d.fraction} fractional digits`
            : `no decimal column on this shadow keeps ${d.fraction} fractional digits (at most ${decimalScale}): round such values on the source, or exclude ${fit.table}`;
        return refuse(fit, value, `it has ${d.fraction} fractional digit(s) and the column keeps ${scale}, so it would be rounded`, fix);
      }
      if (d.integer > t.precision - scale) {
        const fix =
          d.integer + scale <= decimalPrecision
            ? `widen ${fit.table}.${fit.column} on the shadow to hold ${d.integer} integer digits`
            : `no decimal column on this shadow holds ${d.integer} integer digits with ${scale} fractional ones (at most ${decimalPrecision} digits in all): keep such values out of the source, or exclude ${fit.table}`;
        return refuse(fit, value, `it has ${d.integer} integer digit(s) and the column holds ${t.precision - scale}`, fix);
      }
      return undefined;
    }
    case 'timestamp':
    case 'time': {
      // PostgreSQL refuses these itself, but without naming the column.
      if (t.kind === 'time' && fit.limits.timeOfDay && !timeOfDay(value)) {
        return refuse(fit, value, 'the column holds times of day (00:00:00 to 24:00:00), not negative or longer durations', `keep such durations out of the source's ${fit.column}, or exclude ${fit.table}`);
      }
      const digits = secondDigits(value);
      if (digits <= t.precision) return undefined;
      return refuse(fit, value, `it has ${digits} fractional-second digit(s) and the column keeps ${t.precision}, so it would be rounded`, `widen ${fit.table}.${fit.column} on the shadow to precision ${Math.min(fit.limits.secondDigits, digits)}`);
    }
    case 'json':
      if (fit.native !== 'jsonb' || !JSON_NUL.test(value)) return undefined;
      return refuse(fit, value, 'jsonb cannot hold the escape \\u0000 (a NUL character in a string)', `make ${fit.table}.${fit.column} on the shadow json rather than jsonb, or remove the NUL characters on the source`);
    case 'boolean':
      if (BOOLEAN_TEXT.test(value)) return undefined;
      return refuse(fit, value, 'a boolean column holds only true and false (0 and 1)', `make ${fit.table}.${fit.column} on the shadow an integer type (smallint) if the source keeps other numbers there, or fix the rows on the source`);
    default:
      return undefined;
  }
}

/** What a shadow writer needs of one table's columns beyond their names. */
export interface ShadowTableRules {
  /** Columns the shadow computes itself (generated): never written, whatever the source sends. */
  computed: ReadonlySet<string>;
  /** Columns whose values are checked before they are written (see misfit). */
  checked: readonly ColumnFit[];
}

export function shadowTableRules(
  table: string,
  columns: ReadonlyArray<{ name: string; nativeType: string; isGenerated?: boolean }>,
  parse: (nativeType: string) => LogicalType | undefined,
  engine: { strictBoolean: boolean; limits: EngineLimits },
): ShadowTableRules {
  return {
    computed: new Set(columns.filter((c) => c.isGenerated).map((c) => c.name)),
    checked: columnsToCheck(table, columns.map((c) => ({ name: c.name, nativeType: c.nativeType, type: parse(c.nativeType) })), engine.strictBoolean, engine.limits),
  };
}

/**
 * The changes as the shadow takes them: without the columns it computes itself, every other value checked. Rows
 * are copied only for tables that have computed columns.
 */
export function changesForShadow(changes: Change[], rulesOf: (table: string) => ShadowTableRules | undefined): Change[] {
  let out = changes;
  for (let i = 0; i < changes.length; i++) {
    const change = changes[i] as Change;
    if (change.op === 'truncate') continue;
    const rules = rulesOf(change.table);
    if (!rules || rules.computed.size === 0 || !change.after) continue;
    if (out === changes) out = [...changes];
    out[i] = { ...change, after: Object.fromEntries(Object.entries(change.after).filter(([c]) => !rules.computed.has(c))) };
  }
  assertChangesFit(out, (table) => rulesOf(table)?.checked ?? []);
  return out;
}
