/**
 * Keys that merge across sides. A primary key or unique index collides when its collation says two values are
 * equal: MySQL/MariaDB `_ci` collations ignore letter case (and mostly accents), PAD SPACE ones trailing spaces,
 * while PostgreSQL's deterministic collations tell every code point apart. A row the sending side keeps apart from
 * another would then land on the same key of the receiving side: the upsert overwrites one row with the other (or
 * apply stops on a unique index), silently on a shadow that is never read until cutover.
 *
 * Both directions are checked: old → new now, and new → old after cutover (rollback replays new's changes into
 * old). Only the receiving side's unique sets matter, and a unique set is safe when the sending side refuses such
 * near-duplicates itself: a unique key of its own over a subset of the columns whose parts fold the same way
 * (PostgreSQL `lower(rtrim(col))`).
 */
import { engine } from '../engines/registry.js';
import { fail, warn, type CheckItem } from '../engines/shared/checks.js';
import type { ColumnSchema, EngineKind, TableSchema } from '../model/schema.js';
import type { LogicalType } from '../model/types.js';
import { parseNativeType } from './type-rules.js';

type SideName = 'old' | 'new';

interface Side {
  name: SideName;
  engine: EngineKind;
  table: TableSchema;
}

/** What a comparison of one column's values ignores. */
interface Ignores {
  case: boolean;
  trailingSpaces: boolean;
  /** Compared by weights, so some other differences (accents, ignorable characters) may compare equal too. */
  weights: boolean;
  collation: string | undefined;
}

type Dimension = 'case' | 'trailingSpaces' | 'weights';

interface Part {
  column: string;
  ignoresCase?: boolean;
  ignoresTrailingSpaces?: boolean;
}

interface UniqueSet {
  label: string;
  parts: Part[];
}

const logicalOf = (side: Side, col: ColumnSchema): LogicalType | undefined => {
  const parsed = parseNativeType(side.engine, col.nativeType, { isEnum: col.isEnum });
  return parsed.ok ? parsed.type : undefined;
};

/** Text columns only: other types compare by value. A fixed-length text (char(n)) ignores trailing spaces in both engines. */
function ignoresOf(side: Side, col: ColumnSchema): Ignores | undefined {
  const logical = logicalOf(side, col);
  if (logical?.kind !== 'text') return undefined;
  const c = col.collation;
  return {
    case: c?.equality === 'case-insensitive',
    trailingSpaces: (c?.padSpace ?? false) || logical.fixed,
    weights: c !== undefined && c.equality !== 'exact',
    collation: c?.name,
  };
}

function uniqueSets(t: TableSchema): UniqueSet[] {
  const sets: UniqueSet[] = t.primaryKey.length > 0 ? [{ label: `the primary key (${t.primaryKey.join(', ')})`, parts: t.primaryKey.map((column) => ({ column })) }] : [];
  for (const u of t.uniqueKeys ?? []) sets.push({ label: `unique index ${u.name} (${u.parts.map((p) => p.column).join(', ')})`, parts: u.parts });
  return sets;
}

/** What the receiving part ignores that the sending column does not. */
function merges(receiving: Ignores, part: Part, sending: Ignores, sameEngine: boolean): Dimension[] {
  const out: Dimension[] = [];
  if ((receiving.case || part.ignoresCase) && !sending.case) out.push('case');
  if ((receiving.trailingSpaces || part.ignoresTrailingSpaces) && !sending.trailingSpaces) out.push('trailingSpaces');
  if (receiving.weights && !(sameEngine && sending.collation === receiving.collation)) out.push('weights');
  return out;
}

interface Problem {
  column: string;
  dims: Dimension[];
}

/**
 * What is left of `problems` when the sender's unique set `guard` (over a subset of the receiving set's columns)
 * refuses rows first: problem columns outside the guard cannot matter, those in it only as far as its parts fold.
 */
function residual(problems: Problem[], guard: UniqueSet, sending: Side): Dimension[] {
  const left = new Set<Dimension>();
  for (const p of problems) {
    const part = guard.parts.find((g) => g.column === p.column);
    if (!part) continue;
    const col = sending.table.columns.find((c) => c.name === p.column);
    const own = col ? ignoresOf(sending, col) : undefined;
    for (const d of p.dims) {
      if (d === 'case' && (own?.case || part.ignoresCase)) continue;
      if (d === 'trailingSpaces' && (own?.trailingSpaces || part.ignoresTrailingSpaces)) continue;
      left.add(d);
    }
  }
  return [...left];
}

const DIMENSION_WORDS: Record<Dimension, string> = {
  case: 'letter case',
  trailingSpaces: 'trailing spaces',
  weights: 'accents (or other differences the collation ignores)',
};
const EXAMPLES: Record<Dimension, string> = { case: "'a' and 'A'", trailingSpaces: "'a' and 'a '", weights: "'e' and 'é'" };

/** `a, b or c`. */
const either = (texts: string[]) => (texts.length < 2 ? texts.join('') : `${texts.slice(0, -1).join(', ')} or ${texts[texts.length - 1] ?? ''}`);
const words = (dims: Dimension[]) => either(dims.map((d) => DIMENSION_WORDS[d]));
const examples = (dims: Dimension[]) => dims.map((d) => EXAMPLES[d]).join(', ');

/** `utf8mb4_general_ci: case-insensitive, PAD SPACE`; a column without a collation by its type (char(n) pads). */
function describeCollation(side: Side, col: ColumnSchema): string {
  const c = col.collation;
  if (!c) return `${side.engine} ${col.nativeType}`;
  const traits = [c.equality === 'case-insensitive' ? 'case-insensitive' : c.equality === 'weights' ? 'compares by weights' : 'exact', ...(c.padSpace ? ['PAD SPACE'] : [])];
  return `${c.name}: ${traits.join(', ')}`;
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

/**
 * One check per receiving unique set whose text columns merge values the sending side keeps apart: FAIL when
 * letter case or trailing spaces merge, WARN when only weights (accents, ignorables) may.
 */
function checkDirection(tableName: string, sending: Side, receiving: Side): CheckItem[] {
  const items: CheckItem[] = [];
  const sameEngine = sending.engine === receiving.engine;
  const guards = uniqueSets(sending.table);
  for (const set of uniqueSets(receiving.table)) {
    const problems: Problem[] = [];
    for (const part of set.parts) {
      const r = receiving.table.columns.find((c) => c.name === part.column);
      const s = sending.table.columns.find((c) => c.name === part.column);
      const ri = r ? ignoresOf(receiving, r) : undefined;
      const si = s ? ignoresOf(sending, s) : undefined;
      if (!ri || !si) continue;
      const dims = merges(ri, part, si, sameEngine);
      if (dims.length > 0) problems.push({ column: part.column, dims });
    }
    if (problems.length === 0) continue;
    // The sender's own unique sets over a subset of these columns refuse some near-duplicates before they travel.
    const columns = new Set(set.parts.map((p) => p.column));
    const guarded = guards
      .filter((g) => g.parts.every((p) => columns.has(p.column)))
      .map((g) => ({ guard: g, left: residual(problems, g, sending) }))
      .sort((a, b) => severity(a.left) - severity(b.left) || a.left.length - b.left.length)[0];
    const dims = guarded ? guarded.left : [...new Set(problems.flatMap((p) => p.dims))];
    if (dims.length === 0) continue;
    items.push(report(tableName, sending, receiving, set, problems, dims, guarded?.guard));
  }
  return items;
}

/** 2: letter case or trailing spaces merge (a failure); 1: only weights may; 0: nothing. */
const severity = (dims: Dimension[]) => (dims.includes('case') || dims.includes('trailingSpaces') ? 2 : dims.length > 0 ? 1 : 0);

function report(tableName: string, sending: Side, receiving: Side, set: UniqueSet, problems: Problem[], dims: Dimension[], guard: UniqueSet | undefined): CheckItem {
  const forward = sending.name === 'old';
  const names = problems.map((p) => p.column);
  const colList = names.join(', ');
  const receivingCols = names.map((n) => receiving.table.columns.find((c) => c.name === n)).filter((c): c is ColumnSchema => c !== undefined);
  const collations = [...new Set(receivingCols.map((c) => describeCollation(receiving, c)))];
  const exact = receivingCols.map((c) => engine(receiving.engine).dialect.exactComparisonSql(tableName, c, logicalOf(receiving, c))).join(' ');
  const columnWord = plural(names.length, 'column', 'columns');
  const title = `table ${tableName}: key ${columnWord} ${colList} on ${receiving.name} would merge values that ${sending.name} keeps apart${forward ? '' : ' (after cutover)'}: ${collations.join('; ')}`;
  const detail = [
    `${sending.name} (${sending.engine}) tells apart values of ${colList} that differ only in ${words(dims)} (${examples(dims)}); ${receiving.name}'s ${plural(collations.length, 'collation makes', 'collations make')} them one value of ${set.label}`,
    ...(guard && guard.parts.some((p) => p.ignoresCase || p.ignoresTrailingSpaces) ? [`${sending.name}'s ${guard.label} refuses values that differ only in case or trailing spaces, not these`] : []),
    forward
      ? 'so rows distinct on old collapse into one on the shadow (the later overwrites the earlier)'
      : 'so changes written on new after cutover would merge rows when they flow back to old, and a rollback would lose them',
  ].join('; ');
  // MySQL's MODIFY restates the whole column: a default it has must be added back (MariaDB reports NULL ones too).
  const keepDefault = receiving.engine === 'mysql' && receivingCols.some((c) => c.hasDefault && !c.nullable) ? ' (add its DEFAULT clause to the statement)' : '';
  const compareExactly = `make the ${columnWord} on ${receiving.name} compare exactly${keepDefault}: ${exact}`;
  if (severity(dims) < 2) {
    const same = sameCollation(sending, receiving, names);
    return warn('schema.key_collation', receiving.name, title, detail, `${compareExactly}${same ? `, or give ${plural(names.length, 'it', 'them')} ${same} as on ${sending.name}` : ''} (or keep such values out of ${sending.name})`);
  }
  // Reverse: new may instead refuse what old would merge, which leaves old (and its application) as it is.
  const foldParts = set.parts.map((p) => {
    const found = problems.find((x) => x.column === p.column);
    return { column: p.column, ignoresCase: found?.dims.includes('case') ?? false, ignoresTrailingSpaces: found?.dims.includes('trailingSpaces') ?? false };
  });
  const refuse = forward ? undefined : engine(sending.engine).dialect.foldedUniqueIndexSql(tableName, `${tableName}_${names.join('_')}_fold`, foldParts);
  const fix = refuse
    ? `either ${compareExactly} (this also changes how the application's queries compare on old), or make new refuse such values: ${refuse}`
    : compareExactly;
  return fail('schema.key_collation', receiving.name, title, detail, fix);
}

/** The sending side's collation of these columns, when it is one collation of the receiving side's engine. */
function sameCollation(sending: Side, receiving: Side, names: string[]): string | undefined {
  if (sending.engine !== receiving.engine) return undefined;
  const found = new Set(names.map((n) => sending.table.columns.find((c) => c.name === n)?.collation?.name));
  const [only] = [...found];
  return found.size === 1 && only !== undefined ? only : undefined;
}

/** Keys of one table that merge values in either direction (both sides exist). */
export function checkKeyCollations(tableName: string, oldSide: { engine: EngineKind; table: TableSchema }, newSide: { engine: EngineKind; table: TableSchema }): CheckItem[] {
  const o: Side = { name: 'old', ...oldSide };
  const n: Side = { name: 'new', ...newSide };
  return [...checkDirection(tableName, o, n), ...checkDirection(tableName, n, o)];
}
