/** Helpers both engines' native-type parsers and renderers use (src/engines/<engine>/native-types.ts). */
import type { LogicalType } from '../../model/types.js';
import type { NativeParse } from '../engine.js';

export type IntegerType = Extract<LogicalType, { kind: 'integer' }>;

/**
 * Lower-cases and tidies white space outside quotes only: MySQL enum/set values are quoted in column_type and
 * their case and spacing are part of the data.
 */
export function normalizeSpelling(nativeType: string): string {
  return nativeType
    .trim()
    .split(/('(?:[^']|'')*')/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .toLowerCase()
            .replace(/\s+/g, ' ')
            .replace(/\s*\(\s*/g, '(')
            .replace(/\s*,\s*/g, ',')
            .replace(/\s*\)/g, ')'),
    )
    .join('');
}

export function integerRange(bits: number, unsigned: boolean): IntegerType {
  const b = BigInt(bits);
  return unsigned
    ? { kind: 'integer', min: 0n, max: (1n << b) - 1n }
    : { kind: 'integer', min: -(1n << (b - 1n)), max: (1n << (b - 1n)) - 1n };
}

export const decimalDigits = (v: bigint): number => (v < 0n ? -v : v).toString().length;

/** The first of `candidates` (narrowest first) holding min..max, else `exact(digits)`: a decimal with no scale. */
export function narrowestInteger(candidates: ReadonlyArray<readonly [string, IntegerType]>, min: bigint, max: bigint, exact: (digits: number) => string): string {
  const fit = candidates.find(([, r]) => r.min <= min && r.max >= max);
  return fit ? fit[0] : exact(Math.max(decimalDigits(min), decimalDigits(max)));
}

/** The longest text of an address: IPv4 `255.255.255.255`, IPv6 eight groups of four, plus `/128` with a netmask. */
export function inetTextLength(t: Extract<LogicalType, { kind: 'inet' }>): number {
  return (t.family === 4 ? 15 : 39) + (t.netmask ? 4 : 0);
}

export const parsed = (type: LogicalType, countsBytes = false): NativeParse => ({ ok: true, type, countsBytes });
export const unsupported = (hint?: string): NativeParse => ({ ok: false, problem: 'unsupported', hint });
export const unknown = (hint?: string): NativeParse => ({ ok: false, problem: 'unknown', hint });
