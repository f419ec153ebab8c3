/**
 * The engine-neutral words for column types. Each engine parses its own spellings into a LogicalType and renders
 * LogicalTypes back (src/engines/<engine>/native-types.ts); the compatibility rules between engines
 * (src/schema/type-rules.ts) work on these words only.
 */

export type LogicalType =
  | { kind: 'integer'; min: bigint; max: bigint }
  | { kind: 'boolean' }
  /** `precision` null: an unbounded decimal (scale then null too). */
  | { kind: 'decimal'; precision: number | null; scale: number | null }
  | { kind: 'float'; bits: 32 | 64 }
  /**
   * `maxLength` null: no limit. Characters, unless the engine's parser says the type counts bytes (NativeType
   * `countsBytes`): kept out of this word so that one text type reads the same whichever unit its limit is in.
   */
  | { kind: 'text'; maxLength: number | null; fixed: boolean }
  /** `fixed`: shorter values are right-padded with zero bytes. */
  | { kind: 'binary'; maxLength: number | null; fixed: boolean }
  | { kind: 'date' }
  | { kind: 'time'; precision: number }
  | { kind: 'timestamp'; precision: number; withTimeZone: boolean }
  | { kind: 'json' }
  | { kind: 'uuid' }
  /**
   * An IP address. `family` 4 or 6: one address family only (MariaDB inet4 / inet6); null: either. `netmask`: a
   * value may carry a netmask length (PostgreSQL inet `10.0.0.0/8`).
   */
  | { kind: 'inet'; family: 4 | 6 | null; netmask: boolean }
  /** `values` null: labels that are not part of the type's spelling (a PostgreSQL enum is spelled by its name). */
  | { kind: 'enum'; values: string[] | null }
  | { kind: 'set'; values: string[] }
  | { kind: 'bit'; length: number }
  /** Bit varying: kept apart from bit because the bit-string length is part of the value. */
  | { kind: 'varbit'; maxLength: number | null };

export type ParsedType = { ok: true; type: LogicalType } | { ok: false; reason: string };

/**
 * How to lift a limit a mapping has: widen the target column to `type`; change the named values on the source (no
 * wider target type holds them, or the target's type is deliberate); give the target enum every label of the
 * source's; or, for zero dates, configure them away (values.zeroDates).
 */
export type MappingRemedy =
  | { kind: 'widen'; type: string }
  | { kind: 'source-values'; values: string }
  | { kind: 'enum-labels' }
  | { kind: 'zero-dates' };

/** Values the source type holds and the target refuses at apply time. */
export interface MappingLimit {
  warning: string;
  remedy: MappingRemedy;
}

/** `warning`: the limits' warnings in one sentence; `limits`: each with its remedy. Both present or both absent. */
export type MappingVerdict = { ok: true; warning?: string; limits?: MappingLimit[] } | { ok: false; reason: string };

export type TranslatedType = { ok: true; type: string } | { ok: false; reason: string };
