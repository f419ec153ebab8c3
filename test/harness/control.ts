/**
 * Direct reads and writes of Tandem's control state in the databases, for tests that need the store in a given
 * state (a migration whose stored direction is reverse) or that check what Tandem recorded. Only `old` is touched:
 * it holds the primary copy.
 */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { PG_STATE_DDL } from '../../src/engines/postgres/state.js';
import { MYSQL_STATE_DDL } from '../../src/engines/mysql/state.js';
import { initialControlState, type ControlState } from '../../src/model/control.js';

const isPg = (url: string) => /^postgres(ql)?:/.test(url);

/** Before Tandem's first write there are no state tables: that reads as nothing stored. */
async function orNothing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    const e = err as { code?: string; errno?: number };
    if (e.code === '42P01' || e.code === '3F000' || e.errno === 1146) return undefined;
    throw err;
  }
}

async function withPg<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

async function withMysql<T>(url: string, work: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: url.replace(/^mariadb:/, 'mysql:'), supportBigNumbers: true, bigNumberStrings: true, dateStrings: true });
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

/** Stores `state` (over the initial one) as the migration's control record on old. */
export async function writeControlState(oldUrl: string, migration: string, state: Partial<ControlState>): Promise<void> {
  const value = JSON.stringify({ ...initialControlState('test', new Date()), ...state });
  if (isPg(oldUrl)) {
    await withPg(oldUrl, async (c) => {
      for (const sql of PG_STATE_DDL) await c.query(sql);
      await c.query(
        `INSERT INTO tandem.state (migration, doc_key, version, value) VALUES ($1, 'control', 1, $2)
         ON CONFLICT (migration, doc_key) DO UPDATE SET value = EXCLUDED.value, version = tandem.state.version + 1`,
        [migration, value],
      );
    });
  } else {
    await withMysql(oldUrl, async (c) => {
      for (const sql of MYSQL_STATE_DDL) await c.query(sql);
      await c.query(
        `INSERT INTO tandem_state (migration, doc_key, version, value, updated_at) VALUES (?, 'control', 1, ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE value = VALUES(value), version = version + 1`,
        [migration, value],
      );
    });
  }
}

export async function readControlState(oldUrl: string, migration: string): Promise<{ state: ControlState; version: number } | undefined> {
  const row = await orNothing(
    isPg(oldUrl)
      ? withPg(oldUrl, async (c) => (await c.query<{ value: string; version: string }>(`SELECT value, version::text FROM tandem.state WHERE migration = $1 AND doc_key = 'control'`, [migration])).rows[0])
      : withMysql(oldUrl, async (c) => ((await c.query<mysql.RowDataPacket[]>(`SELECT value, version FROM tandem_state WHERE migration = ? AND doc_key = 'control'`, [migration]))[0][0] as { value: string; version: string } | undefined)),
  );
  return row ? { state: JSON.parse(row.value) as ControlState, version: Number(row.version) } : undefined;
}

export interface LeaseRow {
  epoch: number;
  holder: string;
  host: string;
  pid: number;
  api: string | null;
}

/** The lease row on `url` (old: the lease itself; new: the epoch recorded there). */
export async function readLeaseRow(url: string, migration: string): Promise<LeaseRow | undefined> {
  const row = await orNothing(
    isPg(url)
      ? withPg(url, async (c) => (await c.query(`SELECT epoch::text, holder_id, host, pid, api FROM tandem.lease WHERE migration = $1`, [migration])).rows[0] as Record<string, unknown> | undefined)
      : withMysql(url, async (c) => (await c.query<mysql.RowDataPacket[]>(`SELECT epoch, holder_id, host, pid, api FROM tandem_lease WHERE migration = ?`, [migration]))[0][0] as Record<string, unknown> | undefined),
  );
  return row ? { epoch: Number(row.epoch), holder: String(row.holder_id), host: String(row.host), pid: Number(row.pid), api: row.api === null ? null : String(row.api) } : undefined;
}
