import type { CanonicalKey, CanonicalRow, VerifyReader, VerifyTable } from '../engines/engine.js';
import { keyId } from './keys.js';
import { classify, type Finding } from './compare.js';
import { sleep } from './rate-limit.js';

/**
 * Log positions only (H23): where the active side is now, and how far the shadow's checkpoint has got. Clocks of
 * the two machines are never compared.
 */
export interface PositionOracle {
  activePosition(): Promise<string>;
  /** The shadow's checkpoint: the last applied transaction or, if later, the last idle position recorded. */
  appliedPosition(): Promise<string | undefined>;
  compare(a: string, b: string): number;
}

export interface RecheckOptions {
  /** How long to wait for the checkpoint to pass the position read with the active rows. */
  settleMs: number;
  /** Consecutive rounds a difference must survive, with the active row unchanged, before it is drift. */
  confirmRounds?: number;
  /** Rounds in which a row keeps changing before it is left to the next pass (not reported). */
  maxRounds?: number;
  signal?: AbortSignal;
}

export interface Unconfirmed {
  keys: CanonicalKey[];
  /** The active position the shadow had to reach, and where its checkpoint stood when waiting stopped. */
  waitingFor: string;
  applied: string | null;
}

export interface RecheckResult {
  drift: Finding[];
  /** Equal once the changes in flight were applied. */
  resolved: CanonicalKey[];
  /** Changed on the active side in every round: in flight, re-checked later, never reported. */
  changing: CanonicalKey[];
  unconfirmed: Unconfirmed | null;
}

const sameRow = (a: CanonicalRow | undefined, b: CanonicalRow | undefined) => JSON.stringify(a?.values ?? null) === JSON.stringify(b?.values ?? null);

/**
 * Decides which suspects are drift: a row that differs once every change up to the compared position has been
 * applied (DESIGN.md). Each round reads the active rows, then the active position P; waits until the shadow's
 * checkpoint has passed P; reads the shadow rows, then the differing rows' active values again. A row equal on both
 * sides is resolved. A row whose active value moved meanwhile is in flight and goes round again. A row that differs
 * while its active value stood still is drift once it has done so in `confirmRounds` consecutive rounds (one round
 * could be fooled by a value changed and changed back while it waited). Where both sides hash rows alike, a first
 * round on those hashes settles the rows that are equal (fastRound).
 */
export async function recheck(active: VerifyReader, shadow: VerifyReader, table: VerifyTable, keys: CanonicalKey[], oracle: PositionOracle, opts: RecheckOptions): Promise<RecheckResult> {
  const confirmRounds = opts.confirmRounds ?? 2;
  const maxRounds = opts.maxRounds ?? 6;
  const result: RecheckResult = { drift: [], resolved: [], changing: [], unconfirmed: null };
  let pending = new Map(keys.map((k) => [keyId(k), { key: k, confirmations: 0 }]));
  const fast = await fastRound(active, shadow, table, keys, oracle, opts);
  if (fast && 'unconfirmed' in fast) return { ...result, unconfirmed: fast.unconfirmed };
  for (const key of fast?.resolved ?? []) {
    pending.delete(keyId(key));
    result.resolved.push(key);
  }
  for (let round = 0; round < maxRounds && pending.size > 0; round++) {
    if (opts.signal?.aborted) break;
    const list = [...pending.values()].map((p) => p.key);
    const before = await active.canonicalRows(table, list);
    const position = await oracle.activePosition();
    const reached = await waitForApplied(oracle, position, opts.settleMs, opts.signal);
    if (reached !== true) {
      result.unconfirmed = { keys: list, waitingFor: position, applied: reached };
      return result;
    }
    const shadowRows = await shadow.canonicalRows(table, list);
    const findings = classify(table, list, before, shadowRows);
    // Only a row that differs needs its active value read again (did it move meanwhile?): an equal row is resolved
    // whatever happened since. Under a steady load nearly every re-checked row is equal, so this read is small.
    const differing = [...findings.values()].map((f) => f.key);
    const after = differing.length ? await active.canonicalRows(table, differing) : new Map<string, CanonicalRow>();
    const next = new Map<string, { key: CanonicalKey; confirmations: number }>();
    for (const [id, p] of pending) {
      const finding = findings.get(id);
      if (!finding) result.resolved.push(p.key);
      else if (!sameRow(before.get(id), after.get(id))) next.set(id, { key: p.key, confirmations: 0 });
      else if (p.confirmations + 1 >= confirmRounds) result.drift.push(finding);
      else next.set(id, { key: p.key, confirmations: p.confirmations + 1 });
    }
    pending = next;
  }
  result.changing.push(...[...pending.values()].map((p) => p.key));
  return result;
}

/**
 * Where both sides hash rows alike (VerifyReader.rowFastHashes), a first round on one hash per row: under a steady
 * load nearly every re-checked row is equal, and its hash costs both databases and this process far less than its
 * canonical text (long texts digested, JSON canonicalised here). The same order as a canonical round: active
 * hashes, the active position, the wait, the shadow's hashes. Equal rows are resolved; the others, and every row
 * where a side has no such hash, go through the canonical rounds.
 */
async function fastRound(
  active: VerifyReader,
  shadow: VerifyReader,
  table: VerifyTable,
  keys: CanonicalKey[],
  oracle: PositionOracle,
  opts: RecheckOptions,
): Promise<{ resolved: CanonicalKey[] } | { unconfirmed: Unconfirmed } | undefined> {
  if (active.fastHash === undefined || active.fastHash !== shadow.fastHash || opts.signal?.aborted) return undefined;
  const before = await active.rowFastHashes(table, keys);
  if (!before) return undefined;
  const position = await oracle.activePosition();
  const reached = await waitForApplied(oracle, position, opts.settleMs, opts.signal);
  if (reached !== true) return { unconfirmed: { keys, waitingFor: position, applied: reached } };
  const after = await shadow.rowFastHashes(table, keys);
  if (!after) return undefined;
  // A key absent on both sides is equal too (the row was deleted on both), as a canonical round would say.
  return { resolved: keys.filter((k) => before.get(keyId(k)) === after.get(keyId(k))) };
}

/**
 * The pauses between checkpoint reads while waiting: short first, since a stream in step applies within tens of
 * milliseconds, then at most every 250 ms. A flat 250 ms made every re-check round of a busy stream wait a quarter
 * second per step (4–5 s a round on the order load, against 15 ms of lag), so applied rows queued past the
 * re-check queue's bound and were left to the next full pass.
 */
const CHECKPOINT_POLL_MS = [5, 10, 20, 40, 80, 160, 250] as const;

/** true once the checkpoint is at or past `position`; otherwise (timeout) the checkpoint where waiting stopped. */
export async function waitForApplied(oracle: PositionOracle, position: string, timeoutMs: number, signal?: AbortSignal): Promise<true | string | null> {
  const deadline = Date.now() + timeoutMs;
  let applied: string | undefined;
  for (let attempt = 0; ; attempt++) {
    applied = await oracle.appliedPosition();
    if (applied !== undefined && oracle.compare(applied, position) >= 0) return true;
    if (Date.now() >= deadline || signal?.aborted) return applied ?? null;
    const pause = CHECKPOINT_POLL_MS[Math.min(attempt, CHECKPOINT_POLL_MS.length - 1)] as number;
    await sleep(Math.min(pause, Math.max(0, deadline - Date.now())), signal);
  }
}
