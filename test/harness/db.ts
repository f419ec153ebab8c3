import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export function withDatabase(serverUrl: string, database: string, user?: { name: string; password?: string }): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  if (user) {
    u.username = encodeURIComponent(user.name);
    u.password = user.password ? encodeURIComponent(user.password) : '';
  }
  return u.toString();
}

export interface PgTestDatabase {
  name: string;
  url: string;
  /** A superuser client connected to this database. */
  admin: pg.Client;
  drop(): Promise<void>;
}

export async function createPgDatabase(serverUrl: string, prefix = 'tandem'): Promise<PgTestDatabase> {
  const name = uniqueName(prefix);
  const root = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await root.connect();
  await root.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  await root.end();
  const url = `${serverUrl}/${name}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  return {
    name,
    url,
    admin,
    drop: async () => {
      await admin.end().catch(() => undefined);
      const c = new pg.Client({ connectionString: `${serverUrl}/postgres` });
      await c.connect();
      try {
        // A walsender of a just-killed tandem process can hold its slot for a moment: try again briefly.
        for (let attempt = 0; ; attempt++) {
          await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = $1`, [name]).catch(() => undefined);
          try {
            await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
            break;
          } catch (err) {
            if (attempt >= 20 || !/replication slot/.test(String(err))) throw err;
            await new Promise((r) => setTimeout(r, 250));
          }
        }
      } finally {
        await c.end();
      }
    },
  };
}

export interface MysqlTestDatabase {
  name: string;
  url: string;
  admin: mysql.Connection;
  drop(): Promise<void>;
}

export async function createMysqlDatabase(serverUrl: string, prefix = 'tandem'): Promise<MysqlTestDatabase> {
  const name = uniqueName(prefix);
  const u = new URL(serverUrl);
  const base = { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username || 'root'), password: decodeURIComponent(u.password) };
  const root = await mysql.createConnection(base);
  await root.query(`CREATE DATABASE ${mysql.escapeId(name)} CHARACTER SET utf8mb4`);
  await root.end();
  const admin = await mysql.createConnection({ ...base, database: name, supportBigNumbers: true, bigNumberStrings: true, dateStrings: true, timezone: 'Z' });
  return {
    name,
    url: withDatabase(serverUrl, name),
    admin,
    drop: async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${mysql.escapeId(name)}`).catch(() => undefined);
      await admin.end().catch(() => undefined);
    },
  };
}

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The built CLI, as a user runs it: the bundle package.json's bin names (`npm test` builds first). */
export const cliPath = join(repoRoot, 'dist', 'cli', 'tandem.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runTandem(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...cleanEnv(), ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * The test process's environment without TANDEM_* settings, so a developer's shell cannot change a test. Node
 * deprecations are fatal in every tandem process a test starts (e.g. pg's warning about concurrent queries on one
 * client, which pg 9 turns into an error): they fail the test instead of scrolling by.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TANDEM_')));
  return { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} --throw-deprecation`.trim() };
}

/**
 * A MariaDB connection to the database in `url` that reads values as text (big numbers and dates as strings), as
 * the tests compare them; `timeZone` sets the session's zone (an application's, say).
 */
export async function connectMysql(url: string, opts: { timeZone?: string } = {}): Promise<mysql.Connection> {
  const u = new URL(url);
  const c = await mysql.createConnection({
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
    supportBigNumbers: true,
    bigNumberStrings: true,
    dateStrings: true,
  });
  if (opts.timeZone) await c.query(`SET time_zone = ?`, [opts.timeZone]);
  return c;
}

/**
 * The shadow is fenced (docs/fencing.md): its tables refuse ordinary sessions' writes. A test that plants drift on
 * it writes the way only a superuser can get past the fence, with triggers silenced for its session.
 */
export async function bypassFence(client: pg.Client): Promise<void> {
  await client.query('SET session_replication_role = replica');
}
