import type mysql from 'mysql2/promise';
import { laneCheckpointKey, laneCheckpointPattern } from '../../model/names.js';
import type { RowDataPacket } from 'mysql2/promise';
import { TandemError } from '../../errors.js';
import { mysqlDriver } from './driver.js';
import type { Change, Row, Value } from '../../model/change.js';
import type { TableSchema } from '../../model/schema.js';
import { planChanges, regroupByTable, type ApplyOp } from '../shared/apply-plan.js';
import { StatementBatch } from '../shared/statement-batch.js';
import { decodeKey, encodeKey } from '../../model/key-json.js';
import type { BackfillProgress, Checkpoint, CheckpointStage, ShadowWriter, ShadowWriterOptions } from '../engine.js';
import { MYSQL_STATE_DDL, mysqlLeaseGuardSql } from './state.js';
import { connectMysql } from './connect.js';
import { describeMysqlTables } from './introspect.js';
import { quoteMysqlIdent as q } from './quote.js';
import { encodeForMysql } from './encode.js';
import { isLeaseGuardError, isTransientMysqlError } from './errors.js';
import { changesForShadow, shadowTableRules, type ShadowTableRules } from '../shared/value-fit.js';
import { mysqlNativeTypes } from './native-types.js';

const escape = (value: Value | number): string => mysqlDriver().escape(value);

/** Characters per round trip (at most 4 bytes each), well below MariaDB's default max_allowed_packet (16 MiB). */
const MAX_STATEMENT_BYTES = 2 * 1024 * 1024;

/** Applies changes to a MySQL/MariaDB shadow; the checkpoint row lives in the same database, same transaction. */
export class MysqlShadowWriter implements ShadowWriter {
  readonly engine = 'mysql' as const;
  private tables = new Map<string, TableSchema>();
  /** begin() was called and START TRANSACTION has not been sent yet (see run()). */
  private beginPending = false;
  private rules = new Map<string, ShadowTableRules>();
  /** Tables with triggers, which fire for Tandem's writes too (MySQL has no replica role). */
  private triggered = new Set<string>();

  private constructor(
    private readonly conn: mysql.Connection,
    private readonly opts: ShadowWriterOptions,
  ) {}

  private get migration(): string {
    return this.opts.migration;
  }

  /** The checkpoint row's key: the direction, or one of its apply lanes. */
  private get direction(): string {
    return this.opts.lane === undefined ? this.opts.direction : laneCheckpointKey(this.opts.direction, this.opts.lane);
  }

  static async open(opts: ShadowWriterOptions): Promise<MysqlShadowWriter> {
    const conn = await connectMysql(opts.url, 'apply', { multipleStatements: true });
    // Strict mode refuses a value the column cannot hold instead of truncating it; foreign keys stay quiet on the
    // shadow because the source already enforced them (apply regroups a batch table by table: regroupByTable).
    await conn.query(`SET SESSION foreign_key_checks = 0, sql_mode = 'STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', time_zone = '+00:00'`);
    return new MysqlShadowWriter(conn, opts);
  }

  async prepare(tables: string[]): Promise<void> {
    // Positions are text: a MariaDB source's position carries one GTID per domain (`file:offset#0-1-9,1-1-5,…`),
    // which outgrows any short varchar once a server has logged many domains (H8).
    await this.conn.query(`CREATE TABLE IF NOT EXISTS tandem_checkpoint (
      migration varchar(64) NOT NULL, direction varchar(16) NOT NULL, position text NOT NULL, transport_offset text NULL, commit_time datetime(6) NULL,
      applied_transactions bigint NOT NULL DEFAULT 0, stage varchar(16) NOT NULL, idle_position text NULL,
      updated_at datetime(6) NOT NULL, PRIMARY KEY (migration, direction)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    await this.upgradeCheckpointTable();
    await this.conn.query(`CREATE TABLE IF NOT EXISTS tandem_backfill (
      migration varchar(64) NOT NULL, direction varchar(16) NOT NULL, table_name varchar(64) NOT NULL, last_key longtext NULL,
      rows_copied bigint NOT NULL DEFAULT 0, done tinyint(1) NOT NULL DEFAULT 0, PRIMARY KEY (migration, direction, table_name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
    // The lease row guards every commit (ShadowWriterOptions.epoch).
    for (const sql of MYSQL_STATE_DDL) await this.conn.query(sql);
    this.tables = await describeMysqlTables(this.conn, tables);
    this.learnRules(this.tables);
    await this.readTriggers(tables);
    const missing = tables.filter((t) => !this.tables.has(t));
    if (missing.length) throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `shadow (MySQL) lacks table(s) ${missing.join(', ')}`, { fix: 'create them on the shadow (see tandem check)' });
  }

  /** Checkpoint tables written by Tandem 0.1 called the stage `phase` (values backfill/shadowing) and had no transport offset. */
  private async upgradeCheckpointTable(): Promise<void> {
    const [rows] = await this.conn.query<RowDataPacket[]>(
      `SELECT column_name AS c FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'tandem_checkpoint' AND column_name IN ('phase', 'transport_offset')`,
    );
    const have = new Set(rows.map((r) => String(r.c)));
    if (have.has('phase')) {
      await this.conn.query(`ALTER TABLE tandem_checkpoint CHANGE COLUMN phase stage varchar(16) NOT NULL`);
      await this.conn.query(`UPDATE tandem_checkpoint SET stage = 'streaming' WHERE stage = 'shadowing'`);
    }
    if (!have.has('transport_offset')) await this.conn.query(`ALTER TABLE tandem_checkpoint ADD COLUMN transport_offset text NULL AFTER position`);
  }

  async reloadSchema(tables: string[]): Promise<void> {
    const described = await describeMysqlTables(this.conn, tables);
    for (const [name, info] of described) this.tables.set(name, info);
    this.learnRules(described);
    await this.readTriggers(tables);
  }

  /** MySQL triggers fire for every session, Tandem's apply included: those tables keep the source's order (regroupByTable). */
  private async readTriggers(tables: string[]): Promise<void> {
    if (tables.length === 0) return;
    const [rows] = await this.conn.query<RowDataPacket[]>(
      `SELECT DISTINCT EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE IN (?)`,
      [tables],
    );
    for (const t of tables) this.triggered.delete(t);
    for (const r of rows) this.triggered.add(String(r.t));
  }

  /** MySQL's boolean is tinyint(1), which holds other small numbers: only decimals and fractional seconds are checked. */
  private learnRules(tables: Map<string, TableSchema>): void {
    for (const [name, info] of tables) {
      this.rules.set(name, shadowTableRules(name, info.columns, (native) => {
        const parsed = mysqlNativeTypes.parse(native);
        return parsed.ok ? parsed.type : undefined;
      }, { strictBoolean: false, limits: { decimalPrecision: 65, decimalScale: 30, secondDigits: 6 } }));
    }
  }

  columnsOf(table: string): string[] | undefined {
    return this.tables.get(table)?.columns.map((c) => c.name);
  }

  primaryKeyOf(table: string): string[] {
    const key = this.tables.get(table)?.primaryKey;
    if (!key || key.length === 0) throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `table ${table} has no primary key on the shadow`, { fix: 'add the primary key, or exclude the table' });
    return key;
  }

  /** Before the first prepare() there are no checkpoint tables: that reads as no checkpoint, not as an error. */
  private async rowsBeforeFirstPrepare(sql: string, params: unknown[]): Promise<RowDataPacket[]> {
    try {
      const [rows] = await this.conn.query<RowDataPacket[]>(sql, params);
      return rows;
    } catch (err) {
      if ((err as { errno?: number }).errno === 1146) return [];
      throw err;
    }
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    const rows = await this.rowsBeforeFirstPrepare(
      `SELECT position, transport_offset, commit_time, applied_transactions, stage, idle_position, updated_at FROM tandem_checkpoint WHERE migration = ? AND direction = ?`,
      [this.migration, this.direction],
    );
    const row = rows[0];
    if (!row) return undefined;
    const date = (v: unknown) => (v ? new Date(`${String(v).replace(' ', 'T')}Z`) : null);
    return {
      sourcePosition: String(row.position),
      transportOffset: row.transport_offset ? String(row.transport_offset) : null,
      commitTime: date(row.commit_time),
      appliedTransactions: Number(row.applied_transactions),
      stage: row.stage as CheckpointStage,
      idlePosition: row.idle_position ? String(row.idle_position) : null,
      updatedAt: date(row.updated_at) ?? new Date(0),
    };
  }

  async readBackfill(): Promise<BackfillProgress[]> {
    const rows = await this.rowsBeforeFirstPrepare(
      `SELECT table_name, last_key, rows_copied, done FROM tandem_backfill WHERE migration = ? AND direction = ? ORDER BY table_name`,
      [this.migration, this.direction],
    );
    return rows.map((r) => ({ table: String(r.table_name), lastKey: r.last_key ? decodeKey(String(r.last_key)) : null, rowsCopied: Number(r.rows_copied), done: Number(r.done) === 1 }));
  }

  /**
   * Opens the shadow transaction lazily: START TRANSACTION travels with the transaction's first statements (or its
   * commit), not in a round trip of its own. A stream of small source transactions costs a round trip less per group.
   */
  async begin(): Promise<void> {
    this.beginPending = true;
  }

  /** Runs SQL (client-side formatted) in the open transaction, opening it in the same round trip if still pending. */
  private run(sql: string, params?: Value[]): Promise<unknown> {
    if (!this.beginPending) return this.conn.query(sql, params);
    this.beginPending = false;
    return this.conn.query(`START TRANSACTION;\n${sql}`, params);
  }

  /** Values are client-escaped; this connection alone allows multiple statements per round trip. */
  async apply(incoming: Change[]): Promise<void> {
    await (await this.batchOf(incoming)).flush();
  }

  async applyAndCommit(incoming: Change[], cp: Omit<Checkpoint, 'updatedAt'>): Promise<void> {
    const batch = await this.batchOf(incoming);
    // The guard comes last, as in commit(): it locks the lease row until COMMIT, and renewals wait for that lock.
    const { guard, checkpoint } = this.checkpointStatements(cp);
    await batch.finishWith([...guard, checkpoint, 'COMMIT'], isLeaseGuardError);
  }

  /** The changes as statements, sent as each round trip fills; what is left is for the caller to send. */
  private async batchOf(incoming: Change[]): Promise<StatementBatch> {
    const triggered = (t: string) => this.triggered.has(t) || !this.tables.has(t);
    const changes = regroupByTable(changesForShadow(incoming, (t) => this.rules.get(t)), triggered);
    const batch = new StatementBatch((sql) => this.run(sql), MAX_STATEMENT_BYTES, isTransientMysqlError);
    for (const op of planChanges(changes, (t) => this.primaryKeyOf(t), this.opts.maxRows, triggered)) {
      const tables = op.kind === 'truncate' ? op.tables : [op.table];
      for (const sql of this.statements(op)) await batch.add(sql, tables);
    }
    return batch;
  }

  private literal(table: string, column: string, value: Value | undefined): string {
    return escape(this.encode(table, column, value));
  }

  private encode(table: string, column: string, value: Value | undefined): Value | number {
    const type = this.tables.get(table)?.columns.find((c) => c.name === column)?.nativeType ?? '';
    return encodeForMysql(table, column, type, value ?? null);
  }

  private statements(op: ApplyOp): string[] {
    switch (op.kind) {
      case 'upsert': {
        const key = this.primaryKeyOf(op.table);
        const nonKey = op.columns.filter((c) => !key.includes(c));
        const update = (nonKey.length ? nonKey : [key[0] as string]).map((c) => `${q(c)} = VALUES(${q(c)})`).join(', ');
        const head = `INSERT INTO ${q(op.table)} (${op.columns.map(q).join(', ')}) VALUES `;
        const out: string[] = [];
        let tuples: string[] = [];
        let bytes = 0;
        const close = () => {
          if (tuples.length) out.push(`${head}${tuples.join(', ')} ON DUPLICATE KEY UPDATE ${update}`);
          tuples = [];
          bytes = 0;
        };
        for (const row of op.rows) {
          const tuple = `(${op.columns.map((c) => this.literal(op.table, c, row[c])).join(', ')})`;
          tuples.push(tuple);
          bytes += tuple.length;
          if (bytes >= MAX_STATEMENT_BYTES) close();
        }
        close();
        return out;
      }
      case 'delete': {
        const single = op.key.length === 1;
        const tuples = op.keys.map((k) => (single ? this.literal(op.table, op.key[0] as string, k[op.key[0] as string]) : `(${op.key.map((c) => this.literal(op.table, c, k[c])).join(', ')})`));
        return [`DELETE FROM ${q(op.table)} WHERE ${single ? q(op.key[0] as string) : `(${op.key.map(q).join(', ')})`} IN (${tuples.join(', ')})`];
      }
      case 'update': {
        const cols = Object.keys(op.set);
        if (cols.length === 0) return [];
        const where = Object.entries(op.key).map(([c, v]) => `${q(c)} = ${this.literal(op.table, c, v)}`).join(' AND ');
        return [`UPDATE ${q(op.table)} SET ${cols.map((c) => `${q(c)} = ${this.literal(op.table, c, op.set[c])}`).join(', ')} WHERE ${where}`];
      }
      case 'truncate':
        // TRUNCATE would commit the open transaction in MySQL; DELETE keeps the checkpoint atomic with it.
        return op.tables.map((t) => `DELETE FROM ${q(t)}`);
    }
  }

  /** The lease guard (when this writer holds an epoch) and the checkpoint's upsert. */
  private checkpointStatements(cp: Omit<Checkpoint, 'updatedAt'>): { guard: string[]; checkpoint: string } {
    const ts = (d: Date | null) => (d ? d.toISOString().replace('T', ' ').replace('Z', '') : null);
    return {
      guard: this.opts.epoch === undefined ? [] : [mysqlLeaseGuardSql(this.migration, this.opts.epoch, escape)],
      checkpoint: mysqlDriver().format(
        `INSERT INTO tandem_checkpoint (migration, direction, position, transport_offset, commit_time, applied_transactions, stage, idle_position, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE position = VALUES(position), transport_offset = VALUES(transport_offset), commit_time = VALUES(commit_time),
           applied_transactions = VALUES(applied_transactions), stage = VALUES(stage), idle_position = VALUES(idle_position), updated_at = VALUES(updated_at)`,
        [this.migration, this.direction, cp.sourcePosition, cp.transportOffset, ts(cp.commitTime), cp.appliedTransactions, cp.stage, cp.idlePosition],
      ),
    };
  }

  async commit(cp: Omit<Checkpoint, 'updatedAt'>, backfill?: BackfillProgress[]): Promise<void> {
    // The lease guard, the checkpoint, backfill progress and COMMIT travel in one round trip.
    const { guard, checkpoint } = this.checkpointStatements(cp);
    const statements = [...guard, checkpoint];
    for (const b of backfill ?? []) {
      statements.push(
        mysqlDriver().format(
          `INSERT INTO tandem_backfill (migration, direction, table_name, last_key, rows_copied, done) VALUES (?, ?, ?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE last_key = VALUES(last_key), rows_copied = VALUES(rows_copied), done = VALUES(done)`,
          [this.migration, this.direction, b.table, b.lastKey ? encodeKey(b.lastKey) : null, b.rowsCopied, b.done ? 1 : 0],
        ),
      );
    }
    statements.push('COMMIT');
    await this.run(statements.join(';\n'));
  }

  async lockRows(table: string, keys: Row[]): Promise<void> {
    const key = this.primaryKeyOf(table);
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const params: Value[] = [];
      const tuples = part.map((k) => `(${key.map((c) => (params.push(k[c] ?? null), '?')).join(', ')})`);
      await this.run(`SELECT 1 FROM ${q(table)} WHERE (${key.map(q).join(', ')}) IN (${tuples.join(', ')}) FOR UPDATE`, params);
    }
  }

  async commitRowsOnly(): Promise<void> {
    if (this.beginPending) {
      this.beginPending = false; // nothing was written: there is nothing to commit
      return;
    }
    await this.conn.query('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.beginPending) {
      this.beginPending = false; // never opened on the server
      return;
    }
    await this.conn.query('ROLLBACK').catch(() => undefined);
  }

  async reset(tables: string[]): Promise<void> {
    await this.conn.query('START TRANSACTION');
    await this.conn.query(`DELETE FROM tandem_checkpoint WHERE migration = ? AND (direction = ? OR direction LIKE ?)`, [this.migration, this.direction, laneCheckpointPattern(this.direction)]);
    await this.conn.query(`DELETE FROM tandem_backfill WHERE migration = ? AND direction = ?`, [this.migration, this.direction]);
    for (const t of tables) await this.conn.query(`DELETE FROM ${q(t)}`);
    await this.conn.query('COMMIT');
  }

  async countRows(table: string): Promise<number> {
    const [rows] = await this.conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${q(table)}`);
    return Number(rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
