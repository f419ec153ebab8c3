/** Engines Tandem speaks to. `mysql` covers MariaDB too. */
export type EngineKind = 'postgres' | 'mysql';

export interface ColumnSchema {
  name: string;
  /**
   * The column type as the engine spells it, lower case, with modifiers:
   * PostgreSQL `format_type()` output (`numeric(10,2)`, `timestamp with time zone`, `character varying(20)`, `integer[]`),
   * MySQL/MariaDB `information_schema.columns.column_type` (`tinyint(1)`, `bigint(20) unsigned`, `enum('a','b')`, `datetime(6)`).
   */
  nativeType: string;
  nullable: boolean;
  hasDefault: boolean;
  /** PostgreSQL: the type is a user-defined enum (nativeType is then the enum's name). */
  isEnum?: boolean;
}

export interface TableSchema {
  /** Table name without schema (PostgreSQL tables live in the URL's schema, `public` by default). */
  name: string;
  columns: ColumnSchema[];
  /** Primary-key column names in key order; empty when the table has none. */
  primaryKey: string[];
}
