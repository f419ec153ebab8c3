import { describe, expect, it } from 'vitest';
import { copyLine, copyPieces } from '../../src/engines/postgres/copy-text.js';
import type { Row } from '../../src/model/change.js';

describe('COPY text', () => {
  const rows: Row[] = [
    { id: '1', t: 'plain', b: null },
    { id: '2', t: 'tab\there, new\nline, cr\r, back\\slash', b: Buffer.from([0, 255, 16]) },
    { id: '3', t: '', b: null },
    { id: '4', t: '\\N is text here', b: Buffer.alloc(0) },
    { id: '5', b: null },
    { id: '6', t: 'Ä ß € 😀 and a longer value: '.repeat(40), b: null },
    { id: '7', t: 'é', b: Buffer.from('x'.repeat(300)) },
  ];
  const columns = ['id', 't', 'b'];
  const text = (pieces: Buffer[]) => Buffer.concat(pieces).toString('utf8');

  it('escapes each field and marks NULL (and a missing column) as \\N', () => {
    expect(copyLine(['2', 'a\tb\\c\nd\re', null, Buffer.from([1, 171])])).toBe('2\ta\\tb\\\\c\\nd\\re\t\\N\t\\\\x01ab\n');
  });

  it('copyPieces writes exactly the bytes of copyLine for every row, whatever the piece size', () => {
    const expected = rows.map((r) => copyLine(columns.map((c) => r[c] ?? null))).join('');
    for (const size of [1, 7, 64, 1000, 64 * 1024]) {
      const pieces = [...copyPieces(rows, columns, size)];
      expect(text(pieces), `pieces of ${size} bytes`).toBe(expected);
      expect(pieces.every((p) => p.length > 0), `pieces of ${size} bytes`).toBe(true);
    }
    // A piece of 64 kB holds all of these rows; pieces of 64 bytes split them, and a value longer than that gets a
    // piece of its own size.
    expect([...copyPieces(rows, columns)]).toHaveLength(1);
    const small = [...copyPieces(rows, columns, 64)];
    expect(small.length).toBeGreaterThan(1);
    expect(Math.max(...small.map((p) => p.length))).toBeGreaterThan(64);
  });

  it('copyPieces of no rows is nothing; of rows without columns, one empty line each', () => {
    expect([...copyPieces([], columns)]).toEqual([]);
    expect(text([...copyPieces([{}, {}, {}], [], 2)])).toBe('\n\n\n');
  });
});
