/**
 * The pure parts of rollback readiness: what makes a plan's review stale (and what does not), the hash being
 * independent of key order, the drill gate's age judgement, and the last drill read from the audit log.
 */
import { describe, expect, it } from 'vitest';
import { drillGate, lastDrillOf, materialChanges, materialHash, reviewGate, reviewState, stableJson, type DrillReport, type PlanMaterial } from '../../src/control/plan-review.js';
import type { AuditEntry } from '../../src/model/switch.js';
import { parseDuration } from '../../src/config/duration.js';

const material = (over: Partial<PlanMaterial> = {}): PlanMaterial => ({
  tables: ['customers', 'orders'],
  mappings: { customers: { id: 'integer → integer', name: 'text → text' }, orders: { id: 'bigint → bigint', total: 'numeric(12,2) → numeric(12,2)' } },
  gates: { 'cutover.maxLag': 5000, 'cutover.requireReviewedPlan': false },
  ...over,
});

const review = (m: PlanMaterial, at = '2026-12-01T00:00:00.000Z'): AuditEntry => ({
  at,
  action: 'plan-review',
  event: 'done',
  requestId: 'r',
  actor: 'local:alice',
  phase: 'shadowing',
  activeSide: 'old',
  detail: { by: 'alice', at, hash: materialHash(m), material: m },
});

describe('plan review', () => {
  it('hashes the same material the same whatever the key order', () => {
    const a = material();
    const b: PlanMaterial = { gates: { 'cutover.requireReviewedPlan': false, 'cutover.maxLag': 5000 }, mappings: { orders: { total: 'numeric(12,2) → numeric(12,2)', id: 'bigint → bigint' }, customers: { name: 'text → text', id: 'integer → integer' } }, tables: ['customers', 'orders'] };
    expect(stableJson(a)).toBe(stableJson(b));
    expect(materialHash(a)).toBe(materialHash(b));
    expect(materialHash(a)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('is unchanged when nothing material changed, and names a table added, a mapping changed and a gate setting changed', () => {
    const reviewed = material();
    expect(reviewState([review(reviewed)], material())).toMatchObject({ by: 'alice', changedSince: false, changes: [] });
    const now = material({
      tables: ['customers', 'orders', 'refunds'],
      mappings: { ...reviewed.mappings, orders: { id: 'bigint → bigint', total: 'numeric(12,2) → double precision' }, refunds: { id: 'bigint → bigint' } },
      gates: { 'cutover.maxLag': 60000, 'cutover.requireReviewedPlan': false },
    });
    const state = reviewState([review(reviewed)], now);
    expect(state.changedSince).toBe(true);
    expect(state.changes).toEqual(['table added: refunds', 'mapping changed: orders.total numeric(12,2) → numeric(12,2) ⇒ numeric(12,2) → double precision', 'gate setting changed: cutover.maxLag 5000 ⇒ 60000']);
    expect(materialChanges(now, reviewed)).toContain('table removed: refunds');
  });

  it('takes the latest review, and says never reviewed without one', () => {
    const first = material();
    const second = material({ tables: ['customers', 'orders', 'refunds'] });
    expect(reviewState([review(first, '2026-12-01T00:00:00.000Z'), review(second, '2026-12-02T00:00:00.000Z')], second).changedSince).toBe(false);
    const never = reviewState([], first);
    expect(never).toMatchObject({ by: null, changedSince: null });
    expect(reviewGate(never)).toMatchObject({ name: 'plan-reviewed', ok: false, value: 'never reviewed' });
    expect(reviewGate(reviewState([review(first)], second))).toMatchObject({ ok: false });
    expect(reviewGate(reviewState([review(first)], first))).toMatchObject({ ok: true });
  });
});

describe('drills', () => {
  const drill = (verdict: 'pass' | 'fail', finishedAt: string, windows: number[]): AuditEntry => {
    const report: DrillReport = {
      migration: 'shop',
      startedAt: finishedAt,
      finishedAt,
      actor: 'local:bob',
      production: false,
      verdict,
      reasons: verdict === 'pass' ? [] : ['1 acknowledged write(s) lost'],
      writesAcknowledged: 100,
      cycles: windows.map((w, i) => ({ switch: i % 2 ? 'rollback' : 'cutover', result: 'done', windowMs: w, timeToRollbackMs: i % 2 ? w + 40 : null, writesHeld: 2, writesFailed: 0, rowsLost: verdict === 'pass' ? 0 : 1, drift: 0, gates: [] })),
    };
    return { at: finishedAt, action: 'drill', event: verdict === 'pass' ? 'done' : 'failed', requestId: 'd', actor: 'local:bob', phase: 'shadowing', activeSide: 'old', detail: report as unknown as Record<string, unknown> };
  };

  it('reads the last drill, its longest window and the last one that passed', () => {
    const last = lastDrillOf([drill('pass', '2026-11-28T00:00:00.000Z', [120, 95]), drill('fail', '2026-11-30T00:00:00.000Z', [300, 80])]);
    expect(last).toMatchObject({ verdict: 'fail', cycles: 2, maxWindowMs: 300, maxTimeToRollbackMs: 120, rowsLost: 2, lastPassAt: '2026-11-28T00:00:00.000Z' });
    expect(lastDrillOf([])).toBeNull();
  });

  it('keeps an emergency rehearsal\'s accepted loss apart from the ordinary switches\' rows lost', () => {
    const entry = drill('pass', '2026-11-30T00:00:00.000Z', [120, 95]);
    const report = entry.detail as unknown as DrillReport;
    report.cycles.push({ switch: 'emergency-rollback', result: 'done', windowMs: 40, timeToRollbackMs: 310, writesHeld: 0, writesFailed: 7, rowsLost: 3, drift: 0, gates: [] });
    expect(lastDrillOf([entry])).toMatchObject({ verdict: 'pass', cycles: 3, rowsLost: 0, maxTimeToRollbackMs: 310, emergency: { timeToRollbackMs: 310, rowsLost: 3 } });
    expect(lastDrillOf([drill('pass', '2026-11-30T00:00:00.000Z', [120])])?.emergency).toBeNull();
  });

  it('passes the drill gate only for a passing drill within the limit', () => {
    const now = Date.parse('2026-12-01T00:00:00.000Z');
    const week = parseDuration('7d') as number;
    expect(week).toBe(7 * 86_400_000);
    expect(drillGate(week, lastDrillOf([drill('pass', '2026-11-28T00:00:00.000Z', [100])]), now).ok).toBe(true);
    expect(drillGate(week, lastDrillOf([drill('pass', '2026-11-20T00:00:00.000Z', [100])]), now)).toMatchObject({ ok: false, name: 'drill-recent' });
    expect(drillGate(week, lastDrillOf([drill('fail', '2026-11-30T00:00:00.000Z', [100])]), now)).toMatchObject({ ok: false, value: 'no drill has passed' });
    expect(drillGate(week, null, now).ok).toBe(false);
  });
});
