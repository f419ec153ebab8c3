import type pg from 'pg';
import type { ColumnCollation, TableSchema, UniqueKeySchema } from '../../model/schema.js';

export interface PgTableInfo extends TableSchema {
  /** pg_class.relreplident: d(efault), n(othing), f(ull), i(ndex). */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  /** Columns whose values may be stored out of line (TOAST): they arrive as "unchanged" in UPDATEs. */
  toastableColumns: string[];
  owner: string;
  /**
   * Triggers that fire even for Tandem's apply (ENABLE ALWAYS or ENABLE REPLICA, foreign-key triggers included):
   * apply keeps the source's order of changes across tables for these tables, since such a trigger may see it.
   */
  applyTriggers: string[];
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
    out.set(t.relname, { name: t.relname, columns: [], primaryKey: [], uniqueKeys: [], replicaIdentity: t.relreplident, toastableColumns: [], owner: t.owner, applyTriggers: [] });
  }
  const columns = await client.query<{
    relname: string;
    attname: string;
    type: string;
    nullable: boolean;
    has_default: boolean;
    is_enum: boolean;
    domain: string | null;
    toastable: boolean;
    generated: boolean;
    collation: PgCollationRow | null;
  }>(
    // A domain is read as its base type (through domains over domains), its name kept: types map by what they hold.
    `select c.relname, a.attname,
            format_type(coalesce(b.base_oid, a.atttypid), case when b.base_oid is null then a.atttypmod else b.base_typmod end) as type,
            not a.attnotnull as nullable, (a.atthasdef or a.attidentity <> '') as has_default, bt.typtype = 'e' as is_enum,
            case when t.typtype = 'd' then t.typname::text end as domain, a.attgenerated <> '' as generated,
            -- Only types that hold large values in practice; a numeric or a short varchar never reaches TOAST's ~2 kB.
            (a.attstorage <> 'p' and (bt.typname in ('text', 'bytea', 'json', 'jsonb', 'xml') or bt.typcategory = 'A'
              or (bt.typname in ('varchar', 'bpchar') and (a.atttypmod < 0 or a.atttypmod > 1004)))) as toastable,
            -- to_jsonb: the columns of pg_collation differ between versions (collisdeterministic 12+, colliculocale 15-16, colllocale 17+).
            to_jsonb(co) as collation
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       join pg_type t on t.oid = a.atttypid
       left join lateral (
         with recursive chain(oid, typmod, depth) as (
           select t.typbasetype, t.typtypmod, 1 where t.typtype = 'd'
           union all
           select d.typbasetype, d.typtypmod, chain.depth + 1 from chain join pg_type d on d.oid = chain.oid and d.typtype = 'd'
         )
         select chain.oid as base_oid, chain.typmod as base_typmod from chain order by depth desc limit 1
       ) b on true
       join pg_type bt on bt.oid = coalesce(b.base_oid, a.atttypid)
       left join pg_collation co on co.oid = a.attcollation
      where n.nspname = current_schema() and c.relname = any($1)
      order by c.relname, a.attnum`,
    [names],
  );
  for (const c of columns.rows) {
    const table = out.get(c.relname);
    if (!table) continue;
    table.columns.push({
      name: c.attname,
      nativeType: c.type.toLowerCase(),
      nullable: c.nullable,
      hasDefault: c.has_default,
      isEnum: c.is_enum,
      ...(c.generated ? { isGenerated: true } : {}),
      ...(c.domain === null ? {} : { domain: c.domain }),
      ...(c.collation === null ? {} : { collation: pgCollation(c.collation) }),
    });
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
  await readUniqueKeys(client, names, out);
  const triggers = await client.query<{ relname: string; tgname: string }>(
    `select c.relname, t.tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relname = any($1) and t.tgenabled in ('A', 'R')`,
    [names],
  );
  for (const t of triggers.rows) out.get(t.relname)?.applyTriggers.push(t.tgname);
  return out;
}

/** A pg_collation row as to_jsonb gives it, whatever the server version. */
interface PgCollationRow {
  collname: string;
  collisdeterministic?: boolean;
  collcollate?: string | null;
  colliculocale?: string | null;
  colllocale?: string | null;
}

/**
 * Deterministic collations (every one before PostgreSQL 12, and the default) compare code points in the end. A
 * nondeterministic (ICU) one compares by weights; at strength primary or secondary (`ks-level1/2`) it ignores case.
 */
export function pgCollation(row: PgCollationRow): ColumnCollation {
  const base = { name: row.collname, padSpace: false };
  if (row.collisdeterministic !== false) return { ...base, equality: 'exact' };
  const locale = row.colllocale ?? row.colliculocale ?? row.collcollate ?? '';
  return { ...base, equality: /ks-level[12]|colstrength=(primary|secondary)/i.test(locale) ? 'case-insensitive' : 'weights' };
}

/**
 * An index part spelled by pg_get_indexdef as a column passed through lower()/upper() and rtrim()/btrim()/TRIM(BOTH
 * | TRAILING FROM …) (casts to text allowed): the column, and what the functions make the index ignore. Anything
 * else is undefined.
 */
export function foldedPart(expression: string): { column: string; ignoresCase: boolean; ignoresTrailingSpaces: boolean } | undefined {
  let e = expression.replace(/::(?:text|character varying|bpchar|character|varchar|name)(?:\(\d+\))?/gi, '').trim();
  let ignoresCase = false;
  let ignoresTrailingSpaces = false;
  for (;;) {
    const wrapped = /^\((.*)\)$/s.exec(e);
    if (wrapped) {
      e = (wrapped[1] ?? '').trim();
      continue;
    }
    const call = /^(lower|upper|rtrim|btrim)\((.*)\)$/is.exec(e) ?? /^(trim)\((?:both|trailing)\s+from\s+(.*)\)$/is.exec(e);
    if (!call) break;
    const fn = (call[1] ?? '').toLowerCase();
    if (fn === 'lower' || fn === 'upper') ignoresCase = true;
    else ignoresTrailingSpaces = true;
    e = (call[2] ?? '').trim();
  }
  const quoted = /^"((?:[^"]|"")+)"$/.exec(e);
  if (quoted) return { column: (quoted[1] ?? '').replace(/""/g, '"'), ignoresCase, ignoresTrailingSpaces };
  return /^[a-z_][a-z0-9_$]*$/.test(e) ? { column: e, ignoresCase, ignoresTrailingSpaces } : undefined;
}

/** Unique, non-partial indexes besides the primary key whose parts are columns, plain or folded (foldedPart). */
async function readUniqueKeys(client: pg.Client, names: string[], out: Map<string, PgTableInfo>): Promise<void> {
  const parts = await client.query<{ relname: string; idx: string; attname: string | null; part: string | null }>(
    // pg_get_indexdef locks the table (it waits behind an ALTER TABLE or LOCK TABLE): only expression parts need it.
    `select c.relname, ic.relname as idx, a.attname, case when k.attnum = 0 then pg_get_indexdef(i.indexrelid, k.ord::int, true) end as part
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class ic on ic.oid = i.indexrelid
       join lateral unnest(i.indkey) with ordinality as k(attnum, ord) on true
       left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum and k.attnum > 0
      where n.nspname = current_schema() and c.relname = any($1) and i.indisunique and not i.indisprimary
        and i.indpred is null and k.ord <= i.indnkeyatts
      order by c.relname, ic.relname, k.ord`,
    [names],
  );
  const keys = new Map<string, UniqueKeySchema | null>();
  for (const r of parts.rows) {
    const table = out.get(r.relname);
    if (!table) continue;
    const id = `${r.relname}\u0000${r.idx}`;
    let key = keys.get(id);
    if (key === null) continue;
    if (key === undefined) {
      key = { name: r.idx, parts: [] };
      keys.set(id, key);
      (table.uniqueKeys ??= []).push(key);
    }
    const part = r.attname !== null ? { column: r.attname } : r.part === null ? undefined : foldedPart(r.part);
    if (part) key.parts.push(part);
    else {
      table.uniqueKeys = table.uniqueKeys?.filter((u) => u !== key);
      keys.set(id, null);
    }
  }
}
