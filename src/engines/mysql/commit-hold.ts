import type mysql from 'mysql2/promise';
import { TandemError, errorMessage } from '../../errors.js';
import { connectMysql } from './connect.js';
import { mapMysqlError } from './errors.js';
import { quoteMysqlAccount } from './quote.js';
import { serverInfo } from './checks.js';

/**
 * How long the hold may wait for its lock. A long DDL statement (or a backup tool holding its own BACKUP STAGE)
 * delays it; the writes of the shop are not queued behind a hold that has not been granted yet for longer than this.
 */
export const COMMIT_HOLD_WAIT_SECONDS = 20;

/**
 * Runs `inside` while no transaction can commit on the server, so snapshots opened and positions read in it agree
 * exactly. MariaDB's binlog_snapshot_position alone does not: under concurrent commits a snapshot can miss a
 * transaction that lies before its reported position (and see one after it), because InnoDB makes a commit
 * visible apart from the binlog's ordering step. Measured on 10.11: about 1 snapshot in 120 under three writers.
 *
 * MariaDB 10.4+: BACKUP STAGE START + BLOCK_COMMIT, the hold mariadb-backup takes (statements keep running; only
 * their commits wait). MySQL and older MariaDB: FLUSH TABLES WITH READ LOCK. Both need RELOAD. The hold lasts as
 * long as `inside` (a few milliseconds: BEGIN on each snapshot connection and one status read).
 */
export async function withCommitsHeld<T>(url: string, inside: () => Promise<T>): Promise<T> {
  const conn = await connectMysql(url, 'backfill snapshot hold');
  try {
    await conn.query(`SET SESSION lock_wait_timeout = ${COMMIT_HOLD_WAIT_SECONDS}`);
    const release = await hold(conn);
    try {
      return await inside();
    } finally {
      await release().catch(() => undefined);
    }
  } finally {
    await conn.end().catch(() => undefined);
  }
}

async function hold(conn: mysql.Connection): Promise<() => Promise<unknown>> {
  try {
    await conn.query('BACKUP STAGE START');
  } catch (err) {
    if (!isSyntaxError(err)) throw await holdError(conn, err);
    // MySQL, MariaDB before 10.4: no backup stages.
    try {
      await conn.query('FLUSH TABLES WITH READ LOCK');
    } catch (ftwrl) {
      throw await holdError(conn, ftwrl);
    }
    return () => conn.query('UNLOCK TABLES');
  }
  try {
    await conn.query('BACKUP STAGE BLOCK_COMMIT');
  } catch (err) {
    await conn.query('BACKUP STAGE END').catch(() => undefined);
    throw await holdError(conn, err);
  }
  return () => conn.query('BACKUP STAGE END');
}

const isSyntaxError = (err: unknown) => (err as { errno?: number }).errno === 1064;

async function holdError(conn: mysql.Connection, err: unknown): Promise<TandemError> {
  const errno = (err as { errno?: number }).errno;
  if (errno === 1227 || errno === 1044) {
    const user = await serverInfo(conn).then((i) => i.user, () => undefined);
    return new TandemError('TANDEM_PRIVILEGE_MISSING',
      `the backfill snapshot needs RELOAD on the active side, to hold commits for the instant its snapshots are opened: ${errorMessage(err)}`,
      { fix: `GRANT RELOAD ON *.* TO ${user ? quoteMysqlAccount(user) : "Tandem's user"};`, cause: err });
  }
  if (errno === 1205 || errno === 4145 || /lock wait timeout/i.test(errorMessage(err))) {
    return new TandemError('TANDEM_CONNECT_FAILED',
      `the backfill snapshot could not hold commits within ${COMMIT_HOLD_WAIT_SECONDS} s: a long DDL statement or a backup (mariadb-backup, BACKUP STAGE) holds the lock it needs`,
      { retriable: true, fix: 'Tandem tries again; if it keeps failing, let the DDL statement or the backup finish first', cause: err });
  }
  return mapMysqlError(err, 'holding commits for the backfill snapshot');
}
