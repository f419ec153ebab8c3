import type { CanonicalKey, VerifyTable } from '../engines/engine.js';
import type { Row, RowImage, Value } from '../model/change.js';
import type { LogicalType } from '../model/types.js';
import { canonicalDecimal, canonicalFloat } from '../model/canonical.js';
import { TandemError } from '../errors.js';

/** One string per key, for maps and sets: the same id the readers key canonicalRows results by. */
export { keyId } from '../engines/shared/verify-sql.js';

/** A key as operators read and write it: `{ "column": "canonical text" }`. */
export function keyObject(table: VerifyTable, key: CanonicalKey): Record<string, string> {
  return Object.fromEntries(table.key.map((c, i) => [c, key[i] ?? '']));
}

/**
 * A key given on the command line: a JSON object naming every key column (`{"id":"7","sku":"a"}`), a JSON array
 * in key order, or, for a one-column key, the plain text. Values are canonical text (DESIGN.md), as
 * `tandem verify` prints them.
 */
export function parseKeyArgument(table: VerifyTable, text: string): CanonicalKey {
  const bad = (why: string) =>
    new TandemError('TANDEM_USAGE', `--key ${text} does not name a row of ${table.name}: ${why}`, {
      fix: `give the key as tandem verify prints it: ${table.key.length === 1 ? `--key 42 or ` : ''}--key '${JSON.stringify(Object.fromEntries(table.key.map((k) => [k, '…'])))}'`,
    });
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw bad('it is not valid JSON');
    }
    const values = Array.isArray(parsed) ? parsed : table.key.map((k) => (parsed as Record<string, unknown>)[k]);
    if (values.length !== table.key.length || values.some((v) => v === undefined || v === null)) throw bad(`the key columns are ${table.key.join(', ')}`);
    if (!Array.isArray(parsed)) {
      const extra = Object.keys(parsed as object).filter((k) => !table.key.includes(k));
      if (extra.length) throw bad(`${extra.join(', ')} ${extra.length === 1 ? 'is not a key column' : 'are not key columns'} (${table.key.join(', ')})`);
    }
    return values.map((v) => String(v));
  }
  if (table.key.length !== 1) throw bad(`the key has ${table.key.length} columns (${table.key.join(', ')})`);
  return [text];
}

const pad6 = (text: string): string => {
  const m = /^(.*?\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(text);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(6, '0').slice(0, 6)}` : text;
};

/**
 * Canonical text of a key value in the neutral form capture produces (src/model/change.ts), so keys touched by
 * applied changes can be re-verified without reading them back first. `type` is the type the column is compared
 * as (Verifier.keyTypesOf): a MySQL tinyint(1) against an integer column is an integer, `2` and not `t`.
 */
export function canonicalOfNeutral(value: Value, type: LogicalType | undefined): string {
  if (value === null) return '';
  if (Buffer.isBuffer(value)) return value.toString('hex');
  switch (type?.kind) {
    case 'integer':
    case 'decimal':
      // Plain digits: no sign for zero, no padding (a ZEROFILL column's `0042` is 42).
      return canonicalDecimal(value);
    case 'float':
      return canonicalFloat(Number(value));
    case 'boolean':
      return value === 't' || value === 'true' || (/^-?\d+$/.test(value) && value !== '0' && !/^-?0+$/.test(value)) ? 't' : 'f';
    case 'timestamp':
    case 'time':
      return pad6(value);
    case 'uuid':
      return value.toLowerCase();
    default:
      return value;
  }
}

/** A row image's key as the verifier compares it; an unchanged (not sent) value counts as null, as keys never are. */
export function canonicalKeyOfRow(row: Row | RowImage, table: VerifyTable, types: ReadonlyMap<string, LogicalType | undefined>): CanonicalKey {
  return table.key.map((k) => {
    const v = row[k];
    return canonicalOfNeutral(typeof v === 'symbol' ? null : (v ?? null), types.get(k));
  });
}
