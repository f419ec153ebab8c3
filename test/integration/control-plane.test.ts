/**
 * The control plane as an operator meets it: the migration's truth lives in the databases (not in a local
 * folder), one instance acts per migration (a lease with an epoch that every shadow write proves), a standby takes
 * over, the stored direction decides what `tandem run` does, and drift records written by two processes at once
 * are all kept. Every outcome is read from the databases directly.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { describe, expect, inject, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readControlState, readLeaseRow, writeControlState } from '../harness/control.js';
import { freePort } from '../harness/servers.js';
import { suiteResources, tandemStatus, waitUntil } from '../harness/tandem-process.js';
import { tempDir } from '../harness/temp.js';
import {
  expectSameRows,
  expectedCounters,
  makeScenario,
  sleep,
  startSmallWriter,
  waitEqual,
  waitForStage,
  whileWriting,
  writerProgress,
} from '../harness/scenario.js';
import { StateStore } from '../../src/control/state-store.js';
import { parseConfig } from '../../src/config/load.js';

describe('control plane', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { cleanups, start } = suiteResources();

  const scenario = async (config: Record<string, unknown> = {}, shadow: 'pg' | 'mysql' = 'pg') => {
    const s = await makeScenario({ pgUrl, shadow: { kind: shadow, serverUrl: shadow === 'pg' ? pgUrl : mysqlUrl }, config });
    cleanups.push(() => s.cleanup());
    return s;
  };

  it('resumes in the stored direction after its state folder is gone: the truth is in the databases', async () => {
    const s = await scenario({}, 'mysql');
    let p = s.run();
    await waitForStage(s, 'streaming', p);
    const writer = startSmallWriter(s.source.url, 1_000, 1);
    let stopped = false;
    const result = await whileWriting(writer, async () => {
      await writerProgress(writer, 100);
      p.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      // The first instance's folder is gone, as if its host were: a new instance with a fresh folder resumes.
      rmSync(s.stateDir, { recursive: true, force: true });
      await writerProgress(writer, 100);
      stopped = true;
    });
    expect(stopped).toBe(true);
    const fresh = writeConfig({ migration: s.migration, old: { url: s.source.url }, new: { url: s.shadowUrl }, tables: ['items', 'counters'], state: { dir: tempDir('tandem-other-host-') } });
    p = start(['run', '--config', fresh]);
    await waitEqual(s, p);
    await expectSameRows(s);
    expect((await s.shadow.rows('counters')).map((r) => r.join(':')).join(',')).toBe(expectedCounters(result.tally));
    const control = await readControlState(s.source.url, s.migration);
    expect(control?.state).toMatchObject({ phase: 'shadowing', direction: 'forward', activeSide: 'old' });
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('refuses a second instance (exit 3, holder named); a standby takes over after kill -9 and the shadow ends exact', async () => {
    const s = await scenario({ lease: { ttl: '3s' } });
    const first = s.run();
    await waitForStage(s, 'streaming', first);

    const second = await runTandem(['run', '--config', s.config]);
    expect(second.code).toBe(3);
    expect(second.stderr).toContain('TANDEM_LEASE_HELD');
    expect(second.stderr).toContain(`on ${hostname()} (pid ${first.child.pid})`);
    expect(second.stderr).toMatch(/since \d{4}-\d\d-\d\dT/);
    expect(second.stderr).toContain('--standby');

    const standby = start(['run', '--standby', '--config', s.config]);
    await waitUntil('the standby to wait for the lease', async () => standby.output().includes('standby: waiting'), 30_000);
    const writer = startSmallWriter(s.source.url, 1_000, 1);
    const before = await readLeaseRow(s.source.url, s.migration);
    const result = await whileWriting(writer, async () => {
      await writerProgress(writer, 100);
      first.kill('SIGKILL');
      const killedAt = Date.now();
      await waitUntil('the standby to take over', async () => (await readLeaseRow(s.source.url, s.migration))?.pid === standby.child.pid, 30_000, 50);
      // The killed holder was on this host, so its lease did not have to expire; elsewhere it would within lease.ttl.
      expect(Date.now() - killedAt).toBeLessThan(3_000 + 2_000);
      await writerProgress(writer, 100);
    });
    const after = await readLeaseRow(s.source.url, s.migration);
    expect(after?.epoch).toBeGreaterThan(before?.epoch ?? 0);
    // The epoch is recorded on new, the shadow, too: it refuses commits made under an older one.
    expect((await readLeaseRow(s.shadowUrl, s.migration))?.epoch).toBe(after?.epoch);
    await waitEqual(s, standby);
    await expectSameRows(s);
    expect((await s.shadow.rows('counters')).map((r) => r.join(':')).join(',')).toBe(expectedCounters(result.tally));
    standby.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
  });

  it('a holder paused past its lease and resumed writes nothing after the standby took over (fencing token)', async () => {
    const s = await scenario({ lease: { ttl: '2s' }, apply: { batchTime: '1s' } });
    const holder = s.run();
    await waitForStage(s, 'streaming', holder);
    const standby = start(['run', '--standby', '--config', s.config]);
    await waitUntil('the standby to wait for the lease', async () => standby.output().includes('standby: waiting'), 30_000);
    const writer = startSmallWriter(s.source.url, 1_000, 0);
    const result = await whileWriting(writer, async () => {
      await writerProgress(writer, 300);
      holder.kill('SIGSTOP');
      await waitUntil('the standby to take over', async () => (await readLeaseRow(s.source.url, s.migration))?.pid === standby.child.pid, 30_000, 50);
      await writerProgress(writer, 300);
      holder.kill('SIGCONT');
      // Resumed, the old holder finds it lost the lease and stops without committing anything.
      expect(await Promise.race([holder.exited, sleep(30_000).then(() => 'still running')])).toBe(4);
      await writerProgress(writer, 100);
    });
    expect(holder.output()).toContain('TANDEM_LEASE_LOST');
    await waitEqual(s, standby);
    await sleep(1_000);
    await expectSameRows(s);
    // Every n = n + 1 exactly once: a stale commit of the paused holder would have set counters back.
    expect((await s.shadow.rows('counters')).map((r) => r.join(':')).join(',')).toBe(expectedCounters(result.tally));
    standby.kill('SIGTERM');
    expect(await standby.exited).toBe(0);
  });

  it('exits 2 naming the address when the control API cannot listen, and holds no lease afterwards', async () => {
    const s = await scenario();
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const r = await runTandem(['run', '--config', s.config], { env: { TANDEM_API_LISTEN: `127.0.0.1:${port}` } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
      expect(r.stderr).toContain('TANDEM_API_LISTEN');
      expect((await readLeaseRow(s.source.url, s.migration))?.holder ?? '').toBe('');
    } finally {
      blocker.close();
    }
  });

  for (const oldEngine of ['pg', 'mysql'] as const) {
    it(`keeps every drift record when two processes record drift at the same moment (${oldEngine === 'pg' ? 'PostgreSQL' : 'MariaDB'} old)`, async () => {
      const old = oldEngine === 'pg' ? await createPgDatabase(pgUrl, 'store') : await createMysqlDatabase(mysqlUrl, 'store');
      const neu = await createPgDatabase(pgUrl, 'store_new');
      try {
        const config = parseConfig({ migration: uniqueName('store'), old: { url: old.url }, new: { url: neu.url } });
        const [a, b] = [new StateStore(config), new StateStore(config)];
        try {
          // Two writers (think: the service and `tandem verify`), each adding its own drift records to the same table.
          const add = (store: StateStore, who: string, i: number) =>
            store.updateVerification('forward', 'orders', (entry) => {
              entry.drift.push({ key: { id: `${who}${i}` }, kind: 'different', columns: ['total'], firstSeen: 'x', lastSeen: 'x' });
            });
          await Promise.all(Array.from({ length: 25 }, (_, i) => [add(a, 'a', i), add(b, 'b', i)]).flat());
          const [orders] = await a.readVerification('forward');
          expect(orders?.drift.map((d) => d.key.id).sort()).toEqual([...Array.from({ length: 25 }, (_, i) => `a${i}`), ...Array.from({ length: 25 }, (_, i) => `b${i}`)].sort());
          // The mirror on new holds the same records.
          const mirror = new StateStore(parseConfig({ migration: config.migration, old: { url: neu.url }, new: { url: neu.url } }));
          try {
            expect((await mirror.readVerification('forward'))[0]?.drift.length).toBe(50);
          } finally {
            await mirror.close();
          }
        } finally {
          await Promise.all([a.close(), b.close()]);
        }
      } finally {
        await Promise.all([old.drop(), neu.drop()]);
      }
    });
  }

  it('SIGTERM at any moment of start-up (lease, API, backfill, stream opening) exits 0 within seconds', async () => {
    const s = await scenario({}, 'mysql');
    await s.source.admin.query(`INSERT INTO items SELECT g, 0, g, 'x' FROM generate_series(1, 20000) g`);
    const writer = startSmallWriter(s.source.url, 100_000, 5);
    try {
      for (const delay of [0, 50, 150, 300, 600, 900, 1_300, 2_000]) {
        const p = s.run();
        // Counted from its first log line: a signal before Node has even loaded the program just ends it.
        await waitUntil('tandem to start', async () => p.output().length > 0, 30_000, 5);
        await sleep(delay);
        const t0 = Date.now();
        p.kill('SIGTERM');
        const code = await Promise.race([p.exited, sleep(15_000).then(() => 'still running after 15 s')]);
        expect(code, `SIGTERM ${delay} ms after start:\n${p.output().slice(-2000)}`).toBe(0);
        expect(Date.now() - t0).toBeLessThan(10_000);
      }
    } finally {
      await writer.stop();
    }
    // And after all that it still ends exact.
    const p = s.run();
    await waitEqual(s, p);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('the stored direction decides; a fresh migration starts forward and records its phases', async () => {
    const s = await scenario();
    expect(await readControlState(s.source.url, s.migration)).toBeUndefined();
    const p = s.run();
    await waitForStage(s, 'streaming', p);
    await waitUntil('the phase shadowing in the store', async () => (await readControlState(s.source.url, s.migration))?.state.phase === 'shadowing', 30_000);
    const status = await tandemStatus<{ phase: string; direction: string; running: boolean; service: { pid: number; api: string } | null; stateSource: string }>(s.config);
    expect(status).toMatchObject({ phase: 'shadowing', direction: 'forward', running: true, stateSource: 'old' });
    expect(status.service?.pid).toBe(p.child.pid);
    expect(status.service?.api).toMatch(/^127\.0\.0\.1:\d+$/);
    p.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    // Stopped cleanly, it gives the lease up at once.
    expect((await readLeaseRow(s.source.url, s.migration))?.holder).toBe('');
    // The store, not a flag, says which way replication runs.
    await writeControlState(s.source.url, s.migration, { phase: 'cutover', direction: 'reverse', activeSide: 'new' });
    const refused = await runTandem(['run', '--direction', 'forward', '--config', s.config]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('TANDEM_DIRECTION_MISMATCH');
  });
});
