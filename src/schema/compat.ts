import { fail, pass, warn, type CheckItem, type ColumnCheck } from '../engines/shared/checks.js';
import type { ColumnSchema, EngineKind, TableSchema } from '../model/schema.js';
import { engine } from '../engines/registry.js';
import type { MappingLimit, MappingRemedy } from '../model/types.js';
import { checkKeyCollations } from './key-collation.js';
import { checkTypeMapping } from './type-rules.js';

export interface SideSchema {
  engine: EngineKind;
  table: TableSchema | undefined;
}

/** What the operator does about one limit of the forward mapping (old → new). */
function remedyText(remedy: MappingRemedy): string {
  switch (remedy.kind) {
    case 'widen':
      return `change the column on new to ${remedy.type} if such values can occur`;
    case 'source-values':
      return `new cannot store ${remedy.values}: keep them out of old (fix any rows that hold them)`;
    case 'enum-labels':
      return 'give the enum on new every label of the one on old';
    case 'zero-dates':
      // A date column cannot be widened to hold them: PostgreSQL has no zero date at all.
      return 'set values.zeroDates: null in tandem.yaml to write them as NULL (the column on new must be nullable), or fix the rows on old that hold them';
  }
}

const distinct = (texts: string[]): string[] => [...new Set(texts)];

function limitsFix(limits: MappingLimit[]): string {
  return distinct(limits.map((l) => remedyText(l.remedy))).join('; ');
}

/**
 * Can table rows travel old → new (forward, required) and new → old (reverse, needed for rollback)?
 * A column the shadow cannot hold is a failure; a reverse-only limitation is a warning, because it only matters
 * for values the application writes on `new` after cutover. Columns that map with a limit make one warning for the
 * table, each column's limit and fix in its `columns`: a shop's every numeric and timestamp column has one, and a
 * warning per column would bury the rest of the report.
 */
export function compareTableSchemas(name: string, oldSide: SideSchema, newSide: SideSchema): CheckItem[] {
  const id = 'schema';
  const missingOn = [oldSide.table ? undefined : 'old', newSide.table ? undefined : 'new'].filter(Boolean);
  if (!oldSide.table || !newSide.table) {
    return [
      fail(`${id}.table_missing`, 'both', `table ${name} is missing on ${missingOn.join(' and ')}`,
        `${name} is included but does not exist on the ${missingOn.join(' and ')} side`,
        `create it there (tandem schema prints the DDL), or exclude it in tandem.yaml: exclude: [${name}]`),
    ];
  }
  const oldT = oldSide.table;
  const newT = newSide.table;
  const items: CheckItem[] = [];
  const limited: ColumnCheck[] = [];
  if (oldT.primaryKey.join(',') !== newT.primaryKey.join(',')) {
    items.push(
      fail(`${id}.primary_key`, 'both', `table ${name} has different primary keys`,
        `old: (${oldT.primaryKey.join(', ') || 'none'}), new: (${newT.primaryKey.join(', ') || 'none'})`,
        'give both sides the same primary key columns in the same order'),
    );
  }
  const newCols = new Map(newT.columns.map((c) => [c.name, c]));
  const oldCols = new Map(oldT.columns.map((c) => [c.name, c]));
  for (const col of oldT.columns) {
    const target = newCols.get(col.name);
    if (!target) {
      items.push(fail(`${id}.column_missing`, 'new', `column ${name}.${col.name} is missing on new`, `old has ${col.name} ${col.nativeType}; its values would be lost`,
        `add the column on new, or exclude the table`));
      continue;
    }
    items.push(...generatedColumnChecks(name, col, oldSide.engine, target, newSide.engine));
    const forward = checkTypeMapping(oldSide.engine, col.nativeType, newSide.engine, target.nativeType, { fromIsEnum: col.isEnum, toIsEnum: target.isEnum });
    if (!forward.ok) {
      items.push(fail(`${id}.type_mapping`, 'both', `column ${name}.${col.name} does not map`, `old ${col.nativeType} → new ${target.nativeType}: ${forward.reason}`,
        'change the column type on new to one that holds every value (tandem schema proposes one), or exclude the table'));
    } else if (forward.warning) {
      limited.push({ column: col.name, detail: `old ${col.nativeType} → new ${target.nativeType}: ${forward.warning}`, fix: limitsFix(forward.limits ?? []) });
    }
    const reverse = checkTypeMapping(newSide.engine, target.nativeType, oldSide.engine, col.nativeType, { fromIsEnum: target.isEnum, toIsEnum: col.isEnum });
    if (forward.ok && !reverse.ok) {
      items.push(warn(`${id}.reverse_type_mapping`, 'both', `column ${name}.${col.name} is wider on new than on old`,
        `after cutover, new ${target.nativeType} → old ${col.nativeType}: ${reverse.reason}; such a value would stop reverse replication`,
        'keep values within the old column type, or widen the column on old so rollback stays possible'));
    }
  }
  if (limited.length > 0) {
    const names = limited.map((c) => c.column);
    items.push({
      ...warn(`${id}.type_mapping`, 'both', `table ${name}: ${names.length} column(s) map with a limit (${names.join(', ')})`,
        'some values these columns can hold on old would be refused on new at apply time (--json lists each column\'s limit)',
        distinct(limited.flatMap((c) => (c.fix ? [c.fix] : []))).join('; ')),
      columns: limited,
    });
  }
  items.push(...checkKeyCollations(name, { engine: oldSide.engine, table: oldT }, { engine: newSide.engine, table: newT }));
  for (const col of newT.columns) {
    if (oldCols.has(col.name)) continue;
    if (!col.nullable && !col.hasDefault) {
      items.push(fail(`${id}.column_extra`, 'new', `column ${name}.${col.name} exists only on new and is NOT NULL without default`,
        'forward apply cannot fill it', `give ${col.name} a default on new, make it nullable, or add it on old`));
    } else {
      items.push(warn(`${id}.column_extra`, 'new', `column ${name}.${col.name} exists only on new`,
        'forward apply leaves it at its default; after cutover its values are not copied back to old', `add it on old if rollback must keep its values`));
    }
  }
  if (!items.some((i) => i.status === 'fail')) {
    items.push(pass(`${id}.table`, 'both', `table ${name} matches`, `${oldT.columns.length} column(s), primary key (${oldT.primaryKey.join(', ')})`));
  }
  return items;
}

/**
 * Generated (computed) columns, in both directions. A shadow column that is generated is computed by the shadow and
 * never written, so it replicates whatever the source column is. Where the source's capture does not send generated
 * columns (PostgreSQL's pgoutput before 18), a plain shadow column would receive nothing in the stream: refused, with
 * the fix.
 */
function generatedColumnChecks(table: string, oldCol: ColumnSchema, oldEngine: EngineKind, newCol: ColumnSchema, newEngine: EngineKind): CheckItem[] {
  const out: CheckItem[] = [];
  const missing = (from: 'old' | 'new', fromEngine: EngineKind, source: ColumnSchema, target: ColumnSchema, to: 'old' | 'new') => {
    if (!source.isGenerated || target.isGenerated || engine(fromEngine).captureSendsGeneratedColumns) return;
    const reverse = from === 'new';
    out.push(
      fail(
        `schema.generated_column${reverse ? '_reverse' : ''}`,
        'both',
        `column ${table}.${source.name} is generated on ${from} but a plain column on ${to}`,
        `${engine(fromEngine).label}'s change stream does not carry generated columns, so every row streamed ${reverse ? 'back to old after cutover' : 'to new'} would have ${source.name} empty`,
        `make ${table}.${source.name} a generated column on ${to} with the same expression (ALTER TABLE … DROP COLUMN, then ADD COLUMN … GENERATED ALWAYS AS (…) STORED), or exclude the table`,
      ),
    );
  };
  missing('old', oldEngine, oldCol, newCol, 'new');
  missing('new', newEngine, newCol, oldCol, 'old');
  return out;
}
