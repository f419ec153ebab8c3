/**
 * `tandem repair`: plan, then copy the active side's rows over the shadow's through the apply path, and resolve the
 * drift records of the rows that are equal afterwards. The direction is the stored one. A repair changes the
 * shadow outside replication, so every applied plan leaves an audit entry (who, which table, how many rows).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { TandemConfig } from '../config/schema.js';
import { TandemError, errorMessage } from '../errors.js';
import { sidesOf, type Direction, type SideName } from '../model/direction.js';
import { replicatedTables } from '../replicate/tables.js';
import { keyObject, parseKeyArgument } from '../verify/keys.js';
import { applyRepair, planRepair, type RepairOutcome, type RepairStep } from '../verify/repair.js';
import { mergeFindings } from '../verify/store.js';
import { Verifier } from '../verify/verifier.js';
import { osUser } from './lease.js';
import { StateStore } from './state-store.js';
import { chooseTables, CountingLimiter, storedDirection } from './verification.js';
import { engineForUrl } from '../engines/registry.js';

export interface RepairPlanLine {
  key: Record<string, string>;
  action: RepairStep['action'];
  columns: string[];
}

export type RepairResult = Omit<RepairOutcome, 'cannotHold'> & {
  cannotHold: Array<{ key: Record<string, string>; columns: Array<{ column: string; active: string | null; shadow: string | null }> }>;
};

export interface RepairSession {
  direction: Direction;
  active: SideName;
  shadow: SideName;
  table: string;
  plan: RepairPlanLine[];
  /** Applies the plan; rows equal afterwards have their drift records resolved. */
  apply(): Promise<RepairResult>;
  close(): Promise<void>;
}

/** At most this many repaired keys are named in the audit entry (the count is always there). */
const AUDITED_KEYS = 20;

/** Rows of a table as the active side estimates them (statistics, not a count), for progress; 0 when unknown. */
async function estimateRows(config: TandemConfig, side: SideName, table: string): Promise<number> {
  try {
    const url = config[side].url;
    const reader = await engineForUrl(url).captureSource({ url, migration: config.migration, side, tables: [table] }).openReader(undefined);
    try {
      return await reader.estimateRows(table);
    } finally {
      await reader.close();
    }
  } catch {
    return 0;
  }
}

export async function planRepairOf(
  config: TandemConfig,
  table: string,
  keys: string[] | 'all',
  log: Logger,
  actor = `local:${osUser()}`,
  opts: { onProgress?: (rowsCompared: number, rowsEstimated: number) => void } = {},
): Promise<RepairSession> {
  const store = new StateStore(config, log);
  let verifier: Verifier | undefined;
  try {
    const direction = await storedDirection(store);
    chooseTables(await replicatedTables(config, direction), [table], config.migration);
    verifier = await Verifier.open(config, direction, [table]);
    const v = verifier;
    const spec = v.specs.get(table);
    if (!spec) throw new TandemError('TANDEM_USAGE', `cannot repair ${table}: ${v.problems.map((p) => p.problem).join('; ')}`, { fix: 'fix the table problem first (tandem verify names it)' });
    const estimated = keys === 'all' && opts.onProgress ? await estimateRows(config, sidesOf(direction).active, table) : 0;
    const limiter = new CountingLimiter(0, () => opts.onProgress?.(limiter.rows, Math.max(estimated, limiter.rows)));
    const steps = await planRepair(v, spec, keys === 'all' ? 'all' : keys.map((k) => parseKeyArgument(spec, k)), config.verify.chunkRows, limiter);
    const { active, shadow } = sidesOf(direction);
    return {
      direction,
      active,
      shadow,
      table,
      plan: steps.map((s) => ({ key: keyObject(spec, s.key), action: s.action, columns: s.columns })),
      apply: async () => {
        const requestId = `repair-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${randomUUID().slice(0, 8)}`;
        const audited = { table, direction, shadow, keys: steps.length, keysRepaired: steps.slice(0, AUDITED_KEYS).map((s) => keyObject(spec, s.key)) };
        const audit = async (event: 'done' | 'failed', extra: Record<string, unknown>, error?: { code: string; message: string; fix?: string }) => {
          const state = (await store.readControl().catch(() => undefined))?.state;
          await store
            .appendAudit({ at: new Date().toISOString(), action: 'repair', event, requestId, actor, phase: state?.phase ?? 'shadowing', activeSide: state?.activeSide ?? active, detail: { ...audited, ...extra }, ...(error ? { error } : {}) })
            .catch((err: unknown) => log.error({ err: errorMessage(err), requestId }, 'cannot write the audit entry of the repair'));
        };
        let outcome: RepairOutcome;
        try {
          outcome = await applyRepair(config, direction, v, spec, steps);
        } catch (err) {
          await audit('failed', {}, { code: err instanceof TandemError ? err.code : 'TANDEM_INTERNAL', message: errorMessage(err), ...(err instanceof TandemError && err.fix ? { fix: err.fix } : {}) });
          throw err;
        }
        await audit('done', { written: outcome.written, stillDiffering: outcome.stillDiffering });
        // The repaired rows that are equal now resolve their drift records.
        const unresolved = new Set([...outcome.cannotHold.map((c) => JSON.stringify(c.key))]);
        const resolved = outcome.changedMeanwhile ? [] : steps.filter((s) => !unresolved.has(JSON.stringify(s.key))).map((s) => keyObject(spec, s.key));
        await store.updateVerification(direction, table, (entry) => mergeFindings(entry, [], resolved, { complete: false, at: new Date().toISOString() }));
        return { ...outcome, cannotHold: outcome.cannotHold.map((c) => ({ key: keyObject(spec, c.key), columns: c.columns })) };
      },
      close: async () => {
        await v.close();
        await store.close();
      },
    };
  } catch (err) {
    await verifier?.close();
    await store.close();
    throw err;
  }
}
