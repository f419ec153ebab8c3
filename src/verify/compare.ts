import type { CanonicalKey, CanonicalRow, ChunkSummary, KeyRange, VerifyReader, VerifyTable } from '../engines/engine.js';
import { keyId } from './keys.js';
import type { RowRateLimiter } from './rate-limit.js';
import { sequentialPass } from './sequential.js';

export type DriftKind = 'missing' | 'extra' | 'different';

/** One row that differs: `missing` on the shadow, `extra` on the shadow, or `different` in `columns`. */
export interface Finding {
  key: CanonicalKey;
  kind: DriftKind;
  columns: string[];
}

export interface ScanOptions {
  /** First chunk size; it then adapts so each chunk query takes about `targetChunkMs`. */
  chunkRows: number;
  limiter: RowRateLimiter;
  signal?: AbortSignal;
  targetChunkMs?: number;
  /** False: never the sequential pass (sequential.ts), always the walk by key. */
  sequential?: boolean;
}

export interface ScanResult {
  rowsCompared: number;
  chunks: number;
  /** Keys whose rows differed when read (suspects: in-flight changes are re-checked before anything is reported). */
  suspects: CanonicalKey[];
  complete: boolean;
}

/** Ranges at most this big are compared row by row (key and row hash) instead of being split further. */
const LEAF_ROWS = 256;
const MIN_CHUNK = 100;
const MAX_CHUNK = 200_000;

/** How long a chunk query should take: chunks grow and shrink towards it. */
const TARGET_CHUNK_MS = 500;

/**
 * Compares a table on both sides and returns the keys of the rows that differed when read. An unthrottled pass
 * between readers that can first sums each side in the order it is stored (sequential.ts); a table whose sums do
 * not agree, and every table of any other pass, is walked by key.
 */
export async function scanTable(active: VerifyReader, shadow: VerifyReader, table: VerifyTable, opts: ScanOptions): Promise<ScanResult> {
  const fastPath = new FastPath(active, shadow);
  // Only readers whose fast summary is a sum offer `physical`; the sums compare where both compute the same one.
  const sequential =
    opts.limiter.unlimited && opts.sequential !== false && fastPath.enabled
      ? await sequentialPass(active.physical, shadow.physical, table, { chunkRows: opts.chunkRows, targetChunkMs: opts.targetChunkMs ?? TARGET_CHUNK_MS, limiter: opts.limiter, signal: opts.signal })
      : undefined;
  if (sequential?.outcome === 'agreed') return { rowsCompared: sequential.rows, chunks: sequential.chunks, suspects: [], complete: true };
  if (sequential?.outcome === 'interrupted') return { rowsCompared: 0, chunks: sequential.chunks, suspects: [], complete: false };
  // After sums that differ the walk reads the table again, and the limiter (which counts progress) counts it again.
  const walked = await walkTable(active, shadow, table, fastPath, opts);
  return { ...walked, chunks: (sequential?.chunks ?? 0) + walked.chunks };
}

/**
 * Walks a table in key-ordered chunks, comparing each chunk's count and hash computed in both databases. A chunk that
 * differs is bisected (the sums are additive, so the second half's summary is the whole minus the first: one query
 * per side per level) down to ranges of LEAF_ROWS, whose row hashes name the differing keys.
 */
async function walkTable(active: VerifyReader, shadow: VerifyReader, table: VerifyTable, fastPath: FastPath, opts: ScanOptions): Promise<ScanResult> {
  const target = opts.targetChunkMs ?? TARGET_CHUNK_MS;
  const jsonAcross = active.jsonInHash ? [] : await active.jsonColumns(table);
  const suspects = new Map<string, CanonicalKey>();
  const addSuspects = (keys: CanonicalKey[]) => keys.forEach((k) => suspects.set(keyId(k), k));
  // Adapts within bounds set by the configured size: a small configured size stays small (tests use 2-row chunks).
  const minChunk = Math.max(1, Math.min(MIN_CHUNK, opts.chunkRows));
  const maxChunk = Math.max(minChunk, Math.min(MAX_CHUNK, opts.chunkRows * 10));
  let chunk = Math.min(Math.max(opts.chunkRows, minChunk), maxChunk);
  let rowsCompared = 0;
  let chunks = 0;
  // Each chunk's end is asked for on the active side before the summary of the chunk before it, so that side's
  // connection answers it first and neither side waits between chunks for a key; it is sized by what the last
  // chunk took.
  let after: CanonicalKey | undefined;
  let nextEnd: Promise<CanonicalKey | undefined> = active.keyAfter(table, undefined, chunk);
  const startNext = async (): Promise<Chunk> => {
    const upTo = await nextEnd;
    if (upTo) {
      nextEnd = active.keyAfter(table, upTo, chunk);
      // Handled here so that a failure elsewhere does not leave it rejected and unobserved (awaiting it still throws).
      nextEnd.catch(() => undefined);
    }
    const range: KeyRange = { after, upTo };
    after = upTo;
    const summaries = fastPath.summarize(table, range);
    summaries.catch(() => undefined);
    return { range, summaries, started: Date.now() };
  };
  // Unthrottled, the next chunk is summarized while this one is: each side's connection takes it up as soon as it
  // is done with this one, rather than waiting for the other side to finish (one chunk ahead at most). Under a rate
  // limit a chunk starts only once the one before has been paid for.
  const ahead = opts.limiter.unlimited ? 1 : 0;
  const queue: Chunk[] = [await startNext()];
  let lastDone = Date.now();
  for (;;) {
    while (queue.length <= ahead && queue.at(-1)?.range.upTo) queue.push(await startNext());
    if (opts.signal?.aborted) return { rowsCompared, chunks, suspects: [...suspects.values()], complete: false };
    const current = queue.shift() as Chunk;
    const { range } = current;
    const [a, s] = await current.summaries;
    const done = Date.now();
    const elapsed = done - Math.max(current.started, lastDone);
    lastDone = done;
    chunks++;
    rowsCompared += Math.max(a.rows, s.rows);
    if (a.rows !== s.rows || a.hash !== s.hash) addSuspects(await bisect(active, shadow, table, range, a, s));
    if (jsonAcross.length) addSuspects(await compareJson(active, shadow, table, jsonAcross, range));
    await opts.limiter.charge(Math.max(a.rows, s.rows), opts.signal);
    if (!range.upTo) break;
    if (elapsed > target) chunk = Math.max(minChunk, Math.floor(chunk / 2));
    else if (elapsed < target / 4) chunk = Math.min(maxChunk, chunk * 2);
    chunk = Math.max(minChunk, Math.min(chunk, fastPath.maxRows()));
    if (queue.length === 0) queue.push(await startNext());
  }
  return { rowsCompared, chunks, suspects: [...suspects.values()], complete: true };
}

/** A chunk whose summaries have been asked for on both sides. */
interface Chunk {
  range: KeyRange;
  summaries: Promise<[ChunkSummary, ChunkSummary]>;
  started: number;
}

/**
 * Both sides' summaries of a range: the fast ones when both readers have the same kind and they agree (the common
 * case, an in-sync range, at about the cost of reading it), else the canonical ones, which bisection needs.
 */
class FastPath {
  private on: boolean;
  /** Fast summaries in a row that differed where the canonical ones then agreed. */
  private misses = 0;
  private bytesPerRow = 0;
  private readonly bytesLimit: number;

  constructor(
    private readonly active: VerifyReader,
    private readonly shadow: VerifyReader,
  ) {
    this.on = active.fastHash !== undefined && active.fastHash === shadow.fastHash;
    this.bytesLimit = Math.min(active.fastBytesLimit ?? Infinity, shadow.fastBytesLimit ?? Infinity);
  }

  /** Fast summaries are compared first: both readers compute the same one, and it has not kept missing. */
  get enabled(): boolean {
    return this.on;
  }

  async summarize(table: VerifyTable, range: KeyRange): Promise<[ChunkSummary, ChunkSummary]> {
    const { active, shadow } = this;
    if (this.on) {
      const [a, s] = await Promise.all([active.fastSummary(table, range), shadow.fastSummary(table, range)]);
      const bytes = Math.max(a.bytes ?? 0, s.bytes ?? 0);
      if (bytes > 0 && Math.max(a.rows, s.rows) > 0) this.bytesPerRow = bytes / Math.max(a.rows, s.rows);
      if (a.rows === s.rows && a.hash === s.hash) {
        this.misses = 0;
        return [a, s];
      }
      const canonical = await Promise.all([active.summarize(table, range), shadow.summarize(table, range)]);
      // Equal rows whose fast forms keep differing (values of unlike types, a server that read the range out of
      // order): the fast summary only adds cost to this table, so its remaining chunks go straight to canonical.
      if (canonical[0].rows === canonical[1].rows && canonical[0].hash === canonical[1].hash && ++this.misses >= 2) this.on = false;
      return canonical;
    }
    return Promise.all([active.summarize(table, range), shadow.summarize(table, range)]);
  }

  /**
   * The most rows the next chunk may have: half the smaller side's fastBytesLimit at the bytes per row seen last
   * (chunks grow at most twofold a step, and the next chunk's end is read before this one's summary is known).
   */
  maxRows(): number {
    if (!this.on || this.bytesPerRow === 0 || this.bytesLimit === Infinity) return Infinity;
    return Math.floor(this.bytesLimit / 2 / this.bytesPerRow);
  }
}

function subtract(whole: ChunkSummary, part: ChunkSummary): ChunkSummary {
  return { rows: whole.rows - part.rows, hash: (BigInt(whole.hash) - BigInt(part.hash)).toString() };
}

const sameKey = (a: CanonicalKey | undefined, b: CanonicalKey | undefined) => a !== undefined && b !== undefined && keyId(a) === keyId(b);

async function bisect(active: VerifyReader, shadow: VerifyReader, table: VerifyTable, range: KeyRange, a: ChunkSummary, s: ChunkSummary): Promise<CanonicalKey[]> {
  if (a.rows === s.rows && a.hash === s.hash) return [];
  if (Math.max(a.rows, s.rows) > LEAF_ROWS) {
    // Split at the middle row of the side that has the rows (the shadow, when they are extra rows there).
    const [driver, rows] = a.rows >= s.rows ? [active, a.rows] : [shadow, s.rows];
    const mid = await driver.keyAfter(table, range.after, Math.floor(rows / 2));
    if (mid && !sameKey(mid, range.upTo)) {
      const left: KeyRange = { after: range.after, upTo: mid };
      const right: KeyRange = { after: mid, upTo: range.upTo };
      const [la, ls] = await Promise.all([active.summarize(table, left), shadow.summarize(table, left)]);
      return [...(await bisect(active, shadow, table, left, la, ls)), ...(await bisect(active, shadow, table, right, subtract(a, la), subtract(s, ls)))];
    }
  }
  const [ra, rs] = await Promise.all([active.rowHashes(table, range), shadow.rowHashes(table, range)]);
  const shadowHashes = new Map(rs.map((r) => [keyId(r.key), r]));
  const differing: CanonicalKey[] = [];
  for (const r of ra) {
    const other = shadowHashes.get(keyId(r.key));
    shadowHashes.delete(keyId(r.key));
    if (!other || other.hash !== r.hash) differing.push(r.key);
  }
  for (const extra of shadowHashes.values()) differing.push(extra.key);
  return differing;
}

/** JSON across engines: neither database can canonicalise it in SQL, so it is compared here (see VerifyReader). */
async function compareJson(active: VerifyReader, shadow: VerifyReader, table: VerifyTable, columns: string[], range: KeyRange): Promise<CanonicalKey[]> {
  const [ra, rs] = await Promise.all([active.jsonRows(table, columns, range), shadow.jsonRows(table, columns, range)]);
  const shadowRows = new Map(rs.map((r) => [keyId(r.key), r]));
  return ra.filter((r) => {
    const other = shadowRows.get(keyId(r.key));
    return other !== undefined && differingColumns(r, other, columns).length > 0;
  }).map((r) => r.key);
}

export function differingColumns(a: CanonicalRow, b: CanonicalRow, columns: string[]): string[] {
  return columns.filter((c) => (a.values[c] ?? null) !== (b.values[c] ?? null));
}

/** What kind of difference each key shows now (rows read again, column by column); equal rows are left out. */
export function classify(table: VerifyTable, keys: CanonicalKey[], activeRows: Map<string, CanonicalRow>, shadowRows: Map<string, CanonicalRow>): Map<string, Finding> {
  const out = new Map<string, Finding>();
  for (const key of keys) {
    const id = keyId(key);
    const a = activeRows.get(id);
    const s = shadowRows.get(id);
    if (a && !s) out.set(id, { key, kind: 'missing', columns: [] });
    else if (!a && s) out.set(id, { key, kind: 'extra', columns: [] });
    else if (a && s) {
      const columns = differingColumns(a, s, table.columns);
      if (columns.length) out.set(id, { key, kind: 'different', columns });
    }
  }
  return out;
}
