/**
 * The switch's gates as pure functions of the migration's state and the service's live figures: each refuses for
 * its own reason, reports what it measured against its threshold, and says what to do; an override is visible.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { transportSwitch } from '../../src/control/transport-switch.js';
import { applyGate, lagGate, phaseGate, switchGate, switchSides, verificationGate, type LiveFacts } from '../../src/control/gates.js';
import { switchPlan } from '../../src/control/switch.js';
import { initialControlState, type ControlState } from '../../src/model/control.js';
import type { TableVerification } from '../../src/verify/store.js';

const config = parseConfig({ migration: 'shop', old: { url: 'postgres://u@h:5432/a' }, new: { url: 'postgres://u@h:5432/b' }, cutover: { maxLag: '2s' } });
const at = new Date('2026-12-01T00:00:00Z');
const state = (change: Partial<ControlState> = {}): ControlState => ({ ...initialControlState('test', at), phase: 'shadowing', ...change });
const live = (change: Partial<LiveFacts> = {}): LiveFacts => ({ lagSeconds: 0.2, runState: 'streaming', lastError: null, failed: false, switchRunning: false, ...change });
const table = (name: string, change: Partial<TableVerification> = {}): TableVerification => ({
  table: name,
  rowsCompared: 10,
  lastPassStartedAt: '2026-12-01T00:00:00.000Z',
  lastPassCompletedAt: '2026-12-01T00:00:01.000Z',
  drift: [],
  ...change,
});

describe('switch gates', () => {
  it('sides: a cutover moves writes old → new and reverses the stream; a rollback the mirror', () => {
    expect(switchSides('cutover')).toEqual({ from: 'old', to: 'new', after: 'reverse' });
    expect(switchSides('rollback')).toEqual({ from: 'new', to: 'old', after: 'forward' });
  });

  it('phase: cutover from shadowing, rollback from cutover; never during a switch or while new needs a resync', () => {
    expect(phaseGate('cutover', state())).toMatchObject({ ok: true, value: 'shadowing', threshold: 'shadowing' });
    expect(phaseGate('rollback', state())).toMatchObject({ ok: false, threshold: 'cutover', detail: expect.stringContaining('shadowing') });
    expect(phaseGate('rollback', state({ phase: 'cutover', direction: 'reverse', activeSide: 'new' }))).toMatchObject({ ok: true });
    const resync = phaseGate('cutover', state({ resyncRequired: true }));
    expect(resync).toMatchObject({ ok: false, value: 'shadowing (resync required)' });
    expect(resync.detail).toContain('tandem backfill --yes');
  });

  it('transport: the embedded transport switches; over Kafka a Connect worker that does not answer refuses, naming it', async () => {
    expect(await transportSwitch(config).gate('forward', 'reverse', ['t'])).toMatchObject({ name: 'transport', ok: true, value: 'embedded' });
    // Nothing listens on port 1: the connector that would carry the drain marker cannot be seen running.
    const kafkaConfig = parseConfig({ migration: 'shop', old: { url: 'postgres://u@h:5432/a' }, new: { url: 'postgres://u@h:5432/b' }, transport: { kind: 'kafka', kafka: { connectUrl: 'http://127.0.0.1:1' } } });
    const kafka = await transportSwitch(kafkaConfig).gate('forward', 'reverse', ['t']);
    expect(kafka).toMatchObject({ name: 'transport', ok: false, value: 'Kafka Connect unreachable' });
    expect(kafka.detail).toContain('http://127.0.0.1:1');
  }, 60_000);

  it('lag: at or under cutover.maxLag passes; above it, or not measured yet, refuses', () => {
    expect(lagGate(config, live({ lagSeconds: 2 }))).toMatchObject({ ok: true, value: 2, threshold: 2 });
    const high = lagGate(config, live({ lagSeconds: 7.25 }));
    expect(high).toMatchObject({ ok: false, value: 7.25, threshold: 2 });
    expect(high.detail).toContain('cutover.maxLag');
    expect(lagGate(config, live({ lagSeconds: null }))).toMatchObject({ ok: false, value: null, detail: expect.stringContaining('not measured') });
  });

  it('verification: every table compared, no drift and nothing unconfirmed; --allow-drift overrides visibly', () => {
    const tables = ['orders', 'customers'];
    expect(verificationGate({ tables, allowDrift: false, verification: [table('orders'), table('customers')] })).toMatchObject({ ok: true });
    const never = verificationGate({ tables, allowDrift: false, verification: [table('orders')] });
    expect(never).toMatchObject({ ok: false, value: expect.stringContaining('never compared: customers') });
    const drift = [table('orders', { drift: [{ key: { id: '7' }, kind: 'different', columns: ['total'], firstSeen: '2026-12-01T00:00:00.500Z', lastSeen: '2026-12-01T00:00:00.500Z' }] }), table('customers')];
    const refused = verificationGate({ tables, allowDrift: false, verification: drift });
    expect(refused).toMatchObject({ ok: false, value: expect.stringContaining('1 drifted') });
    expect(refused.overridden).toBeUndefined();
    expect(verificationGate({ tables, allowDrift: true, verification: drift })).toMatchObject({ ok: true, overridden: true, detail: expect.stringContaining('--allow-drift') });
    const unconfirmed = [table('orders', { unconfirmed: { rows: 3, at: '2026-12-01T00:00:01.000Z', keys: [] } }), table('customers')];
    expect(verificationGate({ tables, allowDrift: false, verification: unconfirmed })).toMatchObject({ ok: false, value: expect.stringContaining('3 unconfirmed') });
  });

  it('apply errors: only a streaming replication without a stopping error passes', () => {
    expect(applyGate(live())).toMatchObject({ ok: true });
    expect(applyGate(live({ runState: 'copying' }))).toMatchObject({ ok: false, value: 'copying' });
    expect(applyGate(live({ failed: true, lastError: 'duplicate key on orders' }))).toMatchObject({ ok: false, value: 'stopped: duplicate key on orders' });
  });

  it('one switch at a time: a running or recorded switch refuses the next', () => {
    expect(switchGate(state(), live())).toMatchObject({ ok: true, value: 'none' });
    expect(switchGate(state(), live({ switchRunning: true }))).toMatchObject({ ok: false });
    const recorded = state({
      switch: { requestId: 'cutover-1', kind: 'cutover', actor: 'oncall', step: 'fenced', startedAt: '2026-12-01T00:00:00.000Z', from: 'old', to: 'new', phaseBefore: 'shadowing', windowStartedAt: null, positions: { fence: {}, drained: {} } },
    });
    expect(switchGate(recorded, live())).toMatchObject({ ok: false, value: 'cutover cutover-1 at fenced' });
  });

  it('the plan a dry run prints names the sides in mirror and the configured bounds', () => {
    const cutover = switchPlan(config, 'cutover');
    expect(cutover.some((s) => s.startsWith('fence old'))).toBe(true);
    expect(cutover.some((s) => s.includes(`cutover.drainTimeout ${config.cutover.drainTimeout} ms`))).toBe(true);
    expect(switchPlan(config, 'rollback').some((s) => s.startsWith('fence new'))).toBe(true);
  });
});
