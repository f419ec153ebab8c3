/**
 * What schema translation (`tandem schema`) needs to know about a table beyond what replication needs: default
 * expressions, auto-increment / identity, and the unique and secondary indexes. Engines read it (their `ddl.ts`)
 * and render it; `schema/translate` translates it between engines without knowing either dialect.
 */
import type { ColumnCollation, ColumnSchema, EngineKind, TableSchema } from './schema.js';
import type { LogicalType } from './types.js';

/**
 * A column default in engine-neutral form. Each engine parses its own spelling into this (PostgreSQL
 * `pg_get_expr`, MySQL/MariaDB `information_schema.columns.column_default`) and renders it back in its own.
 */
export type ColumnDefault =
  | { kind: 'null' }
  /** A quoted literal, unquoted here ('abc' → abc). Numbers written as quoted literals stay here too. */
  | { kind: 'string'; value: string }
  /** An unquoted numeric literal: -1, 3.50, 1e3. */
  | { kind: 'number'; value: string }
  | { kind: 'boolean'; value: boolean }
  /** now(), CURRENT_TIMESTAMP[(p)], LOCALTIMESTAMP, current_timestamp(). */
  | { kind: 'current_timestamp' }
  | { kind: 'current_date' }
  /** gen_random_uuid(), uuid_generate_v4(), uuid(). */
  | { kind: 'uuid' }
  /** Anything else, verbatim in the engine's spelling: only the same engine can use it. */
  | { kind: 'expression'; engine: EngineKind; sql: string };

export interface DdlColumn extends ColumnSchema {
  /** undefined: no default. */
  default: ColumnDefault | undefined;
  /** MySQL AUTO_INCREMENT, PostgreSQL identity or serial (a nextval default of an owned sequence). */
  autoIncrement: boolean;
  /** PostgreSQL GENERATED ALWAYS AS IDENTITY (Tandem proposes BY DEFAULT, so that apply can write the values). */
  identityAlways?: boolean;
  /** MySQL ON UPDATE CURRENT_TIMESTAMP. */
  onUpdateCurrentTimestamp?: boolean;
  /** PostgreSQL enum: the type's own name and its labels in order. */
  enumType?: { name: string; labels: string[] };
  /** A generated (computed) column: its expression in the engine's spelling. */
  generated?: string;
  /** PostgreSQL domain (`domain` names it): its definition, to create it on a PostgreSQL target. */
  domainType?: DomainType;
}

/** A PostgreSQL domain: its base type, NOT NULL, default and CHECK constraints as PostgreSQL spells them. */
export interface DomainType {
  name: string;
  base: string;
  notNull: boolean;
  default?: string;
  checks: Array<{ name: string; sql: string }>;
}

export interface DdlIndexPart {
  /** A plain column, or undefined for an expression part. */
  column: string | undefined;
  /** MySQL prefix length (characters or bytes) of a column part. */
  prefix?: number;
  /** The expression of an expression part, in the engine's spelling (for warnings). */
  expression?: string;
}

export interface DdlIndex {
  name: string;
  unique: boolean;
  parts: DdlIndexPart[];
  /** PostgreSQL partial index predicate. */
  predicate?: string;
  /** Index method other than a plain b-tree (gin, gist, FULLTEXT, SPATIAL, hash...). */
  method?: string;
}

export interface DdlTable extends TableSchema {
  columns: DdlColumn[];
  /** Unique and secondary indexes; the primary key is not among them. */
  indexes: DdlIndex[];
}

// --- a translated table, as schema translation plans it and each engine spells it ---

export interface PlannedColumn {
  name: string;
  /** The column type in the target engine's spelling. */
  type: string;
  /** The target type parsed, when Tandem understands it (undefined for a same-engine type it does not). */
  logical: LogicalType | undefined;
  notNull: boolean;
  /** The default as the target engine spells it. */
  defaultSql: string | undefined;
  autoIncrement: boolean;
  /** MySQL targets only: ON UPDATE CURRENT_TIMESTAMP. */
  onUpdateCurrentTimestamp: boolean;
  /** PostgreSQL → PostgreSQL: the enum type the column uses, created with the table when missing. */
  enumType?: { name: string; labels: string[] };
  /** PostgreSQL → PostgreSQL: the domain the column uses, created with the table when missing. */
  domainType?: DomainType;
  /** How the source column's values compare, when it has a collation. */
  sourceCollation?: ColumnCollation;
  /** Part of the primary key or of a unique index on the target: its collation decides which rows collide. */
  unique?: boolean;
  /** The collation to create the column with, as the target spells it (chosen by the dialect); absent: the table's. */
  collation?: { name: string; charset?: string };
}

export type PlannedIndexPart = { column: string; prefix?: number } | { expression: string };

export interface PlannedIndex {
  name: string;
  unique: boolean;
  parts: PlannedIndexPart[];
  /** Same engine (PostgreSQL) only: a partial index's predicate, verbatim. */
  predicate?: string;
  /** Same engine (PostgreSQL) only: an index method other than b-tree (gin, gist...). */
  method?: string;
}

export interface TablePlan {
  name: string;
  from: EngineKind;
  to: EngineKind;
  columns: PlannedColumn[];
  primaryKey: string[];
  indexes: PlannedIndex[];
  /** What the translation loses or changes, for the reviewer: printed as SQL comments. */
  warnings: string[];
}

export interface ColumnProblem {
  table: string;
  column: string;
  nativeType: string;
  reason: string;
}

/** One statement of a plan; `createsType` marks a CREATE TYPE that apply skips when the type already exists. */
export interface PlannedStatement {
  sql: string;
  createsType?: string;
}
