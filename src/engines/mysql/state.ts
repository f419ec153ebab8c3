/**
 * Tandem's state tables on MySQL/MariaDB (`tandem_state`, `tandem_lease`, beside the application's tables; the
 * `tandem_` prefix is reserved and never replicated). Same design as the PostgreSQL ones (see
 * src/engines/postgres/state.ts): the lease's CHECK (guard_epoch = epoch) makes a write under a stale epoch fail
 * inside its own transaction. Times are UTC (`UTC_TIMESTAMP(6)`), so expiry is judged by the server's clock.
 */
import type mysql from 'mysql2/promise';
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { LeaseHolder, LeaseRecord } from '../../model/control.js';
import type { StateBackend, StateDocument } from '../engine.js';
import { connectMysql } from './connect.js';
import { LEASE_GUARD_CONSTRAINT } from './errors.js';

export const MYSQL_STATE_DDL = [
  `CREATE TABLE IF NOT EXISTS tandem_state (
     migration varchar(64) NOT NULL, doc_key varchar(255) NOT NULL, version bigint NOT NULL, value longtext NOT NULL,
     updated_at datetime(6) NOT NULL, PRIMARY KEY (migration, doc_key)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
  `CREATE TABLE IF NOT EXISTS tandem_lease (
     migration varchar(64) NOT NULL PRIMARY KEY, epoch bigint NOT NULL DEFAULT 0, guard_epoch bigint NOT NULL DEFAULT 0,
     holder_id varchar(64) NOT NULL DEFAULT '', role varchar(16) NOT NULL DEFAULT '', host varchar(255) NOT NULL DEFAULT '', pid int NOT NULL DEFAULT 0,
     api varchar(255) NULL, started_at datetime(6) NULL, acquired_at datetime(6) NULL, renewed_at datetime(6) NULL, expires_at datetime(6) NULL,
     secret varchar(128) NULL, heartbeat longtext NULL,
     CONSTRAINT ${LEASE_GUARD_CONSTRAINT} CHECK (guard_epoch = epoch)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
];

/** The statement a guarded transaction runs: fails the CHECK unless `epoch` is the lease's current epoch. */
export function mysqlLeaseGuardSql(migration: string, epoch: number, escape: (v: string) => string): string {
  return `UPDATE tandem_lease SET guard_epoch = ${Number(epoch)} WHERE migration = ${escape(migration)}`;
}

const LEASE_COLUMNS = `epoch, holder_id, role, host, pid, api, started_at, acquired_at, renewed_at, expires_at, secret, heartbeat,
  (expires_at IS NULL OR expires_at <= UTC_TIMESTAMP(6)) AS expired,
  TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(6), expires_at) DIV 1000 AS remaining_ms,
  TIMESTAMPDIFF(MICROSECOND, renewed_at, UTC_TIMESTAMP(6)) DIV 1000 AS renewed_ago_ms`;

/** `2026-11-30 10:00:00.123456` (UTC) → ISO text; '' for NULL. */
const iso = (v: unknown): string => (v ? new Date(`${String(v).replace(' ', 'T')}Z`).toISOString() : '');
/** ISO text → a DATETIME(6) literal value in UTC. */
const sqlTime = (text: string): string | null => (text ? new Date(text).toISOString().replace('T', ' ').replace('Z', '') : null);

function leaseOf(r: RowDataPacket): LeaseRecord {
  const holder = String(r.holder_id ?? '');
  return {
    id: holder,
    role: String(r.role) as LeaseHolder['role'],
    host: String(r.host ?? ''),
    pid: Number(r.pid ?? 0),
    api: r.api === null || r.api === undefined ? null : String(r.api),
    startedAt: iso(r.started_at),
    epoch: Number(r.epoch),
    acquiredAt: iso(r.acquired_at),
    renewedAt: iso(r.renewed_at),
    expiresAt: iso(r.expires_at),
    expired: holder === '' || Number(r.expired) === 1,
    remainingMs: Number(r.remaining_ms ?? 0),
    renewedAgoMs: Number(r.renewed_ago_ms ?? 0),
    secret: r.secret === null || r.secret === undefined ? null : String(r.secret),
    heartbeat: r.heartbeat === null || r.heartbeat === undefined ? null : String(r.heartbeat),
  };
}

/** Reads before the first write find no state tables: that is an empty state, not an error. */
async function orNothing<T>(read: Promise<T>, nothing: T): Promise<T> {
  try {
    return await read;
  } catch (err) {
    if ((err as { errno?: number }).errno === 1146) return nothing;
    throw err;
  }
}

const docOf = (r: RowDataPacket): StateDocument => ({ key: String(r.doc_key), version: Number(r.version), value: String(r.value), updatedAt: new Date(iso(r.updated_at)) });

export class MysqlStateBackend implements StateBackend {
  readonly engine = 'mysql' as const;

  private constructor(private readonly conn: mysql.Connection) {}

  static async open(url: string): Promise<MysqlStateBackend> {
    return new MysqlStateBackend(await connectMysql(url, 'state'));
  }

  async ensureTables(): Promise<void> {
    // Checked first: CREATE TABLE IF NOT EXISTS still needs the CREATE privilege, which a read-only status need not have.
    const [rows] = await this.conn.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ('tandem_state', 'tandem_lease')`,
    );
    if (Number(rows[0]?.n) === 2) return;
    for (const sql of MYSQL_STATE_DDL) await this.conn.query(sql);
  }

  async get(migration: string, key: string): Promise<StateDocument | undefined> {
    const [rows] = await orNothing(
      this.conn.query<RowDataPacket[]>(`SELECT doc_key, version, value, updated_at FROM tandem_state WHERE migration = ? AND doc_key = ? AND version > 0`, [migration, key]),
      [[]] as unknown as [RowDataPacket[], unknown],
    );
    return rows[0] ? docOf(rows[0]) : undefined;
  }

  async list(migration: string, prefix: string): Promise<StateDocument[]> {
    const [rows] = await orNothing(
      this.conn.query<RowDataPacket[]>(
        `SELECT doc_key, version, value, updated_at FROM tandem_state WHERE migration = ? AND LEFT(doc_key, CHAR_LENGTH(?)) = ? AND version > 0 ORDER BY doc_key`,
        [migration, prefix, prefix],
      ),
      [[]] as unknown as [RowDataPacket[], unknown],
    );
    return rows.map(docOf);
  }

  async put(migration: string, key: string, value: string, expected: number, epoch?: number): Promise<boolean> {
    await this.conn.query('START TRANSACTION');
    try {
      if (epoch !== undefined) await this.conn.query(`UPDATE tandem_lease SET guard_epoch = ? WHERE migration = ?`, [epoch, migration]);
      const [r] =
        expected === 0
          ? await this.conn.query<ResultSetHeader>(`INSERT IGNORE INTO tandem_state (migration, doc_key, version, value, updated_at) VALUES (?, ?, 1, ?, UTC_TIMESTAMP(6))`, [
              migration,
              key,
              value,
            ])
          : await this.conn.query<ResultSetHeader>(
              `UPDATE tandem_state SET value = ?, version = version + 1, updated_at = UTC_TIMESTAMP(6) WHERE migration = ? AND doc_key = ? AND version = ?`,
              [value, migration, key, expected],
            );
      await this.conn.query('COMMIT');
      return r.affectedRows === 1;
    } catch (err) {
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async putVersion(migration: string, key: string, value: string, version: number, updatedAt: Date): Promise<void> {
    // Assignments in this order are right under MySQL's left-to-right rule and under SIMULTANEOUS_ASSIGNMENT alike.
    await this.conn.query(
      `INSERT INTO tandem_state (migration, doc_key, version, value, updated_at) VALUES (?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE value = IF(version < VALUES(version), VALUES(value), value),
         updated_at = IF(version < VALUES(version), VALUES(updated_at), updated_at), version = GREATEST(version, VALUES(version))`,
      [migration, key, version, value, sqlTime(updatedAt.toISOString())],
    );
  }

  async update(migration: string, key: string, change: (current: string | undefined) => string): Promise<StateDocument> {
    // The row exists (committed) before it is locked, so two first writers serialize on it; inserting it inside the
    // transaction would mix insert and row locks, which InnoDB resolves by deadlock.
    await this.conn.query(`INSERT IGNORE INTO tandem_state (migration, doc_key, version, value, updated_at) VALUES (?, ?, 0, '', UTC_TIMESTAMP(6))`, [migration, key]);
    await this.conn.query('START TRANSACTION');
    try {
      const [cur] = await this.conn.query<RowDataPacket[]>(`SELECT version, value FROM tandem_state WHERE migration = ? AND doc_key = ? FOR UPDATE`, [migration, key]);
      const row = cur[0];
      const next = change(row && Number(row.version) > 0 ? String(row.value) : undefined);
      await this.conn.query(`UPDATE tandem_state SET value = ?, version = version + 1, updated_at = UTC_TIMESTAMP(6) WHERE migration = ? AND doc_key = ?`, [next, migration, key]);
      const [after] = await this.conn.query<RowDataPacket[]>(`SELECT doc_key, version, value, updated_at FROM tandem_state WHERE migration = ? AND doc_key = ?`, [migration, key]);
      await this.conn.query('COMMIT');
      return docOf(after[0] as RowDataPacket);
    } catch (err) {
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async remove(migration: string, prefix: string): Promise<void> {
    await this.conn.query(`DELETE FROM tandem_state WHERE migration = ? AND LEFT(doc_key, CHAR_LENGTH(?)) = ?`, [migration, prefix, prefix]);
  }

  async readLease(migration: string): Promise<LeaseRecord | undefined> {
    const [rows] = await orNothing(this.conn.query<RowDataPacket[]>(`SELECT ${LEASE_COLUMNS} FROM tandem_lease WHERE migration = ?`, [migration]), [[]] as unknown as [RowDataPacket[], unknown]);
    return rows[0] ? leaseOf(rows[0]) : undefined;
  }

  async tryAcquireLease(migration: string, holder: LeaseHolder, ttlMs: number, secret: string, replacing?: string): Promise<LeaseRecord | undefined> {
    await this.conn.query(`INSERT IGNORE INTO tandem_lease (migration) VALUES (?)`, [migration]);
    // guard_epoch first: right under left-to-right assignment and SIMULTANEOUS_ASSIGNMENT alike.
    const [r] = await this.conn.query<ResultSetHeader>(
      `UPDATE tandem_lease SET guard_epoch = epoch + 1, epoch = epoch + 1, holder_id = ?, role = ?, host = ?, pid = ?, api = ?, started_at = ?,
              acquired_at = UTC_TIMESTAMP(6), renewed_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? * 1000 MICROSECOND, secret = ?, heartbeat = NULL
        WHERE migration = ? AND (holder_id = '' OR expires_at IS NULL OR expires_at <= UTC_TIMESTAMP(6) OR holder_id = ?)`,
      [holder.id, holder.role, holder.host, holder.pid, holder.api, sqlTime(holder.startedAt), ttlMs, secret, migration, replacing ?? ''],
    );
    if (r.affectedRows !== 1) return undefined;
    return this.readLease(migration);
  }

  async renewLease(migration: string, holderId: string, epoch: number, ttlMs: number, heartbeat: string | null): Promise<boolean> {
    const [r] = await this.conn.query<ResultSetHeader>(
      `UPDATE tandem_lease SET renewed_at = UTC_TIMESTAMP(6), expires_at = UTC_TIMESTAMP(6) + INTERVAL ? * 1000 MICROSECOND, heartbeat = COALESCE(?, heartbeat)
        WHERE migration = ? AND holder_id = ? AND epoch = ?`,
      [ttlMs, heartbeat, migration, holderId, epoch],
    );
    // MySQL counts a row as matched even when nothing changed; affectedRows counts changed rows (renewed_at always changes).
    return r.affectedRows === 1;
  }

  async releaseLease(migration: string, holderId: string, epoch: number): Promise<void> {
    await this.conn.query(`UPDATE tandem_lease SET holder_id = '', expires_at = UTC_TIMESTAMP(6), secret = NULL WHERE migration = ? AND holder_id = ? AND epoch = ?`, [
      migration,
      holderId,
      epoch,
    ]);
  }

  async recordEpoch(migration: string, lease: LeaseRecord): Promise<boolean> {
    await this.conn.query(`INSERT IGNORE INTO tandem_lease (migration) VALUES (?)`, [migration]);
    const [r] = await this.conn.query<ResultSetHeader>(
      `UPDATE tandem_lease SET guard_epoch = ?, epoch = ?, holder_id = ?, role = ?, host = ?, pid = ?, api = ?, started_at = ?,
              acquired_at = ?, renewed_at = ?, expires_at = ?
        WHERE migration = ? AND epoch <= ?`,
      [
        lease.epoch,
        lease.epoch,
        lease.id,
        lease.role,
        lease.host,
        lease.pid,
        lease.api,
        sqlTime(lease.startedAt),
        sqlTime(lease.acquiredAt),
        sqlTime(lease.renewedAt),
        sqlTime(lease.expiresAt),
        migration,
        lease.epoch,
      ],
    );
    if (r.affectedRows === 1) return true;
    // Nothing changed (the same epoch recorded twice) counts as recorded; a newer epoch does not.
    const [rows] = await this.conn.query<RowDataPacket[]>(`SELECT epoch FROM tandem_lease WHERE migration = ?`, [migration]);
    return Number(rows[0]?.epoch) === lease.epoch;
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
