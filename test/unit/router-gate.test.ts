import { describe, expect, it } from 'vitest';
import { WriteGate } from '../../src/router/gate.js';
import { RouterError } from '../../src/router/errors.js';

describe('the router\'s write gate', () => {
  it('holds new writes during a switch, acknowledges once the open ones finish, releases them to the new side', async () => {
    const held: string[] = [];
    const gate = new WriteGate((id) => held.push(id));
    gate.set({ kind: 'open', side: 'old' });
    expect(await gate.acquire(1_000)).toBe('old');
    gate.set({ kind: 'holding', requestId: 'cutover-1', side: 'old' });
    expect(held, 'a write is still open: no acknowledgement yet').toEqual([]);
    const waiting = gate.acquire(5_000);
    expect(gate.waiting).toBe(1);
    gate.release();
    expect(held).toEqual(['cutover-1']);
    gate.set({ kind: 'holding', requestId: 'cutover-1', side: 'old' });
    expect(held, 'acknowledged once per switch').toEqual(['cutover-1']);
    gate.set({ kind: 'open', side: 'new' });
    expect(await waiting).toBe('new');
    expect(gate.writesInFlight).toBe(1);
    expect({ held: gate.held, refused: gate.refused }, 'the write that waited is counted as held, none refused').toEqual({ held: 1, refused: 0 });
  });

  it('a held write times out with TANDEM_ROUTER_HOLD_TIMEOUT; with the side unknown, TANDEM_ROUTER_NO_ACTIVE_SIDE', async () => {
    const gate = new WriteGate(() => undefined);
    await expect(gate.acquire(20)).rejects.toMatchObject({ code: 'TANDEM_ROUTER_NO_ACTIVE_SIDE' });
    gate.set({ kind: 'holding', requestId: 'rollback-2', side: 'new' });
    const err = await gate.acquire(20).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RouterError);
    expect(err).toMatchObject({ code: 'TANDEM_ROUTER_HOLD_TIMEOUT', message: expect.stringContaining('rollback-2') });
    expect(gate.waiting).toBe(0);
    expect({ held: gate.held, refused: gate.refused }, 'both writes waited and neither was sent').toEqual({ held: 2, refused: 2 });
  });

  it('a lost acknowledgement is sent again with the next view', () => {
    const held: string[] = [];
    const gate = new WriteGate((id) => held.push(id));
    gate.set({ kind: 'holding', requestId: 'cutover-3', side: 'old' });
    gate.retryAcknowledgement('cutover-3');
    gate.set({ kind: 'holding', requestId: 'cutover-3', side: 'old' });
    expect(held).toEqual(['cutover-3', 'cutover-3']);
  });
});
