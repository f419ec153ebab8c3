/**
 * `tandem drill --guided`: training mode. Walks an operator through a rollback on the staging pair step by step on
 * the terminal — what to check, what to run, what they should see — and times each step, so a team can practise the
 * incident runbook (docs/runbook-incident.md) before go-live. The guide reads the same status and gates the operator
 * would, and runs the switch only when the operator types its name.
 */
import type { Interface } from 'node:readline';
import type { Gate, SwitchResult } from '../model/switch.js';
import type { DrillService } from './drill.js';

interface StatusView {
  phase: string;
  activeSide: string;
  rollback: { ready: boolean; reasons: string[] } | null;
}

export interface GuidedStep {
  step: string;
  ms: number;
}

export interface GuidedResult {
  completed: boolean;
  steps: GuidedStep[];
  rollback: { result: string; windowMs: number | null } | null;
}

/** Lines typed on the terminal, queued: answers typed ahead of a prompt are kept, not lost. */
export class LineQueue {
  private readonly lines: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private closed = false;

  constructor(rl: Interface) {
    rl.on('line', (line) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(line);
      } else this.lines.push(line);
    });
    rl.on('close', () => {
      this.closed = true;
      this.waiting?.(undefined);
    });
  }

  next(): Promise<string | undefined> {
    const line = this.lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.waiting = resolve));
  }
}

export interface GuideIo {
  say(text: string): void;
  lines: LineQueue;
}

/** How long step 2 waits for the rollback's gates (the reverse verification needs a complete pass after the cutover). */
const GATE_WAIT_MS = 180_000;

const gateLine = (g: Gate) => `  ${g.ok ? 'ok     ' : 'REFUSED'} ${g.name.padEnd(22)} ${String(g.value ?? '—')}${g.ok ? '' : `\n          ${g.detail}`}`;

export async function runGuided(service: DrillService, io: GuideIo, migration: string): Promise<GuidedResult> {
  const steps: GuidedStep[] = [];
  const status = async () => (await service.request<StatusView>('GET', '/api/v1/status')).body;
  const gates = async () => (await service.request<{ gates: Gate[] }>('GET', '/api/v1/gates/rollback')).body.gates ?? [];
  /** Waits for an answer; `want` is the word to type (empty: just Enter). False when the operator quits. */
  const answer = async (prompt: string, want = ''): Promise<boolean> => {
    for (;;) {
      io.say(prompt);
      const line = await io.lines.next();
      if (line === undefined || line.trim().toLowerCase() === 'q') return false;
      if (line.trim().toLowerCase() === want) return true;
      io.say(want ? `(type ${want} and Enter, or q to stop)` : '(press Enter, or q to stop)');
    }
  };
  const timed = async (name: string, work: () => Promise<boolean>): Promise<boolean> => {
    const t0 = Date.now();
    const ok = await work();
    steps.push({ step: name, ms: Date.now() - t0 });
    if (ok) io.say(`  step "${name}" took ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    return ok;
  };
  const runSwitch = async (kind: 'cutover' | 'rollback', expectedPhase: string) => {
    const r = await service.request<SwitchResult & { error?: { message?: string } }>('POST', `/api/v1/${kind}`, { expectedPhase }, 30 * 60_000);
    io.say(`  ${kind}: ${String(r.body.result ?? r.status).toUpperCase()}${r.body.windowMs != null ? `, writes were refused for ${r.body.windowMs} ms` : ''}${r.body.error?.message ? ` — ${r.body.error.message}` : ''}`);
    return r.body;
  };

  io.say(`Guided rollback drill of ${migration}. Each step says what to check, what to run and what you should see; it is timed. Type q to stop at any prompt.\n`);
  let s = await status();
  if (s.phase === 'shadowing') {
    io.say('The pair is in phase shadowing: old is active, so there is nothing to roll back yet. The guide cuts over first (this is a staging pair).');
    const ok = await timed('prepare: cut over', async () => {
      if (!(await answer('Type cutover to cut over now: ', 'cutover'))) return false;
      return (await runSwitch('cutover', 'shadowing')).result === 'done';
    });
    if (!ok) return { completed: false, steps, rollback: null };
    s = await status();
  }

  const looked = await timed('1. look', async () => {
    io.say('Step 1 — look. In a real incident you run: tandem status');
    io.say(`  phase ${s.phase}, active side ${s.activeSide}, rollback ${s.rollback ? (s.rollback.ready ? 'READY' : `NOT READY: ${s.rollback.reasons.join('; ')}`) : 'unknown'}`);
    io.say('  You should see: phase cutover, active side new, rollback READY. Phase cutover means the application writes to new.');
    return answer('Press Enter when you have read it: ');
  });
  if (!looked) return { completed: false, steps, rollback: null };

  const checked = await timed('2. dry run', async () => {
    io.say('Step 2 — check the gates. You run: tandem rollback --dry-run');
    let g = await gates();
    if (!g.every((x) => x.ok)) {
      for (const line of g.map(gateLine)) io.say(line);
      io.say(`  Not every gate passes yet (${g.filter((x) => !x.ok).map((x) => x.name).join(', ')}). In an incident you would wait for lag and verification, fix what a gate names, or — new gone — decide on the emergency rollback. The guide checks again every 2 s for up to ${GATE_WAIT_MS / 1000} s.`);
      const until = Date.now() + GATE_WAIT_MS;
      while (!g.every((x) => x.ok) && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 2_000));
        g = await gates();
      }
    }
    for (const line of g.map(gateLine)) io.say(line);
    if (!g.every((x) => x.ok)) {
      io.say('  The gates still refuse: the drill stops here, as a real rollback would.');
      return false;
    }
    io.say('  You should see: every gate ok (exit 0). They are.');
    return answer('Press Enter to go on: ');
  });
  if (!checked) return { completed: false, steps, rollback: null };

  let rollback: GuidedResult['rollback'] = null;
  const rolled = await timed('3. roll back', async () => {
    io.say('Step 3 — roll back. You run: tandem rollback --yes   (API: POST /api/v1/rollback {"expectedPhase":"cutover"})');
    io.say('  It fences new, drains it into old, makes old active. You should see DONE and the window in ms.');
    if (!(await answer('Type rollback to run it now: ', 'rollback'))) return false;
    const r = await runSwitch('rollback', 'cutover');
    rollback = { result: r.result ?? 'failed', windowMs: r.windowMs ?? null };
    return r.result === 'done';
  });
  if (!rolled) return { completed: false, steps, rollback };

  const confirmed = await timed('4. confirm', async () => {
    const after = await status();
    io.say('Step 4 — confirm. You run: tandem status');
    io.say(`  phase ${after.phase}, active side ${after.activeSide}`);
    io.say('  You should see: phase shadowing, active side old. The application must now write to old (writes to new fail read-only).');
    return answer('Press Enter to finish: ');
  });
  io.say(`\nDone. Times: ${steps.map((x) => `${x.step} ${(x.ms / 1000).toFixed(1)} s`).join(', ')}; total ${(steps.reduce((n, x) => n + x.ms, 0) / 1000).toFixed(1)} s.`);
  return { completed: confirmed, steps, rollback };
}
