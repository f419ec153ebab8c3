import type { EngineKind, TableSchema } from '../model/schema.js';
import type { CheckItem } from './checks.js';

export type SideName = 'old' | 'new';

export interface CheckContext {
  migration: string;
  side: SideName;
  tables: string[];
  minBinlogRetentionHours: number;
}

/**
 * What the engine-neutral layers (`control`, `replicate`, `verify`) may ask of a database. Everything behind it
 * lives under `src/engines/<engine>`.
 */
export interface Database {
  readonly engine: EngineKind;
  readonly side: SideName;
  /** Names of the base tables in the configured database / schema. */
  listTables(): Promise<string[]>;
  /** Schemas of the named tables that exist; missing ones are absent from the map. */
  describeTables(names: string[]): Promise<Map<string, TableSchema>>;
  /** Prerequisites for capturing changes from this side (it must hold on both sides: reverse runs after cutover). */
  checkCapture(ctx: CheckContext): Promise<CheckItem[]>;
  /** Prerequisites for Tandem applying changes to this side while it is the shadow. */
  checkApply(ctx: CheckContext): Promise<CheckItem[]>;
  close(): Promise<void>;
}
