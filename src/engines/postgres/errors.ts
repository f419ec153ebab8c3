/**
 * node-postgres errors → TandemError, in one place (the engine edge). The retry policy reads only `retriable`:
 * a lost connection or a restarting server is worth waiting for; a wrong password, a missing database or a
 * missing privilege is not, and retrying would only hide it.
 */
import { TandemError, errorMessage } from '../../errors.js';

const code = (err: unknown): string => String((err as { code?: unknown }).code ?? '');

/** Is this a lost connection or a transient refusal (worth retrying) rather than a final answer? */
export function isTransientPgError(err: unknown): boolean {
  const c = code(err);
  return (
    /^(08|57P0[1-3]|53|55006|40001|40P01)/.test(c) ||
    c === 'ECONNREFUSED' ||
    c === 'ECONNRESET' ||
    /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|the database system is (starting up|shutting down)|terminating connection|Client has encountered a connection error|closed state/i.test(errorMessage(err))
  );
}

/** The CHECK constraint on tandem.lease that refuses writes under an epoch older than the lease's (see state.ts). */
export const LEASE_GUARD_CONSTRAINT = 'tandem_lease_lost';

/** The lease guard refused the write: a newer holder took the lease. */
export function isLeaseGuardError(err: unknown): boolean {
  return code(err) === '23514' && errorMessage(err).includes(LEASE_GUARD_CONSTRAINT);
}

export function mapPgError(err: unknown, context: string): TandemError {
  if (err instanceof TandemError) return err;
  const c = code(err);
  const msg = errorMessage(err);
  if (c === '28P01' || c === '28000') {
    return new TandemError('TANDEM_AUTH_FAILED', `${context}: PostgreSQL refused the login: ${msg}`, {
      fix: 'check the user and password in the URL (percent-encode special characters in the password) and the server\'s pg_hba.conf',
      cause: err,
    });
  }
  if (c === '3D000') {
    return new TandemError('TANDEM_CONNECT_FAILED', `${context}: ${msg}`, { fix: 'check the database name in the URL, or create the database', cause: err });
  }
  if (c === '42501') {
    return new TandemError('TANDEM_PRIVILEGE_MISSING', `${context}: ${msg}`, { fix: 'grant the privilege named above to Tandem\'s user (README "Least privilege"; tandem check lists what is missing)', cause: err });
  }
  // Object not in prerequisite state: the server's settings do not allow logical decoding (found by `tandem run`
  // on a server `tandem check` was not run against). Retrying cannot help; a restart with the setting does.
  if (c === '55000' && /wal_level|max_replication_slots/.test(msg)) {
    const setting = msg.includes('wal_level') ? 'wal_level = logical' : 'max_replication_slots = 10';
    return new TandemError('TANDEM_SOURCE_MISCONFIGURED', `${context}: ${msg}`, {
      fix: `ALTER SYSTEM SET ${setting}; then restart PostgreSQL (tandem check lists every setting capture needs)`,
      cause: err,
    });
  }
  if (isLeaseGuardError(err)) {
    return new TandemError('TANDEM_LEASE_LOST', `${context}: another Tandem instance took over this migration's lease, so this one may no longer write`, {
      fix: 'nothing to repair: the instance holding the lease carries on; tandem status names it',
      cause: err,
    });
  }
  if (isTransientPgError(err)) return new TandemError('TANDEM_CONNECT_FAILED', `${context}: ${msg}`, { retriable: true, cause: err });
  return new TandemError('TANDEM_INTERNAL', `${context}: ${msg}`, { fix: 'see the message; Tandem resumes from its checkpoint when started again', cause: err });
}
