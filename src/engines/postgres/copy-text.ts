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

/**
 * Rows as COPY text, the same bytes as copyLine of each row's `columns`, written straight into buffers of about
 * `pieceBytes` outside the JavaScript heap. A backfill or a large transaction writes millions of rows through here:
 * text built by string concatenation was a quarter of everything such a run allocated, and every byte of it was then
 * copied again into a Buffer for the socket. A piece may end inside a row; COPY reads the data as one stream.
 */
export function* copyPieces(rows: ReadonlyArray<Readonly<Record<string, Value | undefined>>>, columns: readonly string[], pieceBytes = 64 * 1024): Generator<Buffer> {
  let piece = Buffer.allocUnsafe(pieceBytes);
  let at = 0;
  for (const row of rows) {
    if (columns.length === 0) {
      if (at === piece.length) {
        yield piece;
        piece = Buffer.allocUnsafe(pieceBytes);
        at = 0;
      }
      piece[at++] = 0x0a;
    }
    for (let c = 0; c < columns.length; c++) {
      const text = copyField(row[columns[c] as string] ?? null);
      // A UTF-16 code unit is at most 3 bytes of UTF-8; one more for the tab or newline after it.
      const room = text.length * 3 + 1;
      if (at + room > piece.length) {
        if (at > 0) yield piece.subarray(0, at);
        piece = Buffer.allocUnsafe(Math.max(pieceBytes, room));
        at = 0;
      }
      at += piece.write(text, at);
      piece[at++] = c === columns.length - 1 ? 0x0a : 0x09;
    }
  }
  if (at > 0) yield piece.subarray(0, at);
}
