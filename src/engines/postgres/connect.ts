import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import { PG_SESSION_OPTIONS } from './values.js';

export async function connectPostgres(url: string, purpose: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: `tandem ${purpose}`, options: PG_SESSION_OPTIONS, ...extra });
  // A dropped connection surfaces on the next query; without a listener the 'error' event would crash the process.
  // Attached before connecting: a server shutting down can send its FATAL right behind ReadyForQuery, in the same
  // packet, and pg emits it before `await connect()` returns.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new TandemError('TANDEM_CONNECT_FAILED', `cannot connect to PostgreSQL at ${redactUrl(url)} (${purpose}): ${errorMessage(err)}`, {
      fix: 'check that the server is running and reachable, and the user, password and database in the URL',
      retriable: true,
      cause: err,
    });
  }
  return client;
}
