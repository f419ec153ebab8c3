import { TandemError } from '../../errors.js';

/**
 * A place in one MySQL/MariaDB server's binary log, serialized as `file:offset[#gtid]`, e.g.
 * `binlog.000003:1234#0-1-10,1-2-5`: file:offset orders every transaction of every GTID domain (H8); the GTID list is
 * informational and never compared.
 *
 * Replication spec: docs/engines/mysql.md
 */
export interface BinlogPosition {
  file: string;
  offset: number;
  gtid?: string;
}

export function parsePosition(text: string): BinlogPosition {
  // The file is everything before the last `:` that precedes the `#`: a GTID suffix may itself hold colons
  // (MySQL `uuid:1-7:9-10`), which a greedy match would misread as the offset.
  const m = /^([^#]+):(\d+)(?:#(.*))?$/.exec(text);
  if (!m) throw new TandemError('TANDEM_STATE', `not a MySQL/MariaDB binlog position: ${JSON.stringify(text)}`, { fix: 'positions look like binlog.000003:1234; check the checkpoint in the shadow' });
  const gtid = m[3] ? m[3] : undefined;
  return gtid ? { file: m[1] as string, offset: Number(m[2]), gtid } : { file: m[1] as string, offset: Number(m[2]) };
}

export function formatPosition(p: BinlogPosition): string {
  return `${p.file}:${p.offset}${p.gtid ? `#${p.gtid}` : ''}`;
}

/** The numeric extension of a binlog file name (`binlog.000012` → 12); files without one sort by name. */
export function fileIndex(file: string): number {
  const m = /\.(\d+)$/.exec(file);
  return m ? Number(m[1]) : Number.NaN;
}

function compareFiles(a: string, b: string): number {
  const ia = fileIndex(a);
  const ib = fileIndex(b);
  if (!Number.isNaN(ia) && !Number.isNaN(ib) && ia !== ib) return ia < ib ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  const byFile = compareFiles(pa.file, pb.file);
  if (byFile !== 0) return byFile;
  return pa.offset < pb.offset ? -1 : pa.offset > pb.offset ? 1 : 0;
}

/**
 * Bytes of binlog between two positions. Within one file: the offset difference. Across files: the rest of the
 * first file, every file in between, and the offset in the last, taking sizes from `sizes` (SHOW BINARY LOGS).
 * A file whose size is unknown (purged, or no listing yet) counts as if it ended at the position read in it, and
 * files in between with unknown sizes count as empty: an underestimate, never negative. 0 when `to` ≤ `from`.
 */
export function binlogDistance(from: string, to: string, sizes: ReadonlyMap<string, number>): number {
  if (comparePositions(to, from) <= 0) return 0;
  const a = parsePosition(from);
  const b = parsePosition(to);
  if (a.file === b.file) return b.offset - a.offset;
  let total = Math.max(0, (sizes.get(a.file) ?? a.offset) - a.offset) + b.offset;
  for (const [file, size] of sizes) {
    if (compareFiles(file, a.file) > 0 && compareFiles(file, b.file) < 0) total += size;
  }
  return total;
}

/**
 * A MariaDB GTID position (`0-1-10,1-2-5`) advanced by one GTID: the domain's entry is replaced. Sequence numbers
 * stay text (they may exceed 2^53).
 */
export function advanceGtidPosition(position: string | undefined, gtid: string): string {
  const domain = gtid.split('-')[0];
  const entries = (position ? position.split(',') : []).filter((e) => e && e.split('-')[0] !== domain);
  entries.push(gtid);
  return entries.sort((x, y) => Number(x.split('-')[0]) - Number(y.split('-')[0])).join(',');
}
