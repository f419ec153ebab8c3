/**
 * The switch as operators use it (`tandem cutover`, `tandem rollback` against a running `tandem run`) under the shop
 * load, whose writers follow the active side through the API while one misrouted client keeps writing to the other
 * side. After each switch: the new direction carries writes, the fenced side refuses the misrouted writes; at the
 * end every acknowledged write is on both sides, the sides are equal, the data shows one writable side at a time, and
 * no insert hit a duplicate key (H19: the switch advances sequences and AUTO_INCREMENT across engines). Each run has
 * servers of its own: MariaDB's fence is the server-wide read_only, and no other test's open transaction may delay
 * the slot a switch creates on PostgreSQL. Used by the cross-engine switch tests and the Kafka transport's.
 */
import { expect } from 'vitest';
import { uniqueName } from './db.js';
import { writeConfig } from './config.js';
import { readLeaseRow } from './control.js';
import { startMariadb, startPostgres, type RunningServer } from './servers.js';
import { untilTandem, waitUntil, type SuiteResources, type TandemProcess } from './tandem-process.js';
import { createShopDb, shopRows, startRouter, startShopLoad, writtenSideChanges, SHOP_TABLES, type EngineKind, type ShopDb, type SideName, switchCli } from './switch.js';

export const READ = 'switch-read-token-0123456789';
export const OPERATE = 'switch-operate-token-0123456789';

export interface Status {
  phase: string;
  activeSide: string;
  direction: string;
  verification: { lastCompletePass: string | null; driftCount: number } | null;
  lag: { seconds: number | null };
  appliedTransactions: number;
}

/** The service's status through its API (what `tandem status` prints), polled without starting a process each time. */
export async function apiStatus(api: string): Promise<Status> {
  const res = await fetch(`${api}/api/v1/status`, { headers: { authorization: `Bearer ${READ}` }, signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET /api/v1/status answered ${res.status}`);
  return (await res.json()) as Status;
}

export async function server(res: SuiteResources, kind: EngineKind, opts: { binlog?: boolean } = {}): Promise<RunningServer> {
  const s = kind === 'pg' ? await startPostgres() : await startMariadb({ binlog: opts.binlog });
  res.servers.push(s);
  return s;
}

/** Starts `tandem run` for a shop migration from `oldDb` to `newDb` and returns once its API is published. */
export async function runService(res: SuiteResources, oldDb: ShopDb, newDb: ShopDb, migration: string, extra: Record<string, unknown> = {}): Promise<{ config: string; service: TandemProcess; api: string; status: () => Promise<Status> }> {
  const config = writeConfig({
    ...extra,
    migration,
    old: { url: oldDb.url },
    new: { url: newDb.url },
    tables: SHOP_TABLES,
    verify: { interval: '1s' },
    // A MariaDB side is fenced by read_only (server-wide): this test's MariaDB is its own, so the shadow is fenced
    // as in production (writeConfig would leave it off for the shared server's sake).
    fence: { shadow: true },
    api: { tokens: [{ name: 'dashboard', token: READ, role: 'read' }, { name: 'oncall', token: OPERATE, role: 'operate' }] },
  });
  const service = res.start(['run', '--config', config]);
  // The lease, with the API's address, lives on old whatever its engine.
  const api = await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
  return { config, service, api: `http://${api}`, status: () => apiStatus(`http://${api}`) };
}


export const engineLabel = (k: EngineKind) => (k === 'pg' ? 'PostgreSQL' : 'MariaDB');

/** What a scenario's hooks can reach: the running service and both shops. */
export interface SwitchScenario {
  config: string;
  service: TandemProcess;
  api: string;
  status: () => Promise<Status>;
  oldDb: ShopDb;
  newDb: ShopDb;
  migration: string;
}

export interface SwitchesUnderLoad {
  oldKind: EngineKind;
  newKind: EngineKind;
  /** The switches in order, each with the side it makes active. */
  switches: ReadonlyArray<readonly ['cutover' | 'rollback', SideName]>;
  /** More of tandem.yaml (the transport), given the migration's name. */
  config?: (migration: string) => Record<string, unknown>;
  /** Runs once the load writes, before the first switch. */
  beforeSwitches?: (s: SwitchScenario) => Promise<void>;
  /** Runs after each switch is done. */
  afterSwitch?: (kind: 'cutover' | 'rollback', to: SideName, s: SwitchScenario) => Promise<void>;
}

/**
 * What an operator reads before flipping: a clean verification pass that started after `since`, and the lag
 * measured (a stream that just started after the last switch has not read its active side's clock yet, and the lag
 * gate refuses an unknown lag).
 */
export function verifiedSince(s: SwitchScenario, since: string): Promise<unknown> {
  return untilTandem(s.service, `a complete, clean verification after ${since} and the lag measured`, async () => {
    const st = await s.status();
    return st.verification?.lastCompletePass && st.verification.lastCompletePass > since && st.verification.driftCount === 0 && st.lag.seconds !== null;
  }, 90_000);
}

/** Runs the switches of `opts` against one `tandem run` under the shop load, asserting as the file's header says. */
export async function switchesUnderLoad(res: SuiteResources, opts: SwitchesUnderLoad): Promise<void> {
  const t0 = Date.now();
  const step = (what: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}`);
  const [oldServer, newServer] = await Promise.all([server(res, opts.oldKind), server(res, opts.newKind)]);
  const oldDb = await createShopDb(opts.oldKind, oldServer.url, 'swxold');
  const newDb = await createShopDb(opts.newKind, newServer.url, 'swxnew');
  res.dbs.push(oldDb, newDb);
  await oldDb.query(`INSERT INTO customers (name) VALUES ('customer 1'), ('customer 2'), ('customer 3'), ('customer 4'), ('customer 5')`);
  const migration = uniqueName('swx');
  const { config, service, api, status } = await runService(res, oldDb, newDb, migration, opts.config?.(migration));
  const ctx: SwitchScenario = { config, service, api, status, oldDb, newDb, migration };
  const verified = (since: string) => verifiedSince(ctx, since);
  await untilTandem(service, 'phase shadowing', async () => (await status()).phase === 'shadowing', 90_000);
  step('shadowing');

  const router = startRouter(() => api, READ);
  const load = startShopLoad({ old: oldDb, new: newDb }, router.activeSide);
  try {
    await load.waitForWrites(50);
    // The shadow (new) is fenced from the start: the misrouted client's writes there are refused.
    await waitUntil('the fenced new side to refuse a misrouted write', async () => load.summary.refused.new > 0, 30_000);
    await opts.beforeSwitches?.(ctx);
    const windows: number[] = [];
    let since = new Date().toISOString();
    for (const [kind, to] of opts.switches) {
      const from = to === 'new' ? 'old' : 'new';
      await verified(since);
      step(`verified before the ${kind} to ${to}`);
      if (windows.length === 0) {
        // Every gate passes across engines (the later switches evaluate the same gates themselves).
        const dry = await switchCli(kind, config, ['--dry-run']);
        expect(dry.code, JSON.stringify(dry.result.gates)).toBe(0);
        expect(dry.result.result).toBe('dry-run');
      }
      const r = await switchCli(kind, config);
      // A refusal names its gates; drift records say which rows, for the reader of a failed run.
      const drift = r.code === 0 ? '' : await fetch(`${api}/api/v1/drift`, { headers: { authorization: `Bearer ${READ}` } }).then((res) => res.text()).catch((err: unknown) => String(err));
      expect(r.code, `${r.stderr}\n${JSON.stringify(r.result, null, 1).slice(0, 3000)}\ndrift: ${drift.slice(0, 3000)}\nservice: ${service.output().slice(-4000)}`).toBe(0);
      expect(r.result).toMatchObject({ result: 'done', activeSide: to, phase: kind === 'cutover' ? 'cutover' : 'shadowing' });
      expect(r.result.windowMs).toBeGreaterThan(0);
      windows.push(r.result.windowMs as number);
      step(`${kind} to ${to} done, window ${r.result.windowMs} ms`);
      await opts.afterSwitch?.(kind, to, ctx);
      expect(r.result.certificate?.tables.map((t) => t.table).sort()).toEqual([...SHOP_TABLES].sort());
      // Both tables' counters were carried over (customers.id, orders.id).
      expect(r.result.certificate?.counters.map((c) => `${c.table}.${c.column}`).sort()).toEqual(['customers.id', 'orders.id']);
      since = new Date().toISOString();
      await waitUntil(`the router to see ${to} active`, async () => router.activeSide() === to, 10_000);
      // H19 on the table the shop does not insert into: its counter came over with the switch.
      await (to === 'new' ? newDb : oldDb).query(`INSERT INTO customers (name) VALUES ('added after the ${kind} to ${to}')`);
      const refusedBefore = load.summary.refused[from];
      await load.waitForWrites(50);
      // Inserts on `to` take ids from its own counter: a counter left behind `from`'s would hit a duplicate key.
      expect(load.summary.errors, 'no duplicate key or other failure').toEqual([]);
      await waitUntil(`the fenced ${from} side to refuse the misrouted writes`, async () => load.summary.refused[from] > refusedBefore, 30_000);
      // The new direction carries writes: what was written on `to` after the switch reaches the other side.
      const written = [...load.summary.acked].filter(([, side]) => side === to).map(([ref]) => ref);
      const other = to === 'new' ? oldDb : newDb;
      await untilTandem(service, `writes on ${to} to reach the other side`, async () => {
        const there = new Set((await shopRows(other)).map((row) => row.split('|')[1]));
        return written.every((ref) => there.has(ref));
      }, 60_000);
      expect(await status()).toMatchObject({ activeSide: to, direction: kind === 'cutover' ? 'reverse' : 'forward' });
      step(`writes on ${to} reached the other side`);
    }
    const summary = await load.stop();
    let difference = '';
    await untilTandem(service, 'the sides to be equal', async () => {
      const [a, b] = await Promise.all([shopRows(oldDb), shopRows(newDb)]);
      const onlyOld = a.filter((row) => !b.includes(row));
      const onlyNew = b.filter((row) => !a.includes(row));
      difference = `${a.length} rows on old, ${b.length} on new; only on old: ${onlyOld.slice(0, 5).join(', ')}; only on new: ${onlyNew.slice(0, 5).join(', ')}`;
      return a.length > 0 && a.join('\n') === b.join('\n');
    }, 90_000).catch((err: unknown) => Promise.reject(new Error(`${difference}\n${String(err)}`)));
    // H21: Tandem's own writes are never captured back: once the application stops, nothing more is applied.
    const applied = (await status()).appliedTransactions;
    await new Promise((r) => setTimeout(r, 10_000));
    expect((await status()).appliedTransactions, 'transactions applied after the application stopped (a loop)').toBe(applied);
    for (const db of [oldDb, newDb]) {
      const rows = new Set((await shopRows(db)).map((row) => row.split('|')[1]));
      const lost = [...summary.acked.keys()].filter((ref) => !rows.has(ref));
      expect(lost, `acknowledged writes missing on ${db === oldDb ? 'old' : 'new'}`).toEqual([]);
    }
    expect(summary.errors, 'no duplicate key or other failure').toEqual([]);
    const { changes, timeline } = await writtenSideChanges(oldDb);
    expect(changes, `written sides over time: ${timeline.join(' → ')}`).toBe(opts.switches.length);
    console.log(`${engineLabel(opts.oldKind)} → ${engineLabel(opts.newKind)}: switch windows (ms) ${windows.join(', ')}; writes ${summary.acked.size}, refused old ${summary.refused.old}, new ${summary.refused.new}`);
  } finally {
    router.stop();
    await load.stop();
  }
}
