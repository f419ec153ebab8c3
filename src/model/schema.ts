/** Engines Tandem speaks to. `mysql` covers MariaDB too. */
export type EngineKind = 'postgres' | 'mysql';

/**
 * How a text column decides that two values are equal: what decides whether two rows collide in a primary key or
 * unique index. Each engine reads its own collations into these words (src/engines/<engine>/introspect.ts).
 */
export interface ColumnCollation {
  /** The collation's name as the engine spells it (`utf8mb4_general_ci`, `utf8mb4_nopad_bin`, `default`, `und-x-icu`). */
  name: string;
  /**
   * `exact`: equal only when the code points are (binary and `_bin` collations, PostgreSQL deterministic ones);
   * `weights`: compared by collation weights that tell letter case apart (`_cs`), so some other differences (accents,
   * ignorable characters) may still compare equal; `case-insensitive`: weights that ignore letter case (`_ci`), and
   * for most such collations accents too.
   */
  equality: 'exact' | 'weights' | 'case-insensitive';
  /** Trailing spaces are ignored in comparisons, so `'a' = 'a '` (MySQL/MariaDB PAD SPACE collations). */
  padSpace: boolean;
  /** The character set the collation belongs to, where the engine names one (MySQL/MariaDB `utf8mb4`). */
  charset?: string;
  /**
   * The collation of the same character set on this server that compares code points and does not pad (or the
   * nearest it has), for fixes: MariaDB `utf8mb4_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`.
   */
  exactAlternative?: string;
}

export interface ColumnSchema {
  name: string;
  /**
   * The column type as the engine spells it, lower case, with modifiers:
   * PostgreSQL `format_type()` output (`numeric(10,2)`, `timestamp with time zone`, `character varying(20)`, `integer[]`),
   * MySQL/MariaDB `information_schema.columns.column_type` (`tinyint(1)`, `bigint(20) unsigned`, `enum('a','b')`, `datetime(6)`).
   * A PostgreSQL domain is read as its base type (the domain's name is in `domain`).
   */
  nativeType: string;
  nullable: boolean;
  hasDefault: boolean;
  /**
   * The database computes the column (PostgreSQL GENERATED ALWAYS AS … STORED, MySQL/MariaDB VIRTUAL or STORED):
   * it cannot be written, and PostgreSQL's logical replication does not send it.
   */
  isGenerated?: boolean;
  /** PostgreSQL: the type is a user-defined enum (nativeType is then the enum's name). */
  isEnum?: boolean;
  /** PostgreSQL: the column's type is this domain, over `nativeType`. */
  domain?: string;
  /** Collatable (text) columns: how values compare. Absent for other types, and where the engine did not say. */
  collation?: ColumnCollation;
}

/**
 * A unique index other than the primary key, as far as its parts are columns. `ignoresCase` / `ignoresTrailingSpaces`:
 * the part is the column passed through functions that fold letter case or strip trailing spaces (PostgreSQL
 * `lower(rtrim(col))`), so values differing only that way are refused as duplicates. Indexes with other
 * expressions, and partial indexes, are not listed.
 */
export interface UniqueKeySchema {
  name: string;
  parts: Array<{ column: string; ignoresCase?: boolean; ignoresTrailingSpaces?: boolean }>;
}

export interface TableSchema {
  /** Table name without schema (PostgreSQL tables live in the URL's schema, `public` by default). */
  name: string;
  columns: ColumnSchema[];
  /** Primary-key column names in key order; empty when the table has none. */
  primaryKey: string[];
  /** Unique indexes besides the primary key, where the engine read them. */
  uniqueKeys?: UniqueKeySchema[];
}
