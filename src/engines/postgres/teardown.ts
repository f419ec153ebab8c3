/**
 * Removing Tandem from a PostgreSQL side (tandem teardown): the fence function and its triggers, and the migration's
 * rows in Tandem's tables; a table left empty (no other migration uses it) is dropped, then the schema if empty.
 * The application's tables and rows are never touched. The capture slot and publication go through the capture.
 */
import pg from 'pg';
import { connectPostgres } from './connect.js';

const TABLES = ['checkpoint', 'backfill', 'state', 'lease'];

export async function removePgTandemObjects(url: string, migration: string): Promise<string[]> {
  const c = await connectPostgres(url, 'teardown');
  const removed: string[] = [];
  try {
    // CASCADE takes the triggers that call it: the fence goes with its function.
    const fn = await c.query(`select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'tandem' and p.proname = $1`, [`fence_${migration}`]);
    if (fn.rowCount) {
      await c.query(`DROP FUNCTION IF EXISTS tandem.${pg.escapeIdentifier(`fence_${migration}`)}() CASCADE`);
      removed.push(`fence function tandem.fence_${migration} and its triggers`);
    }
    for (const t of TABLES) {
      const exists = (await c.query<{ r: string | null }>(`select to_regclass($1)::text as r`, [`tandem.${t}`])).rows[0]?.r;
      if (!exists) continue;
      const del = await c.query(`DELETE FROM tandem.${pg.escapeIdentifier(t)} WHERE migration = $1`, [migration]);
      if (del.rowCount) removed.push(`${del.rowCount} row(s) of tandem.${t}`);
      const left = await c.query(`select 1 from tandem.${pg.escapeIdentifier(t)} limit 1`);
      if (left.rowCount === 0) {
        await c.query(`DROP TABLE tandem.${pg.escapeIdentifier(t)}`);
        removed.push(`table tandem.${t}`);
      }
    }
    const rest = await c.query(
      `select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'tandem'
       union all select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'tandem' limit 1`,
    );
    if (rest.rowCount === 0 && (await c.query(`select 1 from pg_namespace where nspname = 'tandem'`)).rowCount) {
      await c.query(`DROP SCHEMA tandem`);
      removed.push('schema tandem');
    }
    return removed;
  } finally {
    await c.end().catch(() => undefined);
  }
}
