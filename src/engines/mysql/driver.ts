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
