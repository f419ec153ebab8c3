import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { fail, pass, warn, type CheckItem } from '../checks.js';
import type { CheckContext, ValueCheckContext } from '../engine.js';
import type { TableSchema } from '../../model/schema.js';
import { quoteMysqlIdent } from './quote.js';

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

function account(user: string): string {
  const at = user.lastIndexOf('@');
  return `'${user.slice(0, at).replace(/'/g, "''")}'@'${user.slice(at + 1).replace(/'/g, "''")}'`;
}

/** Prerequisites for reading row changes from the binary log of this side. */
export async function checkMysqlCapture(conn: mysql.Connection, ctx: CheckContext, tables: Map<string, TableSchema>): Promise<CheckItem[]> {
  const side = ctx.side;
  const items: CheckItem[] = [];
  const info = await serverInfo(conn);
  const vars = await variables(conn, [
    'log_bin', 'binlog_format', 'binlog_row_image', 'server_id', 'gtid_mode', 'enforce_gtid_consistency',
    'gtid_binlog_pos', 'gtid_strict_mode', 'binlog_expire_logs_seconds', 'expire_logs_days',
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

  const unreadable = tablesLacking(privs, [...tables.keys()], ['SELECT']);
  items.push(
    unreadable.size === 0
      ? pass('mysql.select', side, 'the user may read every table', `SELECT on ${tables.size} table(s)`)
      : fail('mysql.select', side, 'the user cannot read some tables', `no SELECT on ${[...unreadable.keys()].join(', ')}`,
          [...unreadable.keys()].map((t) => `GRANT SELECT ON ${quoteMysqlIdent(t)} TO ${account(info.user)};`).join(' ')),
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
  }
  return items;
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
  const items: CheckItem[] = [];
  let scanned = 0;
  for (const t of tables.values()) {
    for (const col of t.columns) {
      if (!/^(date|datetime|timestamp)\b/.test(col.nativeType)) continue;
      scanned++;
      const c = quoteMysqlIdent(col.name);
      const [rows] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${quoteMysqlIdent(t.name)} WHERE MONTH(${c}) = 0 OR DAYOFMONTH(${c}) = 0`);
      const n = Number(rows[0]?.n ?? 0);
      const target = ctx.shadow.tables.get(t.name)?.columns.find((s) => s.name === col.name);
      if (ctx.zeroDates === 'null') {
        if (target && !target.nullable) {
          items.push(
            fail('mysql.zero_dates', side, `zero dates in ${t.name}.${col.name} would become NULL in a NOT NULL column`,
              `values.zeroDates is null, but ${t.name}.${col.name} is NOT NULL on the shadow${n > 0 ? `; ${n} row(s) hold a zero date now` : ''}`,
              `ALTER TABLE ${t.name} ALTER COLUMN ${col.name} DROP NOT NULL; on the shadow, or fix the rows on ${side} and set values.zeroDates: refuse`),
          );
        } else if (n > 0) {
          items.push(
            warn('mysql.zero_dates', side, `${n} zero date(s) in ${t.name}.${col.name} will be NULL on the shadow`,
              `${n} row(s) of ${t.name} hold a zero date in ${col.name} (${col.nativeType}); values.zeroDates is null`,
              'nothing to do if NULL is what they mean'),
          );
        }
      } else if (n > 0) {
        items.push(
          fail('mysql.zero_dates', side, `${t.name}.${col.name} holds zero dates, which PostgreSQL cannot store`,
            `${n} row(s) of ${t.name} hold a zero date (0000-00-00, or month or day 00) in ${col.name} (${col.nativeType})`,
            `set values.zeroDates: null in tandem.yaml (or TANDEM_VALUES_ZERO_DATES=null) to write them as NULL (the shadow column must be nullable), or fix the rows: UPDATE ${quoteMysqlIdent(t.name)} SET ${c} = NULL WHERE MONTH(${c}) = 0 OR DAYOFMONTH(${c}) = 0;`),
        );
      }
    }
  }
  if (!items.some((i) => i.status === 'fail')) {
    items.push(pass('mysql.zero_dates', side, 'no zero date the shadow cannot hold', `${scanned} date/datetime/timestamp column(s) scanned; values.zeroDates is ${ctx.zeroDates}`));
  }
  return items;
}
