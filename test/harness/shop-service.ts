/**
 * The pair most service tests start from: a PostgreSQL server of the suite's own (a transaction another file leaves
 * open on a shared server would delay the slot a switch creates on new), the shop on old and new with five
 * customers, and `tandem run` with its API published. Each test adds only the configuration it is about.
 */
import { writeConfig } from './config.js';
import { readLeaseRow } from './control.js';
import { startPostgres } from './servers.js';
import { createShopDb, SHOP_TABLES, type ShopDb } from './switch.js';
import { untilTandem, type SuiteResources, type TandemProcess } from './tandem-process.js';

export interface ShopService {
  oldDb: ShopDb;
  newDb: ShopDb;
  config: string;
  service: TandemProcess;
  /** host:port of the control API, as the lease publishes it. */
  api: string;
}

export async function startShopService(
  res: SuiteResources,
  opts: {
    migration: string;
    /** Prefix of the two databases' names. */
    prefix: string;
    /** Replicated tables; null for "every table" (default the shop's). */
    tables?: string[] | null;
    /** Merged into the cutover section, whose maxLag is 60 s here: the lag gate has its own test (switch-gates). */
    cutover?: Record<string, unknown>;
    /** Any other configuration (api tokens, notify, plan…). */
    config?: Record<string, unknown>;
    /** Rows old holds before the service starts (copied by its backfill), beyond the five customers. */
    seed?: (oldDb: ShopDb) => Promise<void>;
  },
): Promise<ShopService> {
  const server = await startPostgres();
  res.servers.push(server);
  const oldDb = await createShopDb('pg', server.url, `${opts.prefix}old`);
  const newDb = await createShopDb('pg', server.url, `${opts.prefix}new`);
  res.dbs.push(oldDb, newDb);
  await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
  await opts.seed?.(oldDb);
  const tables = opts.tables === undefined ? SHOP_TABLES : opts.tables;
  const config = writeConfig({
    migration: opts.migration,
    old: { url: oldDb.url },
    new: { url: newDb.url },
    ...(tables ? { tables } : {}),
    verify: { interval: '1s' },
    cutover: { maxLag: '60s', ...opts.cutover },
    ...opts.config,
  });
  const service = res.start(['run', '--config', config]);
  const api = await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, opts.migration))?.api ?? undefined);
  return { oldDb, newDb, config, service, api };
}
