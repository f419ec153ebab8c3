/**
 * The local Kafka stack of deploy/kafka: one KRaft broker/controller and one distributed Kafka Connect worker with
 * the Debezium PostgreSQL and MariaDB plugins, on loopback. `npm run kafka:up` / `kafka:down` and the test harness
 * (test/harness/kafka.ts) use this module, so development and tests run the same stack.
 *
 * Readiness is polled (broker port and metadata; Connect's plugin list), never waited out with sleeps. A stack that
 * is already up is reused. The jars come from Maven (deploy/kafka/pom.xml) through ~/.m2, so a second gathering
 * downloads nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** deploy/kafka, whether this runs from scripts/ (tsx) or dist/scripts/ (compiled). */
function findDeployDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'deploy', 'kafka');
    if (existsSync(join(candidate, 'pom.xml'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('deploy/kafka/pom.xml not found above ' + fileURLToPath(import.meta.url));
}

export const DEPLOY_DIR = findDeployDir();
const TARGET = join(DEPLOY_DIR, 'target');
const RUN = join(TARGET, 'run');
export const BROKER = { host: '127.0.0.1', port: 9092 };
export const CONNECT_URL = 'http://127.0.0.1:8083';
const PLUGINS_WANTED = ['io.debezium.connector.postgresql.PostgresConnector', 'io.debezium.connector.mariadb.MariaDbConnector'];
const READY_TIMEOUT_MS = 240_000;

export interface StackStatus {
  brokerUp: boolean;
  connectUp: boolean;
}

export interface Logger {
  (line: string): void;
}

/** Gathers the jars and plugins with Maven when target/ lacks them (the first run; later runs reuse ~/.m2). */
export function gatherJars(log: Logger): void {
  const libOk = existsSync(join(TARGET, 'lib')) && readdirSync(join(TARGET, 'lib')).length > 50;
  const pluginsOk = PLUGIN_DIRS.every((d) => existsSync(join(TARGET, 'plugins', d)));
  if (libOk && pluginsOk) return;
  log('gathering Kafka, Kafka Connect and the Debezium plugins with Maven (deploy/kafka/pom.xml)');
  const started = Date.now();
  const mvn = spawnSync('mvn', ['-q', '-B', '-f', join(DEPLOY_DIR, 'pom.xml'), 'package'], { stdio: 'inherit' });
  if (mvn.error) throw new Error(`could not run mvn (${mvn.error.message}): install Maven and OpenJDK 17 (apt-get install maven openjdk-17-jdk-headless)`);
  if (mvn.status !== 0) throw new Error(`mvn package of deploy/kafka/pom.xml failed (exit ${mvn.status}); see its output above`);
  log(`jars gathered in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
const PLUGIN_DIRS = ['debezium-connector-postgres', 'debezium-connector-mariadb'];

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      done(ok);
    };
    socket.setTimeout(2_000, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/** Connect answers and lists both Debezium connector classes. */
async function connectReady(): Promise<boolean> {
  try {
    const res = await fetch(`${CONNECT_URL}/connector-plugins`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return false;
    const plugins = (await res.json()) as Array<{ class: string }>;
    return PLUGINS_WANTED.every((c) => plugins.some((p) => p.class === c));
  } catch {
    return false;
  }
}

/** The broker answers a metadata request: the port alone opens before the controller has elected itself. */
async function brokerReady(): Promise<boolean> {
  if (!(await portOpen(BROKER.host, BROKER.port))) return false;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: [`${BROKER.host}:${BROKER.port}`], logLevel: logLevel.NOTHING, retry: { retries: 0 }, connectionTimeout: 3_000 }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster.brokers.length > 0 && cluster.controller !== null;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function stackStatus(): Promise<StackStatus> {
  const [brokerUp, connectUp] = await Promise.all([brokerReady(), connectReady()]);
  return { brokerUp, connectUp };
}

async function waitFor(what: string, check: () => Promise<boolean>, pidFile: string, logFile: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (await check()) return;
    const pid = readPid(pidFile);
    if (pid === undefined || !alive(pid)) throw new Error(`${what} exited before it was ready; its log: ${logFile}\n${tail(logFile)}`);
    if (Date.now() > deadline) throw new Error(`${what} not ready after ${READY_TIMEOUT_MS / 1000} s; its log: ${logFile}\n${tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function java(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Starts a JVM detached from this process (it outlives `npm run kafka:up`), its output in target/run/<name>.log. */
function launch(name: string, mainClass: string, args: string[], heap: string): void {
  const logFile = join(RUN, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(
    java(),
    [`-Xms${heap}`, `-Xmx${heap}`, '-XX:+UseG1GC', `-Dlog4j2.configurationFile=${join(DEPLOY_DIR, 'log4j2.properties')}`, '-cp', `${join(TARGET, 'lib')}/*`, mainClass, ...args],
    { detached: true, stdio: ['ignore', out, out], cwd: RUN },
  );
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${name} (java not found?): install openjdk-17-jdk-headless`);
  writeFileSync(join(RUN, `${name}.pid`), String(child.pid));
  child.unref();
}

/** server.properties with the data folder (under target/run) added: the tools read one file, no overrides. */
function brokerProperties(): string {
  const dataDir = join(RUN, 'kraft');
  const file = join(RUN, 'server.properties');
  writeFileSync(file, `${readFileSync(join(DEPLOY_DIR, 'server.properties'), 'utf8')}\nlog.dirs=${dataDir}\n`);
  return file;
}

function formatStorage(log: Logger, props: string): void {
  const dataDir = join(RUN, 'kraft');
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  mkdirSync(dataDir, { recursive: true });
  const cp = `${join(TARGET, 'lib')}/*`;
  const id = spawnSync(java(), ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], { encoding: 'utf8' });
  if (id.status !== 0) throw new Error(`StorageTool random-uuid failed: ${id.stderr}`);
  const format = spawnSync(
    java(),
    ['-cp', cp, `-Dlog4j2.configurationFile=${join(DEPLOY_DIR, 'log4j2.properties')}`, 'kafka.tools.StorageTool', 'format', '--standalone', '-t', id.stdout.trim(), '-c', props],
    { encoding: 'utf8' },
  );
  if (format.status !== 0) throw new Error(`StorageTool format failed: ${format.stdout}${format.stderr}`);
  log(`formatted broker storage in ${dataDir}`);
}

/**
 * Brings the stack up, reusing what already runs. Returns whether this call started anything (so a caller that
 * started it can stop it again).
 */
export async function kafkaUp(log: Logger = () => undefined): Promise<{ started: boolean }> {
  mkdirSync(RUN, { recursive: true });
  return withLock(async () => {
    const status = await stackStatus();
    if (status.brokerUp && status.connectUp) {
      log(`Kafka stack already up (broker ${BROKER.host}:${BROKER.port}, Connect ${CONNECT_URL})`);
      return { started: false };
    }
    gatherJars(log);
    let started = false;
    if (!status.brokerUp) {
      const props = brokerProperties();
      formatStorage(log, props);
      const t = Date.now();
      launch('broker', 'kafka.Kafka', [props], '512m');
      await waitFor('the Kafka broker', brokerReady, join(RUN, 'broker.pid'), join(RUN, 'broker.log'));
      log(`broker ready on ${BROKER.host}:${BROKER.port} in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      started = true;
    }
    if (!(await connectReady())) {
      const t = Date.now();
      // Connect reads its properties file only: plugin.path is written beside the others, pointing into target/.
      const props = `${readFileSync(join(DEPLOY_DIR, 'connect.properties'), 'utf8')}\nplugin.path=${join(TARGET, 'plugins')}\n`;
      writeFileSync(join(RUN, 'connect.properties'), props);
      launch('connect', 'org.apache.kafka.connect.cli.ConnectDistributed', [join(RUN, 'connect.properties')], '768m');
      await waitFor('Kafka Connect', connectReady, join(RUN, 'connect.pid'), join(RUN, 'connect.log'));
      log(`Connect ready on ${CONNECT_URL} with the Debezium PostgreSQL and MariaDB plugins in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      started = true;
    }
    return { started };
  });
}

/** Stops the stack this project started (by the pids it recorded): Connect first, then the broker. */
export async function kafkaDown(log: Logger = () => undefined, opts: { wipe?: boolean } = {}): Promise<void> {
  for (const name of ['connect', 'broker']) {
    const pidFile = join(RUN, `${name}.pid`);
    const pid = readPid(pidFile);
    if (pid !== undefined && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 60_000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      log(`${name} stopped (pid ${pid})`);
    }
    rmSync(pidFile, { force: true });
  }
  if (opts.wipe) rmSync(join(RUN, 'kraft'), { recursive: true, force: true });
}

/** Kills one part of the stack hard (tests of a crashed broker or worker), leaving its data. */
export function kafkaKill(name: 'broker' | 'connect'): number | undefined {
  const pid = readPid(join(RUN, `${name}.pid`));
  if (pid !== undefined && alive(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}

/** One starter at a time across processes (vitest workers, a developer's shell): a lock file created exclusively. */
async function withLock<T>(body: () => Promise<T>): Promise<T> {
  const lock = join(RUN, 'up.lock');
  const deadline = Date.now() + READY_TIMEOUT_MS * 2;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      writeFileSync(lock, String(process.pid));
      break;
    } catch {
      const holder = readPid(lock);
      // A holder that died (killed test run) leaves its lock behind: take it over.
      if (holder !== undefined && !alive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} held by pid ${holder} for too long`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await body();
  } finally {
    rmSync(lock, { force: true });
  }
}

export const RUN_DIR = resolve(RUN);
