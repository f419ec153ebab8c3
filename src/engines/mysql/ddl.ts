/**
 * MySQL/MariaDB's part in schema translation: reading defaults, AUTO_INCREMENT and indexes (beyond
 * introspect.ts), the MySQL spelling of a planned table (one CREATE TABLE with its keys), and creating missing
 * tables one by one (MySQL commits DDL implicitly, so there is no all-or-nothing).
 */
import type mysql from 'mysql2/promise';
import { mysqlDriver } from './driver.js';
import type { RowDataPacket } from 'mysql2/promise';
import type { ColumnDefault, DdlIndex, DdlTable } from '../../model/ddl.js';
import type { PlannedColumn, PlannedStatement, TablePlan } from '../../model/ddl.js';
import type { SchemaDialect, SchemaSide } from '../engine.js';
import type { SideName } from '../../model/direction.js';
import { connectMysql } from './connect.js';
import { TandemError, errorMessage } from '../../errors.js';
import { describeMysqlTables, listMysqlTables } from './introspect.js';
import { quoteMysqlIdent as q } from './quote.js';
import { collationPads, exactCollation, hasCollation, readMysqlServer, type MysqlServer } from './collations.js';
import type { ColumnSchema } from '../../model/schema.js';
import type { LogicalType } from '../../model/types.js';

/** Types MySQL cannot index without a prefix length, nor give a plain literal default. */
const LOB_TYPE = /^(tiny|medium|long)?(text|blob)$/;
const JSON_TYPE = /^json$/;
/** Key prefix used when an unlimited text column must be indexed: 255 characters × 4 bytes fits InnoDB's 3072-byte limit. */
const KEY_PREFIX = 255;

const baseOf = (type: string) => type.toLowerCase().split('(')[0]?.trim() ?? '';

/**
 * information_schema.columns.column_default → neutral form. MariaDB (10.2.7+) quotes string literals and spells
 * expressions as SQL (`current_timestamp()`); MySQL 8 leaves literals unquoted and marks expressions DEFAULT_GENERATED.
 */
export function parseMysqlDefault(raw: string | null, extra: string, mariadb: boolean): ColumnDefault | undefined {
  if (raw === null) return undefined;
  const generated = /default_generated/i.test(extra);
  const lower = raw.trim().toLowerCase();
  if (mariadb || generated) {
    if (mariadb && lower === 'null') return { kind: 'null' };
    if (/^current_timestamp(\(\d?\))?$|^now\(\d?\)$|^localtimestamp(\(\d?\))?$/.test(lower)) return { kind: 'current_timestamp' };
    if (/^(curdate\(\)|current_date(\(\))?)$/.test(lower)) return { kind: 'current_date' };
    if (/^uuid\(\)$/.test(lower)) return { kind: 'uuid' };
  }
  if (mariadb) {
    const literal = /^'((?:[^'\\]|''|\\.)*)'$/s.exec(raw);
    if (literal) return { kind: 'string', value: unescapeMysql(literal[1] ?? '') };
    if (/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw.trim())) return { kind: 'number', value: raw.trim() };
    return { kind: 'expression', engine: 'mysql', sql: raw };
  }
  if (generated) return { kind: 'expression', engine: 'mysql', sql: raw };
  return /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(raw.trim()) ? { kind: 'number', value: raw.trim() } : { kind: 'string', value: raw };
}

function unescapeMysql(s: string): string {
  const map: Record<string, string> = { '0': '\0', n: '\n', r: '\r', t: '\t', Z: '\x1a', b: '\b' };
  return s.replace(/''|\\(.)/gs, (m, c: string | undefined) => (m === "''" ? "'" : c === undefined ? m : (map[c] ?? c)));
}

/** Tables as describeMysqlTables reads them, plus defaults, AUTO_INCREMENT, ON UPDATE and indexes. */
export async function describeMysqlDdl(conn: mysql.Connection, names: string[]): Promise<Map<string, DdlTable>> {
  const base = await describeMysqlTables(conn, names);
  const out = new Map<string, DdlTable>();
  for (const [name, t] of base) {
    out.set(name, { name, primaryKey: t.primaryKey, uniqueKeys: t.uniqueKeys, indexes: [], columns: t.columns.map((c) => ({ ...c, default: undefined, autoIncrement: false })) });
  }
  if (out.size === 0) return out;
  const [[version]] = await conn.query<RowDataPacket[]>(`SELECT VERSION() AS v`);
  const mariadb = /mariadb/i.test(String(version?.v ?? ''));
  const [cols] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, column_name AS col, column_default AS def, extra, generation_expression AS gen
       FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name IN (?)`,
    [[...out.keys()]],
  );
  for (const r of cols) {
    const col = out.get(String(r.tbl))?.columns.find((c) => c.name === String(r.col));
    if (!col) continue;
    const extra = String(r.extra ?? '');
    col.autoIncrement = /auto_increment/i.test(extra);
    col.onUpdateCurrentTimestamp = /on update current_timestamp/i.test(extra);
    if (/(virtual|stored|persistent) generated/i.test(extra) && r.gen !== null && r.gen !== undefined && String(r.gen) !== '') {
      col.generated = String(r.gen);
      continue;
    }
    const def = r.def === null || r.def === undefined ? null : Buffer.isBuffer(r.def) ? r.def.toString('utf8') : String(r.def);
    col.default = parseMysqlDefault(def, extra, mariadb);
  }
  const [stats] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS tbl, index_name AS idx, non_unique, column_name AS col, sub_part, index_type
       FROM information_schema.statistics
      WHERE table_schema = DATABASE() AND table_name IN (?) AND index_name <> 'PRIMARY'
      ORDER BY table_name, index_name, seq_in_index`,
    [[...out.keys()]],
  );
  const byName = new Map<string, DdlIndex>();
  for (const r of stats) {
    const table = out.get(String(r.tbl));
    if (!table) continue;
    const key = `${String(r.tbl)}\u0000${String(r.idx)}`;
    let index = byName.get(key);
    if (!index) {
      const type = String(r.index_type).toUpperCase();
      // MariaDB implements UNIQUE over long text/blob with a hidden HASH: still a plain unique key to the user.
      index = { name: String(r.idx), unique: Number(r.non_unique) === 0, parts: [], method: type === 'BTREE' || type === 'HASH' ? undefined : type };
      byName.set(key, index);
      table.indexes.push(index);
    }
    const sub = r.sub_part === null || r.sub_part === undefined ? undefined : Number(r.sub_part);
    if (r.col === null || r.col === undefined) index.parts.push({ column: undefined, expression: 'a functional part' });
    else index.parts.push(sub === undefined ? { column: String(r.col) } : { column: String(r.col), prefix: sub });
  }
  return out;
}

function fsp(column: PlannedColumn): number {
  return column.logical?.kind === 'timestamp' || column.logical?.kind === 'time' ? column.logical.precision : 0;
}

function isLob(type: string): boolean {
  return LOB_TYPE.test(baseOf(type));
}

/**
 * The collation of a key or unique-index text column, so that it collides exactly when the source's does: a
 * MySQL/MariaDB source's own collation (when this server has it), and for a PostgreSQL source, whose collations tell
 * every code point apart, the server's exact NO PAD one. The table's default (`utf8mb4_general_ci`, say) would
 * merge `'a'`, `'A'` and `'a '` into one row.
 */
function keyCollation(plan: TablePlan, col: PlannedColumn, server: MysqlServer | undefined): void {
  const source = col.sourceCollation;
  if (plan.from === 'mysql' && source) {
    if (!server || hasCollation(server, source.name, source.charset)) {
      col.collation = { name: source.name, charset: source.charset };
      return;
    }
    if (source.equality !== 'exact') {
      plan.warnings.push(`column ${col.name}: collation ${source.name} does not exist on this server; the column gets the table's default, which may treat other values as equal: choose one that compares as ${source.name} does`);
      return;
    }
  }
  const charset = plan.from === 'mysql' ? (source?.charset ?? 'utf8mb4') : 'utf8mb4';
  const exact = exactCollation(charset, server);
  const name = exact ?? `${charset}_bin`;
  col.collation = { name, charset };
  const why = plan.from === 'mysql' ? `${source?.name ?? 'its collation'} does not exist on this server` : `${plan.from} tells apart keys that differ only in letter case or trailing spaces, which the table's default collation would merge`;
  if (!server) {
    plan.warnings.push(`column ${col.name}: ${name}, since ${why}; the server could not be asked for its NO PAD binary collation, and ${name} ignores trailing spaces: use utf8mb4_nopad_bin on MariaDB 10.2+, utf8mb4_0900_bin on MySQL 8.0.17+`);
  } else if (collationPads(name, server)) {
    plan.warnings.push(`column ${col.name}: ${name}, since ${why}; this server has no NO PAD binary collation, so values differing only in trailing spaces still collide`);
  } else {
    plan.warnings.push(`column ${col.name}: ${name} (exact, no padding), since ${why}`);
  }
}

/** The MySQL/MariaDB dialect, without the key collations that depend on the server (mysqlDialectFor). */
const baseDialect: SchemaDialect = {
  engine: 'mysql',
  quoteIdent: q,

  renderDefault(def: ColumnDefault, column: PlannedColumn): string | undefined {
    // Text, blob and JSON columns take only expression defaults (MySQL 8.0.13+, MariaDB 10.2+): a literal in parentheses.
    const paren = (sql: string) => (isLob(column.type) || JSON_TYPE.test(baseOf(column.type)) ? `(${sql})` : sql);
    switch (def.kind) {
      case 'null':
        return 'NULL';
      case 'string':
        return paren(mysqlDriver().escape(def.value));
      case 'number':
        return paren(def.value);
      case 'boolean':
        return paren(def.value ? '1' : '0');
      case 'current_timestamp': {
        if (column.logical?.kind === 'date') return '(CURRENT_DATE)';
        if (column.logical?.kind !== 'timestamp') return undefined;
        // The default's fractional digits must equal the column's.
        const p = fsp(column);
        return p === 0 ? 'CURRENT_TIMESTAMP' : `CURRENT_TIMESTAMP(${p})`;
      }
      case 'current_date':
        return column.logical?.kind === 'date' ? '(CURRENT_DATE)' : undefined;
      case 'uuid':
        return '(uuid())';
      case 'expression':
        return def.engine === 'mysql' ? (/^\(.*\)$/s.test(def.sql.trim()) ? def.sql : `(${def.sql})`) : undefined;
    }
  },

  adjust(plan: TablePlan): void {
    const byName = new Map(plan.columns.map((c) => [c.name, c]));
    // Key columns cannot be unlimited text/blob: an unlimited PostgreSQL text key becomes varchar(255).
    const keyColumns = new Set([...plan.primaryKey, ...plan.indexes.filter((i) => i.unique).flatMap((i) => i.parts.flatMap((p) => ('column' in p && p.prefix === undefined ? [p.column] : [])))]);
    for (const name of keyColumns) {
      const col = byName.get(name);
      if (!col || !isLob(col.type)) continue;
      const binary = /blob$/.test(baseOf(col.type));
      const type = binary ? `varbinary(${KEY_PREFIX})` : `varchar(${KEY_PREFIX})`;
      plan.warnings.push(`column ${name}: ${col.type} cannot be a key column on MySQL; ${type} instead, longer values will be refused at apply time`);
      col.type = type;
      col.logical = binary ? { kind: 'binary', maxLength: KEY_PREFIX, fixed: false } : { kind: 'text', maxLength: KEY_PREFIX, fixed: false };
    }
    // Non-unique indexes on text/blob need a prefix; JSON cannot be indexed at all.
    plan.indexes = plan.indexes.filter((idx) => {
      const jsonParts = idx.parts.filter((p) => 'column' in p && JSON_TYPE.test(baseOf(byName.get(p.column)?.type ?? '')));
      if (jsonParts.length > 0) {
        plan.warnings.push(`index ${idx.name}: JSON columns cannot be indexed on MySQL; left out`);
        return false;
      }
      for (const p of idx.parts) {
        if (!('column' in p) || p.prefix !== undefined) continue;
        const col = byName.get(p.column);
        if (col && isLob(col.type)) {
          p.prefix = KEY_PREFIX;
          plan.warnings.push(`index ${idx.name}: ${p.column} is ${col.type}, indexed on its first ${KEY_PREFIX} characters`);
        }
      }
      return true;
    });
    // One AUTO_INCREMENT column per table, and it must lead some key.
    const autos = plan.columns.filter((c) => c.autoIncrement);
    for (const extra of autos.slice(1)) {
      extra.autoIncrement = false;
      plan.warnings.push(`column ${extra.name}: MySQL allows one AUTO_INCREMENT column per table; this one has no automatic values`);
    }
    const auto = autos[0];
    if (auto) {
      if (auto.logical?.kind !== 'integer' && auto.logical?.kind !== 'float') {
        auto.autoIncrement = false;
        plan.warnings.push(`column ${auto.name}: ${auto.type} cannot be AUTO_INCREMENT on MySQL; it has no automatic values`);
      } else {
        const leads = plan.primaryKey[0] === auto.name || plan.indexes.some((i) => { const first = i.parts[0]; return first !== undefined && 'column' in first && first.column === auto.name; });
        if (!leads) {
          plan.indexes.push({ name: `${auto.name}_auto_increment`.slice(0, 64), unique: false, parts: [{ column: auto.name }] });
          plan.warnings.push(`column ${auto.name}: MySQL needs an index led by an AUTO_INCREMENT column; one is added`);
        }
      }
    }
    for (const idx of plan.indexes) {
      if ([...idx.name].length > 64) {
        const name = [...idx.name].slice(0, 64).join('');
        plan.warnings.push(`index ${idx.name}: renamed ${name} (MySQL names are at most 64 characters)`);
        idx.name = name;
      }
    }
  },

  render(plan: TablePlan): PlannedStatement[] {
    const defs = plan.columns.map((col) => {
      let line = `  ${q(col.name)} ${col.type}${collate(col.collation)}${col.notNull ? ' NOT NULL' : ' NULL'}`;
      if (col.defaultSql !== undefined && !col.autoIncrement) line += ` DEFAULT ${col.defaultSql}`;
      if (col.onUpdateCurrentTimestamp) line += ` ON UPDATE ${fsp(col) === 0 ? 'CURRENT_TIMESTAMP' : `CURRENT_TIMESTAMP(${fsp(col)})`}`;
      if (col.autoIncrement) line += ' AUTO_INCREMENT';
      return line;
    });
    if (plan.primaryKey.length > 0) defs.push(`  PRIMARY KEY (${plan.primaryKey.map((c) => q(c)).join(', ')})`);
    for (const idx of plan.indexes) {
      const parts = idx.parts.map((p) => ('column' in p ? `${q(p.column)}${p.prefix === undefined ? '' : `(${p.prefix})`}` : `(${p.expression})`)).join(', ');
      defs.push(`  ${idx.unique ? 'UNIQUE KEY' : 'KEY'} ${q(idx.name)} (${parts})`);
    }
    return [{ sql: `CREATE TABLE ${q(plan.name)} (\n${defs.join(',\n')}\n) DEFAULT CHARSET=utf8mb4` }];
  },

  exactComparisonSql(table: string, column: ColumnSchema, logical: LogicalType | undefined): string {
    // CHAR strips trailing spaces whatever its collation: only VARCHAR keeps them.
    const type = logical?.kind === 'text' && logical.fixed ? `varchar(${logical.maxLength ?? 1})` : column.nativeType;
    const charset = column.collation?.charset ?? 'utf8mb4';
    const collation = column.collation?.exactAlternative ?? `${charset}_bin`;
    return `ALTER TABLE ${q(table)} MODIFY ${q(column.name)} ${type}${collate({ name: collation, charset })} ${column.nullable ? 'NULL' : 'NOT NULL'};`;
  },

  // MariaDB cannot index expressions (MySQL 8 can, but not both): no folded index is offered.
  foldedUniqueIndexSql: () => undefined,
};

/**
 * The MySQL/MariaDB dialect for one server, whose collations decide how key columns are created; `undefined`: no
 * server to ask (`tandem schema` with the target unreachable).
 */
export function mysqlDialectFor(server: MysqlServer | undefined): SchemaDialect {
  return {
    ...baseDialect,
    adjust(plan: TablePlan): void {
      for (const col of plan.columns) if (col.unique && col.logical?.kind === 'text') keyCollation(plan, col, server);
      baseDialect.adjust(plan);
    },
  };
}

const collate = (c: PlannedColumn['collation']): string => (c ? ` CHARACTER SET ${c.charset ?? c.name.split('_')[0]} COLLATE ${c.name}` : '');

/** The dialect without a server to ask (a key collation then is `utf8mb4_bin`, with a warning). */
export const mysqlDialect: SchemaDialect = mysqlDialectFor(undefined);

export interface CreateResult {
  created: string[];
  existed: string[];
}

/**
 * Creates the planned tables that do not exist yet, one statement per table. MySQL commits each CREATE TABLE
 * on its own, so a failure part-way leaves the tables created before it: the error names both.
 */
export async function createMissingMysqlTables(conn: mysql.Connection, plans: TablePlan[]): Promise<CreateResult> {
  const existing = new Set(await listMysqlTables(conn));
  const result: CreateResult = { created: [], existed: plans.filter((p) => existing.has(p.name)).map((p) => p.name) };
  for (const plan of plans) {
    if (existing.has(plan.name)) continue;
    try {
      for (const s of mysqlDialect.render(plan)) await conn.query(s.sql);
    } catch (err) {
      const done = result.created.length > 0 ? `; already created: ${result.created.join(', ')}` : '; nothing was created';
      throw new TandemError('TANDEM_APPLY_FAILED', `creating table ${plan.name} on MySQL/MariaDB failed: ${errorMessage(err)}${done}`, {
        fix: 'review the DDL that tandem schema prints, fix the cause, and run tandem schema --apply again (it skips the tables that exist)',
        cause: err,
      });
    }
    result.created.push(plan.name);
  }
  return result;
}

export async function openMysqlSchemaSide(side: SideName, url: string): Promise<SchemaSide> {
  const conn = await connectMysql(url, `${side} side (schema)`);
  let server: MysqlServer;
  try {
    server = await readMysqlServer(conn);
  } catch (err) {
    await conn.end().catch(() => undefined);
    throw err;
  }
  return {
    dialect: mysqlDialectFor(server),
    listTables: () => listMysqlTables(conn),
    describe: (names) => describeMysqlDdl(conn, names),
    createMissing: (plans) => createMissingMysqlTables(conn, plans),
    close: () => conn.end().catch(() => undefined),
  };
}
