import type pg from 'pg';
import type { TableSchema } from '../../model/schema.js';

export interface PgTableInfo extends TableSchema {
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  /** Columns whose values may be stored out of line (TOAST): they arrive as "unchanged" in UPDATEs. */
  toastableColumns: string[];
  owner: string;
}

export async function listPgTables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ relname: string }>(
    `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and not c.relispartition
      order by c.relname`,
  );
  return rows.map((r) => r.relname);
}

export async function describePgTables(client: pg.Client, names: string[]): Promise<Map<string, PgTableInfo>> {
  const out = new Map<string, PgTableInfo>();
  if (names.length === 0) return out;
  const tables = await client.query<{ relname: string; relreplident: PgTableInfo['replicaIdentity']; owner: string }>(
    `select c.relname, c.relreplident, pg_get_userbyid(c.relowner) as owner
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname = any($1)`,
    [names],
  );
  for (const t of tables.rows) {
    out.set(t.relname, { name: t.relname, columns: [], primaryKey: [], replicaIdentity: t.relreplident, toastableColumns: [], owner: t.owner });
  }
  const columns = await client.query<{
    relname: string;
    attname: string;
    type: string;
    nullable: boolean;
    has_default: boolean;
    is_enum: boolean;
    toastable: boolean;
  }>(
    `select c.relname, a.attname, format_type(a.atttypid, a.atttypmod) as type, not a.attnotnull as nullable,
            (a.atthasdef or a.attidentity <> '') as has_default, t.typtype = 'e' as is_enum,
            -- Only types that hold large values in practice; a numeric or a short varchar never reaches TOAST's ~2 kB.
            (a.attstorage <> 'p' and (t.typname in ('text', 'bytea', 'json', 'jsonb', 'xml') or t.typcategory = 'A'
              or (t.typname in ('varchar', 'bpchar') and (a.atttypmod < 0 or a.atttypmod > 1004)))) as toastable
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       join pg_type t on t.oid = a.atttypid
      where n.nspname = current_schema() and c.relname = any($1)
      order by c.relname, a.attnum`,
    [names],
  );
  for (const c of columns.rows) {
    const table = out.get(c.relname);
    if (!table) continue;
    table.columns.push({ name: c.attname, nativeType: c.type.toLowerCase(), nullable: c.nullable, hasDefault: c.has_default, isEnum: c.is_enum });
    if (c.toastable) table.toastableColumns.push(c.attname);
  }
  // The primary key, or failing that the replica-identity index: both identify a row uniquely for apply.
  const keys = await client.query<{ relname: string; attname: string; indisprimary: boolean }>(
    `select c.relname, a.attname, i.indisprimary
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join lateral unnest(i.indkey) with ordinality as k(attnum, ord) on true
       join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
      where n.nspname = current_schema() and c.relname = any($1) and (i.indisprimary or i.indisreplident)
      order by c.relname, i.indisprimary desc, k.ord`,
    [names],
  );
  const keySource = new Map<string, boolean>();
  for (const k of keys.rows) {
    const table = out.get(k.relname);
    if (!table) continue;
    const seen = keySource.get(k.relname);
    if (seen === undefined) keySource.set(k.relname, k.indisprimary);
    else if (seen !== k.indisprimary) continue; // a replica-identity index beside a primary key: the primary key wins
    table.primaryKey.push(k.attname);
  }
  return out;
}
