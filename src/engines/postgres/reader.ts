import pg from 'pg';
import type { Row } from '../../model/change.js';
import type { TableReader } from '../engine.js';
import { connectPostgres } from './connect.js';
import { decodePgText, textTypes } from './values.js';

const q = (name: string) => pg.escapeIdentifier(name);

/**
 * Reads tables in primary-key order for backfill. With a snapshot name it reads exactly the data at the slot's
 * consistent point; without one, a fresh repeatable-read snapshot (resumed backfill, see src/backfill).
 */
export async function openPgReader(url: string, snapshot: string | undefined): Promise<TableReader> {
  const client = await connectPostgres(url, 'backfill');
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(snapshot)}`);
  return {
    async estimateRows(table) {
      const r = await client.query<{ n: string }>(`select greatest(reltuples, 0)::bigint::text as n from pg_class where oid = to_regclass($1)`, [q(table)]);
      const estimate = Number(r.rows[0]?.n ?? 0);
      if (estimate > 0) return estimate;
      // Never analyzed: count, it is small or about to be read anyway.
      const c = await client.query<{ n: string }>(`select count(*)::text as n from ${q(table)}`);
      return Number(c.rows[0]?.n ?? 0);
    },
    async readChunk(table, columns, key, after, limit) {
      const params: unknown[] = [];
      let where = '';
      if (after) {
        const placeholders = key.map((k) => (params.push(after[k]), `$${params.length}`));
        where = `WHERE (${key.map(q).join(', ')}) > (${placeholders.join(', ')})`;
      }
      params.push(limit);
      const r = await client.query<unknown[]>({
        text: `SELECT ${columns.length ? columns.map(q).join(', ') : '*'} FROM ${q(table)} ${where} ORDER BY ${key.map(q).join(', ')} LIMIT $${params.length}`,
        values: params,
        rowMode: 'array',
        types: textTypes,
      });
      return r.rows.map((values) => {
        const row: Row = {};
        r.fields.forEach((f, i) => (row[f.name] = decodePgText(f.dataTypeID, values[i] as string | null)));
        return row;
      });
    },
    async close() {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
