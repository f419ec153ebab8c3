import type { Row } from './change.js';

/** A primary key as JSON for Tandem's state tables; bytes survive as `{"$hex": …}`. */
export function encodeKey(key: Row): string {
  return JSON.stringify(Object.fromEntries(Object.entries(key).map(([k, v]) => [k, Buffer.isBuffer(v) ? { $hex: v.toString('hex') } : v])));
}

export function decodeKey(text: string): Row {
  const raw = JSON.parse(text) as Record<string, string | null | { $hex: string }>;
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v !== null && typeof v === 'object' ? Buffer.from(v.$hex, 'hex') : v]));
}
