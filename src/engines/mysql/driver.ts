import { createRequire } from 'node:module';
import type mysql2 from 'mysql2';

const requireCjs = createRequire(import.meta.url);
let loaded: typeof mysql2 | undefined;

/**
 * mysql2, loaded on first use: every command loads the engine registry, and a PostgreSQL-only migration would
 * otherwise pay for the driver (a few hundred milliseconds of module loading) at each start of the CLI.
 */
export function mysqlDriver(): typeof mysql2 {
  loaded ??= requireCjs('mysql2') as typeof mysql2;
  return loaded;
}

/**
 * mysql2 for a connection about to be opened. Its first load blocks the process for about 100 ms, so it waits for
 * the event loop's next turn: connections asked for in the same breath (a PostgreSQL side's, say) are then on their
 * way, and that server starts their sessions while the driver loads.
 */
export async function mysqlDriverSoon(): Promise<typeof mysql2> {
  if (!loaded) await new Promise((resolve) => setImmediate(resolve));
  return mysqlDriver();
}
