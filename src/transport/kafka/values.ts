/**
 * Debezium's value encodings (JsonConverter with schemas) turned into Tandem's neutral values (src/model/change.ts):
 * integers and decimals as plain text (never through a JavaScript number: the JSON is parsed losslessly), booleans
 * `t`/`f`, timestamps `YYYY-MM-DD HH:MM:SS.ffffff` (UTC for zoned types), dates `YYYY-MM-DD`, times
 * `HH:MM:SS.ffffff`, JSON as text, bytes as Buffer, and the unchanged-TOAST placeholder as UNCHANGED.
 *
 * The connector config (connectors.ts) fixes the modes these rely on: decimal.handling.mode=string,
 * binary.handling.mode=bytes, time.precision.mode=adaptive_time_microseconds, interval.handling.mode=string.
 */
import { UNCHANGED, type RowImage, type Value } from '../../model/change.js';
import { TandemError } from '../../errors.js';

/** Debezium's `unavailable.value.placeholder` default: an unchanged TOASTed value PostgreSQL did not send. */
export const UNAVAILABLE = '__debezium_unavailable_value';
const UNAVAILABLE_BASE64 = Buffer.from(UNAVAILABLE).toString('base64');

/** One field of a Kafka Connect schema, as JsonConverter writes it. */
export interface ConnectSchema {
  type: string;
  name?: string;
  field?: string;
  optional?: boolean;
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  parameters?: Record<string, string>;
}

/** A JSON number kept as its text (the JSON is parsed with lossless-json's number parser). */
type Json = string | boolean | null | Json[] | { [k: string]: Json };

const pad = (n: bigint | number, width = 2) => String(n).padStart(width, '0');

/** Days since 1970-01-01 → YYYY-MM-DD (proleptic Gregorian, as both engines print). */
function dateFromDays(days: bigint): string {
  const d = new Date(Number(days) * 86_400_000);
  const year = d.getUTCFullYear();
  const y = year < 0 ? `-${pad(-year, 4)}` : pad(year, 4);
  return `${y}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function fraction(units: bigint, digits: number): string {
  return units === 0n ? '' : `.${pad(units, digits).replace(/0+$/, '')}`;
}

/** Microseconds since the epoch → `YYYY-MM-DD HH:MM:SS[.ffffff]`. */
function timestampFromMicros(micros: bigint): string {
  const perDay = 86_400_000_000n;
  let days = micros / perDay;
  let rest = micros % perDay;
  if (rest < 0n) {
    rest += perDay;
    days -= 1n;
  }
  return `${dateFromDays(days)} ${timeFromMicros(rest)}`;
}

/** Microseconds since midnight (MariaDB TIME may be negative or beyond 24 h) → `[-]HH:MM:SS[.ffffff]`. */
function timeFromMicros(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  const seconds = abs / 1_000_000n;
  return `${sign}${pad(seconds / 3600n)}:${pad((seconds / 60n) % 60n)}:${pad(seconds % 60n)}${fraction(abs % 1_000_000n, 6)}`;
}

/** ISO 8601 zoned text in UTC (`2024-01-02T01:04:05.5Z`) → `2024-01-02 01:04:05.5`. */
function zonedTimestamp(text: string): string {
  return text.replace('T', ' ').replace(/Z$/, '').replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
}

function asText(value: Json, what: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 't' : 'f';
  throw new TandemError('TANDEM_VALUE_UNSUPPORTED', `Debezium sent ${JSON.stringify(value)} for ${what}, which Tandem cannot read as a value`, {
    fix: 'check the connector configuration that `tandem connectors render` shows; the Kafka transport supports the column types listed in docs/kafka.md',
  });
}

/** One column's value. `column` names it in errors. */
export function decodeValue(schema: ConnectSchema, value: Json, column: string): Value | typeof UNCHANGED {
  if (value === null) return null;
  if (value === UNAVAILABLE) return UNCHANGED;
  switch (schema.name) {
    case 'io.debezium.time.Date':
      return dateFromDays(BigInt(asText(value, column)));
    case 'io.debezium.time.MicroTimestamp':
      return timestampFromMicros(BigInt(asText(value, column)));
    case 'io.debezium.time.Timestamp':
      return timestampFromMicros(BigInt(asText(value, column)) * 1000n);
    case 'io.debezium.time.NanoTimestamp':
      return timestampFromMicros(BigInt(asText(value, column)) / 1000n);
    case 'io.debezium.time.ZonedTimestamp':
      return zonedTimestamp(asText(value, column));
    case 'io.debezium.time.MicroTime':
      return timeFromMicros(BigInt(asText(value, column)));
    case 'io.debezium.time.Time':
      return timeFromMicros(BigInt(asText(value, column)) * 1000n);
    case 'io.debezium.time.NanoTime':
      return timeFromMicros(BigInt(asText(value, column)) / 1000n);
    case 'io.debezium.time.ZonedTime':
      // PostgreSQL prints a UTC timetz as +00.
      return asText(value, column).replace(/Z$/, '+00');
    default:
      break;
  }
  if (schema.type === 'bytes') {
    // JsonConverter writes bytes as base64 (binary.handling.mode=bytes: the schema still says bytes, unlike hex mode).
    const base64 = asText(value, column);
    return base64 === UNAVAILABLE_BASE64 ? UNCHANGED : Buffer.from(base64, 'base64');
  }
  if (schema.type === 'array' || schema.type === 'struct' || schema.type === 'map') {
    throw new TandemError('TANDEM_VALUE_UNSUPPORTED', `column ${column} arrives from Debezium as ${schema.type} (${schema.name ?? 'no logical type'}), which the Kafka transport does not convert yet`, {
      fix: 'leave the table out of the migration (exclude in tandem.yaml), or use transport.kind: embedded for it',
    });
  }
  return asText(value, column);
}

/** A row image (before/after/key struct) decoded column by column. */
export function decodeRow(schema: ConnectSchema | undefined, row: Json, table: string): RowImage | undefined {
  if (row === null || typeof row !== 'object' || Array.isArray(row)) return undefined;
  const fields = new Map((schema?.fields ?? []).map((f) => [f.field, f]));
  const out: RowImage = {};
  for (const [column, value] of Object.entries(row)) {
    const field = fields.get(column);
    out[column] = field ? decodeValue(field, value, `${table}.${column}`) : value === null ? null : asText(value, `${table}.${column}`);
  }
  return out;
}
