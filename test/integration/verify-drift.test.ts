import { describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import { bypassFence, createMysqlDatabase, createPgDatabase, runTandem, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { suiteResources, tandemStatus, waitForShadowing, waitUntil } from '../harness/tandem-process.js';
import { mysqlRows, pgRows } from '../harness/compare.js';
import { runVerify, type VerifyReport } from '../harness/verify.js';

/**
 * Drift injected directly into the shadow (a changed column, a deleted row, an extra row; single and composite keys;
 * hostile identifiers) is reported by `tandem verify` with the exact keys, kinds and columns, is recorded for
 * `tandem status`, and `tandem repair` makes the sides equal again. Both databases are read directly to check.
 */
const WEIRD = 'a"; DROP TABLE x;--';
const WEIRD_COL = 'b`c';
const q = pg.escapeIdentifier;

const sortDrift = (d: VerifyReport['tables'][number]['drift']) => [...d].sort((a, b) => JSON.stringify(a.key).localeCompare(JSON.stringify(b.key)));

describe('drift detection and repair', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, procs, start } = suiteResources();

  async function pgSource(withWeird: boolean): Promise<PgTestDatabase> {
    const source = await createPgDatabase(pgUrl, 'drift_src');
    dbs.push(source);
    await source.admin.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), note text, updated timestamptz)`);
    await source.admin.query(`CREATE TABLE order_lines (order_id integer, line integer, sku text, qty integer, PRIMARY KEY (order_id, line))`);
    await source.admin.query(`INSERT INTO accounts SELECT g, 'user' || g || '@shop.test', g * 1.10, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END, '2024-05-01 10:00:00.123456+02'::timestamptz + g * interval '1 minute' FROM generate_series(1, 2000) g`);
    await source.admin.query(`INSERT INTO order_lines SELECT g / 3, g % 3, 'sku-' || g, g % 9 FROM generate_series(3, 3002) g`);
    if (withWeird) {
      await source.admin.query(`CREATE TABLE ${q(WEIRD)} (${q(WEIRD_COL)} text PRIMARY KEY, v integer)`);
      await source.admin.query(`INSERT INTO ${q(WEIRD)} SELECT 'k' || g, g FROM generate_series(1, 50) g`);
    }
    return source;
  }

  let migration = '';
  async function startRun(old: string, neu: string, extra: Record<string, unknown> = {}): Promise<string> {
    // The previous scenario's service stops first; each scenario has its own migration (slot names are per cluster).
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.kill('SIGTERM');
    migration = `drift${procs.length}`;
    const config = writeConfig({ migration, old: { url: old }, new: { url: neu }, api: { listen: '127.0.0.1:0' }, ...extra });
    start(['run', '--config', config]);
    await waitForShadowing(config);
    return config;
  }

  const expectedDrift = {
    accounts: [
      { key: { id: '100000' }, kind: 'extra', columns: [] },
      { key: { id: '17' }, kind: 'different', columns: ['email'] },
      { key: { id: '42' }, kind: 'missing', columns: [] },
      { key: { id: '77' }, kind: 'different', columns: ['balance', 'note'] },
    ],
    order_lines: [
      { key: { order_id: '5', line: '2' }, kind: 'different', columns: ['qty'] },
      { key: { order_id: '7', line: '1' }, kind: 'missing', columns: [] },
      { key: { order_id: '9999', line: '1' }, kind: 'extra', columns: [] },
    ],
  };

  it('PostgreSQL → PostgreSQL: exact keys, kinds and columns; status shows them; repair makes the sides equal', { timeout: 300_000 }, async () => {
    const source = await pgSource(true);
    const shadow = await createPgDatabase(pgUrl, 'drift_dst');
    await bypassFence(shadow.admin);
    dbs.push(shadow);
    await shadow.admin.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), note text, updated timestamptz)`);
    await shadow.admin.query(`CREATE TABLE order_lines (order_id integer, line integer, sku text, qty integer, PRIMARY KEY (order_id, line))`);
    await shadow.admin.query(`CREATE TABLE ${q(WEIRD)} (${q(WEIRD_COL)} text PRIMARY KEY, v integer)`);
    const config = await startRun(source.url, shadow.url);

    const clean = await runVerify(config);
    expect(clean.code).toBe(0);
    expect(clean.report.driftCount).toBe(0);
    expect(clean.report.tables.find((t) => t.table === 'accounts')?.rowsCompared).toBe(2000);
    // Unthrottled, each side is first summed in the order it is stored (verify/sequential.ts): the same answer.
    const cleanUnthrottled = await runVerify(config, ['--rows-per-second', '0']);
    expect(cleanUnthrottled.code, cleanUnthrottled.stderr).toBe(0);
    expect(cleanUnthrottled.report.tables.map((t) => [t.table, t.rowsCompared])).toEqual(clean.report.tables.map((t) => [t.table, t.rowsCompared]));

    // --table chooses among the replicated tables (listed on the connection that reads the active side's schema).
    const one = await runVerify(config, ['--table', 'order_lines']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.report.tables.map((t) => [t.table, t.rowsCompared])).toEqual([['order_lines', 3000]]);
    const unknown = await runTandem(['verify', '--table', 'orders', '--config', config]);
    expect(unknown.code, unknown.stderr).toBe(2);
    expect(unknown.stderr).toContain(`--table orders: not replicated by migration ${migration}`);
    expect(unknown.stderr).toContain(`fix: choose among: ${WEIRD}, accounts, order_lines`);

    // Drift written behind Tandem's back, on the shadow only.
    await shadow.admin.query(`UPDATE accounts SET email = 'changed@x' WHERE id = 17`);
    await shadow.admin.query(`UPDATE accounts SET balance = balance + 0.01, note = 'other' WHERE id = 77`);
    await shadow.admin.query(`DELETE FROM accounts WHERE id = 42`);
    await shadow.admin.query(`INSERT INTO accounts VALUES (100000, 'ghost@x', 0, NULL, now())`);
    await shadow.admin.query(`UPDATE order_lines SET qty = qty + 1 WHERE order_id = 5 AND line = 2`);
    await shadow.admin.query(`DELETE FROM order_lines WHERE order_id = 7 AND line = 1`);
    await shadow.admin.query(`INSERT INTO order_lines VALUES (9999, 1, 'ghost', 1)`);
    await shadow.admin.query(`UPDATE ${q(WEIRD)} SET v = -1 WHERE ${q(WEIRD_COL)} = 'k7'`);

    const drifted = await runVerify(config);
    expect(drifted.code).toBe(1);
    const byTable = Object.fromEntries(drifted.report.tables.map((t) => [t.table, sortDrift(t.drift)]));
    expect(byTable.accounts).toEqual(expectedDrift.accounts);
    expect(byTable.order_lines).toEqual(expectedDrift.order_lines);
    expect(byTable[WEIRD]).toEqual([{ key: { [WEIRD_COL]: 'k7' }, kind: 'different', columns: ['v'] }]);
    expect(drifted.report.driftCount).toBe(8);
    // Unthrottled: the sums differ, so each table is walked by key, and the same drift is named.
    const driftedUnthrottled = await runVerify(config, ['--rows-per-second', '0']);
    expect(driftedUnthrottled.code).toBe(1);
    expect(Object.fromEntries(driftedUnthrottled.report.tables.map((t) => [t.table, sortDrift(t.drift)]))).toEqual(byTable);

    const status = await tandemStatus<{ verification: { driftCount: number; tables: Array<{ table: string; drift: Array<{ key: Record<string, string>; firstSeen: string }> }> } }>(config);
    expect(status.verification.driftCount).toBe(8);
    expect(status.verification.tables.find((t) => t.table === 'order_lines')?.drift.map((d) => d.key)).toContainEqual({ order_id: '7', line: '1' });

    // Repair shows its plan first; a dry run changes nothing, and without a terminal it needs --yes.
    const dry = await runTandem(['repair', '--table', 'accounts', '--key', '17', '--key', '{"id":"42"}', '--dry-run', '--config', config]);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('update  {"id":"17"}  columns: email');
    expect(dry.stdout).toContain('insert  {"id":"42"}');
    expect((await pgRows(shadow.admin, `SELECT email FROM accounts WHERE id = 17`))[0]).toEqual(['changed@x']);
    const noTty = await runTandem(['repair', '--table', 'accounts', '--all', '--config', config]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('--yes');
    const badKey = await runTandem(['repair', '--table', 'order_lines', '--key', '5', '--yes', '--config', config]);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('order_id, line');

    for (const table of ['accounts', 'order_lines', WEIRD]) {
      const r = await runTandem(['repair', '--table', table, '--all', '--yes', '--json', '--config', config]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ stillDiffering: 0 });
    }
    const after = await runVerify(config);
    expect(after.code).toBe(0);
    expect(after.report.driftCount).toBe(0);
    for (const [sql] of [[`SELECT id::text, email, balance::text, note, updated::text FROM accounts ORDER BY id`], [`SELECT * FROM order_lines ORDER BY 1, 2`], [`SELECT * FROM ${q(WEIRD)} ORDER BY 1`]]) {
      expect(await pgRows(shadow.admin, sql as string)).toEqual(await pgRows(source.admin, sql as string));
    }
    const statusAfter = await tandemStatus<{ verification: { driftCount: number } }>(config);
    expect(statusAfter.verification.driftCount).toBe(0);
  });

  it('PostgreSQL → MariaDB: the same drift is found across engines, and repaired', { timeout: 300_000 }, async () => {
    const source = await pgSource(false);
    const shadow = await createMysqlDatabase(mysqlUrl, 'drift_my');
    dbs.push(shadow);
    await shadow.admin.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, email longtext NOT NULL, balance decimal(12,2), note longtext, updated datetime(6))`);
    await shadow.admin.query(`CREATE TABLE order_lines (order_id int, line int, sku varchar(100), qty int, PRIMARY KEY (order_id, line))`);
    const config = await startRun(source.url, shadow.url);
    expect((await runVerify(config)).report.driftCount).toBe(0);

    await shadow.admin.query(`UPDATE accounts SET email = 'changed@x' WHERE id = 17`);
    await shadow.admin.query(`UPDATE accounts SET balance = balance + 0.01, note = 'other' WHERE id = 77`);
    await shadow.admin.query(`DELETE FROM accounts WHERE id = 42`);
    await shadow.admin.query(`INSERT INTO accounts VALUES (100000, 'ghost@x', 0, NULL, UTC_TIMESTAMP(6))`);
    await shadow.admin.query(`UPDATE order_lines SET qty = qty + 1 WHERE order_id = 5 AND line = 2`);
    await shadow.admin.query(`DELETE FROM order_lines WHERE order_id = 7 AND line = 1`);
    await shadow.admin.query(`INSERT INTO order_lines VALUES (9999, 1, 'ghost', 1)`);

    const drifted = await runVerify(config);
    expect(drifted.code).toBe(1);
    const byTable = Object.fromEntries(drifted.report.tables.map((t) => [t.table, sortDrift(t.drift)]));
    expect(byTable.accounts).toEqual(expectedDrift.accounts);
    expect(byTable.order_lines).toEqual(expectedDrift.order_lines);

    for (const table of ['accounts', 'order_lines']) expect((await runTandem(['repair', '--table', table, '--all', '--yes', '--config', config])).code).toBe(0);
    expect((await runVerify(config)).code).toBe(0);
    expect(await mysqlRows(shadow.admin, `SELECT id, email, balance, note FROM accounts ORDER BY id`)).toEqual(
      await pgRows(source.admin, `SELECT id::text, email, balance::text, note FROM accounts ORDER BY accounts.id`),
    );
  });

  it('tandem run verifies continuously: drift appears in status on its own and resolves once repaired', { timeout: 300_000 }, async () => {
    const source = await pgSource(false);
    const shadow = await createPgDatabase(pgUrl, 'drift_cont');
    await bypassFence(shadow.admin);
    dbs.push(shadow);
    await shadow.admin.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), note text, updated timestamptz)`);
    await shadow.admin.query(`CREATE TABLE order_lines (order_id integer, line integer, sku text, qty integer, PRIMARY KEY (order_id, line))`);
    const config = await startRun(source.url, shadow.url, { verify: { interval: '2s', settleTimeout: '30s' } });
    const status = () => tandemStatus<{ verification: { driftCount: number; lastCompletePass: string | null; tables: Array<{ table: string; drift: Array<{ key: Record<string, string>; kind: string }> }> } | null }>(config);
    await waitUntil('a first complete verification pass', async () => (await status()).verification?.lastCompletePass);

    await shadow.admin.query(`UPDATE accounts SET email = 'changed@x' WHERE id = 17`);
    const seen = await waitUntil('the background pass to record the drift', async () => {
      const v = (await status()).verification;
      return v && v.driftCount === 1 ? v : undefined;
    }, 90_000);
    expect(seen.tables.find((t) => t.table === 'accounts')?.drift).toEqual([expect.objectContaining({ key: { id: '17' }, kind: 'different' })]);

    // A row changed on the active side is re-verified shortly after apply (the service counts it); the repair
    // resolves the record.
    await source.admin.query(`UPDATE accounts SET note = 'touched' WHERE id = 18`);
    await waitUntil('the applied row to be re-verified', async () => {
      const live = await tandemStatus<{ verifier: { keysRechecked: number } | null }>(config);
      return (live.verifier?.keysRechecked ?? 0) >= 1;
    }, 60_000);
    expect((await runTandem(['repair', '--table', 'accounts', '--key', '17', '--yes', '--config', config])).code).toBe(0);
    await waitUntil('the drift record to resolve', async () => (await status()).verification?.driftCount === 0, 60_000);
  });

  it('with the service stopped, tandem verify brings the shadow up itself and names three real drifts within 30 s (exit 1)', { timeout: 120_000 }, async () => {
    const source = await pgSource(false);
    const shadow = await createPgDatabase(pgUrl, 'drift_dst');
    await bypassFence(shadow.admin);
    dbs.push(shadow);
    await shadow.admin.query(`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance numeric(12,2), note text, updated timestamptz)`);
    await shadow.admin.query(`CREATE TABLE order_lines (order_id integer, line integer, sku text, qty integer, PRIMARY KEY (order_id, line))`);
    const config = await startRun(source.url, shadow.url);
    const service = procs[procs.length - 1] as (typeof procs)[number];
    service.kill('SIGTERM');
    expect(await service.exited).toBe(0);

    // While nothing runs: the application keeps writing (rows the shadow has not seen yet are not drift) and
    // three rows drift on the shadow behind Tandem's back.
    await source.admin.query(`UPDATE accounts SET note = 'written while stopped' WHERE id BETWEEN 100 AND 120`);
    await source.admin.query(`INSERT INTO accounts VALUES (5000, 'late@shop.test', 1, NULL, now())`);
    await shadow.admin.query(`UPDATE accounts SET email = 'changed@x' WHERE id = 17`);
    await shadow.admin.query(`DELETE FROM accounts WHERE id = 42`);
    await shadow.admin.query(`INSERT INTO accounts VALUES (100000, 'ghost@x', 0, NULL, now())`);

    const t0 = Date.now();
    const r = await runVerify(config);
    const seconds = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(1);
    expect(seconds).toBeLessThan(30);
    const accounts = r.report.tables.find((t) => t.table === 'accounts');
    expect(sortDrift(accounts?.drift ?? [])).toEqual([
      { key: { id: '100000' }, kind: 'extra', columns: [] },
      { key: { id: '17' }, kind: 'different', columns: ['email'] },
      { key: { id: '42' }, kind: 'missing', columns: [] },
    ]);
    expect(r.report.unconfirmedCount).toBe(0);
    // It applied what the application wrote meanwhile, and left the lease free for the service.
    expect((await pgRows(shadow.admin, `SELECT count(*)::text FROM accounts WHERE note = 'written while stopped'`))[0]).toEqual(['21']);
    expect((await pgRows(shadow.admin, `SELECT email FROM accounts WHERE id = 5000`))[0]).toEqual(['late@shop.test']);
    expect((await pgRows(source.admin, `SELECT holder_id FROM tandem.lease`))[0]).toEqual(['']);
  });
});
