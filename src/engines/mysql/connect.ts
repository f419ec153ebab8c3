import type mysql from 'mysql2/promise';
import { TandemError } from '../../errors.js';
import { mapMysqlError } from './errors.js';
import { redactUrl } from '../../config/redact.js';
import { mysqlDriverSoon } from './driver.js';

/**
 * Value handling is chosen for exactness: big numbers and DECIMAL as strings (no JavaScript number on the value
 * path), dates as strings (no local-time reinterpretation), and a UTC session time zone for TIMESTAMP columns.
 */
export function mysqlOptions(url: string): mysql.ConnectionOptions {
  const parsed = new URL(url.replace(/^mariadb:/, 'mysql:'));
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 3306,
    user: decodeURIComponent(parsed.username || 'root'),
    password: decodeURIComponent(parsed.password),
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || undefined,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4_bin',
    multipleStatements: false,
  };
}

export async function connectMysql(url: string, purpose: string, extra: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> {
  // A dropped connection surfaces on the next query; without a listener the 'error' event would crash the process.
  // Attached before the handshake, so an error arriving right behind it (a server shutting down) is caught too.
  const core = (await mysqlDriverSoon()).createConnection({ ...mysqlOptions(url), ...extra });
  core.on('error', () => undefined);
  const conn = core.promise();
  try {
    await conn.connect();
    await conn.query(`SET time_zone = '+00:00'`);
    return conn;
  } catch (err) {
    core.destroy();
    const mapped = mapMysqlError(err, `cannot connect to MySQL/MariaDB at ${redactUrl(url)} (${purpose})`);
    // A refusal (wrong password, unknown database, missing privilege) is final; anything else may pass.
    if (!mapped.retriable && mapped.code !== 'TANDEM_INTERNAL') throw mapped;
    throw new TandemError('TANDEM_CONNECT_FAILED', mapped.message, {
      fix: 'check that the server is running and reachable, and the host and port in the URL',
      retriable: true,
      cause: err,
    });
  }
}
