import { fail, pass, warn, type CheckItem } from '../engines/checks.js';
import type { EngineKind, TableSchema } from '../model/schema.js';
import { checkTypeMapping } from '../model/type-mapping.js';

export interface SideSchema {
  engine: EngineKind;
  table: TableSchema | undefined;
}

/**
 * Can table rows travel old → new (forward, required) and new → old (reverse, needed for rollback)?
 * A column the shadow cannot hold is a failure; a reverse-only limitation is a warning, because it only matters
 * for values the application writes on `new` after cutover.
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
    const forward = checkTypeMapping(oldSide.engine, col.nativeType, newSide.engine, target.nativeType, { fromIsEnum: col.isEnum, toIsEnum: target.isEnum });
    if (!forward.ok) {
      items.push(fail(`${id}.type_mapping`, 'both', `column ${name}.${col.name} does not map`, `old ${col.nativeType} → new ${target.nativeType}: ${forward.reason}`,
        'change the column type on new to one that holds every value (tandem schema proposes one), or exclude the table'));
    } else if (forward.warning) {
      items.push(warn(`${id}.type_mapping`, 'both', `column ${name}.${col.name} maps with a limit`, `old ${col.nativeType} → new ${target.nativeType}: ${forward.warning}`,
        'widen the column on new if such values can occur'));
    }
    const reverse = checkTypeMapping(newSide.engine, target.nativeType, oldSide.engine, col.nativeType, { fromIsEnum: target.isEnum, toIsEnum: col.isEnum });
    if (forward.ok && !reverse.ok) {
      items.push(warn(`${id}.reverse_type_mapping`, 'both', `column ${name}.${col.name} is wider on new than on old`,
        `after cutover, new ${target.nativeType} → old ${col.nativeType}: ${reverse.reason}; such a value would stop reverse replication`,
        'keep values within the old column type, or widen the column on old so rollback stays possible'));
    }
  }
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
