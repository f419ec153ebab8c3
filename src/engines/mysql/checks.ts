import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { fail, pass, warn, type CheckItem } from '../shared/checks.js';
import type { CheckContext, ValueCheckContext } from '../engine.js';
import type { ColumnSchema, TableSchema } from '../../model/schema.js';
import { quoteMysqlAccount as account, quoteMysqlIdent } from './quote.js';
import { mysqlNativeTypes } from './native-types.js';
import { uncarriedColumns, uncarriedColumnsProblem } from '../../model/column-names.js';

export interface MysqlServerInfo {
  mariadb: boolean;
  version: string;
  user: string;
}

export async function serverInfo(conn: mysql.Connection): Promise<MysqlServerInfo> {
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT VERSION() AS v, CURRENT_USER() AS u`);
  const version = String(rows[0]?.v ?? '');
  return { mariadb: /mariadb/i.test(version), version, user: String(rows[0]?.u ?? '') };
}

async function variables(conn: mysql.Connection, names: string[]): Promise<Map<string, string>> {
  const [rows] = await conn.query<RowDataPacket[]>(`SHOW GLOBAL VARIABLES WHERE Variable_name IN (?)`, [names]);
  return new Map(rows.map((r) => [String(r.Variable_name).toLowerCase(), String(r.Value)]));
}

/**
 * Privileges of the current account, global and on the current database, as information_schema reports them
 * (it shows an account its own grants without needing access to mysql.*).
 */
async function privileges(conn: mysql.Connection): Promise<{ global: Set<string>; schema: Set<string>; table: Map<string, Set<string>> }> {
  const grantee = `CONCAT("'", SUBSTRING_INDEX(CURRENT_USER(), '@', 1), "'@'", SUBSTRING_INDEX(CURRENT_USER(), '@', -1), "'")`;
  const [g] = await conn.query<RowDataPacket[]>(`SELECT privilege_type AS p FROM information_schema.user_privileges WHERE grantee = ${grantee}`);
  const [s] = await conn.query<RowDataPacket[]>(
    `SELECT privilege_type AS p FROM information_schema.schema_privileges WHERE grantee = ${grantee} AND table_schema = DATABASE()`,
  );
  const [t] = await conn.query<RowDataPacket[]>(
    `SELECT table_name AS t, privilege_type AS p FROM information_schema.table_privileges WHERE grantee = ${grantee} AND table_schema = DATABASE()`,
  );
  const table = new Map<string, Set<string>>();
  for (const r of t) {
    const set = table.get(String(r.t)) ?? new Set<string>();
    set.add(String(r.p));
    table.set(String(r.t), set);
  }
  return { global: new Set(g.map((r) => String(r.p))), schema: new Set(s.map((r) => String(r.p))), table };
}

function tablesLacking(privs: Awaited<ReturnType<typeof privileges>>, tables: string[], wanted: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const t of tables) {
    const missing = wanted.filter((p) => !privs.global.has(p) && !privs.schema.has(p) && !privs.table.get(t)?.has(p));
    if (missing.length) out.set(t, missing);
  }
  return out;
}

/**
 * A backfill opens its snapshot while commits are held for an instant (BACKUP STAGE BLOCK_COMMIT, or FLUSH TABLES
 * WITH READ LOCK on MySQL), the only way its binlog position is exact (reader.ts); both need RELOAD.
 */
function snapshotPrivilege(side: CheckContext['side'], user: string, global: Set<string>): CheckItem {
  if (global.has('RELOAD')) return pass('mysql.snapshot_privilege', side, 'a backfill may hold commits for its snapshot', `${user} has RELOAD`);
  const detail = `${user} lacks RELOAD, which a backfill needs to hold commits for the instant it opens its snapshot (so the snapshot and the binlog position the stream starts from agree)`;
  const fix = `GRANT RELOAD ON *.* TO ${account(user)};`;
  return side === 'old'
    ? fail('mysql.snapshot_privilege', side, 'a backfill could not take its snapshot', detail, fix)
    : warn('mysql.snapshot_privilege', side, 'a new copy from this side after cutover could not take its snapshot', detail, fix);
}

/** Prerequisites for reading row changes from the binary log of this side. */
export async function checkMysqlCapture(conn: mysql.Connection, ctx: CheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const info = await serverInfo(conn);
  const vars = await variables(conn, [
    'log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'gtid_mode', 'enforce_gtid_consistency',
    'gtid_binlog_pos', 'gtid_strict_mode', 'binlog_expire_logs_seconds', 'expire_logs_days', 'sync_binlog',
  ]);
  const v = (name: string) => vars.get(name) ?? '';
  const cnf = 'in the [mysqld] section of the server configuration, then restart the server';

  items.push(
    v('log_bin') === 'ON'
      ? pass('mysql.log_bin', side, 'the binary log is on', 'log_bin = ON')
      : fail('mysql.log_bin', side, 'the binary log is off', `log_bin = ${v('log_bin') || 'OFF'}`, `set log_bin = mysql-bin ${cnf}`),
  );
  items.push(
    v('binlog_format') === 'ROW'
      ? pass('mysql.binlog_format', side, 'binlog_format is ROW', 'binlog_format = ROW')
      : fail('mysql.binlog_format', side, 'binlog_format must be ROW', `binlog_format = ${v('binlog_format')}; statement events cannot be replayed exactly`,
          `SET GLOBAL binlog_format = 'ROW'; and set binlog_format = ROW ${cnf}`),
  );
  items.push(
    v('binlog_row_image') === 'FULL'
      ? pass('mysql.binlog_row_image', side, 'binlog_row_image is FULL', 'binlog_row_image = FULL')
      : fail('mysql.binlog_row_image', side, 'binlog_row_image must be FULL', `binlog_row_image = ${v('binlog_row_image')}; row events would miss column values`,
          `SET GLOBAL binlog_row_image = 'FULL'; and set binlog_row_image = FULL ${cnf}`),
  );
  items.push(
    Number(v('server_id')) > 0
      ? pass('mysql.server_id', side, 'server_id is set', `server_id = ${v('server_id')}`)
      : fail('mysql.server_id', side, 'server_id is not set', 'server_id = 0', `set server_id = 1 (any value unique among your servers) ${cnf}`),
  );
  if (info.mariadb) {
    items.push(
      v('gtid_strict_mode') === 'ON'
        ? pass('mysql.gtid', side, 'GTIDs are on (MariaDB)', `gtid_binlog_pos = ${v('gtid_binlog_pos') || '(empty)'}; gtid_strict_mode = ON`)
        : warn('mysql.gtid', side, 'GTIDs are on, gtid_strict_mode is off (MariaDB)', `gtid_binlog_pos = ${v('gtid_binlog_pos') || '(empty)'}; out-of-order GTIDs would go undetected`,
            `SET GLOBAL gtid_strict_mode = ON; and set gtid_strict_mode = ON ${cnf}`),
    );
  } else {
    items.push(
      v('gtid_mode') === 'ON' && v('enforce_gtid_consistency') === 'ON'
        ? pass('mysql.gtid', side, 'GTIDs are on', 'gtid_mode = ON, enforce_gtid_consistency = ON')
        : fail('mysql.gtid', side, 'GTIDs are off', `gtid_mode = ${v('gtid_mode')}, enforce_gtid_consistency = ${v('enforce_gtid_consistency')}`,
            `set gtid_mode = ON and enforce_gtid_consistency = ON ${cnf}`),
    );
  }

  const privs = await privileges(conn);
  const needed = info.mariadb ? ['REPLICATION SLAVE', 'BINLOG MONITOR'] : ['REPLICATION SLAVE', 'REPLICATION CLIENT'];
  const lacking = needed.filter((p) => !privs.global.has(p) && !(p === 'BINLOG MONITOR' && privs.global.has('REPLICATION CLIENT')));
  items.push(
    lacking.length === 0
      ? pass('mysql.replication_privileges', side, 'the user may read the binary log', `${info.user} has ${needed.join(', ')}`)
      : fail('mysql.replication_privileges', side, 'the user may not read the binary log', `${info.user} lacks ${lacking.join(', ')}`,
          `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ${account(info.user)};`),
  );

  if (ctx.backfill) items.push(snapshotPrivilege(side, info.user, privs.global));

  const unreadable = tablesLacking(privs, [...tables.keys()], ['SELECT']);
  items.push(
    unreadable.size === 0
      ? pass('mysql.select', side, 'the user may read every table', `SELECT on ${tables.size} table(s)`)
      : fail('mysql.select', side, 'the user cannot read some tables', `no SELECT on ${[...unreadable.keys()].join(', ')}`,
          [...unreadable.keys()].map((t) => `GRANT SELECT ON ${quoteMysqlIdent(t)} TO ${account(info.user)};`).join(' ')),
  );

  // Tandem reads committed transactions from the binary log only: one a crash leaves out of it is never replicated.
  items.push(
    v('log_bin') !== 'ON' || v('sync_binlog') === '1'
      ? pass('mysql.binlog_durable', side, 'the binary log is on disk at each commit', `sync_binlog = ${v('sync_binlog')}`)
      : warn('mysql.binlog_durable', side, 'a crash of this server can leave committed transactions out of the binary log',
          `sync_binlog = ${v('sync_binlog')}: the binary log is synced ${v('sync_binlog') === '0' ? 'when the operating system decides' : `every ${v('sync_binlog')} commits`}, so an operating-system crash or power loss can lose events of transactions the tables keep; Tandem, like any replica, would never receive them (verification would report the rows as drift)`,
          `SET GLOBAL sync_binlog = 1; and set sync_binlog = 1 ${cnf}`),
  );

  const seconds = Number(v('binlog_expire_logs_seconds') || 0) || Number(v('expire_logs_days') || 0) * 86_400;
  const minimum = ctx.minBinlogRetentionHours * 3600;
  items.push(
    seconds === 0 || seconds >= minimum
      ? pass('mysql.binlog_retention', side, 'binary logs are kept long enough', seconds === 0 ? 'binary logs never expire automatically' : `binary logs expire after ${(seconds / 3600).toFixed(1)} h`)
      : fail('mysql.binlog_retention', side, 'binary logs expire too soon', `binary logs expire after ${(seconds / 3600).toFixed(1)} h; a pause longer than that loses Tandem's position`,
          `SET GLOBAL binlog_expire_logs_seconds = ${minimum * 3}; (and in the server configuration), or lower check.minBinlogRetentionHours`),
  );

  for (const t of tables.values()) {
    if (t.primaryKey.length === 0) {
      items.push(
        fail('mysql.primary_key', side, `table ${t.name} has no primary key`, `${t.name} has no primary key, so a change cannot name the row it changes`,
          `ALTER TABLE ${quoteMysqlIdent(t.name)} ADD PRIMARY KEY (…); or exclude it in tandem.yaml: exclude: [${t.name}]`),
      );
    }
    const uncarried = uncarriedColumns(t.columns);
    if (uncarried.length > 0) {
      const { reason, fix } = uncarriedColumnsProblem(t.name, uncarried, quoteMysqlIdent);
      items.push(fail('mysql.column_name', side, `table ${t.name} has a column Tandem cannot carry`, reason, fix));
    }
  }
  return items;
}

/**
 * Tandem tells the active side a position is applied once its commit on the shadow returns. A commit the shadow's
 * server has not made durable is one a crash can lose after that, and the stream cannot send it again: only
 * verification would find it. MySQL/MariaDB decide this server-wide (no per-session setting), so it is checked.
 * With the binary log on and innodb_flush_log_at_trx_commit = 1, InnoDB leaves a commit's durability to the binary
 * log's sync (MariaDB's binlog group commit), so sync_binlog counts too; 3 syncs InnoDB's own log at commit as well.
 */
function durableCommits(side: CheckItem['side'], vars: Map<string, string>): CheckItem {
  const flush = vars.get('innodb_flush_log_at_trx_commit') ?? '';
  const binlog = vars.get('log_bin') === 'ON';
  const syncBinlog = vars.get('sync_binlog') ?? '';
  const lazyInnodb = flush !== '1' && flush !== '3';
  const lazyBinlog = flush === '1' && binlog && syncBinlog !== '1';
  const settings = `innodb_flush_log_at_trx_commit = ${flush}${binlog ? `, sync_binlog = ${syncBinlog}` : ', binary log off'}`;
  if (!lazyInnodb && !lazyBinlog) return pass('mysql.durable_commits', side, 'commits are on disk when they return', settings);
  const why = lazyInnodb
    ? `InnoDB flushes its log about once a second (${flush === '2' ? 'an operating-system crash or power loss' : 'a crash of the server process'} loses up to that)`
    : 'InnoDB leaves each commit\'s durability to the binary log, which is not synced at commit (an operating-system crash or power loss loses what it had not written)';
  const fixes = [...(lazyInnodb ? ['innodb_flush_log_at_trx_commit = 1'] : []), ...(binlog && syncBinlog !== '1' ? ['sync_binlog = 1'] : [])];
  return warn('mysql.durable_commits', side, 'a crash of this server can lose commits Tandem has already reported as applied',
    `${settings}: ${why}, and the stream cannot send those changes again; verification would report them as drift for tandem repair`,
    `${fixes.map((f) => `SET GLOBAL ${f};`).join(' ')} and set ${fixes.join(' and ')} in the [mysqld] section of the server configuration, at least while this side is the shadow`);
}

/** Prerequisites for applying changes to this side while it is the shadow. */
export async function checkMysqlApply(conn: mysql.Connection, ctx: CheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const info = await serverInfo(conn);
  const privs = await privileges(conn);
  const lacking = tablesLacking(privs, [...tables.keys()], ['INSERT', 'UPDATE', 'DELETE']);
  items.push(
    lacking.size === 0
      ? pass('mysql.write', side, 'the user may write every table', `INSERT, UPDATE, DELETE on ${tables.size} table(s)`)
      : fail('mysql.write', side, 'the user cannot write some tables', [...lacking].map(([t, p]) => `${t} lacks ${p.join(', ')}`).join('; '),
          [...lacking.keys()].map((t) => `GRANT INSERT, UPDATE, DELETE ON ${quoteMysqlIdent(t)} TO ${account(info.user)};`).join(' ')),
  );
  const canCreate = privs.global.has('CREATE') || privs.schema.has('CREATE');
  items.push(
    canCreate
      ? pass('mysql.state_table', side, 'Tandem can keep its checkpoint here', `${info.user} may create the tandem_checkpoint table`)
      : fail('mysql.state_table', side, 'Tandem cannot create its checkpoint table', `${info.user} lacks CREATE on the database`,
          `GRANT CREATE, INSERT, UPDATE, DELETE, SELECT ON <database>.* TO ${account(info.user)};`),
  );
  items.push(durableCommits(side, await variables(conn, ['innodb_flush_log_at_trx_commit', 'log_bin', 'sync_binlog'])));
  const names = [...tables.keys()];
  if (names.length > 0) {
    const [triggers] = await conn.query<RowDataPacket[]>(
      `SELECT trigger_name AS name, event_object_table AS tbl FROM information_schema.triggers
        WHERE trigger_schema = DATABASE() AND event_object_table IN (?) ORDER BY 2, 1`,
      [names],
    );
    for (const t of triggers) {
      items.push(
        warn('mysql.trigger_fires_on_apply', side, `trigger ${String(t.name)} on ${String(t.tbl)} fires during apply`,
          'MySQL/MariaDB have no per-session switch for triggers, so it runs for every replicated row',
          `DROP TRIGGER ${quoteMysqlIdent(String(t.name))}; on this side while it is the shadow (keep its definition to recreate it when this side becomes active)`),
      );
    }
  }
  return items;
}

/**
 * H13: zero dates (month or day 00, `0000-00-00`, `2022-11-00`, a zero TIMESTAMP) in DATE/DATETIME/TIMESTAMP
 * columns of this (active) side, which a PostgreSQL shadow cannot hold. `refuse`: each column holding some fails with
 * its row count. `null`: they become NULL (binlog-values.ts), so the shadow column must be nullable. A MySQL shadow
 * holds them as they are: nothing to check. MONTH()/DAYOFMONTH() read stored values whatever the session's sql_mode
 * (NO_ZERO_DATE / NO_ZERO_IN_DATE only restrict writes), and return 0 for a zero date instead of NULL.
 */
export async function checkMysqlZeroDates(conn: mysql.Connection, ctx: ValueCheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  if (ctx.shadow.engine === 'mysql') return [];
  const side = ctx.side;
  const shadowSide = side === 'old' ? 'new' : 'old';
  const items: CheckItem[] = [];
  const scanned = await countRows(conn, ctx, tables, (col) => /^(date|datetime|timestamp)\b/.test(col.nativeType), (c) => `MONTH(${c}) = 0 OR DAYOFMONTH(${c}) = 0`);
  for (const { table: t, col, target, c, n } of scanned) {
    if (ctx.zeroDates === 'null') {
      if (target && !target.nullable) {
        items.push(
          fail('mysql.zero_dates', side, `zero dates in ${t}.${col.name} would become NULL in a NOT NULL column`,
            `values.zeroDates is null, but ${t}.${col.name} is NOT NULL on ${shadowSide} (the shadow)${n > 0 ? `; ${n} row(s) hold a zero date now` : ''}`,
            `ALTER TABLE ${t} ALTER COLUMN ${col.name} DROP NOT NULL; on ${shadowSide}, or fix the rows on ${side} and set values.zeroDates: refuse`),
        );
      } else if (n > 0) {
        items.push(
          warn('mysql.zero_dates', side, `${n} zero date(s) in ${t}.${col.name} will be NULL on the shadow`,
            `${n} row(s) of ${t} hold a zero date in ${col.name} (${col.nativeType}); values.zeroDates is null`,
            'nothing to do if NULL is what they mean'),
        );
      }
    } else if (n > 0) {
      items.push(
        fail('mysql.zero_dates', side, `${t}.${col.name} holds zero dates, which PostgreSQL cannot store`,
          `${n} row(s) of ${t} hold a zero date (0000-00-00, or month or day 00) in ${col.name} (${col.nativeType})`,
          `set values.zeroDates: null in tandem.yaml (or TANDEM_VALUES_ZERO_DATES=null) to write them as NULL (the column on ${shadowSide} must be nullable), or fix the rows on ${side}: UPDATE ${quoteMysqlIdent(t)} SET ${c} = NULL WHERE MONTH(${c}) = 0 OR DAYOFMONTH(${c}) = 0;`),
      );
    }
  }
  if (!items.some((i) => i.status === 'fail')) {
    items.push(pass('mysql.zero_dates', side, 'no zero date the shadow cannot hold', `${scanned.length} date/datetime/timestamp column(s) scanned; values.zeroDates is ${ctx.zeroDates}`));
  }
  return items;
}

interface CountedColumn {
  table: string;
  col: ColumnSchema;
  /** The shadow's column of that name, if it has one. */
  target: ColumnSchema | undefined;
  /** The column's name quoted for MySQL. */
  c: string;
  n: number;
}

/** For each column `wanted` picks (given the shadow's column), the rows of its table that `where` selects, counted. */
async function countRows(
  conn: mysql.Connection,
  ctx: ValueCheckContext,
  tables: Map<string, TableSchema>,
  wanted: (col: ColumnSchema, target: ColumnSchema | undefined) => boolean,
  where: (quoted: string) => string,
): Promise<CountedColumn[]> {
  const out: CountedColumn[] = [];
  for (const t of tables.values()) {
    for (const col of t.columns) {
      const target = ctx.shadow.tables.get(t.name)?.columns.find((s) => s.name === col.name);
      if (!wanted(col, target)) continue;
      const c = quoteMysqlIdent(col.name);
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteMysqlIdent(t.name)} WHERE ${where(c)}`);
      out.push({ table: t.name, col, target, c, n: Number(rows[0]?.n ?? 0) });
    }
  }
  return out;
}

const pgIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * tinyint(1) columns whose shadow column is a PostgreSQL boolean: MySQL stores any of -128..127 there, a boolean
 * only 0 and 1, so apply would stop at the first other value. Each column holding one fails with its row count,
 * as zero dates do.
 */
export async function checkMysqlBooleans(conn: mysql.Connection, ctx: ValueCheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  if (ctx.shadow.engine === 'mysql') return [];
  const side = ctx.side;
  const shadowSide = side === 'old' ? 'new' : 'old';
  const isBoolean = (col: ColumnSchema) => {
    const parsed = mysqlNativeTypes.parse(col.nativeType);
    return parsed.ok && parsed.type.kind === 'boolean';
  };
  const scanned = await countRows(conn, ctx, tables, (col, target) => isBoolean(col) && /^bool(ean)?$/.test(target?.nativeType ?? ''), (c) => `${c} NOT IN (0, 1)`);
  const items = scanned
    .filter((s) => s.n > 0)
    .map(({ table: t, col, target, c, n }) => {
      const dropDefault = target?.hasDefault ? `ALTER COLUMN ${pgIdent(col.name)} DROP DEFAULT, ` : '';
      const setDefault = target?.hasDefault ? ' (then give it its default again, as a number)' : '';
      return fail('mysql.boolean_values', side, `${t}.${col.name} holds values other than 0 and 1, which a PostgreSQL boolean cannot store`,
        `${n} row(s) of ${t} hold a value other than 0, 1 or NULL in ${col.name} (${col.nativeType}); its column on ${shadowSide} (the shadow) is boolean, so replication would stop at the first of them`,
        `make the column on ${shadowSide} an integer: ALTER TABLE ${pgIdent(t)} ${dropDefault}ALTER COLUMN ${pgIdent(col.name)} TYPE smallint USING ${pgIdent(col.name)}::int;${setDefault} or fix the rows on ${side}: UPDATE ${quoteMysqlIdent(t)} SET ${c} = 1 WHERE ${c} NOT IN (0, 1);`);
    });
  if (scanned.length > 0 && items.length === 0) {
    items.push(pass('mysql.boolean_values', side, 'tinyint(1) values fit PostgreSQL boolean', `${scanned.length} tinyint(1) column(s) with a boolean shadow column hold only 0, 1 or NULL`));
  }
  return items;
}

/** The labels of `enum('a','b')` / `set('a','b')` as the catalog spells them ('' is a quote inside a label). */
export function enumLabels(nativeType: string): string[] | undefined {
  const m = /^(?:enum|set)\((.*)\)$/s.exec(nativeType);
  if (!m) return undefined;
  return [...(m[1] as string).matchAll(/'((?:[^']|'')*)'/g)].map((x) => (x[1] as string).replace(/''/g, "'"));
}

/**
 * ENUM and SET labels with 4-byte UTF-8 characters (emoji): MariaDB's catalog is utf8mb3 and shows each such
 * character as '?', the binlog names a label only by its number, and the binlog reader takes the label's text from
 * that catalog, so a streamed row would arrive with '?' while the backfill copies it right. A column whose catalog
 * labels hold '?' is scanned: a stored label with a 4-byte character fails it; none stored yet is a warning.
 */
export async function checkMysqlEnumLabels(conn: mysql.Connection, ctx: ValueCheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  for (const t of tables.values()) {
    for (const col of t.columns) {
      const labels = enumLabels(col.nativeType);
      if (!labels?.some((l) => l.includes('?'))) continue;
      const c = quoteMysqlIdent(col.name);
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT DISTINCT CAST(${c} AS CHAR CHARACTER SET utf8mb4) AS v FROM ${quoteMysqlIdent(t.name)} WHERE ${c} IS NOT NULL LIMIT 10000`);
      const isSet = col.nativeType.startsWith('set(');
      const stored = new Set(rows.flatMap((r) => (isSet ? String(r.v).split(',') : [String(r.v)])));
      // (The catalog's text is read lower-cased, so stored labels are matched by what it cannot show, not by equality.)
      const unknown = [...stored].filter((v) => [...v].some((ch) => (ch.codePointAt(0) ?? 0) > 0xffff));
      const kind = isSet ? 'SET' : 'ENUM';
      const fix = `make ${t.name}.${col.name} a string column on ${side} (ALTER TABLE ${quoteMysqlIdent(t.name)} MODIFY ${c} VARCHAR(64) CHARACTER SET utf8mb4${isSet ? ', with the set as comma-separated text' : ''}), or use labels without 4-byte characters`;
      if (unknown.length) {
        items.push(fail('mysql.enum_labels', side, `${t.name}.${col.name}: ${kind} labels with 4-byte characters would be altered by the stream`,
          `${t.name}.${col.name} holds ${unknown.map((u) => `'${u}'`).join(', ')}, which MariaDB's catalog spells ${labels.filter((l) => l.includes('?')).map((l) => `'${l}'`).join(', ')} (it cannot show 4-byte characters such as emoji); the binlog names labels by number, so streamed rows would get the catalog's text`, fix));
      } else {
        items.push(warn('mysql.enum_labels', side, `${t.name}.${col.name}: ${kind} labels hold '?', which may be a 4-byte character the catalog cannot show`,
          `no row holds such a label yet; if a label has a 4-byte character (emoji), streamed rows with it would arrive with '?'`, fix));
      }
    }
  }
  return items;
}

/** `10.11.19-MariaDB-0+deb12u1-log` → [10, 11, 19]. */
function versionOf(info: MysqlServerInfo): [number, number, number] {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(info.version);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

const atLeast = (v: [number, number, number], w: [number, number, number]) => v[0] !== w[0] ? v[0] > w[0] : v[1] !== w[1] ? v[1] > w[1] : v[2] >= w[2];

/**
 * Which global privileges let an account set read_only, write while it is on, and end other accounts' sessions,
 * by server (any one of each list suffices). MariaDB 10.5.2 split READ ONLY ADMIN out of SUPER; 10.11 stopped SUPER
 * implying it, and asks for it to set read_only too.
 */
function fencePrivileges(info: MysqlServerInfo): { set: string[]; writeThrough: string[]; kill: string[]; grant: string } {
  const v = versionOf(info);
  if (!info.mariadb) return { set: ['SUPER', 'SYSTEM_VARIABLES_ADMIN'], writeThrough: ['SUPER', 'CONNECTION_ADMIN'], kill: ['SUPER', 'CONNECTION_ADMIN'], grant: 'SYSTEM_VARIABLES_ADMIN, CONNECTION_ADMIN' };
  if (atLeast(v, [10, 11, 0])) return { set: ['READ_ONLY ADMIN'], writeThrough: ['READ_ONLY ADMIN'], kill: ['SUPER', 'CONNECTION ADMIN'], grant: 'READ_ONLY ADMIN' };
  if (atLeast(v, [10, 5, 2])) return { set: ['READ_ONLY ADMIN', 'SUPER'], writeThrough: ['READ_ONLY ADMIN', 'SUPER'], kill: ['SUPER', 'CONNECTION ADMIN'], grant: 'READ_ONLY ADMIN' };
  return { set: ['SUPER'], writeThrough: ['SUPER'], kill: ['SUPER'], grant: 'SUPER' };
}

/**
 * Fencing (docs/fencing.md): either side is fenced at some point of a migration, and the shadow for as long as it
 * is one, so both must allow it. A fence is the server's read_only: Tandem must be able to set it and to write
 * through it; it is server-wide; accounts holding the privilege Tandem writes through with are not fenced either.
 */
export async function checkMysqlFence(conn: mysql.Connection, ctx: CheckContext): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const info = await serverInfo(conn);
  const privs = await privileges(conn);
  const need = fencePrivileges(info);
  const holds = (list: string[]) => list.some((p) => privs.global.has(p));
  const me = account(info.user);

  const problems = [
    ...(holds(need.set) ? [] : [`cannot set read_only (needs ${need.set.join(' or ')})`]),
    ...(holds(need.writeThrough) ? [] : [`could not apply changes while read_only is on (needs ${need.writeThrough.join(' or ')})`]),
  ];
  items.push(
    problems.length === 0
      ? pass('mysql.fence', side, 'Tandem can fence this side', `${info.user} may set read_only and write while it is on`)
      : fail('mysql.fence', side, 'Tandem cannot fence this side', `${info.user} ${problems.join(', and ')}`, `GRANT ${need.grant} ON *.* TO ${me};`),
  );

  const kill = holds(need.kill) && privs.global.has('PROCESS');
  items.push(
    kill
      ? pass('mysql.fence_end_sessions', side, 'Tandem can end transactions open at the fence', `${info.user} may see (PROCESS) and end (${need.kill.join(' or ')}) other accounts' sessions`)
      : warn('mysql.fence_end_sessions', side, 'Tandem cannot end transactions open at the fence',
          `${info.user} lacks ${[...(privs.global.has('PROCESS') ? [] : ['PROCESS']), ...(holds(need.kill) ? [] : [need.kill.join(' or ')])].join(' and ')}: a transaction that wrote before the fence cannot commit after it, but keeps its row locks (blocking Tandem) until the application ends it, and a statement still running keeps the fence from going up`,
          `GRANT PROCESS, ${info.mariadb ? 'CONNECTION ADMIN' : 'CONNECTION_ADMIN'} ON *.* TO ${me};`),
  );

  // read_only is the server's: every database on it is fenced with this one.
  const [schemas] = await conn.query<RowDataPacket[]>(
    `SELECT schema_name AS s FROM information_schema.schemata
      WHERE schema_name NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') AND schema_name <> DATABASE() ORDER BY 1`,
  );
  const others = schemas.map((r) => String(r.s));
  const seesAll = privs.global.has('SHOW DATABASES');
  const shown = others.length > 12 ? `${others.slice(0, 12).join(', ')} and ${others.length - 12} more` : others.join(', ');
  items.push(
    others.length === 0
      ? pass('mysql.fence_server_wide', side, 'no other database shares the fence', seesAll ? 'this is the only database on the server' : `no other database that ${info.user} can see (it lacks SHOW DATABASES)`)
      : warn('mysql.fence_server_wide', side, `a fence makes ${others.length} other database(s) read-only too`,
          `read_only is server-wide: while ${side} is fenced (the switch, and all the time it is the shadow) ${shown} ${others.length > 1 ? 'are' : 'is'} read-only for every account without READ ONLY ADMIN${seesAll ? '' : ` (and any database ${info.user} cannot see)`}`,
          `move this migration's database to a server of its own, or plan for those databases being read-only while ${side} is fenced`),
  );

  // Accounts that write through the fence. Other accounts' grants are visible only with SELECT on the mysql schema.
  const visible = await conn.query(`SELECT 1 FROM mysql.${info.mariadb ? 'global_priv' : 'user'} LIMIT 0`).then(() => true, () => false);
  if (!visible) {
    items.push(
      warn('mysql.fence_bypass', side, 'cannot tell which accounts write through the fence',
        `${info.user} cannot read other accounts' grants; every account holding ${need.writeThrough.join(' or ')} (ALL PRIVILEGES ON *.* included) writes while read_only is on`,
        `as an administrator: SELECT DISTINCT grantee FROM information_schema.user_privileges WHERE privilege_type IN (${need.writeThrough.map((p) => `'${p}'`).join(', ')}); and keep those accounts away from the application`),
    );
  } else {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT grantee AS g, privilege_type AS p FROM information_schema.user_privileges WHERE privilege_type IN (?) AND grantee <> ? ORDER BY 1, 2`,
      [need.writeThrough, me],
    );
    const held = new Map<string, string[]>();
    for (const r of rows) held.set(String(r.g), [...(held.get(String(r.g)) ?? []), String(r.p)]);
    const bypass = [...held.keys()];
    items.push(
      bypass.length === 0
        ? pass('mysql.fence_bypass', side, 'only Tandem writes through the fence', `no other account holds ${need.writeThrough.join(' or ')}`)
        : warn('mysql.fence_bypass', side, `${bypass.length} other account(s) write through the fence`,
            `${bypass.join(', ')} ${bypass.length > 1 ? 'hold' : 'holds'} ${need.writeThrough.join(' or ')} (ALL PRIVILEGES ON *.* grants it), so read_only does not stop ${bypass.length > 1 ? 'them' : 'it'}; an application connecting as one of them is not fenced`,
            `keep these accounts away from the application, or: ${bypass.map((g) => `REVOKE ${(held.get(g) ?? []).join(', ')} ON *.* FROM ${g};`).join(' ')}`),
    );
  }
  return items;
}
