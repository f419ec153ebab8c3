import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { Change, Row, Value } from '../../model/change.js';
import { copyLine } from './copy-text.js';
import type { Direction } from '../../model/direction.js';
import { planChanges, type ApplyOp } from '../../replicate/apply-plan.js';
import { StatementBatch, applyFailed } from '../../replicate/statement-batch.js';
import type { BackfillProgress, Checkpoint, ShadowWriter } from '../engine.js';
import { connectPostgres } from './connect.js';
import { describePgTables, type PgTableInfo } from './introspect.js';
import { isTransientPgError } from './capture.js';
import { decodeKey, encodeKey } from '../../model/key-json.js';

const q = (name: string) => pg.escapeIdentifier(name);
/** Runs of at least this many rows are loaded with COPY instead of VALUES lists. */
const COPY_THRESHOLD = 500;

function* chunked(lines: string[]): Generator<string> {
  for (let i = 0; i < lines.length; i += 500) yield lines.slice(i, i + 500).join('');
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

/** Applies changes to a PostgreSQL shadow with triggers and foreign keys quiet, checkpoint in the same transaction. */
export class PgShadowWriter implements ShadowWriter {
  readonly engine = 'postgres' as const;
  private tables = new Map<string, PgTableInfo>();
  /** Staging tables for COPY, by target table; temporary, so they live as long as this session. */
  private staging = new Map<string, string>();
  private stagingCount = 0;

  private constructor(
    private readonly client: pg.Client,
    private readonly migration: string,
    private readonly direction: Direction,
    private readonly maxRows: number,
  ) {}

  static async open(url: string, migration: string, direction: Direction, maxRows = 1000): Promise<PgShadowWriter> {
    const client = await connectPostgres(url, 'apply');
    try {
      // This connection is Tandem's alone (never pooled), so the setting cannot leak into application sessions.
      await client.query(`SET session_replication_role = replica`);
    } catch (err) {
      await client.end();
      throw new TandemError('TANDEM_APPLY_FAILED', `cannot SET session_replication_role on the shadow: ${errorMessage(err)}`, {
        fix: 'GRANT SET ON PARAMETER session_replication_role TO <tandem user>; (see tandem check)',
      });
    }
    return new PgShadowWriter(client, migration, direction, maxRows);
  }

  async prepare(tables: string[]): Promise<void> {
    await this.client.query(`CREATE SCHEMA IF NOT EXISTS tandem`);
    await this.client.query(`CREATE TABLE IF NOT EXISTS tandem.checkpoint (
      migration text NOT NULL, direction text NOT NULL, position text NOT NULL, commit_time timestamptz,
      applied_transactions bigint NOT NULL DEFAULT 0, phase text NOT NULL, idle_position text,
      updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration, direction))`);
    await this.client.query(`CREATE TABLE IF NOT EXISTS tandem.backfill (
      migration text NOT NULL, direction text NOT NULL, table_name text NOT NULL, last_key text,
      rows_copied bigint NOT NULL DEFAULT 0, done boolean NOT NULL DEFAULT false, PRIMARY KEY (migration, direction, table_name))`);
    this.tables = await describePgTables(this.client, tables);
    const missing = tables.filter((t) => !this.tables.has(t));
    if (missing.length) {
      throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `shadow (PostgreSQL) lacks table(s) ${missing.join(', ')}`, { fix: 'create them on the shadow (see tandem check)' });
    }
  }

  async reloadSchema(tables: string[]): Promise<void> {
    for (const [name, info] of await describePgTables(this.client, tables)) this.tables.set(name, info);
  }

  columnsOf(table: string): string[] | undefined {
    return this.tables.get(table)?.columns.map((c) => c.name);
  }

  primaryKeyOf(table: string): string[] {
    const key = this.tables.get(table)?.primaryKey;
    if (!key || key.length === 0) throw new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `table ${table} has no primary key on the shadow`, { fix: 'add the primary key, or exclude the table' });
    return key;
  }

  async readCheckpoint(): Promise<Checkpoint | undefined> {
    const r = await this.client.query<{ position: string; commit_time: Date | null; applied_transactions: string; phase: Checkpoint['phase']; idle_position: string | null; updated_at: Date }>(
      `select position, commit_time, applied_transactions::text, phase, idle_position, updated_at from tandem.checkpoint where migration = $1 and direction = $2`,
      [this.migration, this.direction],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    return { position: row.position, commitTime: row.commit_time, appliedTransactions: Number(row.applied_transactions), phase: row.phase, idlePosition: row.idle_position, updatedAt: row.updated_at };
  }

  async readBackfill(): Promise<BackfillProgress[]> {
    const r = await this.client.query<{ table_name: string; last_key: string | null; rows_copied: string; done: boolean }>(
      `select table_name, last_key, rows_copied::text, done from tandem.backfill where migration = $1 and direction = $2 order by table_name`,
      [this.migration, this.direction],
    );
    return r.rows.map((row) => ({ table: row.table_name, lastKey: row.last_key ? decodeKey(row.last_key) : null, rowsCopied: Number(row.rows_copied), done: row.done }));
  }

  async begin(): Promise<void> {
    await this.client.query('BEGIN');
  }

  /** Values travel as escaped literals, so many statements share a round trip (see StatementBatch). */
  async apply(changes: Change[]): Promise<void> {
    const batch = new StatementBatch((sql) => this.client.query(sql), MAX_BATCH_CHARS, isTransientPgError);
    for (const op of planChanges(changes, (t) => this.primaryKeyOf(t), this.maxRows)) {
      if (op.kind === 'upsert' && op.rows.length >= COPY_THRESHOLD) {
        await batch.flush();
        await this.upsertByCopy(op.table, op.columns, op.rows, op.insertsOnly);
        continue;
      }
      const sql = this.statement(op);
      if (sql) await batch.add(sql, op.kind === 'truncate' ? op.tables : [op.table]);
    }
    await batch.flush();
  }

  /**
   * Large runs of rows go through COPY into a session-local staging table and one INSERT … SELECT … ON CONFLICT:
   * the server parses COPY text far faster than literal VALUES lists. The staging table is emptied each time.
   */
  private async upsertByCopy(table: string, columns: string[], rows: Row[], insertsOnly: boolean): Promise<void> {
    const stage = await this.stagingTable(table, columns);
    const key = this.primaryKeyOf(table);
    const nonKey = columns.filter((c) => !key.includes(c));
    const cols = columns.map(q).join(', ');
    try {
      const stream = this.client.query(copyFrom(`COPY ${stage} (${cols}) FROM STDIN`));
      const lines = rows.map((row) => copyLine(columns.map((c) => row[c] ?? null)));
      await pipeline(Readable.from(chunked(lines)), stream);
      const conflict = nonKey.length
        ? `ON CONFLICT (${key.map(q).join(', ')}) DO UPDATE SET ${nonKey.map((c) => `${q(c)} = EXCLUDED.${q(c)}`).join(', ')}`
        : `ON CONFLICT (${key.map(q).join(', ')}) DO NOTHING`;
      const insert = `INSERT INTO ${q(table)} (${cols}) OVERRIDING SYSTEM VALUE SELECT ${cols} FROM ${stage}`;
      if (insertsOnly) {
        // Rows from INSERTs are new on a shadow in step, and a plain insert costs half an upsert. Where one
        // exists after all (a replay over a resumed backfill), the savepoint falls back to the upsert.
        try {
          await this.client.query(`SAVEPOINT tandem_copy;\n${insert};\nRELEASE SAVEPOINT tandem_copy;\nTRUNCATE ${stage}`);
          return;
        } catch (err) {
          if ((err as { code?: string }).code !== '23505') throw err;
          await this.client.query('ROLLBACK TO SAVEPOINT tandem_copy; RELEASE SAVEPOINT tandem_copy');
        }
      }
      await this.client.query(`${insert} ${conflict};\nTRUNCATE ${stage}`);
    } catch (err) {
      throw applyFailed([table], err, isTransientPgError(err));
    }
  }

  private async stagingTable(table: string, columns: string[]): Promise<string> {
    const signature = `${table}\u0000${columns.join('\u0000')}`;
    let name = this.staging.get(signature);
    if (!name) {
      name = q(`tandem_stage_${++this.stagingCount}`);
      // Only the copied columns, with their types and no constraints; temporary, so private to this session.
      await this.client.query(`CREATE TEMP TABLE ${name} AS SELECT ${columns.map(q).join(', ')} FROM ${q(table)} WITH NO DATA`);
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
        const tuples = op.rows.map((row) => `(${op.columns.map((c) => literal(row[c] ?? null)).join(', ')})`);
        return `INSERT INTO ${q(op.table)} (${op.columns.map(q).join(', ')}) OVERRIDING SYSTEM VALUE VALUES ${tuples.join(', ')} ${conflict}`;
      }
      case 'delete': {
        const tuples = op.keys.map((k) => `(${op.key.map((c) => literal(k[c] ?? null)).join(', ')})`);
        return `DELETE FROM ${q(op.table)} WHERE (${op.key.map(q).join(', ')}) IN (${tuples.join(', ')})`;
      }
      case 'update': {
        const cols = Object.keys(op.set);
        if (cols.length === 0) return undefined;
        const where = Object.entries(op.key).map(([k, v]) => `${q(k)} = ${literal(v)}`).join(' AND ');
        return `UPDATE ${q(op.table)} SET ${cols.map((c) => `${q(c)} = ${literal(op.set[c] ?? null)}`).join(', ')} WHERE ${where}`;
      }
      case 'truncate':
        return `TRUNCATE ${op.tables.map(q).join(', ')}`;
    }
  }

  async commit(cp: Omit<Checkpoint, 'updatedAt'>, backfill?: BackfillProgress[]): Promise<void> {
    const values = [this.migration, this.direction, cp.position, cp.commitTime?.toISOString() ?? null, String(cp.appliedTransactions), cp.phase, cp.idlePosition].map(literal);
    // The checkpoint and COMMIT go in one round trip when there is no backfill progress to record.
    const checkpointSql = `INSERT INTO tandem.checkpoint (migration, direction, position, commit_time, applied_transactions, phase, idle_position, updated_at)
       VALUES (${values.join(', ')}, now())
       ON CONFLICT (migration, direction) DO UPDATE SET position = EXCLUDED.position, commit_time = EXCLUDED.commit_time,
         applied_transactions = EXCLUDED.applied_transactions, phase = EXCLUDED.phase, idle_position = EXCLUDED.idle_position, updated_at = now()`;
    if (!backfill?.length) {
      await this.client.query(`${checkpointSql};\nCOMMIT`);
      return;
    }
    await this.client.query(checkpointSql);
    for (const b of backfill ?? []) {
      await this.client.query(
        `INSERT INTO tandem.backfill (migration, direction, table_name, last_key, rows_copied, done) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (migration, direction, table_name) DO UPDATE SET last_key = EXCLUDED.last_key, rows_copied = EXCLUDED.rows_copied, done = EXCLUDED.done`,
        [this.migration, this.direction, b.table, b.lastKey ? encodeKey(b.lastKey) : null, b.rowsCopied, b.done],
      );
    }
    await this.client.query('COMMIT');
  }

  async lockRows(table: string, keys: Row[]): Promise<void> {
    const key = this.primaryKeyOf(table);
    for (let i = 0; i < keys.length; i += 1000) {
      const part = keys.slice(i, i + 1000);
      const params: Value[] = [];
      const tuples = part.map((k) => `(${key.map((c) => (params.push(k[c] ?? null), `$${params.length}`)).join(', ')})`);
      await this.client.query(`SELECT 1 FROM ${q(table)} WHERE (${key.map(q).join(', ')}) IN (${tuples.join(', ')}) FOR UPDATE`, params);
    }
  }

  async commitRowsOnly(): Promise<void> {
    await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    // Staging tables created in the rolled-back transaction are gone with it.
    this.staging.clear();
    await this.client.query('ROLLBACK').catch(() => undefined);
  }

  async reset(tables: string[]): Promise<void> {
    await this.client.query('BEGIN');
    await this.client.query(`DELETE FROM tandem.checkpoint WHERE migration = $1 AND direction = $2`, [this.migration, this.direction]);
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
