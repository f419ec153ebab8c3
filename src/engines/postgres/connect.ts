import pg from 'pg';
import { TandemError } from '../../errors.js';
import { mapPgError } from './errors.js';
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
    const mapped = mapPgError(err, `cannot connect to PostgreSQL at ${redactUrl(url)} (${purpose})`);
    // A refusal (wrong password, unknown database, missing privilege) is final; anything else may pass.
    if (!mapped.retriable && mapped.code !== 'TANDEM_INTERNAL') throw mapped;
    throw new TandemError('TANDEM_CONNECT_FAILED', mapped.message, {
      fix: 'check that the server is running and reachable, and the host and port in the URL',
      retriable: true,
      cause: err,
    });
  }
  return client;
}
