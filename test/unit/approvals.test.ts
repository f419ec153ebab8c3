import { describe, expect, it } from 'vitest';
import { approvalsNeeded, effectiveStatus, type ApprovalRecord } from '../../src/control/approvals.js';
import { configSchema } from '../../src/config/schema.js';

const config = (cutover: Record<string, unknown>) => configSchema.parse({ migration: 'm', old: { url: 'postgres://a/b' }, new: { url: 'postgres://a/c' }, cutover });

describe('approvals needed', () => {
  it('one by default; two when configured; an emergency rollback follows emergencyApprovals, else approvals', () => {
    expect(approvalsNeeded(config({}), {})).toBe(1);
    expect(approvalsNeeded(config({ approvals: 2 }), {})).toBe(2);
    expect(approvalsNeeded(config({ approvals: 2 }), { emergency: true })).toBe(2);
    expect(approvalsNeeded(config({ approvals: 2, emergencyApprovals: 1 }), { emergency: true })).toBe(1);
    expect(approvalsNeeded(config({ approvals: 2, emergencyApprovals: 1 }), {})).toBe(2);
    expect(() => config({ approvals: 3 })).toThrow();
    expect(config({ approvalTimeout: '2m' }).cutover.approvalTimeout).toBe(120_000);
  });

  it('a pending request past its expiry is expired; an approved one stays approved', () => {
    const r: ApprovalRecord = {
      requestId: 'cutover-x',
      requestedBy: 'a',
      requestedAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T00:15:00.000Z',
      status: 'pending',
      approvedBy: null,
      decidedAt: null,
      request: { kind: 'cutover', expectedPhase: 'shadowing' },
    };
    expect(effectiveStatus(r, Date.parse('2026-01-01T00:14:59Z'))).toBe('pending');
    expect(effectiveStatus(r, Date.parse('2026-01-01T00:15:01Z'))).toBe('expired');
    expect(effectiveStatus({ ...r, status: 'approved' }, Date.parse('2026-01-01T01:00:00Z'))).toBe('approved');
  });
});
