import type { Value } from '../../model/change.js';

/** One value in COPY's text format: backslash escapes, `\N` for NULL, bytea as its `\x` hex input form. */
export function copyField(value: Value): string {
  if (value === null) return '\\N';
  if (Buffer.isBuffer(value)) return `\\\\x${value.toString('hex')}`;
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : value;
}

export function copyLine(values: Value[]): string {
  return `${values.map(copyField).join('\t')}\n`;
}
