import type { TandemConfig } from '../config/schema.js';
import type { CanonicalKey, CaptureSource, ShadowWriter, VerifyReader, VerifyTable } from '../engines/engine.js';
import { openCaptureSource, openShadowWriter, openVerifyReader } from '../engines/factory.js';
import { engineOf, openDatabase } from '../engines/open.js';
import { sidesOf, type Direction } from '../model/direction.js';
import type { TableSchema } from '../model/schema.js';
import { parseNativeType, type LogicalType } from '../model/type-mapping.js';
import { scanTable, type Finding, type ScanResult } from './compare.js';
import { recheck, type PositionOracle, type RecheckResult, type Unconfirmed } from './recheck.js';
import type { RowRateLimiter } from './rate-limit.js';
import { KEY_BATCH } from '../engines/verify-sql.js';

/** A table that cannot be compared row by row, and why. */
export interface TableProblem {
  table: string;
  problem: string;
}

export interface TableResult {
  table: string;
  rowsCompared: number;
  drift: Finding[];
  /** Rows that kept changing while they were re-checked (in flight; not drift). */
  changing: CanonicalKey[];
  unconfirmed: Unconfirmed | null;
  /** Every row of the table was compared (not interrupted). */
  complete: boolean;
  /** Columns present on one side only: not compared. */
  columnsNotCompared: string[];
}

export interface PassOptions {
  limiter: RowRateLimiter;
  chunkRows: number;
  settleMs: number;
  signal?: AbortSignal;
}

/**
 * Compares the active side with the shadow: table specs from both schemas, one VerifyReader per side, and the
 * positions that tell in-flight rows from drift. Engine-neutral: everything engine-specific is behind VerifyReader,
 * CaptureSource (positions) and ShadowWriter (checkpoint).
 */
export class Verifier {
  private constructor(
    readonly active: VerifyReader,
    readonly shadow: VerifyReader,
    private readonly source: CaptureSource,
    private readonly checkpoints: ShadowWriter,
    readonly specs: Map<string, VerifyTable>,
    private readonly keyTypes: Map<string, Map<string, LogicalType | undefined>>,
    readonly problems: TableProblem[],
    readonly columnsNotCompared: Map<string, string[]>,
  ) {}

  static async open(config: TandemConfig, direction: Direction, tables: string[]): Promise<Verifier> {
    const { active, shadow } = sidesOf(direction);
    const activeUrl = config[active].url;
    const shadowUrl = config[shadow].url;
    const activeEngine = engineOf(activeUrl);
    const shadowEngine = engineOf(shadowUrl);
    // A MySQL zero date arrives on a PostgreSQL shadow as values.zeroDates says; a MySQL shadow keeps it (H13).
    const zeroDates = activeEngine === 'mysql' && shadowEngine === 'postgres' ? config.values.zeroDates : 'keep';
    const [activeSchemas, shadowSchemas] = await Promise.all([describe(active, activeUrl, tables), describe(shadow, shadowUrl, tables)]);
    const specs = new Map<string, VerifyTable>();
    const keyTypes = new Map<string, Map<string, LogicalType | undefined>>();
    const problems: TableProblem[] = [];
    const columnsNotCompared = new Map<string, string[]>();
    for (const name of tables) {
      const a = activeSchemas.get(name);
      const s = shadowSchemas.get(name);
      if (!a) problems.push({ table: name, problem: `table ${name} does not exist on ${active} (the active side)` });
      else if (!s) problems.push({ table: name, problem: `table ${name} does not exist on ${shadow} (the shadow)` });
      else if (a.primaryKey.length === 0) problems.push({ table: name, problem: `table ${name} has no primary key on ${active}, so its rows cannot be matched` });
      else {
        const shadowColumns = new Set(s.columns.map((c) => c.name));
        const columns = a.columns.map((c) => c.name).filter((c) => shadowColumns.has(c));
        const missingKey = a.primaryKey.filter((k) => !shadowColumns.has(k));
        if (missingKey.length) {
          problems.push({ table: name, problem: `key column(s) ${missingKey.join(', ')} of ${name} do not exist on ${shadow}` });
          continue;
        }
        const oneSided = [...a.columns.map((c) => c.name).filter((c) => !shadowColumns.has(c)), ...s.columns.map((c) => c.name).filter((c) => !a.columns.some((x) => x.name === c))];
        if (oneSided.length) columnsNotCompared.set(name, oneSided);
        specs.set(name, {
          name,
          key: a.primaryKey,
          columns,
          singlePrecision: mixedPrecision(activeEngine, a, shadowEngine, s, columns),
          plain: columns.filter((c) => PLAIN_KINDS.has(logicalTypeOf(activeEngine, a, c)?.kind ?? '') && PLAIN_KINDS.has(logicalTypeOf(shadowEngine, s, c)?.kind ?? '')),
        });
        keyTypes.set(name, new Map(a.primaryKey.map((k) => [k, logicalTypeOf(activeEngine, a, k)])));
      }
    }
    const readers: VerifyReader[] = [];
    try {
      readers.push(await openVerifyReader(activeUrl, { peer: shadowEngine, zeroDates }));
      readers.push(await openVerifyReader(shadowUrl, { peer: activeEngine, zeroDates: 'keep' }));
      const source = openCaptureSource(activeUrl, config.migration, tables, { shadowUrl, zeroDates: config.values.zeroDates });
      const checkpoints = await openShadowWriter(shadowUrl, config.migration, direction, 1);
      return new Verifier(readers[0] as VerifyReader, readers[1] as VerifyReader, source, checkpoints, specs, keyTypes, problems, columnsNotCompared);
    } catch (err) {
      await Promise.all(readers.map((r) => r.close().catch(() => undefined)));
      throw err;
    }
  }

  readonly oracle: PositionOracle = {
    activePosition: () => this.active.currentPosition(),
    appliedPosition: async () => {
      const cp = await this.checkpoints.readCheckpoint().catch(() => undefined);
      if (!cp) return undefined;
      return cp.idlePosition && this.source.comparePositions(cp.idlePosition, cp.position) > 0 ? cp.idlePosition : cp.position;
    },
    compare: (a, b) => this.source.comparePositions(a, b),
  };

  keyTypesOf(table: string): Map<string, LogicalType | undefined> {
    return this.keyTypes.get(table) ?? new Map();
  }

  /** A full pass over one table: chunks, bisection, then the suspects re-checked against the checkpoint. */
  async verifyTable(name: string, opts: PassOptions): Promise<TableResult> {
    return this.confirm(name, await this.scan(name, opts), opts);
  }

  /** Chunks and bisection only: the rows that differed when read (suspects). */
  async scan(name: string, opts: PassOptions): Promise<ScanResult> {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`table ${name} cannot be verified`);
    return scanTable(this.active, this.shadow, spec, { chunkRows: opts.chunkRows, limiter: opts.limiter, signal: opts.signal });
  }

  /** Re-checks a scan's suspects against the checkpoint; several tables may confirm at once (their waits overlap). */
  async confirm(name: string, scan: ScanResult, opts: Pick<PassOptions, 'settleMs' | 'signal'>): Promise<TableResult> {
    const checked = scan.suspects.length ? await this.recheckKeys(name, scan.suspects, opts.settleMs, opts.signal) : undefined;
    return {
      table: name,
      rowsCompared: scan.rowsCompared,
      drift: checked?.drift ?? [],
      changing: checked?.changing ?? [],
      unconfirmed: checked?.unconfirmed ?? null,
      complete: scan.complete && !opts.signal?.aborted,
      columnsNotCompared: this.columnsNotCompared.get(name) ?? [],
    };
  }

  async recheckKeys(name: string, keys: CanonicalKey[], settleMs: number, signal?: AbortSignal): Promise<RecheckResult> {
    const spec = this.specs.get(name);
    if (!spec) throw new Error(`table ${name} cannot be verified`);
    const result: RecheckResult = { drift: [], resolved: [], changing: [], unconfirmed: null };
    // Bounded batches: one canonicalRows query per side reads at most this many keys.
    for (let i = 0; i < keys.length; i += KEY_BATCH) {
      const part = await recheck(this.active, this.shadow, spec, keys.slice(i, i + KEY_BATCH), this.oracle, { settleMs, signal });
      result.drift.push(...part.drift);
      result.resolved.push(...part.resolved);
      result.changing.push(...part.changing);
      if (part.unconfirmed) {
        result.unconfirmed = { ...part.unconfirmed, keys: [...(result.unconfirmed?.keys ?? []), ...part.unconfirmed.keys, ...keys.slice(i + KEY_BATCH)] };
        break;
      }
    }
    return result;
  }

  async close(): Promise<void> {
    await Promise.all([this.active.close(), this.shadow.close(), this.checkpoints.close()].map((p) => p.catch(() => undefined)));
  }
}

async function describe(side: 'old' | 'new', url: string, tables: string[]): Promise<Map<string, TableSchema>> {
  const db = await openDatabase(side, url);
  try {
    return await db.describeTables(tables);
  } finally {
    await db.close();
  }
}

function logicalTypeOf(engine: 'postgres' | 'mysql', schema: TableSchema, column: string): LogicalType | undefined {
  const col = schema.columns.find((c) => c.name === column);
  if (!col) return undefined;
  const parsed = parseNativeType(engine, col.nativeType, { isEnum: col.isEnum });
  return parsed.ok ? parsed.type : undefined;
}

/** Types whose canonical text (DESIGN.md) has no `|` in either engine: VerifyTable.plain. */
const PLAIN_KINDS = new Set<string>(['integer', 'decimal', 'float', 'boolean', 'date', 'time', 'timestamp', 'uuid', 'binary', 'bit', 'varbit']);

/**
 * Float columns stored as float32 on one side and as a double on the other (MySQL FLOAT replicated into PostgreSQL
 * double precision, say): replication wrote the float32's shortest text into the double, so they compare at
 * float32 precision (H14).
 */
function mixedPrecision(activeEngine: 'postgres' | 'mysql', a: TableSchema, shadowEngine: 'postgres' | 'mysql', s: TableSchema, columns: string[]): string[] {
  return columns.filter((c) => {
    const x = logicalTypeOf(activeEngine, a, c);
    const y = logicalTypeOf(shadowEngine, s, c);
    return x?.kind === 'float' && y?.kind === 'float' && x.bits !== y.bits;
  });
}
