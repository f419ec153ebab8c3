/**
 * The migration's control state, kept in the databases: the primary copy on `old` and a mirror on `new`
 * (DESIGN.md "Control state"). A new Tandem on another machine with the same tandem.yaml reads the same truth.
 *
 * - Writes go to old first, by compare-and-set on the document's version (and, for the lease holder's writes, in
 *   the same transaction as the lease-epoch check). Each successful write is then copied to new at the same
 *   version. A mirror write that fails (new unreachable) leaves the mirror behind; `syncMirror` (run by the lease
 *   holder with every renewal) copies every document whose mirror version is older. The mirror never takes writes
 *   of its own, so reconciling is one-way and needs no merge: old's version always wins.
 * - Reads come from old; when old cannot be reached they come from new's mirror, and say so (`source: 'new'`).
 */
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import type { StateBackend, StateDocument } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import { initialControlState, type ControlState, type LeaseHolder, type LeaseRecord, type StopRecord } from '../model/control.js';
import type { Direction, SideName } from '../model/direction.js';
import type { AuditEntry } from '../model/switch.js';
import { emptyTableVerification, type TableVerification, type VerificationStore } from '../verify/store.js';

const PRIMARY: SideName = 'old';
const MIRROR: SideName = 'new';
const CONTROL_KEY = 'control';
const STOP_KEY = 'service/last-stop';
const AUDIT_PREFIX = 'audit/';
const verificationPrefix = (direction: Direction) => `verification/${direction}/`;

export interface ControlRead {
  state: ControlState;
  version: number;
  /** Where it was read: `old` (the primary), or `new` when old could not be reached. */
  source: SideName;
}

export class StateStore {
  private readonly backends = new Map<SideName, Promise<StateBackend>>();
  /** Sides whose state tables are known to exist: reads never create them, writes do first. */
  private readonly ensured = new Set<SideName>();
  private readonly queues = new Map<SideName, Promise<unknown>>();
  private mirrorBehind = true;
  /** Told of every audit entry once written (the live events, src/control/events.ts). */
  onAudit: ((entry: AuditEntry) => void) | undefined;

  constructor(
    private readonly config: TandemConfig,
    private readonly log?: Logger,
  ) {}

  get migration(): string {
    return this.config.migration;
  }

  /** One connection per side, opened on first use and dropped after a failure so the next use reconnects. */
  private backend(side: SideName): Promise<StateBackend> {
    let b = this.backends.get(side);
    if (!b) {
      const url = this.config[side].url;
      b = engineForUrl(url).openStateBackend(url);
      this.backends.set(side, b);
      b.catch(() => this.backends.delete(side));
    }
    return b;
  }

  /**
   * Makes both sides ready for writes now (connected, the state tables there), for a caller that will write: every
   * write is copied to the mirror, and the first write to a side would otherwise connect and check its tables then.
   * Queued behind what was asked before. A failure here is only the next write's retry.
   */
  prepareWrites(): void {
    for (const side of [PRIMARY, MIRROR]) void this.write(side, async () => undefined).catch(() => undefined);
  }

  /**
   * Runs `work` on one side's connection, one operation at a time: an operation may be a transaction of several
   * statements (compare-and-set, a locked read-modify-write), which must not interleave with another on the same
   * connection. Concurrent writers in different processes serialize in the database instead.
   */
  private on<T>(side: SideName, work: (b: StateBackend) => Promise<T>): Promise<T> {
    const run = (this.queues.get(side) ?? Promise.resolve()).then(async () => {
      const backend = await this.backend(side);
      try {
        return await work(backend);
      } catch (err) {
        if (err instanceof TandemError && err.retriable) {
          this.backends.delete(side);
          await backend.close().catch(() => undefined);
        }
        throw err;
      }
    });
    this.queues.set(side, run.catch(() => undefined));
    return run;
  }

  /** Like `on`, for writes: the state tables are created first if this side has none yet. */
  private write<T>(side: SideName, work: (b: StateBackend) => Promise<T>): Promise<T> {
    return this.on(side, async (b) => {
      if (!this.ensured.has(side)) {
        await b.ensureTables();
        this.ensured.add(side);
      }
      return work(b);
    });
  }

  /** Reads from the primary, or from the mirror when the primary cannot be reached. */
  private async read<T>(work: (b: StateBackend) => Promise<T>): Promise<{ value: T; source: SideName }> {
    try {
      return { value: await this.on(PRIMARY, work), source: PRIMARY };
    } catch (primaryErr) {
      if (!(primaryErr instanceof TandemError) || !primaryErr.retriable) throw primaryErr;
      try {
        const value = await this.on(MIRROR, work);
        this.log?.warn({ err: errorMessage(primaryErr) }, "old cannot be reached: reading the control state from new's mirror");
        return { value, source: MIRROR };
      } catch {
        throw new TandemError('TANDEM_STATE', `the control state cannot be read: ${errorMessage(primaryErr)}`, {
          fix: 'start the old database (it holds the control state; new holds a mirror), then try again',
          retriable: true,
          cause: primaryErr,
        });
      }
    }
  }

  /** Copies a document written on the primary to the mirror; a failure only leaves the mirror behind. */
  private async mirror(doc: StateDocument): Promise<void> {
    try {
      await this.write(MIRROR, (b) => b.putVersion(this.migration, doc.key, doc.value, doc.version, doc.updatedAt));
    } catch (err) {
      this.mirrorBehind = true;
      this.log?.debug({ err: errorMessage(err), key: doc.key }, 'mirror on new not updated; it is brought up to date later');
    }
  }

  // --- the control record ---

  async readControl(): Promise<ControlRead | undefined> {
    const { value: doc, source } = await this.read((b) => b.get(this.migration, CONTROL_KEY));
    if (!doc) return undefined;
    return { state: JSON.parse(doc.value) as ControlState, version: doc.version, source };
  }

  /** The control record, created in its initial state (setup, forward) when the migration has none yet. */
  async ensureControl(actor: string): Promise<ControlRead> {
    const existing = await this.readControl();
    if (existing) return existing;
    const state = initialControlState(actor, new Date());
    await this.write(PRIMARY, (b) => b.put(this.migration, CONTROL_KEY, JSON.stringify(state), 0));
    const created = await this.readControl();
    if (!created) throw new TandemError('TANDEM_STATE', 'the control record could not be created on old', { fix: 'check that Tandem may create tables on old (tandem check)' });
    await this.mirrorKey(CONTROL_KEY);
    return created;
  }

  /**
   * Compare-and-set of the control record: `expectedVersion` is the version the caller read. `epoch` proves the
   * caller still holds the lease, in the same transaction. TANDEM_STATE_CONFLICT when someone else wrote first.
   */
  async writeControl(next: ControlState, expectedVersion: number, epoch: number): Promise<ControlRead> {
    const ok = await this.write(PRIMARY, (b) => b.put(this.migration, CONTROL_KEY, JSON.stringify(next), expectedVersion, epoch));
    if (!ok) {
      throw new TandemError('TANDEM_STATE_CONFLICT', `the control state changed while this change was prepared (version ${expectedVersion} is no longer current)`, {
        fix: 'read the state again (tandem status) and retry',
      });
    }
    await this.mirrorKey(CONTROL_KEY);
    return { state: next, version: expectedVersion + 1, source: PRIMARY };
  }

  /**
   * Changes the control state by compare-and-set under the lease `epoch`; a concurrent writer makes it read again
   * and retry. `change` returns undefined when there is nothing to change.
   */
  async updateControl(change: (state: ControlState) => ControlState | undefined, epoch: number, actor: string): Promise<ControlRead> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.ensureControl(actor);
      const wanted = change(current.state);
      if (!wanted) return current;
      try {
        return await this.writeControl({ ...wanted, updatedAt: new Date().toISOString(), updatedBy: actor }, current.version, epoch);
      } catch (err) {
        if (!(err instanceof TandemError) || err.code !== 'TANDEM_STATE_CONFLICT') throw err;
      }
    }
    throw new TandemError('TANDEM_STATE_CONFLICT', 'the control state kept changing while this change was made', { fix: 'check that only one Tandem instance runs this migration (tandem status)' });
  }

  private async mirrorKey(key: string): Promise<void> {
    const doc = await this.on(PRIMARY, (b) => b.get(this.migration, key));
    if (doc) await this.mirror(doc);
  }

  // --- how the service last stopped ---

  /** Not guarded by the lease: a holder that lost it still says why it stopped. */
  async recordStop(stop: StopRecord): Promise<void> {
    const doc = await this.write(PRIMARY, (b) => b.update(this.migration, STOP_KEY, () => JSON.stringify(stop)));
    await this.mirror(doc);
  }

  async readStop(): Promise<StopRecord | undefined> {
    const { value: doc } = await this.read((b) => b.get(this.migration, STOP_KEY));
    return doc ? (JSON.parse(doc.value) as StopRecord) : undefined;
  }

  // --- the audit log: append-only ---

  /**
   * Appends an entry: a new document, created with compare-and-set on "absent", so an entry is never overwritten.
   * Written on old first (and mirrored): it survives a crash of the process that wrote it.
   */
  async appendAudit(entry: AuditEntry): Promise<void> {
    for (let n = 0; ; n++) {
      const key = `${AUDIT_PREFIX}${entry.at}/${entry.requestId}/${n}`;
      if (await this.write(PRIMARY, (b) => b.put(this.migration, key, JSON.stringify(entry), 0))) {
        await this.mirrorKey(key);
        this.onAudit?.(entry);
        return;
      }
      if (n > 100) throw new TandemError('TANDEM_STATE', `the audit entry for ${entry.requestId} could not be written`, { fix: 'check the state tables on old (tandem check)' });
    }
  }

  /** The entries of one request at one time (an entry's key starts with both): what another process just wrote. */
  async readAuditEntries(at: string, requestId: string): Promise<AuditEntry[]> {
    const { value: docs } = await this.read((b) => b.list(this.migration, `${AUDIT_PREFIX}${at}/${requestId}/`));
    return docs.map((d) => JSON.parse(d.value) as AuditEntry);
  }

  /** Every audit entry, oldest first. */
  async listAudit(): Promise<AuditEntry[]> {
    const { value: docs } = await this.read((b) => b.list(this.migration, AUDIT_PREFIX));
    return docs.map((d) => JSON.parse(d.value) as AuditEntry).sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  }

  // --- documents of other control modules (approvals): read from old (or the mirror), written on old and mirrored ---

  async readDocument(key: string): Promise<{ value: string; version: number } | undefined> {
    const { value: doc } = await this.read((b) => b.get(this.migration, key));
    return doc ? { value: doc.value, version: doc.version } : undefined;
  }

  async listDocuments(prefix: string): Promise<Array<{ key: string; value: string; version: number }>> {
    const { value: docs } = await this.read((b) => b.list(this.migration, prefix));
    return docs.map((d) => ({ key: d.key, value: d.value, version: d.version }));
  }

  /** Compare-and-set on old (0: the document must be absent); false when someone else wrote first. Mirrored. */
  async putDocument(key: string, value: string, expectedVersion: number): Promise<boolean> {
    const ok = await this.write(PRIMARY, (b) => b.put(this.migration, key, value, expectedVersion));
    if (ok) await this.mirrorKey(key);
    return ok;
  }

  // --- verification records ---

  async readVerification(direction: Direction): Promise<TableVerification[]> {
    const { value: docs } = await this.read((b) => b.list(this.migration, verificationPrefix(direction)));
    return docs.map((d) => JSON.parse(d.value) as TableVerification);
  }

  async updateVerification(direction: Direction, table: string, change: (entry: TableVerification) => void): Promise<TableVerification> {
    const doc = await this.write(PRIMARY, (b) =>
      b.update(this.migration, `${verificationPrefix(direction)}${table}`, (current) => {
        const entry = current ? (JSON.parse(current) as TableVerification) : emptyTableVerification(table);
        change(entry);
        return JSON.stringify(entry);
      }),
    );
    await this.mirror(doc);
    return JSON.parse(doc.value) as TableVerification;
  }

  /** Forgets a direction's verification results (the shadow was copied again: they describe rows that are gone). */
  async clearVerification(direction: Direction): Promise<void> {
    await this.write(PRIMARY, (b) => b.remove(this.migration, verificationPrefix(direction)));
    await this.write(MIRROR, (b) => b.remove(this.migration, verificationPrefix(direction))).catch(() => {
      this.mirrorBehind = true;
    });
  }

  verificationStore(direction: Direction): VerificationStore {
    return {
      read: () => this.readVerification(direction),
      update: (table, change) => this.updateVerification(direction, table, change),
    };
  }

  // --- the lease (its home is old; new and the shadow record its epoch) ---

  async readLease(): Promise<{ lease: LeaseRecord | undefined; source: SideName }> {
    const { value, source } = await this.read((b) => b.readLease(this.migration));
    return { lease: value, source };
  }

  tryAcquireLease(holder: LeaseHolder, ttlMs: number, secret: string, replacing?: string): Promise<LeaseRecord | undefined> {
    return this.write(PRIMARY, (b) => b.tryAcquireLease(this.migration, holder, ttlMs, secret, replacing));
  }

  renewLease(holderId: string, epoch: number, ttlMs: number, heartbeat: string | null): Promise<boolean> {
    return this.write(PRIMARY, (b) => b.renewLease(this.migration, holderId, epoch, ttlMs, heartbeat));
  }

  releaseLease(holderId: string, epoch: number): Promise<void> {
    return this.write(PRIMARY, (b) => b.releaseLease(this.migration, holderId, epoch));
  }

  /** Records the lease's epoch on `side` (the mirror, or the shadow), so writes there under an older epoch fail. */
  recordEpoch(side: SideName, lease: LeaseRecord): Promise<boolean> {
    return this.write(side, (b) => b.recordEpoch(this.migration, lease));
  }

  /** Brings new's mirror up to date with old (documents whose mirror version is older). Cheap when nothing lags. */
  async syncMirror(): Promise<void> {
    if (!this.mirrorBehind) return;
    const primary = await this.on(PRIMARY, (b) => b.list(this.migration, ''));
    const mirrored = new Map((await this.on(MIRROR, (b) => b.list(this.migration, ''))).map((d) => [d.key, d.version]));
    for (const doc of primary) {
      if ((mirrored.get(doc.key) ?? 0) < doc.version) await this.write(MIRROR, (b) => b.putVersion(this.migration, doc.key, doc.value, doc.version, doc.updatedAt));
    }
    this.mirrorBehind = false;
  }

  async close(): Promise<void> {
    const all = [...this.backends.values()];
    this.backends.clear();
    await Promise.all(all.map((p) => p.then((b) => b.close()).catch(() => undefined)));
  }
}
