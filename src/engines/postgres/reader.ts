import pg from 'pg';
import type { Readable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import type { Row, Value } from '../../model/change.js';
import type { BulkReader, TableReader } from '../engine.js';
import { connectPostgres } from './connect.js';
import { describePgTables } from './introspect.js';
import { decodePgText, textTypes } from './values.js';

const q = (name: string) => pg.escapeIdentifier(name);

/** The format of PostgreSQL's COPY text, as both sides' sessions set it up (PG_SESSION_OPTIONS): BulkReader.format. */
export const PG_COPY_TEXT = 'postgres copy text';

/** A column's type as the same-engine fast path compares it: the domain (if any) and the base type with modifiers. */
export const pgBulkType = (c: { nativeType: string; domain?: string }) => (c.domain ? `${c.domain} over ${c.nativeType}` : c.nativeType);

/** A key value as a literal of unknown type (COPY takes no parameters); the server reads it as the column's type. */
function keyLiteral(value: Value): string {
  if (value === null) return 'NULL';
  if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'`;
  return pg.escapeLiteral(String(value));
}

/**
 * Reads tables in primary-key order for backfill. With a snapshot name it reads exactly the data at the slot's
 * consistent point; without one, a fresh repeatable-read snapshot (resumed backfill, see src/backfill).
 */
export async function openPgReader(url: string, snapshot: string | undefined): Promise<TableReader> {
  const client = await connectPostgres(url, 'backfill');
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (snapshot) await client.query(`SET TRANSACTION SNAPSHOT ${pg.escapeLiteral(snapshot)}`);
  const keyPredicate = (key: string[], op: '>' | '<=', at: Row) => `(${key.map(q).join(', ')}) ${op} (${key.map((k) => keyLiteral(at[k] ?? null)).join(', ')})`;
  const bulk: BulkReader = {
    format: PG_COPY_TEXT,
    async columnTypes(table) {
      const info = (await describePgTables(client, [table])).get(table);
      return new Map((info?.columns ?? []).filter((c) => !c.isGenerated).map((c) => [c.name, pgBulkType(c)]));
    },
    async copyChunk(table, columns, key, after, limit, load) {
      // The chunk ends at the key of its limit-th row: one index range, and no row of it is read in Node.
      const bound = await client.query<unknown[]>({
        text: `SELECT ${key.map(q).join(', ')} FROM ${q(table)} ${after ? `WHERE ${keyPredicate(key, '>', after)}` : ''} ORDER BY ${key.map(q).join(', ')} OFFSET ${limit - 1} LIMIT 1`,
        rowMode: 'array',
        types: textTypes,
      });
      const boundRow = bound.rows[0];
      let last: Row | undefined;
      if (boundRow) {
        last = {};
        for (const [i, f] of bound.fields.entries()) last[f.name] = decodePgText(f.dataTypeID, boundRow[i] as string | null);
      }
      const where = [after ? keyPredicate(key, '>', after) : '', last ? keyPredicate(key, '<=', last) : ''].filter(Boolean);
      const out = client.query(copyTo(`COPY (SELECT ${columns.map(q).join(', ')} FROM ${q(table)}${where.length ? ` WHERE ${where.join(' AND ')}` : ''}) TO STDOUT`));
      await load(out as Readable);
      // The last chunk (no bound) holds fewer than `limit` rows; its last key is not needed (the table is done).
      return { rows: out.rowCount, lastKey: out.rowCount > 0 ? (last ?? after) : undefined };
    },
  };
  return {
    bulk,
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
