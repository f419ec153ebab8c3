import type { TandemConfig } from '../config/schema.js';
import type { CanonicalKey, CanonicalRow, VerifyTable } from '../engines/engine.js';
import { engineForUrl } from '../engines/registry.js';
import { keyOf, type Change } from '../model/change.js';
import { sidesOf, type Direction } from '../model/direction.js';
import { classify, scanTable, type Finding } from './compare.js';
import { canonicalKeyOfRow, keyId } from './keys.js';
import { RowRateLimiter } from './rate-limit.js';
import type { Verifier } from './verifier.js';

/** What repair will do to one shadow row: the active side's row goes over it, or it goes away. */
export interface RepairStep {
  key: CanonicalKey;
  action: 'insert' | 'update' | 'delete';
  /** For update: the columns that differ now. */
  columns: string[];
}

const actionOf = (f: Finding): RepairStep['action'] => (f.kind === 'missing' ? 'insert' : f.kind === 'extra' ? 'delete' : 'update');

/** The rows that differ now among `keys` (or in the whole table), read column by column from both sides. */
export async function planRepair(verifier: Verifier, spec: VerifyTable, keys: CanonicalKey[] | 'all', chunkRows: number, limiter: RowRateLimiter = new RowRateLimiter(0)): Promise<RepairStep[]> {
  let candidates: CanonicalKey[];
  if (keys === 'all') {
    // `limiter` is unlimited; a caller passes its own to count the rows compared (progress on a terminal).
    const scan = await scanTable(verifier.active, verifier.shadow, spec, { chunkRows, limiter });
    candidates = scan.suspects;
  } else candidates = keys;
  // canonicalRows reads in bounded batches itself.
  const [a, s] = await Promise.all([verifier.active.canonicalRows(spec, candidates), verifier.shadow.canonicalRows(spec, candidates)]);
  return [...classify(spec, candidates, a, s).values()].map((f) => ({ key: f.key, action: actionOf(f), columns: f.columns }));
}

export interface RepairOutcome {
  /** Rows written or deleted on the shadow. */
  written: number;
  /** Rows that still differ right after the repair: those below. */
  stillDiffering: number;
  /** Still differing because the active row changed meanwhile (in flight): verify again later. */
  changedMeanwhile: number;
  /**
   * Still differing although the active row did not change: the shadow stores something else than was written (a
   * type or collation that alters the value). Each with the differing columns, as both sides read them back.
   */
  cannotHold: Array<{ key: CanonicalKey; columns: Array<{ column: string; active: string | null; shadow: string | null }> }>;
}

/**
 * Copies the active side's current rows over the shadow's through the apply path (the same upserts and deletes
 * replication uses), without touching the checkpoint. The shadow rows are locked first and the active rows read
 * after: a change the service applies to one of these rows either committed before the lock, and is then older than
 * what repair reads, or waits for repair's commit and is applied on top. Either way the row ends as the stream
 * leaves it, never older.
 */
export async function applyRepair(config: TandemConfig, direction: Direction, verifier: Verifier, spec: VerifyTable, steps: RepairStep[]): Promise<RepairOutcome> {
  if (steps.length === 0) return { written: 0, stillDiffering: 0, changedMeanwhile: 0, cannotHold: [] };
  const { shadow: shadowSide } = sidesOf(direction);
  const url = config[shadowSide].url;
  // Repair writes rows, never the checkpoint: it needs no lease epoch, and the shadow's row locks order it with the service.
  const writer = await engineForUrl(url).openShadowWriter({ url, migration: config.migration, direction, maxRows: config.apply.batchRows });
  const keys = steps.map((s) => s.key);
  let written = 0;
  let activeBefore = new Map<string, CanonicalRow>();
  try {
    await writer.prepare([spec.name]);
    await writer.begin();
    try {
      const shadowRows = await verifier.shadow.readRows(spec, keys);
      await writer.lockRows(spec.name, shadowRows.map((r) => keyOf(r, spec.key)));
      const activeRows = await verifier.active.readRows(spec, keys);
      activeBefore = await verifier.active.canonicalRows(spec, keys);
      const changes: Change[] = activeRows.map((row) => ({ op: 'update', table: spec.name, before: keyOf(row, spec.key), after: row }));
      // Rows gone from the active side go from the shadow too (read again by key: neutral values differ by engine).
      const present = new Set(activeRows.map((r) => keyId(canonicalKeyOfRow(r, spec, verifier.keyTypesOf(spec.name)))));
      const absent = keys.filter((k) => !present.has(keyId(k)));
      for (const row of await verifier.shadow.readRows(spec, absent)) changes.push({ op: 'delete', table: spec.name, before: keyOf(row, spec.key) });
      await writer.apply(changes);
      await writer.commitRowsOnly();
      written = changes.length;
    } catch (err) {
      await writer.rollback();
      throw err;
    }
  } finally {
    await writer.close();
  }
  const [a, s] = await Promise.all([verifier.active.canonicalRows(spec, keys), verifier.shadow.canonicalRows(spec, keys)]);
  const still = classify(spec, keys, a, s);
  const cannotHold: RepairOutcome['cannotHold'] = [];
  let changedMeanwhile = 0;
  for (const [id, finding] of still) {
    const before = activeBefore.get(id);
    const after = a.get(id);
    if (JSON.stringify(before?.values ?? null) !== JSON.stringify(after?.values ?? null)) {
      changedMeanwhile++;
      continue;
    }
    const shadowRow = s.get(id);
    const columns = finding.kind === 'different' ? finding.columns : spec.key;
    cannotHold.push({ key: finding.key, columns: columns.map((c) => ({ column: c, active: after?.values[c] ?? null, shadow: shadowRow?.values[c] ?? null })) });
  }
  return { written, stillDiffering: still.size, changedMeanwhile, cannotHold };
}
