/**
 * mysql2 / zongji errors → TandemError, in one place (the engine edge). The retry policy reads only `retriable`:
 * a lost connection, a restarting server or a deadlock is worth another try; a wrong password, an unknown
 * database or a missing privilege is not.
 */
import { TandemError, errorMessage } from '../../errors.js';

const codeOf = (err: unknown): string => String((err as { code?: unknown }).code ?? '');
const errnoOf = (err: unknown): number | undefined => (err as { errno?: number }).errno;

export function isTransientMysqlError(err: unknown): boolean {
  return (
    /^(PROTOCOL_CONNECTION_LOST|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ER_SERVER_SHUTDOWN|ER_CON_COUNT_ERROR|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_CONNECTION_KILLED)$/.test(codeOf(err)) ||
    /closed state|Connection lost|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|server has gone away|shutdown in progress/i.test(errorMessage(err))
  );
}

/** The CHECK constraint on tandem_lease that refuses writes under an epoch older than the lease's (see state.ts). */
export const LEASE_GUARD_CONSTRAINT = 'tandem_lease_lost';

/** The lease guard refused the write: a newer holder took the lease. */
export function isLeaseGuardError(err: unknown): boolean {
  const errno = errnoOf(err);
  return (errno === 4025 || errno === 3819) && errorMessage(err).includes(LEASE_GUARD_CONSTRAINT);
}

export function mapMysqlError(err: unknown, context: string): TandemError {
  if (err instanceof TandemError) return err;
  const code = codeOf(err);
  const errno = errnoOf(err);
  const msg = errorMessage(err);
  if (code === 'ER_ACCESS_DENIED_ERROR' || errno === 1045) {
    return new TandemError('TANDEM_AUTH_FAILED', `${context}: MySQL/MariaDB refused the login: ${msg}`, {
      fix: 'check the user and password in the URL (percent-encode special characters in the password) and the account\'s allowed hosts',
      cause: err,
    });
  }
  if (code === 'ER_BAD_DB_ERROR' || errno === 1049) {
    return new TandemError('TANDEM_CONNECT_FAILED', `${context}: ${msg}`, { fix: 'check the database name in the URL, or create the database', cause: err });
  }
  if (errno === 1044 || errno === 1142 || errno === 1143 || errno === 1227 || errno === 1370) {
    return new TandemError('TANDEM_PRIVILEGE_MISSING', `${context}: ${msg}`, { fix: 'grant the privilege named above to Tandem\'s user (README "Least privilege"; tandem check lists what is missing)', cause: err });
  }
  if (isLeaseGuardError(err)) {
    return new TandemError('TANDEM_LEASE_LOST', `${context}: another Tandem instance took over this migration's lease, so this one may no longer write`, {
      fix: 'nothing to repair: the instance holding the lease carries on; tandem status names it',
      cause: err,
    });
  }
  if (isTransientMysqlError(err)) return new TandemError('TANDEM_CONNECT_FAILED', `${context}: ${msg}`, { retriable: true, cause: err });
  return new TandemError('TANDEM_INTERNAL', `${context}: ${msg}`, { fix: 'see the message; Tandem resumes from its checkpoint when started again', cause: err });
}

/**
 * Errors of the binlog dump (zongji and its connections): a purged or missing binlog file cannot be waited out,
 * a lost connection can. `source` names the active side (a redacted URL).
 */
export function mapBinlogError(err: unknown, source: string): TandemError {
  if (err instanceof TandemError) return err;
  const msg = errorMessage(err);
  if (errnoOf(err) === 1236 || /Could not find first log file|binary log is not open|purged/i.test(msg)) {
    return new TandemError('TANDEM_CAPTURE_POSITION_PURGED', `the active side ${source} cannot send its binlog from the checkpoint: ${msg}`, {
      fix: 'run `tandem backfill --yes` to copy the tables again from a new consistent point',
    });
  }
  if (isTransientMysqlError(err) || /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|Connection lost|closed|shutdown/i.test(msg)) {
    return new TandemError('TANDEM_CONNECT_FAILED', `binlog connection to ${source} failed: ${msg}`, { retriable: true, cause: err });
  }
  return new TandemError('TANDEM_INTERNAL', `reading the binlog of ${source} failed: ${msg}`, {
    fix: 'see the message; Tandem resumes from its checkpoint when started again',
    cause: err,
  });
}
