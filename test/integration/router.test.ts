/**
 * An application written with `tandem/router` (imported by its package name, as an application would) runs the
 * shop load through a cutover and a rollback of a running `tandem run` on real PostgreSQL: no write fails (a switch
 * is a pause), every acknowledged write is on both sides, the sides took writes one at a time, and the switch waited
 * for the router's hold. When the service is gone the router sends nothing (fail safe) and says why.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { pgRouter, RouterError, type Router, type PgClientLike } from 'tandem/router';
import { uniqueName } from '../harness/db.js';
import { sleep } from '../harness/scenario.js';
import { untilTandem, suiteResources, waitUntil, type TandemProcess } from '../harness/tandem-process.js';
import { shopRows, switchCli, writtenSideChanges, type ShopDb } from '../harness/switch.js';
import { startShopService } from '../harness/shop-service.js';
import { runOnTerminal } from '../harness/terminal.js';

const APP_TOKEN = 'router-app-token-0123456789';

type PgRouter = Router<pg.QueryResult, PgClientLike<pg.QueryResult>>;

/** The shop as an application writes it through the router: every write acknowledged or failed, and how long each took. */
function startRoutedShop(router: PgRouter, writers = 3) {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let longestMs = 0;
  let stopping = false;
  const loop = async (n: number) => {
    for (let i = 0; !stopping; i++) {
      const started = performance.now();
      try {
        if (i % 4 === 3 && acked.size) {
          const refs = [...acked.keys()];
          await router.query(`UPDATE orders SET status = 'paid', total = total + 1 WHERE ref = $1`, [refs[Math.floor(Math.random() * refs.length)]]);
        } else {
          const ref = randomUUID();
          // A transaction of two statements: a switch announced meanwhile waits for its commit before the fence.
          const side = await router.transaction(async (c, s) => {
            await c.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES ($1, $2, $3, $4)`, [ref, 1 + ((i + n) % 5), `${(i % 97) + 1}.50`, s]);
            await c.query(`UPDATE orders SET status = 'placed' WHERE ref = $1`, [ref]);
            return s;
          });
          acked.set(ref, side);
        }
      } catch (err) {
        failures.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
      }
      longestMs = Math.max(longestMs, performance.now() - started);
      await sleep(5);
    }
  };
  const running = Array.from({ length: writers }, (_, n) => loop(n));
  return {
    acked,
    failures,
    /** The longest write since the last call: a switch's pause as the application saw it. */
    takeLongestMs: () => {
      const ms = longestMs;
      longestMs = 0;
      return ms;
    },
    async waitForWrites(n: number) {
      const target = acked.size + n;
      await waitUntil(`${n} more routed writes`, async () => acked.size >= target, 60_000, 20);
    },
    async stop() {
      stopping = true;
      await Promise.all(running);
    },
  };
}

describe('tandem/router: an application through cutover and rollback', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  let base = '';
  const migration = uniqueName('rtr');
  const pools: pg.Pool[] = [];

  beforeAll(async () => {
    let api: string;
    ({ oldDb, newDb, config, service, api } = await startShopService(res, {
      migration,
      prefix: 'rtr',
      cutover: { holdTimeout: '10s' },
      config: { api: { tokens: [{ name: 'shop-app', token: APP_TOKEN, role: 'read' }] } },
    }));
    base = `http://${api}`;
    res.cleanups.push(async () => {
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    });
  });

  const pool = (url: string) => {
    const p = new pg.Pool({ connectionString: url, max: 4 });
    p.on('error', () => undefined);
    pools.push(p);
    return p;
  };
  const api = async <T>(path: string) => (await (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${APP_TOKEN}` } })).json()) as T;

  it('zero failed writes through cutover and rollback; every acknowledged write on both sides; the switch waited for the hold', { timeout: 300_000 }, async () => {
    const router = pgRouter<pg.QueryResult>({ name: 'shop-app-1', service: { url: base, token: APP_TOKEN }, old: pool(oldDb.appUrl), new: pool(newDb.appUrl), source: 'events' });
    const shop = startRoutedShop(router);
    try {
      await shop.waitForWrites(30);
      expect(router.activeSide).toBe('old');
      await waitUntil('the router to be registered', async () => (await api<{ routers: Array<{ name: string; live: boolean }> }>('/api/v1/routers')).routers.some((r) => r.name === 'shop-app-1' && r.live), 10_000);
      const pauses: number[] = [];
      for (const [kind, to] of [['cutover', 'new'], ['rollback', 'old']] as const) {
        const since = new Date().toISOString();
        await untilTandem(service, `a complete verification after ${since} and the ${kind} gates passing`, async () => {
          const dry = await switchCli(kind, config, ['--dry-run']);
          return dry.code === 0;
        }, 120_000);
        shop.takeLongestMs();
        let requestId: string;
        if (kind === 'cutover') {
          const r = await switchCli(kind, config);
          expect(r.code, `${r.stderr}\n${JSON.stringify(r.result).slice(0, 2000)}`).toBe(0);
          expect(r.result).toMatchObject({ result: 'done', activeSide: to });
          requestId = r.result.requestId;
        } else {
          // The rollback as an operator at a terminal runs it: its steps are drawn while it runs.
          const t = await runOnTerminal([kind, '--yes', '--config', config]);
          expect(t.code, t.output).toBe(0);
          requestId = /^rollback (rollback-\S+): DONE/m.exec(t.output)?.[1] ?? '';
          expect(t.output).toMatch(/rollback \[[#.]{24}\] \d+% \d\/7 steps \| (intent|fencing|fenced|drained|checkpointed|unfencing)/);
          expect(t.output).toContain('phase shadowing, active side old');
        }
        const routers = await api<{ routers: Array<{ name: string; heldFor: string | null }> }>('/api/v1/routers');
        expect(routers.routers.find((x) => x.name === 'shop-app-1')?.heldFor, 'the router acknowledged this switch\'s hold').toBe(requestId);
        await waitUntil(`the router to write to ${to}`, async () => router.activeSide === to, 10_000, 20);
        if (kind === 'cutover') {
          // The dashboard's figures as Prometheus reads them from this service after the cutover.
          const metrics = await (await fetch(`${base}/metrics`)).text();
          expect(metrics).toMatch(/^tandem_info\{phase="cutover",active_side="new",direction="reverse",migration="[^"]+"\} 1$/m);
          expect(metrics).toMatch(/^tandem_switch_window_seconds_count\{migration="[^"]+",kind="cutover",result="done"\} 1$/m);
          expect(metrics).toMatch(/^tandem_applied_rows_total\{direction="forward",table="orders",operation="insert",migration="[^"]+"\} [1-9]/m);
          expect(metrics).toMatch(/^tandem_fenced\{side="new",migration="[^"]+"\} 0$/m);
          expect(metrics).toMatch(/^tandem_lease_holder\{holder="[^"]+",host="[^"]+",migration="[^"]+"\} 1$/m);
        }
        await shop.waitForWrites(30);
        pauses.push(shop.takeLongestMs());
      }
      await shop.stop();
      expect(shop.failures, 'writes that failed instead of pausing').toEqual([]);
      await untilTandem(service, 'the sides to be equal', async () => {
        const [a, b] = await Promise.all([shopRows(oldDb), shopRows(newDb)]);
        return a.length > 0 && a.join('\n') === b.join('\n');
      }, 90_000);
      for (const db of [oldDb, newDb]) {
        const refs = new Set((await shopRows(db)).map((r) => r.split('|')[1]));
        expect([...shop.acked.keys()].filter((ref) => !refs.has(ref)), `acknowledged writes missing on ${db === oldDb ? 'old' : 'new'}`).toEqual([]);
      }
      const sides = new Set(shop.acked.values());
      expect([...sides].sort()).toEqual(['new', 'old']);
      const { changes, timeline } = await writtenSideChanges(oldDb);
      expect(changes, `written sides over time: ${timeline.join(' → ')}`).toBe(2);
      console.log(`router: ${shop.acked.size} writes, 0 failed; longest write (the switch's pause) ${pauses.map((p) => Math.round(p)).join(' ms, ')} ms`);
    } finally {
      await shop.stop();
      await router.close();
    }
  });

  it('fails safe: with the service gone, a write is not sent to either side and fails naming why', { timeout: 120_000 }, async () => {
    const router = pgRouter<pg.QueryResult>({ name: 'shop-app-2', service: { url: base, token: APP_TOKEN }, old: pool(oldDb.appUrl), new: pool(newDb.appUrl), source: 'events', staleAfterMs: 500, holdTimeoutMs: 1_500 });
    try {
      expect(await router.ready(30_000)).toBe('old');
      service.kill('SIGKILL');
      await service.exited;
      await waitUntil('the router to lose the active side', async () => router.state.kind === 'unknown', 30_000, 50);
      const ref = randomUUID();
      const err = await router.query(`INSERT INTO orders (ref, customer_id, total, origin) VALUES ($1, 1, 1, 'old')`, [ref]).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RouterError);
      expect(err).toMatchObject({ code: 'TANDEM_ROUTER_NO_ACTIVE_SIDE', message: expect.stringContaining('cannot tell which side is active'), fix: expect.stringContaining('tandem status') });
      for (const db of [oldDb, newDb]) expect(await db.query(`SELECT count(*) FROM orders WHERE ref = $1`, [ref])).toEqual([['0']]);
    } finally {
      await router.close();
    }
  });
});
