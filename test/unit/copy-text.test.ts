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
  ];
  const columns = ['id', 't', 'b'];

  it('escapes each field and marks NULL (and a missing column) as \\N', () => {
    expect(copyLine(['2', 'a\tb\\c\nd\re', null, Buffer.from([1, 171])])).toBe('2\ta\\tb\\\\c\\nd\\re\t\\N\t\\\\x01ab\n');
  });

  it('copyPieces writes exactly the lines copyLine writes, in pieces of the given number of rows', () => {
    const lines = rows.map((r) => copyLine(columns.map((c) => r[c] ?? null)));
    for (const per of [1, 2, 3, 5, 500]) {
      const pieces = [...copyPieces(rows, columns, per)];
      expect(pieces.join(''), `per ${per}`).toBe(lines.join(''));
      expect(pieces.length, `per ${per}`).toBe(Math.ceil(rows.length / per));
      expect(pieces[0], `per ${per}`).toBe(lines.slice(0, per).join(''));
    }
    expect([...copyPieces([], columns)]).toEqual([]);
  });
});
