/**
 * Tandem's state tables on PostgreSQL (schema `tandem`): versioned documents and the lease. See StateBackend.
 *
 * The lease row carries two epochs: `epoch` (the current holder's) and `guard_epoch`, with a CHECK that they are
 * equal. An acquisition sets both; a guarded write sets only `guard_epoch` to the writer's epoch, in the writer's
 * own transaction. A writer whose epoch is no longer current therefore fails the CHECK and its whole transaction
 * rolls back: the fencing token is checked by the database, atomically with the write it protects.
 */
import type pg from 'pg';
import type { LeaseHolder, LeaseRecord } from '../../model/control.js';
import type { StateBackend, StateDocument } from '../engine.js';
import { connectPostgres } from './connect.js';
import { LEASE_GUARD_CONSTRAINT } from './errors.js';

export const PG_STATE_DDL = [
  `CREATE SCHEMA IF NOT EXISTS tandem`,
  `CREATE TABLE IF NOT EXISTS tandem.state (
     migration text NOT NULL, doc_key text NOT NULL, version bigint NOT NULL, value text NOT NULL,
     updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (migration, doc_key))`,
  `CREATE TABLE IF NOT EXISTS tandem.lease (
     migration text PRIMARY KEY, epoch bigint NOT NULL DEFAULT 0, guard_epoch bigint NOT NULL DEFAULT 0,
     holder_id text NOT NULL DEFAULT '', role text NOT NULL DEFAULT '', host text NOT NULL DEFAULT '', pid integer NOT NULL DEFAULT 0,
     api text, started_at timestamptz, acquired_at timestamptz, renewed_at timestamptz, expires_at timestamptz,
     secret text, heartbeat text,
     CONSTRAINT ${LEASE_GUARD_CONSTRAINT} CHECK (guard_epoch = epoch))`,
];

/**
 * Creates Tandem's tables under a transaction-scoped advisory lock: two Tandem processes starting at once (the
 * service and `tandem verify`, a writer and a state store on the same database) would otherwise race on
 * CREATE SCHEMA IF NOT EXISTS, which is not safe against concurrent creators in PostgreSQL.
 */
export async function createTablesLocked(client: pg.Client, statements: readonly string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('tandem: create state tables'))`);
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** The statement a guarded transaction runs: fails the CHECK unless `epoch` is the lease's current epoch. */
export function pgLeaseGuardSql(migration: string, epoch: number, literal: (v: string) => string): string {
  return `UPDATE tandem.lease SET guard_epoch = ${Number(epoch)} WHERE migration = ${literal(migration)}`;
}

interface LeaseRow {
  epoch: string;
  holder_id: string;
  role: LeaseHolder['role'];
  host: string;
  pid: number;
  api: string | null;
  started_at: Date | null;
  acquired_at: Date | null;
  renewed_at: Date | null;
  expires_at: Date | null;
  secret: string | null;
  heartbeat: string | null;
  expired: boolean;
  remaining_ms: string | null;
  renewed_ago_ms: string | null;
}

const LEASE_COLUMNS = `epoch::text, holder_id, role, host, pid, api, started_at, acquired_at, renewed_at, expires_at, secret, heartbeat,
  coalesce(expires_at <= now(), true) AS expired,
  (extract(epoch from (expires_at - now())) * 1000)::bigint::text AS remaining_ms,
  (extract(epoch from (now() - renewed_at)) * 1000)::bigint::text AS renewed_ago_ms`;

const iso = (d: Date | null): string => (d ? d.toISOString() : '');

/** Reads before the first write find no state tables: that is an empty state, not an error. */
async function orNothing<T>(read: Promise<T>, nothing: T): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if ((err as { code?: string }).code === '42P01' || (err as { code?: string }).code === '3F000') return nothing;
    throw err;
  }
}

function leaseOf(row: LeaseRow): LeaseRecord {
  return {
    id: row.holder_id,
    role: row.role,
    host: row.host,
    pid: row.pid,
    api: row.api,
    startedAt: iso(row.started_at),
    epoch: Number(row.epoch),
    acquiredAt: iso(row.acquired_at),
    renewedAt: iso(row.renewed_at),
    expiresAt: iso(row.expires_at),
    expired: row.holder_id === '' || row.expired,
    remainingMs: Number(row.remaining_ms ?? 0),
    renewedAgoMs: Number(row.renewed_ago_ms ?? 0),
    secret: row.secret,
    heartbeat: row.heartbeat,
  };
}

interface DocRow {
  key: string;
  version: string;
  value: string;
  updated_at: Date;
}
const docOf = (r: DocRow): StateDocument => ({ key: r.key, version: Number(r.version), value: r.value, updatedAt: r.updated_at });

export class PgStateBackend implements StateBackend {
  readonly engine = 'postgres' as const;

  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<PgStateBackend> {
    return new PgStateBackend(await connectPostgres(url, 'state'));
  }

  async ensureTables(): Promise<void> {
    // Checked first: CREATE … IF NOT EXISTS still needs the CREATE privilege, which a read-only status need not have.
    const r = await this.client.query<{ n: string }>(
      `select count(*)::text as n from pg_tables where schemaname = 'tandem' and tablename in ('state', 'lease')`,
    );
    if (r.rows[0]?.n === '2') return;
    await createTablesLocked(this.client, PG_STATE_DDL);
  }

  async get(migration: string, key: string): Promise<StateDocument | undefined> {
    const r = await orNothing(this.client.query<DocRow>(`select doc_key as key, version::text, value, updated_at from tandem.state where migration = $1 and doc_key = $2 and version > 0`, [migration, key]), undefined);
    return r?.rows[0] ? docOf(r.rows[0]) : undefined;
  }

  async list(migration: string, prefix: string): Promise<StateDocument[]> {
    const r = await orNothing(
      this.client.query<DocRow>(
        `select doc_key as key, version::text, value, updated_at from tandem.state where migration = $1 and left(doc_key, length($2)) = $2 and version > 0 order by doc_key`,
        [migration, prefix],
      ),
      undefined,
    );
    return r?.rows.map(docOf) ?? [];
  }

  async put(migration: string, key: string, value: string, expected: number, epoch?: number): Promise<boolean> {
    await this.client.query('BEGIN');
    try {
      if (epoch !== undefined) await this.client.query(`UPDATE tandem.lease SET guard_epoch = $2 WHERE migration = $1`, [migration, epoch]);
      const r =
        expected === 0
          ? await this.client.query(`INSERT INTO tandem.state (migration, doc_key, version, value) VALUES ($1, $2, 1, $3) ON CONFLICT DO NOTHING`, [migration, key, value])
          : await this.client.query(`UPDATE tandem.state SET value = $3, version = version + 1, updated_at = now() WHERE migration = $1 AND doc_key = $2 AND version = $4`, [
              migration,
              key,
              value,
              expected,
            ]);
      await this.client.query('COMMIT');
      return r.rowCount === 1;
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async putVersion(migration: string, key: string, value: string, version: number, updatedAt: Date): Promise<void> {
    await this.client.query(
      `INSERT INTO tandem.state (migration, doc_key, version, value, updated_at) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (migration, doc_key) DO UPDATE SET version = EXCLUDED.version, value = EXCLUDED.value, updated_at = EXCLUDED.updated_at
       WHERE tandem.state.version < EXCLUDED.version`,
      [migration, key, version, value, updatedAt],
    );
  }

  async update(migration: string, key: string, change: (current: string | undefined) => string): Promise<StateDocument> {
    // The row exists (committed) before it is locked, so two first writers serialize on it as well.
    await this.client.query(`INSERT INTO tandem.state (migration, doc_key, version, value) VALUES ($1, $2, 0, '') ON CONFLICT DO NOTHING`, [migration, key]);
    await this.client.query('BEGIN');
    try {
      const cur = await this.client.query<DocRow>(`select doc_key as key, version::text, value, updated_at from tandem.state where migration = $1 and doc_key = $2 for update`, [migration, key]);
      const row = cur.rows[0];
      const next = change(row && Number(row.version) > 0 ? row.value : undefined);
      const r = await this.client.query<DocRow>(
        `UPDATE tandem.state SET value = $3, version = version + 1, updated_at = now() WHERE migration = $1 AND doc_key = $2 RETURNING doc_key as key, version::text, value, updated_at`,
        [migration, key, next],
      );
      await this.client.query('COMMIT');
      return docOf(r.rows[0] as DocRow);
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async remove(migration: string, prefix: string): Promise<void> {
    await this.client.query(`DELETE FROM tandem.state WHERE migration = $1 AND left(doc_key, length($2)) = $2`, [migration, prefix]);
  }

  async readLease(migration: string): Promise<LeaseRecord | undefined> {
    const r = await orNothing(this.client.query<LeaseRow>(`select ${LEASE_COLUMNS} from tandem.lease where migration = $1`, [migration]), undefined);
    return r?.rows[0] ? leaseOf(r.rows[0]) : undefined;
  }

  async tryAcquireLease(migration: string, holder: LeaseHolder, ttlMs: number, secret: string, replacing?: string): Promise<LeaseRecord | undefined> {
    await this.client.query(`INSERT INTO tandem.lease (migration) VALUES ($1) ON CONFLICT DO NOTHING`, [migration]);
    const r = await this.client.query<LeaseRow>(
      `UPDATE tandem.lease SET epoch = epoch + 1, guard_epoch = epoch + 1, holder_id = $2, role = $3, host = $4, pid = $5, api = $6,
              started_at = $7, acquired_at = now(), renewed_at = now(), expires_at = now() + $8 * interval '1 millisecond', secret = $9, heartbeat = NULL
        WHERE migration = $1 AND (holder_id = '' OR expires_at IS NULL OR expires_at <= now() OR holder_id = $10)
        RETURNING ${LEASE_COLUMNS}`,
      [migration, holder.id, holder.role, holder.host, holder.pid, holder.api, holder.startedAt, ttlMs, secret, replacing ?? ''],
    );
    return r.rows[0] ? leaseOf(r.rows[0]) : undefined;
  }

  async renewLease(migration: string, holderId: string, epoch: number, ttlMs: number, heartbeat: string | null): Promise<boolean> {
    const r = await this.client.query(
      `UPDATE tandem.lease SET renewed_at = now(), expires_at = now() + $4 * interval '1 millisecond', heartbeat = coalesce($5, heartbeat)
        WHERE migration = $1 AND holder_id = $2 AND epoch = $3`,
      [migration, holderId, epoch, ttlMs, heartbeat],
    );
    return r.rowCount === 1;
  }

  async releaseLease(migration: string, holderId: string, epoch: number): Promise<void> {
    await this.client.query(`UPDATE tandem.lease SET holder_id = '', expires_at = now(), secret = NULL WHERE migration = $1 AND holder_id = $2 AND epoch = $3`, [
      migration,
      holderId,
      epoch,
    ]);
  }

  async recordEpoch(migration: string, lease: LeaseRecord): Promise<boolean> {
    await this.client.query(`INSERT INTO tandem.lease (migration) VALUES ($1) ON CONFLICT DO NOTHING`, [migration]);
    const r = await this.client.query(
      `UPDATE tandem.lease SET epoch = $2, guard_epoch = $2, holder_id = $3, role = $4, host = $5, pid = $6, api = $7, started_at = $8,
              acquired_at = $9, renewed_at = $10, expires_at = $11
        WHERE migration = $1 AND epoch <= $2`,
      [migration, lease.epoch, lease.id, lease.role, lease.host, lease.pid, lease.api, lease.startedAt || null, lease.acquiredAt || null, lease.renewedAt || null, lease.expiresAt || null],
    );
    return r.rowCount === 1;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
