/**
 * The event ring: ids increase by one, a resume returns exactly the events after the id it names, and an id that fell
 * out of the ring, came from another process or was never sent gets a reset instead of a silent gap.
 */
import { describe, expect, it } from 'vitest';
import { EventBus, FiguresWatch, controlEvents } from '../../src/control/events.js';
import { initialControlState } from '../../src/model/control.js';
import { LagTracker } from '../../src/replicate/lag.js';
import { emptyStats, type VerificationStats } from '../../src/replicate/stats.js';

describe('EventBus', () => {
  it('resumes after any id still in the ring with every later event, in order', () => {
    const bus = new EventBus(5);
    const ids = Array.from({ length: 5 }, (_, n) => bus.emit('audit', { n }).id);
    expect(ids.map((id) => Number(id.split('-')[1]))).toEqual([1, 2, 3, 4, 5]);
    const replay = bus.since(ids[1]);
    expect(replay.reset).toBe(false);
    expect(replay.events.map((e) => e.data.n)).toEqual([2, 3, 4]);
    expect(bus.since(ids[4]).events).toEqual([]);
  });

  it('tells the client to reload when the events after its id are no longer kept', () => {
    const bus = new EventBus(3);
    const first = bus.emit('audit', { n: 0 }).id;
    const second = bus.emit('audit', { n: 1 }).id;
    for (let n = 2; n < 6; n++) bus.emit('audit', { n });
    // Ring holds 3..5 (seqs 4, 5, 6): after seq 3 nothing is missing, after seq 2 seq 3 is lost.
    expect(bus.since(second).reset).toBe(true);
    expect(bus.since(first).reset).toBe(true);
    expect(bus.since(`${bus.boot}-3`)).toMatchObject({ reset: false, events: [{ seq: 4 }, { seq: 5 }, { seq: 6 }] });
  });

  it('resets for an id of another process or one never sent', () => {
    const bus = new EventBus(10);
    bus.emit('audit', {});
    const other = bus.boot === 'deadbeef' ? 'feedface' : 'deadbeef';
    expect(bus.since(`${other}-1`)).toMatchObject({ reset: true, reason: expect.stringContaining('restarted') });
    expect(bus.since(`${bus.boot}-9`)).toMatchObject({ reset: true, reason: expect.stringContaining('never sent') });
    expect(bus.since(undefined)).toEqual({ reset: false, events: [] });
  });

  it('turns control writes into phase and switch-step events, once per change', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.type}:${String(e.data.phase ?? e.data.step)}`));
    const on = controlEvents(bus);
    const s0 = initialControlState('t', new Date());
    const s1 = { ...s0, phase: 'shadowing' as const };
    on(s0, s1);
    on(s1, { ...s1 });
    const sw = { kind: 'cutover' as const, requestId: 'r1', actor: 'a', step: 'intent' as const, startedAt: '', from: 'old' as const, to: 'new' as const, phaseBefore: 'shadowing' as const, windowStartedAt: null, positions: { fence: {}, drained: {} } };
    const s2 = { ...s1, phase: 'cutting-over' as const, switch: sw };
    on(s1, s2);
    const s3 = { ...s2, switch: { ...sw, step: 'fenced' as const } };
    on(s2, s3);
    on(s3, { ...s3 });
    expect(seen).toEqual(['phase:shadowing', 'phase:cutting-over', 'switch.step:intent', 'switch.step:fenced']);
  });

  it('watches the figures: drift found and resolved, lag crossing its limit both ways, passes, the lease', () => {
    const bus = new EventBus();
    const seen: string[] = [];
    bus.subscribe((e) => seen.push(`${e.type}:${String(e.data.state ?? e.data.complete ?? e.data.held)}`));
    const stats = emptyStats();
    let lease: { holder: string; epoch: number } | undefined;
    const watch = new FiguresWatch(bus, { stats, lagLimitSeconds: 5, lease: () => lease, intervalMs: 3_600_000 });
    try {
      expect(seen).toEqual([]);
      lease = { holder: 'a', epoch: 1 };
      const v: VerificationStats = { passesCompleted: 0, passesFailed: 0, lastPassCompletedAt: null, rowsCompared: 0, keysRechecked: 0, keysDropped: 0, driftCount: 0, lastError: null };
      stats.verification = v;
      watch.poll();
      v.passesCompleted = 1;
      v.driftCount = 2;
      watch.poll();
      watch.poll();
      v.driftCount = 0;
      v.passesCompleted = 2;
      watch.poll();
      // Lag from a tracker that read a commit 30 s ago and applied nothing since: high; then caught up: ok.
      stats.stage = 'streaming';
      const lag = new LagTracker((a, b) => Number(a) - Number(b));
      lag.restart('0');
      lag.setClockOffset(0);
      lag.read('10', new Date(Date.now() - 30_000));
      stats.lag = lag;
      watch.poll();
      watch.poll();
      lag.appliedThrough('10');
      watch.poll();
      expect(seen).toEqual(['lease:true', 'drift:found', 'verification.pass:true', 'drift:resolved', 'verification.pass:true', 'lag:high', 'lag:ok']);
    } finally {
      watch.stop();
    }
  });
});
