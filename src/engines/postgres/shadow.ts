// Replication spec: docs/engines/postgres.md
import { laneCheckpointKey, laneCheckpointPattern } from '../../model/names.js';
import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Change, Row, RowChange, Value } from '../../model/change.js';
import { copyPieces } from './copy-text.js';
import { planChanges, regroupByTable, type ApplyOp } from '../shared/apply-plan.js';
import { ropeJoin } from '../shared/rope.js';
import { StatementBatch, applyFailed } from '../shared/statement-batch.js';
import type { BackfillProgress, BulkLoader, Checkpoint, CheckpointStage, CommitOptions, ShadowWriter, ShadowWriterOptions } from '../engine.js';
import { PG_COPY_TEXT, pgBulkType } from './reader.js';
import { createTablesLocked, PG_STATE_DDL, pgLeaseGuardSql } from './state.js';
import { changesForShadow, shadowTableRules, type ShadowTableRules } from '../shared/value-fit.js';
import { postgresNativeTypes } from './native-types.js';
import { connectPostgres } from './connect.js';
import { describePgTables, type PgTableInfo } from './introspect.js';
import { isLeaseGuardError, isTransientPgError } from './errors.js';
import { decodeKey, encodeKey } from '../../model/key-json.js';

const q = (name: string) => pg.escapeIdentifier(name);
/** Runs of at least this many rows are loaded with COPY instead of VALUES lists. */
const COPY_THRESHOLD = 500;

/** Rows as COPY text, 500 lines a chunk. */
function copyText(rows: Row[], columns: string[]): Readable {
  return Readable.from(copyPieces(rows, columns, 500));
}

/** Statements are sent together up to about this many characters per round trip. */
const MAX_BATCH_CHARS = 4 * 1024 * 1024;

/** A value as a PostgreSQL literal of unknown type, which the server coerces to the column's type. */
function literal(value: Value): string {
  if (value === null) return 'NULL';
  if (Buffer.isBuffer(value)) return `'\\x${value.toString('hex')}'`;
  // Same result as escapeLiteral, without its per-character loop for the usual value with nothing to escape.
  return /['\\]/.test(value) ? pg.escapeLiteral(value) : `'${value}'`;
}

/**
 * The end of a shadow transaction. Not durable: synchronous_commit off for this transaction alone, as native logical
 * replication's apply worker commits; the WAL writer flushes it within wal_writer_delay, and any later durable commit
 * flushes it first.
 */
function commitStatements(options: CommitOptions | undefined): string[] {
  return options?.durable === false ? ['SET LOCAL synchronous_commit = off', 'COMMIT'] : ['COMMIT'];
}

/** Applies changes to a PostgreSQL shadow with triggers and foreign keys quiet, checkpoint in the same transaction. */
export class PgShadowWriter implements ShadowWriter {
  readonly engine = 'postgres' as const;
  private tables = new Map<string, PgTableInfo>();
  private rules = new Map<string, ShadowTableRules>();
  /** Staging tables for COPY, by target table; temporary, so they live as long as this session. */
  private staging = new Map<string, string>();
  private stagingCount = 0;
  /** begin() was called and BEGIN has not been sent yet (see run()). */
  private beginPending = false;

  /** Commits asked not to be durable set synchronous_commit off for their own transaction only (SET LOCAL). */
  readonly defersDurability = true;

  private constructor(
    private readonly client: pg.Client,
    private readonly opts: ShadowWriterOptions,
  ) {}

  private get migration(): string {
    return this.opts.migration;
  }

  /** The checkpoint row's key: the direction, or one of its apply lanes. */
  private get direction(): string {
    return this.opts.lane === undefined ? this.opts.direction : laneCheckpointKey(this.opts.direction, this.opts.lane);
  }

  static async open(opts: ShadowWriterOptions): Promise<PgShadowWriter> {
    const client = await connectPostgres(opts.url, 'apply');
    try {
      // This connection is Tandem's alone (never pooled), so the setting cannot leak into application sessions.
      await client.query(`SET session_replication_role = replica`);
    } catch (err) {
      await client.end();
      throw new TandemError('TANDEM_PRIVILEGE_MISSING', `cannot SET session_replication_role on the shadow: ${errorMessage(err)}`, {
        fix: 'GRANT SET ON PARAMETER session_replication_role TO <tandem user>; (see tandem check)',
      });
    }
    // A server (or role, or database) set to synchronous_commit = off would make every commit of this session one a
    // crash can lose, the source's position released all the same: this session's commits are durable unless one
    // asks not to be (commit options), and at least flushed locally.
    try {
      const { rows } = await client.query<{ synchronous_commit: string }>('SHOW synchronous_commit');
      if (rows[0]?.synchronous_commit === 'off') await client.query('SET synchronous_commit = local');
    } catch (err) {
      await client.end();
      throw err;
    }
    return new PgShadowWriter(client, opts);
  }

  async prepare(tables: string[]): Promise<void> {
    // The lease row guards every commit (ShadowWriterOptions.epoch); it lives in the same schema as the checkpoint.
    await createTablesLocked(this.client, [
      ...PG_STATE_DDL,
      `CREATE TABLE IF NOT EXISTS tandem.checkpoint (
        migration text NOT NULL, direction text NOT NULL, position text NOT NULL, transport_offset text, commit_time timestamptz,
        applied_transactions bigint NOT NULL DEFAULT 0, stage text NOT NULL, idle_position text,
        updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration, direction))`,
      `CREATE TABLE IF NOT EXISTS tandem.backfill (
        migration text NOT NULL, direction text NOT NULL, table_name text NOT NULL, last_key text,
        rows_copied bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, PRIMARY KEY (migration, direction, table_name))`,
    ]);
    await this.upgradeCheckpointTable();
    this.tables = await describePgTables(this.client, tables);
    this.learnRules(this.tables);
    const missing = tables.filter((t) => !this.tables.has(t));
    if (missing.length) {
      throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `shadow (PostgreSQL) lacks table(s) ${missing.join(', ')}`, { fix: 'create them on the shadow (tandem schema --apply), see tandem check' });
    }
  }

  /** Checkpoint tables written by Tandem 0.1 called the stage `phase` (values backfill/shadowing) and had no transport offset. */
  private async upgradeCheckpointTable(): Promise<void> {
    const r = await this.client.query<{ column_name: string }>(
      `select column_name from information_schema.columns where table_schema = 'tandem' and table_name = 'checkpoint' and column_name in ('phase', 'transport_offset')`,
    );
    const have = new Set(r.rows.map((row) => row.column_name));
    if (have.has('phase')) {
      await this.client.query(`ALTER TABLE tandem.checkpoint RENAME COLUMN phase TO stage`);
      await this.client.query(`UPDATE tandem.checkpoint SET stage = 'streaming' WHERE stage = 'shadowing'`);
    }
    if (!have.has('transport_offset')) await this.client.query(`ALTER TABLE tandem.checkpoint ADD COLUMN IF NOT EXISTS transport_offset text`);
  }

  async reloadSchema(tables: string[]): Promise<void> {
    const described = await describePgTables(this.client, tables);
    for (const [name, info] of described) this.tables.set(name, info);
    this.learnRules(described);
  }

  private learnRules(tables: Map<string, PgTableInfo>): void {
    for (const [name, info] of tables) {
      this.rules.set(name, shadowTableRules(name, info.columns, (native) => {
        const parsed = postgresNativeTypes.parse(native);
        return parsed.ok ? parsed.type : undefined;
      }, { strictBoolean: true, limits: { decimalPrecision: 1000, decimalScale: 1000, secondDigits: 6, timeOfDay: true, jsonb: true } }));
    }
  }

  columnsOf(table: string): string[] | undefined {
    return this.tables.get(table)?.columns.map((c) => c.name);
  }

  /** Backfill from a PostgreSQL source with identical column types: COPY straight into the table (BulkLoader). */
  readonly bulk: BulkLoader = {
    format: PG_COPY_TEXT,
    columnTypes: (table) => {
      const info = this.tables.get(table);
      return info && new Map(info.columns.filter((c) => !c.isGenerated).map((c) => [c.name, pgBulkType(c)]));
    },
    load: async (table, columns, data) => {
      try {
        await this.copyInto(q(table), columns, data);
      } catch (err) {
        throw applyFailed([table], err, isTransientPgError(err));
      }
    },
  };

  primaryKeyOf(table: string): string[] {
    const key = this.tables.get(table)?.primaryKey;
    if (!key || key.length === 0) throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `table ${table} has no primary key on the shadow`, { fix: 'add the primary key, or exclude the table' });
    return key;
  }

  /** Before the first prepare() there are no checkpoint tables: that reads as no checkpoint, not as an error. */
  private async beforeFirstPrepare<T>(read: Promise<T>): Promise<T | undefined> {
    try {
      return await read;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === '42P01' || code === '3F000') return undefined;
      throw err;
    }
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    const r = await this.beforeFirstPrepare(this.client.query<{
      position: string;
      transport_offset: string | null;
      commit_time: Date | null;
      applied_transactions: string;
      stage: CheckpointStage;
      idle_position: string | null;
      updated_at: Date;
    }>(
      `select position, transport_offset, commit_time, applied_transactions::text, stage, idle_position, updated_at from tandem.checkpoint where migration = $1 and direction = $2`,
      [this.migration, this.direction],
    ));
    if (!r) return undefined;
    const row = r.rows[0];
    if (!row) return undefined;
    return {
      sourcePosition: row.position,
      transportOffset: row.transport_offset,
      commitTime: row.commit_time,
      appliedTransactions: Number(row.applied_transactions),
      stage: row.stage,
      idlePosition: row.idle_position,
      updatedAt: row.updated_at,
    };
  }

  async readBackfill(): Promise<BackfillProgress[]> {
    const r = await this.beforeFirstPrepare(this.client.query<{ table_name: string; last_key: string | null; rows_copied: string; done: boolean }>(
      `select table_name, last_key, rows_copied::text, done from tandem.backfill where migration = $1 and direction = $2 order by table_name`,
      [this.migration, this.direction],
    ));
    if (!r) return [];
    return r.rows.map((row) => ({ table: row.table_name, lastKey: row.last_key ? decodeKey(row.last_key) : null, rowsCopied: Number(row.rows_copied), done: row.done }));
  }

  /**
   * Opens the shadow transaction lazily: BEGIN travels with the transaction's first statement (or its commit), not
   * in a round trip of its own. A stream of small source transactions costs a round trip less per group.
   */
  async begin(): Promise<void> {
    this.beginPending = true;
  }

  /** Runs simple-protocol SQL in the open transaction, opening it first in the same round trip if still pending. */
  private run(sql: string): Promise<unknown> {
    if (!this.beginPending) return this.client.query(sql);
    this.beginPending = false;
    return this.client.query(`BEGIN;\n${sql}`);
  }

  /** Before a statement that cannot carry the pending BEGIN (COPY, parameters): open the transaction now. */
  private async begun(): Promise<void> {
    if (!this.beginPending) return;
    this.beginPending = false;
    await this.client.query('BEGIN');
  }

  /** Values travel as escaped literals, so many statements share a round trip (see StatementBatch). */
  async apply(incoming: Change[]): Promise<void> {
    await (await this.batchOf(incoming)).flush();
  }

  async applyAndCommit(incoming: Change[], cp: Omit<Checkpoint, 'updatedAt'>, options?: CommitOptions): Promise<void> {
    const batch = await this.batchOf(incoming);
    // The guard comes last, as in commit(): it locks the lease row until COMMIT, and renewals wait for that lock.
    const { guard, checkpoint } = this.checkpointStatements(cp);
    await batch.finishWith([...guard, checkpoint, ...commitStatements(options)], isLeaseGuardError);
  }

  /** The changes as statements, sent as each round trip fills; what is left is for the caller to send. */
  private async batchOf(incoming: Change[]): Promise<StatementBatch> {
    const triggered = (t: string) => (this.tables.get(t)?.applyTriggers.length ?? 1) > 0;
    const changes = regroupByTable(changesForShadow(incoming, (t) => this.rules.get(t)), triggered);
    const batch = new StatementBatch((sql) => this.run(sql), MAX_BATCH_CHARS, isTransientPgError);
    for (const op of planChanges(changes, (t) => this.primaryKeyOf(t), this.opts.maxRows, triggered)) {
      if (op.kind === 'upsert' && op.rows.length >= COPY_THRESHOLD) {
        await batch.flush();
        await this.upsertByCopy(op.table, op.columns, op.rows, op.insertsOnly);
        continue;
      }
      const sql = this.statement(op);
      if (sql) await batch.add(sql, op.kind === 'truncate' ? op.tables : [op.table]);
    }
    return batch;
  }

  /** COPY straight into the table: the initial copy's rows are new, so no staging table and no conflict handling. */
  async insertNew(table: string, rows: Row[]): Promise<void> {
    if (rows.length === 0) return;
    // Checked as apply checks them, without the columns the shadow computes itself.
    const checked = changesForShadow(rows.map((after): Change => ({ op: 'insert', table, after })), (t) => this.rules.get(t)).map((c) => (c as RowChange).after as Row);
    const columns = Object.keys(checked[0] as Row);
    try {
      await this.copyInto(q(table), columns, copyText(checked, columns));
    } catch (err) {
      throw applyFailed([table], err, isTransientPgError(err));
    }
  }

  /**
   * Large runs of rows go through COPY into a session-local staging table and one INSERT … SELECT … ON CONFLICT:
   * the server parses COPY text far faster than literal VALUES lists. The staging table is emptied each time.
   */
  private async upsertByCopy(table: string, columns: string[], rows: Row[], insertsOnly: boolean): Promise<void> {
    if (insertsOnly) {
      // Rows from INSERTs are new on a shadow in step: COPY them straight into the table, each row written once.
      // Where one exists after all (a replay over a resumed backfill), the savepoint falls back to the upsert.
      await this.run('SAVEPOINT tandem_copy');
      try {
        await this.copyInto(q(table), columns, copyText(rows, columns));
        await this.client.query('RELEASE SAVEPOINT tandem_copy');
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== '23505') throw applyFailed([table], err, isTransientPgError(err));
        await this.client.query('ROLLBACK TO SAVEPOINT tandem_copy; RELEASE SAVEPOINT tandem_copy');
      }
    }
    const stage = await this.stagingTable(table, columns);
    const key = this.primaryKeyOf(table);
    const nonKey = columns.filter((c) => !key.includes(c));
    const cols = columns.map(q).join(', ');
    try {
      await this.copyInto(stage, columns, copyText(rows, columns));
      const conflict = nonKey.length
        ? `ON CONFLICT (${key.map(q).join(', ')}) DO UPDATE SET ${nonKey.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
        : `ON CONFLICT (${key.map(q).join(', ')}) DO NOTHING`;
      const insert = `INSERT INTO ${q(table)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM ${stage}`;
      await this.client.query(`${insert} ${conflict};\nTRUNCATE ${stage}`);
    } catch (err) {
      throw applyFailed([table], err, isTransientPgError(err));
    }
  }

  /** Streams COPY text into `target` (already quoted) on the apply session, inside its open transaction. */
  private async copyInto(target: string, columns: string[], data: Readable): Promise<void> {
    await this.begun();
    await pipeline(data, this.client.query(copyFrom(`COPY ${target} (${columns.map(q).join(', ')}) FROM STDIN`)));
  }

  private async stagingTable(table: string, columns: string[]): Promise<string> {
    const signature = `${table}\u0000${columns.join('\u0000')}`;
    let name = this.staging.get(signature);
    if (!name) {
      name = q(`tandem_stage_${++this.stagingCount}`);
      // Only the copied columns, with their types and no constraints; temporary, so private to this session.
      await this.run(`CREATE TEMP TABLE ${name} AS SELECT ${columns.map(q).join(', ')} FROM ${q(table)} WITH NO DATA`);
      this.staging.set(signature, name);
    }
    return name;
  }

  private statement(op: ApplyOp): string | undefined {
    switch (op.kind) {
      case 'upsert': {
        const key = this.primaryKeyOf(op.table);
        const nonKey = op.columns.filter((c) => !key.includes(c));
        const conflict = nonKey.length
          ? `ON CONFLICT (${key.map(q).join(', ')}) DO UPDATE SET ${nonKey.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
          : `ON CONFLICT (${key.map(q).join(', ')}) DO NOTHING`;
        const tuples = op.rows.map((row) => `(${ropeJoin(op.columns.map((c) => literal(row[c] ?? null)), ', ')})`);
        return `INSERT INTO ${q(op.table)} (${op.columns.map(q).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${ropeJoin(tuples, ', ')} ${conflict}`;
      }
      case 'delete': {
        const tuples = op.keys.map((k) => `(${op.key.map((c) => literal(k[c] ?? null)).join(', ')})`);
        return `DELETE FROM ${q(op.table)} WHERE (${op.key.map(q).join(', ')}) IN (${tuples.join(', ')})`;
      }
      case 'update': {
        const cols = Object.keys(op.set);
        if (cols.length === 0) return undefined;
        const where = Object.entries(op.key).map(([k, v]) => `${q(k)} = ${literal(v)}`).join(' AND ');
        return `UPDATE ${q(op.table)} SET ${ropeJoin(cols.map((c) => `${q(c)} = ${literal(op.set[c] ?? null)}`), ', ')} WHERE ${where}`;
      }
      case 'truncate':
        return `TRUNCATE ${op.tables.map(q).join(', ')}`;
    }
  }

  /** The lease guard (when this writer holds an epoch) and the checkpoint's upsert. */
  private checkpointStatements(cp: Omit<Checkpoint, 'updatedAt'>): { guard: string[]; checkpoint: string } {
    const values = [this.migration, this.direction, cp.sourcePosition, cp.transportOffset, cp.commitTime?.toISOString() ?? null, String(cp.appliedTransactions), cp.stage, cp.idlePosition].map(literal);
    return {
      guard: this.opts.epoch === undefined ? [] : [pgLeaseGuardSql(this.migration, this.opts.epoch, literal)],
      checkpoint: `INSERT INTO tandem.checkpoint (migration, direction, position, transport_offset, commit_time, applied_transactions, stage, idle_position, updated_at)
       VALUES (${values.join(', ')}, now())
       ON CONFLICT (migration, direction) DO UPDATE SET position = EXCLUDED.position, transport_offset = EXCLUDED.transport_offset, commit_time = EXCLUDED.commit_time,
         applied_transactions = EXCLUDED.applied_transactions, stage = EXCLUDED.stage, idle_position = EXCLUDED.idle_position, updated_at = now()`,
    };
  }

  async commit(cp: Omit<Checkpoint, 'updatedAt'>, backfill?: BackfillProgress[], options?: CommitOptions): Promise<void> {
    const { guard, checkpoint } = this.checkpointStatements(cp);
    // The lease guard, the checkpoint and COMMIT go in one round trip when there is no backfill progress to record.
    const checkpointSql = [...guard, checkpoint].join(';\n');
    if (!backfill?.length) {
      await this.run([checkpointSql, ...commitStatements(options)].join(';\n'));
      return;
    }
    await this.run(checkpointSql);
    for (const b of backfill ?? []) {
      await this.client.query(
        `INSERT INTO tandem.backfill (migration, direction, table_name, last_key, rows_copied, done) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (migration, direction, table_name) DO UPDATE SET last_key = EXCLUDED.last_key, rows_copied = EXCLUDED.rows_copied, done = EXCLUDED.done`,
        [this.migration, this.direction, b.table, b.lastKey ? encodeKey(b.lastKey) : null, b.rowsCopied, b.done],
      );
    }
    await this.client.query(commitStatements(options).join(';\n'));
  }

  async lockRows(table: string, keys: Row[]): Promise<void> {
    await this.begun();
    const key = this.primaryKeyOf(table);
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const params: Value[] = [];
      const tuples = part.map((k) => `(${key.map((c) => (params.push(k[c] ?? null), `$${params.length}`)).join(', ')})`);
      await this.client.query(`SELECT 1 FROM ${q(table)} WHERE (${key.map(q).join(', ')}) IN (${tuples.join(', ')}) FOR UPDATE`, params);
    }
  }

  async commitRowsOnly(): Promise<void> {
    if (this.beginPending) {
      this.beginPending = false; // nothing was written: there is nothing to commit
      return;
    }
    await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    // Staging tables created in the rolled-back transaction are gone with it.
    this.staging.clear();
    if (this.beginPending) {
      this.beginPending = false; // never opened on the server
      return;
    }
    await this.client.query('ROLLBACK').catch(() => undefined);
  }

  async reset(tables: string[]): Promise<void> {
    await this.client.query('BEGIN');
    await this.client.query(`DELETE FROM tandem.checkpoint WHERE migration = $1 AND (direction = $2 OR direction LIKE $3)`, [this.migration, this.direction, laneCheckpointPattern(this.direction)]);
    await this.client.query(`DELETE FROM tandem.backfill WHERE migration = $1 AND direction = $2`, [this.migration, this.direction]);
    if (tables.length) await this.client.query(`TRUNCATE ${tables.map(q).join(', ')}`);
    await this.client.query('COMMIT');
  }

  async countRows(table: string): Promise<number> {
    const r = await this.client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${q(table)}`);
    return Number(r.rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
