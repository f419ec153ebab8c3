import type { TandemConfig } from '../config/schema.js';
import { appliedThrough, type CanonicalKey, type EngineModule, type NativeType, type ShadowWriter, type VerifyReader, type VerifyTable } from '../engines/engine.js';
import { engine as engineModule, engineForUrl } from '../engines/registry.js';
import { sidesOf, type Direction, type SideName } from '../model/direction.js';
import type { EngineKind, TableSchema } from '../model/schema.js';
import type { LogicalType } from '../model/types.js';
import { scanTable, type Finding, type ScanResult } from './compare.js';
import { recheck, type PositionOracle, type RecheckResult, type Unconfirmed } from './recheck.js';
import type { RowRateLimiter } from './rate-limit.js';
import { KEY_BATCH, LONG_VALUE_LENGTH } from '../engines/shared/verify-sql.js';
import { replicatedTablesOn } from '../replicate/tables.js';

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

/** The tables to compare, or how to choose them from the migration's replicated tables. */
export type TableChoice = string[] | ((replicated: string[]) => string[]);

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
    private readonly activeEngine: EngineModule,
    /** The shadow's checkpoint session, opened when first needed: only a re-check of suspects reads it. */
    private readonly openCheckpoints: () => Promise<ShadowWriter>,
    /** The tables asked for (as chosen), whether or not they can be compared: `specs` holds those that can. */
    readonly tables: string[],
    readonly specs: Map<string, VerifyTable>,
    private readonly keyTypes: Map<string, Map<string, LogicalType | undefined>>,
    readonly problems: TableProblem[],
    readonly columnsNotCompared: Map<string, string[]>,
  ) {}

  /**
   * `direction` may still be being read (from the state store): the readers belong to a side, not a role, and are
   * set up meanwhile. `choice`: the tables to compare, or how to choose them from the migration's replicated tables
   * (listed by the active side's reader).
   */
  static async open(config: TandemConfig, direction: Direction | Promise<Direction>, choice: TableChoice): Promise<Verifier> {
    // Both sides' readers are set up at once, while the direction is read, and read their side's schema themselves:
    // a command such as `tandem verify` waits for them before its first chunk, and needs no other connection.
    const readers = openSideReaders(config, Promise.resolve(direction));
    const sessions = Promise.allSettled([readers.old, readers.new]);
    const closeSessions = async () => {
      await Promise.all((await sessions).map((r) => (r.status === 'fulfilled' ? r.value.close().catch(() => undefined) : undefined)));
    };
    let known: Direction;
    try {
      known = await direction;
    } catch (err) {
      await closeSessions();
      throw err;
    }
    const { active, shadow } = sidesOf(known);
    const shadowUrl = config[shadow].url;
    const activeModule = engineForUrl(config[active].url);
    const shadowModule = engineForUrl(shadowUrl);
    const activeEngine = activeModule.kind;
    const shadowEngine = shadowModule.kind;
    // Only its checkpoint is read: no epoch, and it never commits.
    const openCheckpoints = () => shadowModule.openShadowWriter({ url: shadowUrl, migration: config.migration, direction: known, maxRows: 1 });
    let tables: string[];
    let activeSchemas: Map<string, TableSchema>;
    let shadowSchemas: Map<string, TableSchema>;
    let activeReader: VerifyReader;
    let shadowReader: VerifyReader;
    try {
      [activeReader, shadowReader] = await Promise.all([readers[active], readers[shadow]]);
      tables = Array.isArray(choice) ? choice : choice(await replicatedTablesOn(config, activeReader));
      [activeSchemas, shadowSchemas] = await Promise.all([activeReader.describeTables(tables), shadowReader.describeTables(tables)]);
    } catch (err) {
      await closeSessions();
      // The first failure in the order they were asked for: the active side's before the shadow's.
      const failed = await Promise.allSettled([readers[active], readers[shadow]]);
      throw failed.find((r) => r.status === 'rejected')?.reason ?? err;
    }
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
        const built = tableSpec(name, columns, { engine: activeEngine, schema: a }, { engine: shadowEngine, schema: s });
        specs.set(name, built.spec);
        keyTypes.set(name, built.keyTypes);
      }
    }
    return new Verifier(activeReader, shadowReader, activeModule, openCheckpoints, tables, specs, keyTypes, problems, columnsNotCompared);
  }

  /** One checkpoint read at a time: tables confirming at once share it (their waits overlap) on one connection. */
  private checkpointRead: Promise<string | undefined> | undefined;
  private checkpoints: Promise<ShadowWriter> | undefined;

  /** The checkpoint session, opened on first use; after a failure to open, the next use tries again. */
  private checkpointSession(): Promise<ShadowWriter> {
    if (this.closing) return Promise.reject(new Error('the verifier is closed'));
    if (!this.checkpoints) {
      const opening = this.openCheckpoints();
      this.checkpoints = opening;
      opening.catch(() => {
        if (this.checkpoints === opening) this.checkpoints = undefined;
      });
    }
    return this.checkpoints;
  }

  readonly oracle: PositionOracle = {
    activePosition: () => this.active.currentPosition(),
    appliedPosition: () => {
      this.checkpointRead ??= this.checkpointSession()
        .then((session) => session.readCheckpoint())
        .then((cp) => (cp ? appliedThrough(cp, this.activeEngine.comparePositions) : undefined))
        .catch(() => undefined)
        .finally(() => (this.checkpointRead = undefined));
      return this.checkpointRead;
    },
    compare: (a, b) => this.activeEngine.comparePositions(a, b),
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

  private closing: Promise<void> | undefined;

  /** Closes every session; once (a later call waits for the same close). */
  close(): Promise<void> {
    this.closing ??= Promise.all(
      [this.active.close(), this.shadow.close(), this.checkpoints?.then((session) => session.close()) ?? Promise.resolve()].map((p) => p.catch(() => undefined)),
    ).then(() => undefined);
    return this.closing;
  }
}

/**
 * The spec both readers get for one table (the columns both sides have, in the active side's order; its primary
 * key), decided from both sides' column types; and the type each key column is compared as, for the canonical text
 * of keys of applied changes (canonicalOfNeutral).
 */
export function tableSpec(
  name: string,
  columns: string[],
  active: { engine: EngineKind; schema: TableSchema },
  shadow: { engine: EngineKind; schema: TableSchema },
): { spec: VerifyTable; keyTypes: Map<string, LogicalType | undefined> } {
  const key = active.schema.primaryKey;
  const pair = columns.map((c) => ({ name: c, active: nativeTypeOf(active.engine, active.schema, c), shadow: nativeTypeOf(shadow.engine, shadow.schema, c) }));
  const asInteger = pair.filter(comparedAsInteger).map((c) => c.name);
  // The type each column is compared as on each side: a tinyint(1) against an integer is that integer.
  const compared = (c: ColumnPair, side: 'active' | 'shadow') => (asInteger.includes(c.name) && c[side]?.integer) || c[side]?.type;
  const spec: VerifyTable = {
    name,
    key,
    columns,
    singlePrecision: mixedPrecision(pair),
    plain: pair.filter((c) => PLAIN_KINDS.has(compared(c, 'active')?.kind ?? '') && PLAIN_KINDS.has(compared(c, 'shadow')?.kind ?? '')).map((c) => c.name),
    digest: pair.filter((c) => !key.includes(c.name) && holdsLongValues(c)).map((c) => c.name),
    asInteger,
    sameType: active.engine === shadow.engine ? columns.filter((c) => sameDeclaredType(active.schema, shadow.schema, c)) : [],
    ...(active.engine === shadow.engine ? {} : crossEngineForms(pair, compared)),
  };
  const byName = new Map(pair.map((c) => [c.name, c]));
  const keyTypes = new Map(key.map((k): [string, LogicalType | undefined] => {
    const c = byName.get(k);
    return [k, c && compared(c, 'active')];
  }));
  return { spec, keyTypes };
}

/** VerifyTable.timestampMicros and sameScale: the cheaper forms a cross-engine fast summary may take. */
function crossEngineForms(pair: ColumnPair[], compared: (c: ColumnPair, side: 'active' | 'shadow') => LogicalType | undefined): Pick<VerifyTable, 'timestampMicros' | 'sameScale'> {
  const both = (c: ColumnPair) => [compared(c, 'active'), compared(c, 'shadow')] as const;
  return {
    timestampMicros: pair.filter((c) => both(c).every((t) => t?.kind === 'timestamp')).map((c) => c.name),
    sameScale: pair
      .filter((c) => {
        const [a, s] = both(c);
        return a?.kind === 'decimal' && s?.kind === 'decimal' && a.scale !== null && a.scale === s.scale;
      })
      .map((c) => c.name),
  };
}

/** The column is declared with the same type on both sides (white space aside). */
function sameDeclaredType(a: TableSchema, b: TableSchema, column: string): boolean {
  const spelling = (schema: TableSchema) => {
    const col = schema.columns.find((c) => c.name === column);
    return col && `${col.isEnum ? 'enum ' : ''}${col.nativeType.replace(/\s+/g, ' ').trim()}`;
  };
  const x = spelling(a);
  return x !== undefined && x === spelling(b);
}

/**
 * One verify reader per side, opened at once: its options depend on the other side's engine, and on the direction
 * only for a MySQL/MariaDB side against PostgreSQL, whose zero dates compare as values.zeroDates says while it is the
 * active side and as they are while it is the shadow (H13). That one waits for the direction.
 */
function openSideReaders(config: TandemConfig, direction: Promise<Direction>): Record<SideName, Promise<VerifyReader>> {
  const open = (side: SideName): Promise<VerifyReader> => {
    const other: SideName = side === 'old' ? 'new' : 'old';
    const module = engineForUrl(config[side].url);
    const peer = engineForUrl(config[other].url).kind;
    if (module.kind !== 'mysql' || peer !== 'postgres') return module.openVerifyReader(config[side].url, { peer, zeroDates: 'keep' });
    return direction.then((d) => module.openVerifyReader(config[side].url, { peer, zeroDates: sidesOf(d).active === side ? config.values.zeroDates : 'keep' }));
  };
  return { old: open('old'), new: open('new') };
}

function nativeTypeOf(engine: EngineKind, schema: TableSchema, column: string): NativeType | undefined {
  const col = schema.columns.find((c) => c.name === column);
  if (!col) return undefined;
  const parsed = engineModule(engine).nativeTypes.parse(col.nativeType, { isEnum: col.isEnum });
  return parsed.ok ? parsed : undefined;
}

/** A column both sides have, as each side's engine reads its type (undefined: a type Tandem cannot map). */
interface ColumnPair {
  name: string;
  active: NativeType | undefined;
  shadow: NativeType | undefined;
}

/** Types whose canonical text (DESIGN.md) has no `|` in either engine: VerifyTable.plain. */
const PLAIN_KINDS = new Set<string>(['integer', 'decimal', 'float', 'boolean', 'date', 'time', 'timestamp', 'uuid', 'binary', 'bit', 'varbit']);

/**
 * Float columns stored as float32 on one side and as a double on the other (MySQL FLOAT replicated into PostgreSQL
 * double precision, say): replication wrote the float32's shortest text into the double, so they compare at
 * float32 precision (H14).
 */
function mixedPrecision(pair: ColumnPair[]): string[] {
  return pair
    .filter(({ active: x, shadow: y }) => x?.type.kind === 'float' && y?.type.kind === 'float' && x.type.bits !== y.type.bits)
    .map((c) => c.name);
}

/** A true boolean: read as boolean and not an integer that merely reads as one (MySQL tinyint(1)). */
const isBoolean = (t: NativeType | undefined) => t?.type.kind === 'boolean' && !t.integer;

/**
 * VerifyTable.asInteger: a boolean stored as an integer (MySQL tinyint(1), which holds 2 or -5 as well) compares
 * as that integer unless the other side's column is a true boolean (DESIGN.md "Canonical values"); between two
 * tinyint(1) columns, too, the integers are compared, so 1 and 2 differ.
 */
export function comparedAsInteger({ active, shadow }: Pick<ColumnPair, 'active' | 'shadow'>): boolean {
  return (active?.integer !== undefined && !isBoolean(shadow)) || (shadow?.integer !== undefined && !isBoolean(active));
}

/**
 * VerifyTable.digest: text or binary on either side with room for values longer than LONG_VALUE_LENGTH (a limit in
 * bytes is at least as many characters). JSON is compared in its own way and never digested.
 */
export function holdsLongValues({ active, shadow }: Pick<ColumnPair, 'active' | 'shadow'>): boolean {
  const long = (t: NativeType | undefined) => (t?.type.kind === 'text' || t?.type.kind === 'binary') && (t.type.maxLength === null || t.type.maxLength > LONG_VALUE_LENGTH);
  return (long(active) || long(shadow)) && active?.type.kind !== 'json' && shadow?.type.kind !== 'json';
}
