/**
 * `--only apply-groups`: what one shadow commit per source transaction costs. The order load's transactions, as
 * capture hands them over, applied through Tandem's PostgreSQL shadow writer in shadow transactions of 1, 5, 20 and
 * 150 source transactions each (with the checkpoint write every commit carries): the apply session's CPU and this
 * process's per transaction, and transactions per second. No anchor: it measures Tandem against itself, the figure
 * behind apply.commitDelay.
 */
import { PgShadowWriter } from '../src/engines/postgres/shadow.js';
import type { Change } from '../src/model/change.js';
import type { RunningServer } from '../test/harness/servers.js';
import { client, cpuSeconds, median, type BenchRow } from './lib.js';
import { noteOf, orderMeta, ordersDdl, skuOf } from './order-load.js';

const TABLES = ['orders', 'order_lines', 'stock', 'inventory_events'];
const TIME = '2026-12-02 01:00:00.123456+00';

/** Source transaction n of the order load (writer n % 4) as row changes, stock quantities carried in `stock`. */
function orderTransaction(n: number, stock: Map<number, number>, events: { next: number }): Change[] {
  const w = n % 4;
  const lines = 1 + (n % 4);
  const changes: Change[] = [
    { op: 'insert', table: 'orders', after: { id: String(n), customer: String(w * 10_000 + (n % 10_000)), total: ((n % 500) + 0.99).toFixed(2), status: 'new', note: noteOf(n), meta: orderMeta(w, n, lines), created: TIME } },
  ];
  for (let l = 1; l <= lines; l++) {
    const sku = skuOf(w, n, l);
    const qty = (stock.get(sku) ?? 1_000_000) - l;
    stock.set(sku, qty);
    changes.push({ op: 'insert', table: 'order_lines', after: { order_id: String(n), line: String(l), sku: String(sku), qty: String(l), price: (9.99 + l).toFixed(2) } });
    changes.push({ op: 'update', table: 'stock', before: { sku: String(sku) }, after: { sku: String(sku), qty: String(qty), updated: TIME } });
    changes.push({ op: 'insert', table: 'inventory_events', after: { id: String(++events.next), sku: String(sku), delta: String(-l), order_id: String(n), at: TIME } });
  }
  return changes;
}

async function applyInGroups(server: RunningServer, group: number, transactions: number, tag: string): Promise<{ cpuMsPerTx: number; txPerSecond: number }> {
  const admin = await client(`${server.url}/postgres`);
  const db = `apply_groups_${tag}`;
  await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${db}`);
  const c = await client(`${server.url}/${db}`);
  for (const sql of ordersDdl) await c.query(sql);
  await c.query(`INSERT INTO stock (sku, qty) SELECT g, 1000000 FROM generate_series(1, 2000) g`);
  const stock = new Map<number, number>();
  const events = { next: 0 };
  const txs = Array.from({ length: transactions }, (_, i) => orderTransaction(i + 1, stock, events));
  const writer = await PgShadowWriter.open({ url: `${server.url}/${db}`, migration: 'bench', direction: 'forward', maxRows: 5_000 });
  try {
    await writer.prepare(TABLES);
    const pid = Number((await c.query<{ pid: number }>(`select pid from pg_stat_activity where datname = $1 and application_name = 'tandem apply'`, [db])).rows[0]?.pid);
    const own = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    };
    const [session0, own0, t0] = [cpuSeconds(pid), own(), performance.now()];
    for (let i = 0; i < transactions; i += group) {
      await writer.begin();
      await writer.apply(txs.slice(i, i + group).flat());
      await writer.commit({ sourcePosition: `0/${(i + group).toString(16)}`, transportOffset: null, commitTime: new Date(), appliedTransactions: i + group, stage: 'streaming', idlePosition: null });
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpuMsPerTx = ((cpuSeconds(pid) - session0 + own() - own0) * 1000) / transactions;
    const applied = Number((await c.query<{ n: string }>(`select count(*) as n from orders`)).rows[0]?.n);
    if (applied !== transactions) throw new Error(`apply-groups: ${applied} orders on the shadow, expected ${transactions}`);
    return { cpuMsPerTx, txPerSecond: transactions / seconds };
  } finally {
    await writer.close();
    await c.end();
    await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    await admin.end();
  }
}

export async function benchApplyGroups(opts: { server: RunningServer; reps: number; transactions?: number }): Promise<BenchRow[]> {
  const transactions = opts.transactions ?? 5_000;
  const groups = [1, 5, 20, 150];
  const cpu = new Map(groups.map((g) => [g, [] as number[]]));
  const rate = new Map(groups.map((g) => [g, [] as number[]]));
  for (let i = 0; i < opts.reps; i++) {
    for (const g of groups) {
      const r = await applyInGroups(opts.server, g, transactions, `${g}_${i}`);
      cpu.get(g)?.push(r.cpuMsPerTx);
      rate.get(g)?.push(r.txPerSecond);
      process.stderr.write(`apply-groups rep ${i + 1}/${opts.reps}, ${g} per commit: ${r.cpuMsPerTx.toFixed(3)} CPU-ms/tx, ${r.txPerSecond.toFixed(0)} tx/s\n`);
    }
  }
  const command = 'npm run bench -- --only apply-groups';
  const single = cpu.get(1) as number[];
  return groups.flatMap((g): BenchRow[] => [
    {
      name: `apply-groups-${g}-cpu`,
      metric: `order transactions applied ${g} per shadow commit: CPU of the apply session + the writer's process`,
      unit: 'CPU-ms/tx',
      tandem: cpu.get(g) as number[],
      anchor: g === 1 ? null : single,
      anchorName: g === 1 ? '—' : 'the same, one shadow commit per transaction',
      command,
      note: g === 1 ? undefined : `${(median(single) / median(cpu.get(g) as number[])).toFixed(1)}× less CPU per transaction than one commit each`,
    },
    { name: `apply-groups-${g}-rate`, metric: `order transactions applied ${g} per shadow commit`, unit: 'tx/s', tandem: rate.get(g) as number[], anchor: null, anchorName: '—', command },
  ]);
}
