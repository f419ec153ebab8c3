/**
 * The demo: starts its own throwaway databases, runs Tandem against them as a user would, and says what it did.
 * Today it runs the preflight (`tandem check`) against a correct pair and a misconfigured one.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { startMariadb, startPostgres, writeTempFile, type RunningServer } from '../test/harness/servers.js';
import { shopMysql, shopPostgres } from '../test/harness/fixtures.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const say = (text: string) => process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);

function tandem(args: string[]): number {
  process.stdout.write(`$ tandem ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
  process.stdout.write(`(exit code ${r.status})\n`);
  return r.status ?? -1;
}

async function main(): Promise<void> {
  const servers: RunningServer[] = [];
  try {
    say('Starting throwaway servers: PostgreSQL (wal_level=logical), MariaDB (binlog ROW, FULL, GTID), PostgreSQL (wal_level=replica)');
    const [pgGood, maria, pgBad] = await Promise.all([startPostgres(), startMariadb(), startPostgres({ settings: { wal_level: 'replica' } })]);
    servers.push(pgGood, maria, pgBad);

    for (const server of [pgGood, pgBad]) {
      const c = new pg.Client({ connectionString: `${server.url}/postgres` });
      await c.connect();
      await c.query('CREATE DATABASE shop');
      await c.end();
      const shop = new pg.Client({ connectionString: `${server.url}/shop` });
      await shop.connect();
      for (const sql of shopPostgres) await shop.query(sql);
      await shop.query(`INSERT INTO customers (id, email, name) VALUES (1, 'ada@example.com', 'Ada'), (2, 'linus@example.com', 'Linus')`);
      await shop.end();
    }
    const m = await mysql.createConnection({ host: '127.0.0.1', port: maria.port, user: 'root' });
    await m.query('CREATE DATABASE shop CHARACTER SET utf8mb4');
    await m.query('USE shop');
    for (const sql of shopMysql) await m.query(sql);
    await m.end();

    say('1. A correct pair: PostgreSQL shop (old) → MariaDB shop (new)');
    const good = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgGood.url}/shop` }, new: { url: `${maria.url}/shop` } }));
    const goodCode = tandem(['check', '--config', good]);

    say('2. A misconfigured pair: old has wal_level=replica and a table without a primary key');
    const shop = new pg.Client({ connectionString: `${pgBad.url}/shop` });
    await shop.connect();
    await shop.query('CREATE TABLE page_views (at timestamptz, path text)');
    await shop.end();
    const bad = writeTempFile('tandem.yaml', stringify({ migration: 'shop', old: { url: `${pgBad.url}/shop` }, new: { url: `${maria.url}/shop` } }));
    const badCode = tandem(['check', '--config', bad]);

    say('What happened');
    process.stdout.write(
      [
        `- The correct pair passed every prerequisite (exit ${goodCode}): logical decoding, slots, privileges, binlog settings, schemas.`,
        `- The misconfigured pair was refused (exit ${badCode}) with each problem named and its exact fix.`,
        '- Exit codes: 0 fine, 1 a check failed, 2 usage/config error, 3 refused by a safety gate, 4 runtime failure.',
        '',
      ].join('\n'),
    );
    if (goodCode !== 0 || badCode !== 1) process.exitCode = 1;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

await main();
