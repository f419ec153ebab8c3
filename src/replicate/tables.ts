/**
 * Which tables a migration replicates, now. The set is not fixed at the first start: with `tables` unset, a table
 * created on the active side later joins once the shadow has it (Tandem never creates shadow tables: `tandem schema
 * --apply` does); with `tables` set, a table added to the list joins the same way, and tables the list leaves out
 * are reported as not replicated. A table of the migration that disappears from the active side stops replication.
 * Nothing is ever skipped silently: every table that cannot join is reported with why and the fix.
 */
import type { TandemConfig } from '../config/schema.js';
import { sidesOf, type Direction } from '../model/direction.js';
import type { Database } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import { uncarriedColumns, uncarriedColumnsProblem } from '../model/column-names.js';

/** The tables a migration replicates: configured, or every table of the active side, minus exclusions. */
export async function replicatedTables(config: TandemConfig, direction: Direction): Promise<string[]> {
  if (config.tables) return withoutExcluded(config, config.tables);
  const { active } = sidesOf(direction);
  const db = await engineForUrl(config[active].url).openDatabase(active, config[active].url);
  try {
    return await replicatedTablesOn(config, db);
  } finally {
    await db.close();
  }
}

/** replicatedTables, listed (when `tables` is unset) on a connection to the active side the caller holds. */
export async function replicatedTablesOn(config: TandemConfig, activeDb: Pick<Database, 'listTables'>): Promise<string[]> {
  return withoutExcluded(config, config.tables ?? (await activeDb.listTables()));
}

const withoutExcluded = (config: TandemConfig, tables: string[]) => tables.filter((t) => !config.exclude.includes(t));

/** A table that should replicate but cannot yet, with why and what to do. */
export interface PendingTable {
  table: string;
  reason: string;
  fix: string;
}

export interface TableSet {
  /** Tables of the migration (copied before) that replicate. */
  replicated: string[];
  /** Tables that join now: copied, then streamed. */
  joining: string[];
  pending: PendingTable[];
  /** Tables of the migration gone from the active side. */
  dropped: string[];
  /** With `tables` set: tables of the active side it leaves out (and that are not excluded). */
  notReplicated: string[];
}

export const emptyTableSet = (): TableSet => ({ replicated: [], joining: [], pending: [], dropped: [], notReplicated: [] });

/**
 * `known`: the tables the migration has copied (its backfill progress rows). Reads the active side's tables and, for
 * new ones, their schema on both sides.
 */
export async function planTables(config: TandemConfig, direction: Direction, known: readonly string[]): Promise<TableSet> {
  const { active, shadow } = sidesOf(direction);
  const excluded = new Set(config.exclude);
  const activeDb = await engineForUrl(config[active].url).openDatabase(active, config[active].url);
  let onActive: string[];
  let newOnActive: Map<string, { primaryKey: string[]; columns: { name: string }[] }>;
  const wanted = (t: string) => !excluded.has(t) && (config.tables ? config.tables.includes(t) : true);
  try {
    onActive = await activeDb.listTables();
    const candidates = onActive.filter((t) => wanted(t) && !known.includes(t));
    newOnActive = candidates.length ? await activeDb.describeTables(candidates) : new Map();
  } finally {
    await activeDb.close();
  }
  const present = new Set(onActive);
  const set = emptyTableSet();
  set.replicated = known.filter((t) => wanted(t) && present.has(t));
  set.dropped = known.filter((t) => wanted(t) && !present.has(t));
  set.notReplicated = config.tables ? onActive.filter((t) => !excluded.has(t) && !config.tables?.includes(t)) : [];
  const newTables = [...newOnActive.keys()];
  if (newTables.length === 0) return set;

  const shadowDb = await engineForUrl(config[shadow].url).openDatabase(shadow, config[shadow].url);
  try {
    const onShadow = await shadowDb.describeTables(newTables);
    const quote = (name: string) => engineForUrl(config[active].url).dialect.quoteIdent(name);
    for (const t of newTables) {
      const uncarried = uncarriedColumns(newOnActive.get(t)?.columns ?? []);
      if ((newOnActive.get(t)?.primaryKey.length ?? 0) === 0) {
        set.pending.push({ table: t, reason: `${t} has no primary key on ${active}, so its changes cannot name the row they change`, fix: `add a primary key to ${t}, or exclude it in tandem.yaml (exclude: [${t}])` });
      } else if (uncarried.length > 0) {
        set.pending.push({ table: t, ...uncarriedColumnsProblem(t, uncarried, quote) });
      } else if (!onShadow.has(t)) {
        set.pending.push({ table: t, reason: `${t} exists on ${active} but not on ${shadow} (the shadow)`, fix: `create it on ${shadow}: tandem schema --apply (Tandem never creates shadow tables), or exclude it in tandem.yaml (exclude: [${t}])` });
      } else set.joining.push(t);
    }
  } finally {
    await shadowDb.close();
  }
  return set;
}
