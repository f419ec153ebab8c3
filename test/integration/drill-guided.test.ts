/**
 * `tandem drill --guided` (training mode, issue 17) through a real pseudo-terminal (util-linux `script`), as an
 * operator practising on the staging pair answers it: the guide cuts over first (the pair starts in shadowing), then
 * walks through look → dry run → roll back → confirm, runs the rollback only when `rollback` is typed, and prints how
 * long each step took. Without a terminal it refuses.
 */
import { spawn } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, cliPath, runTandem, uniqueName } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { readLeaseRow } from '../harness/control.js';
import { startPostgres } from '../harness/servers.js';
import { untilTandem, suiteResources, type TandemProcess } from '../harness/tandem-process.js';
import { createShopDb, SHOP_TABLES, type ShopDb } from '../harness/switch.js';

/**
 * Runs `tandem <args>` on a pseudo-terminal and answers its prompts as an operator would: each answer is typed once
 * its prompt shows (input typed before the program reads it may be discarded when it sets the terminal up).
 * Resolves with everything the terminal showed.
 */
function onTerminal(args: string[], dialogue: Array<[prompt: string, answer: string]>, timeoutMs: number): Promise<{ code: number | null; screen: string }> {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', [process.execPath, cliPath, ...args].map(quote).join(' '), '/dev/null'], { env: cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    let from = 0;
    let next = 0;
    const seen = (d: Buffer) => {
      screen += d.toString();
      for (;;) {
        const step = dialogue[next];
        const at = step ? screen.indexOf(step[0], from) : -1;
        if (!step || at < 0) break;
        from = at + step[0].length;
        next++;
        child.stdin.write(step[1]);
      }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, screen });
    });
  });
}

describe('tandem drill --guided', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let config = '';
  let service: TandemProcess;
  const migration = uniqueName('drgd');

  beforeAll(async () => {
    const server = await startPostgres();
    res.servers.push(server);
    oldDb = await createShopDb('pg', server.url, 'drgold');
    const newDb = await createShopDb('pg', server.url, 'drgnew');
    res.dbs.push(oldDb, newDb);
    await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
    config = writeConfig({ migration, old: { url: oldDb.url }, new: { url: newDb.url }, tables: SHOP_TABLES, verify: { interval: '1s' }, cutover: { maxLag: '60s' }, drill: { staging: true } });
    service = res.start(['run', '--config', config]);
    await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, migration))?.api ?? undefined);
  });

  it('refuses without a terminal', async () => {
    const r = await runTandem(['drill', '--guided', '--config', config]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('there is none');
  });

  it('walks an operator through a rollback on a terminal, running each switch only when its name is typed, and times each step', { timeout: 300_000 }, async () => {
    const status = async () => JSON.parse((await runTandem(['status', '--json', '--config', config])).stdout) as { phase: string; activeSide: string; verification: { lastCompletePass: string | null } | null };
    await untilTandem(service, 'phase shadowing and a complete verification', async () => {
      const s = await status();
      return s.phase === 'shadowing' && s.verification?.lastCompletePass;
    }, 120_000);
    // Enter alone where the guide wants `cutover` is answered with how to go on, and nothing runs.
    const { code, screen } = await onTerminal(
      ['drill', '--guided', '--config', config],
      [
        ['Type cutover to cut over now: ', '\n'],
        ['(type cutover and Enter, or q to stop)', 'cutover\n'],
        ['Press Enter when you have read it: ', '\n'],
        ['Press Enter to go on: ', '\n'],
        ['Type rollback to run it now: ', 'rollback\n'],
        ['Press Enter to finish: ', '\n'],
      ],
      240_000,
    );
    expect(code, screen).toBe(0);
    expect(screen).toContain('(type cutover and Enter, or q to stop)');
    expect(screen).toMatch(/cutover: DONE, writes were refused for \d+ ms/);
    expect(screen).toContain('Step 1 — look. In a real incident you run: tandem status');
    expect(screen).toContain('phase cutover, active side new, rollback');
    expect(screen).toContain('Step 2 — check the gates. You run: tandem rollback --dry-run');
    expect(screen).toMatch(/rollback: DONE, writes were refused for \d+ ms/);
    expect(screen).toContain('phase shadowing, active side old');
    expect(screen).toMatch(/Times: prepare: cut over [\d.]+ s, 1\. look [\d.]+ s, 2\. dry run [\d.]+ s, 3\. roll back [\d.]+ s, 4\. confirm [\d.]+ s; total [\d.]+ s/);
    expect(await status()).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
  });
});
