/**
 * What schema translation (`tandem schema`) needs to know about a table beyond what replication needs: default
 * expressions, auto-increment / identity, and the unique and secondary indexes. Engines read it (their `ddl.ts`)
 * and render it; `control/schema-translate` translates it between engines without knowing either dialect.
 */
import type { ColumnSchema, EngineKind, TableSchema } from './schema.js';

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
