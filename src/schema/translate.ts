/**
 * Schema translation for `tandem schema`: a table as one engine describes it (model/ddl) in, the statements that
 * create its equivalent on the other side out. This module decides *what* the target table is (types through
 * src/schema/type-rules, defaults, identity, keys and indexes, and every warning about what is lost); an engine's
 * `SchemaDialect` (src/engines/<engine>/ddl.ts) decides how that is spelled and adjusts for its own limits.
 */
import type { ColumnDefault, ColumnProblem, DdlTable, PlannedColumn, PlannedIndex, PlannedIndexPart, TablePlan } from '../model/ddl.js';
import type { SchemaDialect } from '../engines/engine.js';
import type { EngineKind } from '../model/schema.js';
import type { LogicalType } from '../model/types.js';
import { parseNativeType, translateType } from './type-rules.js';

const NUMERIC_LITERAL = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const TRUE_WORDS = new Set(['1', 't', 'true', 'y', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'f', 'false', 'n', 'no', 'off']);

/** Makes text safe inside a `--` comment: no line break (or other control character) can end the comment early. */
export function commentText(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function describeDefault(def: ColumnDefault): string {
  switch (def.kind) {
    case 'null':
      return 'NULL';
    case 'string':
      return `'${def.value.replace(/'/g, "''")}'`;
    case 'number':
      return def.value;
    case 'boolean':
      return String(def.value);
    case 'current_timestamp':
      return 'CURRENT_TIMESTAMP';
    case 'current_date':
      return 'CURRENT_DATE';
    case 'uuid':
      return 'a random UUID';
    case 'expression':
      return def.sql;
  }
}

/**
 * The source default re-expressed for the target column's type, or a reason it cannot be. Values are
 * normalized for the target type (MySQL `0` on tinyint(1) is PostgreSQL `false`); nothing is guessed.
 */
export function translateDefault(
  def: ColumnDefault | undefined,
  from: EngineKind,
  to: EngineKind,
  target: LogicalType | undefined,
): { value?: ColumnDefault; warning?: string } {
  if (def === undefined || def.kind === 'null') return {};
  const kind = target?.kind;
  const cannot = (why: string) => ({ warning: `default ${describeDefault(def)} is not translated (${why}); set it by hand if the application relies on it` });
  switch (def.kind) {
    case 'expression':
      return from === to ? { value: def } : cannot(`an expression in ${from}'s dialect`);
    case 'boolean':
      if (kind === 'boolean') return { value: def };
      if (kind === 'integer' || kind === 'decimal') return { value: { kind: 'number', value: def.value ? '1' : '0' } };
      return from === to ? { value: def } : cannot(`a boolean for a ${kind ?? 'differently typed'} column`);
    case 'number':
    case 'string': {
      const text = def.value.trim();
      if (kind === 'boolean') {
        const lower = text.toLowerCase();
        if (TRUE_WORDS.has(lower)) return { value: { kind: 'boolean', value: true } };
        if (FALSE_WORDS.has(lower)) return { value: { kind: 'boolean', value: false } };
        return cannot('not a boolean value');
      }
      if (kind === 'integer' || kind === 'decimal' || kind === 'float') {
        if (NUMERIC_LITERAL.test(text)) return { value: { kind: 'number', value: text } };
        return from === to ? { value: def } : cannot('not a number');
      }
      if ((kind === 'date' || kind === 'timestamp') && /^0000-00-00/.test(text) && to === 'postgres') {
        return cannot('a MySQL zero date, which PostgreSQL cannot hold');
      }
      return { value: def.kind === 'number' ? { kind: 'string', value: def.value } : def };
    }
    case 'current_timestamp':
      if (kind === 'timestamp') return { value: def };
      if (kind === 'date') return { value: { kind: 'current_date' } };
      return from === to ? { value: def } : cannot(`the current time for a ${kind ?? 'differently typed'} column`);
    case 'current_date':
      if (kind === 'date') return { value: def };
      return from === to ? { value: def } : cannot(`the current date for a ${kind ?? 'differently typed'} column`);
    case 'uuid':
      if (kind === 'uuid' || kind === 'text') return { value: def };
      return from === to ? { value: def } : cannot(`a UUID for a ${kind ?? 'differently typed'} column`);
  }
}

/** Index names: PostgreSQL's are unique per schema, MySQL's per table, so MySQL's gain their table's name. */
function indexName(table: string, name: string, from: EngineKind, to: EngineKind): string {
  return from === 'mysql' && to === 'postgres' ? `${table}_${name}` : name;
}

const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * Plans the target table for `table` (described on the `from` engine). Columns whose type has no target
 * equivalent are problems: the table then has no plan, because a table missing a column is not a translation.
 */
export function translateTable(table: DdlTable, from: EngineKind, dialect: SchemaDialect): { plan?: TablePlan; problems: ColumnProblem[] } {
  const to = dialect.engine;
  const same = from === to;
  const problems: ColumnProblem[] = [];
  const warnings: string[] = [];
  const columns: PlannedColumn[] = [];

  for (const col of table.columns) {
    const translated = same ? { ok: true as const, type: col.nativeType } : translateType(from, col.nativeType, to, { fromIsEnum: col.isEnum });
    if (!translated.ok) {
      problems.push({ table: table.name, column: col.name, nativeType: col.nativeType, reason: translated.reason });
      continue;
    }
    const sameEngineEnum = same && to === 'postgres' && col.enumType !== undefined;
    const sameEngineDomain = same && to === 'postgres' && col.domainType !== undefined;
    const parsed = parseNativeType(to, translated.type, { isEnum: sameEngineEnum || (same && col.isEnum === true) });
    const logical = parsed.ok ? parsed.type : undefined;
    const planned: PlannedColumn = {
      name: col.name,
      type: translated.type,
      logical,
      notNull: !col.nullable,
      defaultSql: undefined,
      autoIncrement: col.autoIncrement,
      onUpdateCurrentTimestamp: false,
      enumType: sameEngineEnum ? col.enumType : undefined,
      ...(sameEngineDomain ? { domainType: col.domainType } : {}),
      ...(col.collation ? { sourceCollation: col.collation } : {}),
    };
    if (col.domain !== undefined && !sameEngineDomain) {
      warnings.push(`column ${col.name}: domain ${col.domain} becomes ${translated.type}; its constraints (CHECK, NOT NULL, default) are not carried over`);
    }

    if (!same) {
      const source = parseNativeType(from, col.nativeType, { isEnum: col.isEnum });
      if (source.ok && (source.type.kind === 'enum' || source.type.kind === 'set') && logical?.kind !== 'enum' && logical?.kind !== 'set') {
        const labels = source.type.values ?? col.enumType?.labels;
        const list = labels ? ` (${labels.map((l) => `'${l.replace(/'/g, "''")}'`).join(', ')})` : '';
        warnings.push(`column ${col.name}: ${col.nativeType} becomes ${translated.type}; its labels${list} are no longer enforced`);
      }
    }
    if (col.generated !== undefined) {
      warnings.push(`column ${col.name}: generated as ${col.generated} on ${from}; a plain column here, because Tandem writes the replicated values`);
    }
    if (col.identityAlways && to === 'postgres') {
      warnings.push(`column ${col.name}: GENERATED ALWAYS becomes BY DEFAULT, so that Tandem can write the replicated values`);
    }
    if (col.onUpdateCurrentTimestamp) {
      if (to === 'mysql') planned.onUpdateCurrentTimestamp = true;
      else warnings.push(`column ${col.name}: ON UPDATE CURRENT_TIMESTAMP has no ${to} equivalent (it needs a trigger); replication still copies the values`);
    }
    if (!col.autoIncrement) {
      const d = translateDefault(col.default, from, to, logical);
      if (d.warning) warnings.push(`column ${col.name}: ${d.warning}`);
      if (d.value) {
        planned.defaultSql = dialect.renderDefault(d.value, planned);
        if (planned.defaultSql === undefined) warnings.push(`column ${col.name}: default ${describeDefault(d.value)} cannot be expressed on ${to} for ${translated.type}; set it by hand if the application relies on it`);
      }
    }
    columns.push(planned);
  }
  if (problems.length > 0) return { problems };

  const indexes: PlannedIndex[] = [];
  for (const idx of table.indexes) {
    const label = `index ${idx.name}`;
    if (idx.method !== undefined && !(same && to === 'postgres')) {
      warnings.push(`${label}: a ${idx.method} index has no plain equivalent here and is left out; create a suitable one by hand`);
      continue;
    }
    const parts: PlannedIndexPart[] = [];
    let dropped = false;
    for (const part of idx.parts) {
      if (part.column === undefined) {
        if (same && part.expression !== undefined) parts.push({ expression: part.expression });
        else {
          dropped = true;
          warnings.push(`${label}: expression part ${part.expression ?? '(functional)'} is left out`);
        }
        continue;
      }
      if (part.prefix !== undefined && !same) {
        warnings.push(`${label}: prefix length ${part.prefix} on ${part.column} is dropped (the whole column is indexed)`);
        parts.push({ column: part.column });
      } else parts.push(part.prefix === undefined ? { column: part.column } : { column: part.column, prefix: part.prefix });
    }
    let unique = idx.unique;
    let predicate: string | undefined;
    if (idx.predicate !== undefined) {
      if (same) predicate = idx.predicate;
      else {
        dropped = true;
        warnings.push(`${label}: partial-index condition WHERE ${idx.predicate} is dropped`);
      }
    }
    if (parts.length === 0) {
      warnings.push(`${label}: nothing left to index; left out`);
      continue;
    }
    if (unique && dropped) {
      // Unique over fewer columns (or over every row) would refuse rows the source accepts.
      unique = false;
      warnings.push(`${label}: created as a non-unique index, since uniqueness over what remains is stricter than on ${from}`);
    }
    const columnsOf = parts.map((p) => ('column' in p ? p.column : `(${p.expression})`));
    if (unique && predicate === undefined && sameList(columnsOf, table.primaryKey)) continue; // the primary key already says it
    indexes.push({ name: indexName(table.name, idx.name, from, to), unique, parts, predicate, method: idx.method });
  }

  // The columns whose collation decides which rows collide: the dialect gives them one that keeps apart what the source does.
  const uniqueColumns = new Set([...table.primaryKey, ...indexes.filter((i) => i.unique).flatMap((i) => i.parts.flatMap((p) => ('column' in p ? [p.column] : [])))]);
  for (const col of columns) if (uniqueColumns.has(col.name)) col.unique = true;
  const plan: TablePlan = { name: table.name, from, to, columns, primaryKey: [...table.primaryKey], indexes, warnings };
  if (plan.primaryKey.length === 0) warnings.push(`table has no primary key: Tandem cannot replicate it until it has one`);
  dialect.adjust(plan);
  return { plan, problems };
}

/** The reviewable script of one table: a header comment, its warnings as comments, then its statements. */
export function renderTableScript(plan: TablePlan, dialect: SchemaDialect): string {
  const lines = [`-- table ${commentText(plan.name)} (${plan.from} → ${plan.to})`];
  for (const w of plan.warnings) lines.push(`-- warning: ${commentText(w)}`);
  for (const s of dialect.render(plan)) lines.push(`${s.sql};`);
  return lines.join('\n');
}

export interface IndexDifference {
  index: string;
  detail: string;
}

/** Indexes of the plan that an existing target table lacks (same columns in the same order, same uniqueness). */
export function missingIndexes(plan: TablePlan, existing: DdlTable): IndexDifference[] {
  const have = existing.indexes.map((i) => ({ unique: i.unique, columns: i.parts.map((p) => p.column ?? '') }));
  const out: IndexDifference[] = [];
  for (const idx of plan.indexes) {
    const cols = idx.parts.map((p) => ('column' in p ? p.column : ''));
    if (cols.includes('')) continue; // expression indexes cannot be compared by columns
    const found = have.some((h) => sameList(h.columns, cols) && (h.unique || !idx.unique)) || (idx.unique && sameList(existing.primaryKey, cols));
    if (!found) out.push({ index: idx.name, detail: `${idx.unique ? 'unique ' : ''}index on (${cols.join(', ')}) is missing` });
  }
  return out;
}
