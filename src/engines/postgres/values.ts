// Replication spec: docs/engines/postgres.md
import type { Value } from '../../model/change.js';

const BYTEA = 17;
const TIMESTAMPTZ = 1184;
const TIMETZ = 1266;

/**
 * PostgreSQL's text output (Tandem's sessions run with TimeZone=UTC, DateStyle=ISO) → the neutral value form.
 * Shared by capture (pgoutput text tuples) and backfill (text-mode reads), so both produce identical values.
 */
export function decodePgText(typeOid: number, text: string | null): Value {
  if (text === null) return null;
  switch (typeOid) {
    case BYTEA:
      return Buffer.from(text.startsWith('\\x') ? text.slice(2) : text, 'hex');
    case TIMESTAMPTZ:
      // Session time zone is UTC, so the offset is always +00: dropping it leaves the UTC wall clock.
      return text.replace(/\+00$/, '');
    case TIMETZ:
      return text;
    default:
      return text;
  }
}

/** Session settings every Tandem PostgreSQL connection uses, so text output is the same everywhere. */
export const PG_SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex';

/** A pg query option that keeps every column as the server's text (no JavaScript Date, number or boolean). */
export const textTypes = { getTypeParser: () => (value: string) => value };
