import { TandemError } from '../../errors.js';
import type { Value } from '../../model/change.js';

/**
 * A neutral value (see model/change.ts) → a parameter MySQL/MariaDB stores exactly in a column of `nativeType`.
 * Values MySQL cannot hold are refused by name rather than stored as something else.
 */
export function encodeForMysql(table: string, column: string, nativeType: string, value: Value): Value | number {
  if (value === null || Buffer.isBuffer(value)) return value;
  const refuse = (why: string) =>
    new TandemError('TANDEM_VALUE_UNSUPPORTED', `${table}.${column}: the value ${JSON.stringify(value.slice(0, 40))} cannot be stored in MySQL ${nativeType}: ${why}`, {
      fix: `the transaction holding it stays in the source's log, so a restart stops here again: exclude ${table} (tandem.yaml exclude), or change ${table}.${column} on the shadow to a type that holds the value; then run \`tandem backfill --yes\` so the shadow starts from a clean copy`,
      place: { table, column },
    });
  if (/^(tinyint\(1\)|bool|boolean)(\s|$)/.test(nativeType)) {
    if (value === 't' || value === 'true') return 1;
    if (value === 'f' || value === 'false') return 0;
    return value;
  }
  if (/^(decimal|numeric|float|double|real)/.test(nativeType) && /^(nan|-?infinity)$/i.test(value)) {
    throw refuse('MySQL has no NaN or infinity');
  }
  if (/^float(\s|$)/.test(nativeType) && /^[-+]?[\d.]+(e[-+]?\d+)?$/i.test(value)) {
    // The shortest text of a single-precision value (PostgreSQL real prints its largest as 3.4028235e+38) can lie
    // beyond the float range once MySQL reads it as a double, and is refused as out of range; the float's exact value
    // as a double reads back as the same float.
    const single = Math.fround(Number(value));
    if (Number.isFinite(single)) return String(single);
  }
  if (/^(datetime|timestamp|date)/.test(nativeType)) {
    if (/infinity/i.test(value)) throw refuse('MySQL has no infinite dates');
    if (/ BC$/.test(value)) throw refuse('MySQL has no dates before year 1');
    // A PostgreSQL timestamptz already arrives as UTC without its offset; anything else with an offset is converted.
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(value);
    if (m) {
      const sign = m[3]?.startsWith('-') ? -1 : 1;
      const offsetMin = sign * (Math.abs(Number(m[3])) * 60 + Number(m[4] ?? 0));
      const frac = /\.(\d+)$/.exec(m[2] ?? '')?.[1] ?? '';
      const d = new Date(`${m[1]}T${(m[2] ?? '').replace(/\.\d+$/, '')}Z`);
      d.setUTCMinutes(d.getUTCMinutes() - offsetMin);
      return `${d.toISOString().slice(0, 19).replace('T', ' ')}${frac ? `.${frac}` : ''}`;
    }
    return value;
  }
  if (/^bit\(/.test(nativeType) && /^[01]+$/.test(value)) {
    const bits = BigInt(`0b${value}`);
    const bytes = Math.ceil(value.length / 8);
    const buf = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i++) buf[bytes - 1 - i] = Number((bits >> BigInt(8 * i)) & 0xffn);
    return buf;
  }
  return value;
}
