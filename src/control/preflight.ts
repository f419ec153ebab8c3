import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { fail, pass, warn, type CheckItem } from '../engines/shared/checks.js';
import type { Database } from '../engines/engine.js';
import type { SideName } from '../model/direction.js';
import { engineForUrl } from '../engines/registry.js';
import { compareTableSchemas } from '../schema/compat.js';
import { checkKafka, laneConflictCheck } from '../transport/kafka/checks.js';

export interface PreflightReport {
  ok: boolean;
  migration: string;
  tables: string[];
  summary: { pass: number; warn: number; fail: number };
  checks: CheckItem[];
}

async function openSide(side: SideName, url: string, items: CheckItem[]): Promise<Database | undefined> {
  try {
    const engine = engineForUrl(url);
    const db = await engine.openDatabase(side, url);
    items.push(pass('connect', side, `connected to ${side}`, `${engine.label} at ${new URL(url).host}`));
    return db;
  } catch (err) {
    items.push(fail('connect', side, `cannot connect to ${side}`, errorMessage(err), 'check that the server is running and the URL (user, password, host, port, database)'));
    return undefined;
  }
}

/** Which tables a migration covers: the configured list, or every table of the old side, minus exclusions. */
export async function resolveTables(config: TandemConfig, oldDb: Database): Promise<{ tables: string[]; items: CheckItem[] }> {
  const items: CheckItem[] = [];
  const existing = await oldDb.listTables();
  const excluded = new Set(config.exclude);
  for (const name of config.exclude) {
    if (!existing.includes(name)) {
      items.push(warn('tables.exclude_unknown', 'old', `excluded table ${name} does not exist`, `exclude lists ${name}, which is not a table on old`, `remove ${name} from exclude`));
    }
  }
  const tables = (config.tables ?? existing).filter((t) => !excluded.has(t));
  const leftOut = config.tables ? existing.filter((t) => !excluded.has(t) && !config.tables?.includes(t)) : [];
  if (leftOut.length) {
    items.push(
      warn('tables.not_replicated', 'old', `${leftOut.length} table(s) of old are not replicated`, `tables lists ${tables.length} table(s); ${leftOut.join(', ')} ${leftOut.length > 1 ? 'are' : 'is'} not in it, so nothing written there reaches new (or comes back on rollback)`,
        `add them to tables, or list them in exclude to say they are left out on purpose`),
    );
  }
  if (tables.length === 0) {
    items.push(fail('tables.none', 'old', 'no table to replicate', 'the old side has no table left after exclusions', 'create the tables, or correct tables/exclude in tandem.yaml'));
  }
  return { tables, items };
}

/**
 * A value check of the reverse stream (new → old after cutover), told apart from the forward stream's check of the
 * same id: its own id (`…_reverse`, as schema.generated_column_reverse) and a title that says when it matters.
 */
function reverseDirection(item: CheckItem): CheckItem {
  return { ...item, id: `${item.id}_reverse`, title: `after cutover (new → old): ${item.title}` };
}

export async function runPreflight(config: TandemConfig): Promise<PreflightReport> {
  const checks: CheckItem[] = [];
  const oldDb = await openSide('old', config.old.url, checks);
  const newDb = await openSide('new', config.new.url, checks);
  let tables: string[] = [];
  try {
    if (oldDb && newDb) {
      const resolved = await resolveTables(config, oldDb);
      tables = resolved.tables;
      checks.push(...resolved.items);
      const ctx = { migration: config.migration, tables, minBinlogRetentionHours: config.check.minBinlogRetentionHours, backfill: true };
      // Both sides must be capturable: old feeds the forward stream now, new feeds the reverse stream after cutover.
      checks.push(...(await oldDb.checkCapture({ ...ctx, side: 'old' })));
      checks.push(...(await newDb.checkApply({ ...ctx, side: 'new' })));
      checks.push(...(await newDb.checkCapture({ ...ctx, side: 'new' })));
      checks.push(...(await oldDb.checkApply({ ...ctx, side: 'old' })));
      const oldSchemas = await oldDb.describeTables(tables);
      const newSchemas = await newDb.describeTables(tables);
      // Values the forward stream would carry that the shadow cannot hold (zero dates into PostgreSQL, H13).
      if (oldDb.checkValues) {
        checks.push(...(await oldDb.checkValues({ ...ctx, side: 'old', zeroDates: config.values.zeroDates, shadow: { engine: newDb.engine, tables: newSchemas } })));
      }
      // And those the reverse stream would carry after cutover, when old is the shadow: what new holds that old cannot.
      if (newDb.checkValues) {
        const reverse = await newDb.checkValues({ ...ctx, side: 'new', zeroDates: config.values.zeroDates, shadow: { engine: oldDb.engine, tables: oldSchemas } });
        checks.push(...reverse.map(reverseDirection));
      }
      // ordering: key applies rows in lanes out of step: a unique index besides the key on the shadow would refuse them.
      const lanes = laneConflictCheck(config, 'new', newSchemas);
      if (lanes) checks.push(lanes);
      for (const t of tables) {
        checks.push(...compareTableSchemas(t, { engine: oldDb.engine, table: oldSchemas.get(t) }, { engine: newDb.engine, table: newSchemas.get(t) }));
      }
    }
  } finally {
    await oldDb?.close();
    await newDb?.close();
  }
  // The Kafka transport's own parts: brokers, Connect, the Debezium plugins, topic settings.
  if (config.transport.kind === 'kafka') checks.push(...(await checkKafka(config)));
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status]++;
  return { ok: summary.fail === 0, migration: config.migration, tables, summary, checks };
}
