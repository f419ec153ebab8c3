/**
 * Throwaway real database servers for tests, the demo and benchmarks: each gets a temporary data directory and a
 * free port, with exactly the settings the caller asks for, so nothing depends on how the machine's own services
 * are configured.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { tempDir } from './temp.js';

export interface RunningServer {
  /** Superuser URL without a database name. */
  url: string;
  port: number;
  dataDir: string;
  stop(): Promise<void>;
  /** Stop and start again on the same port and data (a shadow restart, say). */
  restart(): Promise<void>;
}

/** A server that can also be stopped for a while and started again later, its data kept (an outage). */
export interface HaltableServer extends RunningServer {
  /** Stop the server (fast shutdown), keeping its data and port for resume(). */
  halt(): Promise<void>;
  /** Start a halted server again on the same port and data. */
  resume(): Promise<void>;
  /**
   * Shell command lines that stop this server as a crash would (pg_ctl stop -m immediate) and start it again with
   * the same settings (pg_ctl start -w): for configuration that names commands, such as drill.stopNew/startNew. A
   * server started by them is not this process's child; stop() stops it all the same.
   */
  commands: { stopImmediate: string; start: string };
}

const shellQuote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const isRoot = process.getuid?.() === 0;

/**
 * PostgreSQL refuses to run as root: run it as the postgres system user then. The process is spawned with that
 * uid directly (not through runuser/su) so that stop signals reach the server itself.
 */
function runAs(user: string): { uid?: number; gid?: number } {
  if (!isRoot) return {};
  const uid = Number(spawnSync('id', ['-u', user], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', user], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/** A server's own folder (data, socket), owned by its system user; stop() removes it. */
function serverDir(prefix: string, owner: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const { uid, gid } = runAs(owner);
  if (uid !== undefined && gid !== undefined) chownSync(dir, uid, gid);
  return dir;
}

function run(cmd: string, args: string[], ids: { uid?: number; gid?: number } = {}): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...ids, cwd: tmpdir() });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`);
}

async function waitFor(what: string, probe: () => Promise<void>, child: ChildProcess, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} while starting`);
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`${what} did not accept connections within ${timeoutMs} ms: ${String(last)}`);
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, escalate: { afterMs: number; signal: NodeJS.Signals } = { afterMs: 30_000, signal: 'SIGKILL' }): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill(escalate.signal), escalate.afterMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

export function postgresBinDir(): string {
  if (process.env.TANDEM_TEST_PG_BIN) return process.env.TANDEM_TEST_PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql; install postgresql or set TANDEM_TEST_PG_BIN');
  return join(root, versions[0], 'bin');
}

export interface PostgresOptions {
  /** Extra server settings, e.g. { wal_level: 'replica' }. Defaults suit logical replication. */
  settings?: Record<string, string>;
  /** Logins need this password (SCRAM) instead of being trusted; the returned URL carries it. */
  password?: string;
  /** Environment of the server process on top of this one's (the bench's slower disk: LD_PRELOAD). */
  env?: Record<string, string>;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<HaltableServer> {
  const bin = postgresBinDir();
  const dir = serverDir('tandem-pg-', 'postgres');
  const dataDir = join(dir, 'data');
  const ids = runAs('postgres');
  const auth = ['-A', 'trust'];
  if (opts.password !== undefined) {
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, `${opts.password}\n`);
    const { uid, gid } = ids;
    if (uid !== undefined && gid !== undefined) chownSync(pwfile, uid, gid);
    auth.splice(0, 2, '-A', 'scram-sha-256', `--pwfile=${pwfile}`);
  }
  run(join(bin, 'initdb'), ['-D', dataDir, ...auth, '-U', 'postgres', '--no-sync', '-E', 'UTF8', '--locale=C'], ids);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    wal_level: 'logical',
    max_replication_slots: '20',
    max_wal_senders: '20',
    max_connections: '200',
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    timezone: 'UTC',
    ...opts.settings,
  };
  const args = ['-D', dataDir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
  const url = `postgres://postgres${opts.password !== undefined ? `:${encodeURIComponent(opts.password)}` : ''}@127.0.0.1:${port}`;
  let child: ChildProcess;
  const start = async () => {
    child = spawn(join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: tmpdir(), env: { ...process.env, ...opts.env }, ...ids });
    child.stderr?.resume();
    await waitFor('PostgreSQL', async () => {
      const c = new pg.Client({ connectionString: `${url}/postgres` });
      try {
        await c.connect();
        await c.query('select 1');
      } finally {
        await c.end().catch(() => undefined);
      }
    }, child);
  };
  await start();
  // As root the server runs as postgres, and pg_ctl refuses root: the command lines switch user the same way.
  const asServerUser = isRoot ? 'runuser -u postgres -- ' : '';
  const pgCtl = `${asServerUser}${shellQuote(join(bin, 'pg_ctl'))} -D ${shellQuote(dataDir)}`;
  const commands = {
    stopImmediate: `${pgCtl} stop -m immediate`,
    start: `${pgCtl} -l ${shellQuote(join(dir, 'pg_ctl.log'))} -w -t 120 start -o ${shellQuote(Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' '))}`,
  };
  return {
    url,
    port,
    dataDir,
    commands,
    // SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients (Tandem's own sessions) to leave.
    stop: async () => {
      await stopChild(child, 'SIGINT');
      // Started again through commands.start: not our child, but its pid file says it runs.
      if (existsSync(join(dataDir, 'postmaster.pid'))) spawnSync('sh', ['-c', `${pgCtl} stop -m fast`], { stdio: 'ignore', cwd: tmpdir() });
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stopChild(child, 'SIGINT');
      await start();
    },
    // A fast shutdown waits for each WAL sender to send everything, which never ends while a logical replication
    // client does not read (backpressure): past a few seconds the server stops immediately, as in a crash (it
    // recovers on resume; commits of its last moment may be lost, since synchronous_commit is off).
    halt: () => stopChild(child, 'SIGINT', { afterMs: 5_000, signal: 'SIGQUIT' }),
    resume: () => start(),
  };
}

export interface MariadbOptions {
  /** Extra server options without the leading dashes, e.g. { 'binlog-format': 'STATEMENT' }. */
  settings?: Record<string, string>;
  /** false: binary logging off, as a server's defaults have it (log-bin is left out; the other binlog settings then do nothing). */
  binlog?: boolean;
}

export async function startMariadb(opts: MariadbOptions = {}): Promise<RunningServer> {
  const dir = serverDir('tandem-mariadb-', 'mysql');
  const dataDir = join(dir, 'data');
  const installer = existsSync('/usr/bin/mariadb-install-db') ? 'mariadb-install-db' : 'mysql_install_db';
  // Temporary tables go in the server's own folder: bootstraps running side by side in one /tmp collided there.
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const { uid, gid } = runAs('mysql');
  if (uid !== undefined && gid !== undefined) chownSync(tmp, uid, gid);
  run(installer, ['--no-defaults', `--datadir=${dataDir}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db', `--tmpdir=${tmp}`]);
  const port = await freePort();
  const settings: Record<string, string> = {
    'bind-address': '127.0.0.1',
    port: String(port),
    socket: join(dir, 'mysqld.sock'),
    'pid-file': join(dir, 'mysqld.pid'),
    'log-bin': join(dataDir, 'binlog'),
    'binlog-format': 'ROW',
    'binlog-row-image': 'FULL',
    'server-id': '1',
    'log-slave-updates': 'ON',
    'gtid-strict-mode': 'ON',
    'innodb-flush-log-at-trx-commit': '2',
    'innodb-buffer-pool-size': '256M',
    'sync-binlog': '0',
    'character-set-server': 'utf8mb4',
    'collation-server': 'utf8mb4_unicode_ci',
    'default-time-zone': '+00:00',
    'max-connections': '300',
    tmpdir: tmp,
    ...opts.settings,
  };
  if (opts.binlog === false) delete settings['log-bin'];
  const serverBin = existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : '/usr/sbin/mysqld';
  const args = ['--no-defaults', `--datadir=${dataDir}`, '--user=mysql', ...Object.entries(settings).map(([k, v]) => `--${k}=${v}`)];
  const url = `mysql://root@127.0.0.1:${port}`;
  let child: ChildProcess;
  const start = async () => {
    child = spawn(serverBin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    await waitFor('MariaDB', async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' });
      await c.end();
    }, child);
  };
  await start();
  return {
    url,
    port,
    dataDir,
    stop: async () => {
      await stopChild(child, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await stopChild(child, 'SIGTERM');
      await start();
    },
  };
}

/**
 * Write a file readable by the current user (configs for CLI runs), in a folder of its own that is removed after
 * the test file (or when the process exits; see temp.ts).
 */
export function writeTempFile(name: string, text: string): string {
  const dir = tempDir('tandem-cfg-');
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}
