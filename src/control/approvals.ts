/**
 * Two-person approval of switches (`cutover.approvals: 2`, docs/approvals.md). A switch asked for by one actor is
 * stored as a pending request in the state store (the databases hold the truth: a restarted or a standby service
 * sees the same requests) and runs only when a different actor approves it before it expires. The CLI's local
 * operator `local:<os-user>` is one actor like any token. Requests, approvals and expiries are audited.
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import type { ControlState, Phase, SwitchKind } from '../model/control.js';
import type { AuditEntry, Gate, SwitchResult } from '../model/switch.js';
import type { StateStore } from './state-store.js';

const PREFIX = 'approval/';

/** What the requester asked for, replayed as it was when the request is approved. */
export interface ApprovedSwitch {
  kind: SwitchKind;
  expectedPhase: Phase;
  allowDrift?: boolean;
  emergency?: boolean;
  acceptDataLoss?: boolean;
}

export interface ApprovalRecord {
  requestId: string;
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  status: 'pending' | 'approved' | 'expired';
  approvedBy: string | null;
  decidedAt: string | null;
  request: ApprovedSwitch;
}

/** How many actors a switch needs: `emergencyApprovals` (default `approvals`) for an emergency rollback. */
export function approvalsNeeded(config: TandemConfig, req: { emergency?: boolean }): 1 | 2 {
  return req.emergency ? (config.cutover.emergencyApprovals ?? config.cutover.approvals) : config.cutover.approvals;
}

/** The record as it stands at `now`: a pending request past its expiry is expired, whether or not that was stored. */
export function effectiveStatus(record: ApprovalRecord, now: number): ApprovalRecord['status'] {
  return record.status === 'pending' && now > Date.parse(record.expiresAt) ? 'expired' : record.status;
}

export class Approvals {
  constructor(
    private readonly config: TandemConfig,
    private readonly store: StateStore,
    private readonly log: Logger,
  ) {}

  private async audit(entry: Omit<AuditEntry, 'at'>): Promise<void> {
    try {
      await this.store.appendAudit({ at: new Date().toISOString(), ...entry });
    } catch (err) {
      this.log.error({ err: errorMessage(err), requestId: entry.requestId, event: entry.event }, 'cannot write the audit entry');
    }
  }

  /** Stores a pending request (gates passed when it was asked) and answers `pending-approval`. */
  async open(req: ApprovedSwitch & { actor: string }, requestId: string, state: ControlState, gates: Gate[]): Promise<SwitchResult> {
    const now = new Date();
    const record: ApprovalRecord = {
      requestId,
      requestedBy: req.actor,
      requestedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + this.config.cutover.approvalTimeout).toISOString(),
      status: 'pending',
      approvedBy: null,
      decidedAt: null,
      request: { kind: req.kind, expectedPhase: req.expectedPhase, allowDrift: req.allowDrift, emergency: req.emergency, acceptDataLoss: req.acceptDataLoss },
    };
    if (!(await this.store.putDocument(`${PREFIX}${requestId}`, JSON.stringify(record), 0))) {
      throw new TandemError('TANDEM_STATE_CONFLICT', `a request ${requestId} exists already`, { fix: 'ask again' });
    }
    await this.audit({ action: req.kind, event: 'pending-approval', requestId, actor: req.actor, phase: state.phase, activeSide: state.activeSide, gates, detail: { expiresAt: record.expiresAt } });
    this.log.info({ requestId, kind: req.kind, actor: req.actor, expiresAt: record.expiresAt }, `${req.kind} requested by ${req.actor}: waiting for a second actor's approval`);
    return {
      requestId,
      kind: req.kind,
      result: 'pending-approval',
      phase: state.phase,
      activeSide: state.activeSide,
      gates,
      windowMs: null,
      positions: { fence: {}, drained: {} },
      certificate: null,
      approval: { requestedBy: req.actor, approvedBy: null, expiresAt: record.expiresAt },
    };
  }

  async get(requestId: string): Promise<(ApprovalRecord & { version: number }) | undefined> {
    const doc = await this.store.readDocument(`${PREFIX}${requestId}`);
    if (!doc) return undefined;
    const record = JSON.parse(doc.value) as ApprovalRecord;
    return { ...record, status: effectiveStatus(record, Date.now()), version: doc.version };
  }

  /** Every request, newest first, with expiry applied. */
  async list(): Promise<ApprovalRecord[]> {
    const now = Date.now();
    return (await this.store.listDocuments(PREFIX))
      .map((d) => JSON.parse(d.value) as ApprovalRecord)
      .map((r) => ({ ...r, status: effectiveStatus(r, now) }))
      .sort((a, b) => (a.requestedAt < b.requestedAt ? 1 : -1));
  }

  /**
   * Records `approver`'s approval of a pending request and returns it, to be run. Refused (nothing changes) when the
   * request is unknown, was asked for by the same actor, has expired, or was already approved. Compare-and-set on
   * the stored record: two approvers at once cannot both run the switch.
   */
  async approve(requestId: string, approver: string): Promise<ApprovalRecord> {
    const doc = await this.store.readDocument(`${PREFIX}${requestId}`);
    if (!doc) {
      throw new TandemError('TANDEM_APPROVAL_NOT_FOUND', `no switch request ${requestId} waits for approval`, { fix: 'copy the requestId the pending request printed (tandem audit lists requests)' });
    }
    const record = JSON.parse(doc.value) as ApprovalRecord;
    const kind = record.request.kind;
    const state = (await this.store.readControl())?.state;
    const where = { phase: state?.phase ?? record.request.expectedPhase, activeSide: state?.activeSide ?? ('old' as const) };
    if (record.requestedBy === approver) {
      const error = { code: 'TANDEM_APPROVAL_SELF', message: `${approver} tried to approve its own request` };
      await this.audit({ action: kind, event: 'refused', requestId, actor: approver, ...where, error, detail: { requestedBy: record.requestedBy } });
      throw new TandemError('TANDEM_APPROVAL_SELF', `${requestId} was requested by ${approver}: a request needs a second, different actor to approve it`, {
        fix: 'ask someone else to approve it with their own token (tandem approve <request-id> --token …)',
      });
    }
    if (effectiveStatus(record, Date.now()) === 'expired') {
      if (record.status === 'pending') {
        const expired: ApprovalRecord = { ...record, status: 'expired', decidedAt: new Date().toISOString() };
        if (await this.store.putDocument(`${PREFIX}${requestId}`, JSON.stringify(expired), doc.version)) {
          await this.audit({ action: kind, event: 'expired', requestId, actor: approver, ...where, detail: { requestedBy: record.requestedBy, expiresAt: record.expiresAt } });
        }
      }
      throw new TandemError('TANDEM_APPROVAL_EXPIRED', `${requestId} expired at ${record.expiresAt} (cutover.approvalTimeout): nothing was changed`, { fix: `ask for the ${kind} again` });
    }
    if (record.status !== 'pending') {
      throw new TandemError('TANDEM_STATE_CONFLICT', `${requestId} was already approved by ${record.approvedBy ?? 'someone'} at ${record.decidedAt ?? '?'}`, { fix: 'tandem status and tandem audit show its outcome' });
    }
    const approved: ApprovalRecord = { ...record, status: 'approved', approvedBy: approver, decidedAt: new Date().toISOString() };
    if (!(await this.store.putDocument(`${PREFIX}${requestId}`, JSON.stringify(approved), doc.version))) {
      throw new TandemError('TANDEM_STATE_CONFLICT', `${requestId} was decided by someone else at the same moment`, { fix: 'tandem audit shows who; nothing was changed by this approval' });
    }
    await this.audit({ action: kind, event: 'approved', requestId, actor: approver, approvedBy: approver, ...where, detail: { requestedBy: record.requestedBy } });
    this.log.info({ requestId, requestedBy: record.requestedBy, approvedBy: approver }, `${kind} ${requestId} approved by ${approver}: running it`);
    return approved;
  }
}
