import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import { PG_SESSION_OPTIONS } from './values.js';

export async function connectPostgres(url: string, purpose: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: `tandem ${purpose}`, options: PG_SESSION_OPTIONS, ...extra });
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
  // A dropped connection surfaces on the next query; without a listener the 'error' event would crash the process.
  client.on('error', () => undefined);
  return client;
}
