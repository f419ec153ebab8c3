/**
 * PostgreSQL's part in schema translation: reading defaults, identity and indexes (beyond introspect.ts), the
 * PostgreSQL spelling of a planned table, and creating missing tables in one transaction.
 */
import pg from 'pg';
import type { ColumnDefault, DdlIndex, DdlTable, DomainType } from '../../model/ddl.js';
import type { ColumnSchema } from '../../model/schema.js';
import type { LogicalType } from '../../model/types.js';
import type { PlannedColumn, PlannedStatement, TablePlan } from '../../model/ddl.js';
import type { FoldedPart, SchemaDialect, SchemaSide } from '../engine.js';
import type { SideName } from '../../model/direction.js';
import { connectPostgres } from './connect.js';
import { TandemError, errorMessage } from '../../errors.js';
import { describePgTables, listPgTables } from './introspect.js';

const q = (name: string) => pg.escapeIdentifier(name);
/** PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes. */
const MAX_IDENT_BYTES = 63;

function truncateIdent(name: string): string {
  if (Buffer.byteLength(name) <= MAX_IDENT_BYTES) return name;
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch) > MAX_IDENT_BYTES) break;
    out += ch;
  }
  return out;
}

/** Removes one pair of parentheses around the whole expression: `(-1)` → `-1`. */
function unwrap(expr: string): string {
  let e = expr.trim();
  while (e.startsWith('(') && e.endsWith(')')) {
    let depth = 0;
    let wraps = true;
    for (let i = 0; i < e.length; i++) {
      if (e[i] === '(') depth++;
      else if (e[i] === ')') depth--;
      if (depth === 0 && i < e.length - 1) {
        wraps = false;
        break;
      }
    }
    if (!wraps) break;
    e = e.slice(1, -1).trim();
  }
  return e;
}

/** pg_get_expr() spelling of a default → neutral form. `nextval(...)` is handled by the caller (auto-increment). */
export function parsePgDefault(expr: string): ColumnDefault {
  const e = unwrap(expr);
  const lower = e.toLowerCase();
  if (/^null(::[\w ."[\]()]+)?$/i.test(e)) return { kind: 'null' };
  if (lower === 'true' || lower === 'false') return { kind: 'boolean', value: lower === 'true' };
  if (/^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(e)) return { kind: 'number', value: e };
  const literal = /^'((?:[^']|'')*)'(?:::[\w ."[\]()]+)?$/.exec(e);
  if (literal) {
    const value = (literal[1] ?? '').replace(/''/g, "'");
    const cast = e.slice(e.lastIndexOf("'") + 1).toLowerCase();
    if (cast === '::boolean' && (value === 'true' || value === 'false')) return { kind: 'boolean', value: value === 'true' };
    return { kind: 'string', value };
  }
  if (/^(now\(\)|current_timestamp(\(\d\))?|localtimestamp(\(\d\))?|transaction_timestamp\(\))$/.test(lower)) return { kind: 'current_timestamp' };
  if (lower === 'current_date') return { kind: 'current_date' };
  if (/^(gen_random_uuid|uuid_generate_v4)\(\)$/.test(lower)) return { kind: 'uuid' };
  return { kind: 'expression', engine: 'postgres', sql: expr };
}

/** Tables as describePgTables reads them, plus defaults, identity, enum labels and indexes. */
export async function describePgDdl(client: pg.Client, names: string[]): Promise<Map<string, DdlTable>> {
  const base = await describePgTables(client, names);
  const out = new Map<string, DdlTable>();
  for (const [name, t] of base) {
    out.set(name, { name, primaryKey: t.primaryKey, uniqueKeys: t.uniqueKeys, indexes: [], columns: t.columns.map((c) => ({ ...c, default: undefined, autoIncrement: false })) });
  }
  if (out.size === 0) return out;
  const cols = await client.query<{
    relname: string;
    attname: string;
    def: string | null;
    attidentity: string;
    attgenerated: string;
    enum_name: string | null;
    enum_labels: string[] | null;
    domain: DomainType | null;
  }>(
    `select c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity::text as attidentity, a.attgenerated::text as attgenerated,
            case when t.typtype = 'e' then t.typname::text end as enum_name,
            case when t.typtype = 'e' then array(select e.enumlabel::text from pg_enum e where e.enumtypid = t.oid order by e.enumsortorder) end as enum_labels,
            -- A domain directly over a base type (not over another domain) can be created on a PostgreSQL target as it is.
            case when t.typtype = 'd' and bt.typtype <> 'd' then json_build_object(
              'name', t.typname::text, 'base', format_type(t.typbasetype, t.typtypmod), 'notNull', t.typnotnull, 'default', t.typdefault,
              'checks', coalesce((select json_agg(json_build_object('name', con.conname::text, 'sql', pg_get_constraintdef(con.oid)) order by con.conname)
                                    from pg_constraint con where con.contypid = t.oid and con.contype = 'c'), '[]'::json)) end as domain
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
       join pg_type t on t.oid = a.atttypid
       left join pg_type bt on bt.oid = t.typbasetype
       left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
      where n.nspname = current_schema() and c.relname = any($1)`,
    [names],
  );
  for (const r of cols.rows) {
    const col = out.get(r.relname)?.columns.find((c) => c.name === r.attname);
    if (!col) continue;
    if (r.enum_name !== null) col.enumType = { name: r.enum_name, labels: r.enum_labels ?? [] };
    if (r.domain !== null) col.domainType = { ...r.domain, default: r.domain.default ?? undefined };
    if (r.attidentity === 'a' || r.attidentity === 'd') {
      col.autoIncrement = true;
      col.identityAlways = r.attidentity === 'a';
    } else if (r.attgenerated === 's' && r.def !== null) {
      col.generated = r.def;
    } else if (r.def !== null) {
      // serial: a nextval() default (of the column's own sequence, as serial creates it).
      if (/^nextval\('.*'::regclass\)$/.test(r.def)) col.autoIncrement = true;
      else col.default = parsePgDefault(r.def);
    }
  }
  const idx = await client.query<{ tbl: string; idx: string; uniq: boolean; method: string; pred: string | null; attname: string | null; part: string }>(
    `select c.relname as tbl, ic.relname as idx, i.indisunique as uniq, am.amname as method,
            pg_get_expr(i.indpred, i.indrelid) as pred, a.attname, pg_get_indexdef(i.indexrelid, k.ord::int, true) as part
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_namespace n on n.oid = c.relnamespace
       join pg_class ic on ic.oid = i.indexrelid
       join pg_am am on am.oid = ic.relam
       join lateral unnest(i.indkey) with ordinality as k(attnum, ord) on true
       left join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum and k.attnum > 0
      where n.nspname = current_schema() and c.relname = any($1) and not i.indisprimary and k.ord <= i.indnkeyatts
      order by c.relname, ic.relname, k.ord`,
    [names],
  );
  const byName = new Map<string, DdlIndex>();
  for (const r of idx.rows) {
    const table = out.get(r.tbl);
    if (!table) continue;
    const key = `${r.tbl}\u0000${r.idx}`;
    let index = byName.get(key);
    if (!index) {
      index = { name: r.idx, unique: r.uniq, parts: [], predicate: r.pred ?? undefined, method: r.method === 'btree' ? undefined : r.method };
      byName.set(key, index);
      table.indexes.push(index);
    }
    index.parts.push(r.attname === null ? { column: undefined, expression: r.part } : { column: r.attname });
  }
  return out;
}

export const postgresDialect: SchemaDialect = {
  engine: 'postgres',
  quoteIdent: q,

  renderDefault(def: ColumnDefault, column: PlannedColumn): string | undefined {
    switch (def.kind) {
      case 'null':
        return 'NULL';
      case 'string':
        return pg.escapeLiteral(def.value);
      case 'number':
        return def.value;
      case 'boolean':
        return def.value ? 'true' : 'false';
      case 'current_timestamp':
        return column.logical?.kind === 'date' ? 'CURRENT_DATE' : 'CURRENT_TIMESTAMP';
      case 'current_date':
        return 'CURRENT_DATE';
      case 'uuid':
        return column.logical?.kind === 'uuid' ? 'gen_random_uuid()' : 'gen_random_uuid()::text';
      case 'expression':
        return def.engine === 'postgres' ? def.sql : undefined;
    }
  },

  adjust(plan: TablePlan): void {
    for (const col of plan.columns) {
      if (col.autoIncrement && col.logical !== undefined && col.logical.kind !== 'integer') {
        plan.warnings.push(`column ${col.name}: ${col.type} cannot be an identity column; its values come from a sequence owned by the column instead`);
      }
    }
    foldedKeys(plan);
    const used = new Set<string>();
    for (const idx of plan.indexes) {
      let name = truncateIdent(idx.name);
      for (let n = 2; used.has(name); n++) name = truncateIdent(`${idx.name.slice(0, 55)}_${n}`);
      if (name !== idx.name) plan.warnings.push(`index ${idx.name}: renamed ${name} (PostgreSQL names are at most 63 bytes and unique per schema)`);
      idx.name = name;
      used.add(name);
    }
  },

  render(plan: TablePlan): PlannedStatement[] {
    const out: PlannedStatement[] = [];
    const seenTypes = new Set<string>();
    for (const col of plan.columns) {
      if (!col.enumType || seenTypes.has(col.enumType.name)) continue;
      seenTypes.add(col.enumType.name);
      out.push({ sql: `CREATE TYPE ${q(col.enumType.name)} AS ENUM (${col.enumType.labels.map((l) => pg.escapeLiteral(l)).join(', ')})`, createsType: col.enumType.name });
    }
    const sequences: Array<{ column: string; sequence: string }> = [];
    for (const col of plan.columns) {
      const domain = col.domainType;
      if (!domain || seenTypes.has(domain.name)) continue;
      seenTypes.add(domain.name);
      const parts = [`CREATE DOMAIN ${q(domain.name)} AS ${domain.base}`, ...(domain.notNull ? ['NOT NULL'] : []), ...(domain.default !== undefined ? [`DEFAULT ${domain.default}`] : [])];
      for (const check of domain.checks) parts.push(`CONSTRAINT ${q(check.name)} ${check.sql}`);
      out.push({ sql: parts.join(' '), createsType: domain.name });
    }
    const defs = plan.columns.map((col) => {
      const type = col.enumType ? q(col.enumType.name) : col.domainType ? q(col.domainType.name) : col.type;
      let line = `  ${q(col.name)} ${type}`;
      if (col.autoIncrement && col.logical?.kind === 'integer') line += ' GENERATED BY DEFAULT AS IDENTITY';
      else if (col.autoIncrement) {
        const sequence = truncateIdent(`${plan.name}_${col.name}_seq`);
        sequences.push({ column: col.name, sequence });
        line += ` DEFAULT nextval(${pg.escapeLiteral(q(sequence))})`;
      }
      if (col.notNull) line += ' NOT NULL';
      if (col.defaultSql !== undefined && !col.autoIncrement) line += ` DEFAULT ${col.defaultSql}`;
      return line;
    });
    if (plan.primaryKey.length > 0) defs.push(`  PRIMARY KEY (${plan.primaryKey.map(q).join(', ')})`);
    for (const s of sequences) out.push({ sql: `CREATE SEQUENCE ${q(s.sequence)} AS bigint` });
    out.push({ sql: `CREATE TABLE ${q(plan.name)} (\n${defs.join(',\n')}\n)` });
    for (const s of sequences) out.push({ sql: `ALTER SEQUENCE ${q(s.sequence)} OWNED BY ${q(plan.name)}.${q(s.column)}` });
    for (const idx of plan.indexes) {
      const parts = idx.parts.map((p) => ('column' in p ? q(p.column) : `(${p.expression})`)).join(', ');
      const where = idx.predicate === undefined ? '' : ` WHERE ${idx.predicate}`;
      const using = idx.method === undefined ? '' : ` USING ${q(idx.method)}`;
      out.push({ sql: `CREATE ${idx.unique ? 'UNIQUE ' : ''}INDEX ${q(idx.name)} ON ${q(plan.name)}${using} (${parts})${where}` });
    }
    return out;
  },

  exactComparisonSql(table: string, column: ColumnSchema, logical: LogicalType | undefined): string {
    // character(n) ignores trailing spaces whatever its collation: only a varying type keeps them.
    const type = logical?.kind === 'text' && logical.fixed ? `character varying${logical.maxLength === null ? '' : `(${logical.maxLength})`}` : column.nativeType;
    return `ALTER TABLE ${q(table)} ALTER COLUMN ${q(column.name)} TYPE ${type} COLLATE "default";`;
  },

  foldedUniqueIndexSql(table: string, name: string, parts: FoldedPart[]): string {
    return `CREATE UNIQUE INDEX ${q(truncateIdent(name))} ON ${q(table)} (${parts.map(foldExpression).join(', ')});`;
  },
};

/** `lower(rtrim("c"))`: the column with what the part ignores folded away (PostgreSQL's rtrim strips spaces only). */
function foldExpression(part: FoldedPart): string {
  let e = q(part.column);
  if (part.ignoresTrailingSpaces) e = `rtrim(${e})`;
  if (part.ignoresCase) e = `lower(${e})`;
  return e;
}

/**
 * PostgreSQL compares keys exactly. A source key column whose collation ignores letter case or trailing spaces
 * (MySQL/MariaDB `_ci`, PAD SPACE) kept such values from coexisting there; after cutover new would accept them, and
 * they would merge rows when replayed into old. A unique index over the folded columns keeps them out of new too.
 */
function foldedKeys(plan: TablePlan): void {
  if (plan.from === 'postgres') return;
  const byName = new Map(plan.columns.map((c) => [c.name, c]));
  const sets = [
    { name: `${plan.name}_pkey`, columns: plan.primaryKey },
    ...plan.indexes.filter((i) => i.unique && i.predicate === undefined).map((i) => ({ name: i.name, columns: i.parts.map((p) => ('column' in p ? p.column : '')) })),
  ];
  for (const set of sets) {
    if (set.columns.length === 0 || set.columns.includes('')) continue;
    const parts = set.columns.map((column): FoldedPart => {
      const col = byName.get(column);
      const source = col?.logical?.kind === 'text' ? col.sourceCollation : undefined;
      const fixed = col?.logical?.kind === 'text' && col.logical.fixed;
      return { column, ignoresCase: source?.equality === 'case-insensitive', ignoresTrailingSpaces: source?.padSpace === true && !fixed };
    });
    const folded = parts.filter((p) => p.ignoresCase || p.ignoresTrailingSpaces);
    if (folded.length === 0) continue;
    const name = `${set.name}_fold`;
    plan.indexes.push({ name, unique: true, parts: parts.map((p) => (p.ignoresCase || p.ignoresTrailingSpaces ? { expression: foldExpression(p) } : { column: p.column })) });
    const what = [folded.some((p) => p.ignoresCase) ? 'letter case' : '', folded.some((p) => p.ignoresTrailingSpaces) ? 'trailing spaces' : ''].filter(Boolean).join(' or ');
    const collations = [...new Set(folded.map((p) => byName.get(p.column)?.sourceCollation?.name))].join(', ');
    plan.warnings.push(
      `index ${name}: added, unique over ${parts.map(foldExpression).join(', ')}: ${plan.from}'s ${collations} treats values differing only in ${what} as one key, so new refuses them too (after cutover they would merge rows in old)`,
    );
  }
}

export interface CreateResult {
  created: string[];
  existed: string[];
}

/**
 * Creates the planned tables that do not exist yet, all in one transaction: either every missing table is
 * created or none is. Existing tables are left alone (the caller compares them).
 */
export async function createMissingPgTables(client: pg.Client, plans: TablePlan[]): Promise<CreateResult> {
  const existing = new Set(await listPgTables(client));
  const missing = plans.filter((p) => !existing.has(p.name));
  const result: CreateResult = { created: [], existed: plans.filter((p) => existing.has(p.name)).map((p) => p.name) };
  if (missing.length === 0) return result;
  const typeNames = missing.flatMap((p) => postgresDialect.render(p).flatMap((s) => (s.createsType ? [s.createsType] : [])));
  const types = await client.query<{ typname: string }>(
    `select t.typname::text as typname from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = current_schema() and t.typname = any($1)`,
    [typeNames],
  );
  const haveTypes = new Set(types.rows.map((r) => r.typname));
  let current = '';
  await client.query('BEGIN');
  try {
    for (const plan of missing) {
      current = plan.name;
      for (const s of postgresDialect.render(plan)) {
        if (s.createsType !== undefined) {
          if (haveTypes.has(s.createsType)) continue;
          haveTypes.add(s.createsType);
        }
        await client.query(s.sql);
      }
      result.created.push(plan.name);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw new TandemError('TANDEM_APPLY_FAILED', `creating table ${current} on PostgreSQL failed: ${errorMessage(err)}; nothing was created (one transaction)`, {
      fix: 'review the DDL that tandem schema prints, fix the cause (privileges, a conflicting name), and run it again',
      cause: err,
    });
  }
  return result;
}

export async function openPgSchemaSide(side: SideName, url: string): Promise<SchemaSide> {
  const client = await connectPostgres(url, `${side} side (schema)`);
  return {
    dialect: postgresDialect,
    listTables: () => listPgTables(client),
    describe: (names) => describePgDdl(client, names),
    createMissing: (plans) => createMissingPgTables(client, plans),
    close: () => client.end().catch(() => undefined),
  };
}
