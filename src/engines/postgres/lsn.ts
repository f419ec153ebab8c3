import type pg from 'pg';

/** PostgreSQL log sequence numbers, `X/Y` in hex, compared as 64-bit integers. */
export function lsnToBigInt(lsn: string): bigint {
  const [high, low] = halvesOf(lsn);
  return (BigInt(high) << 32n) + BigInt(low);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

const notLsn = (text: string) => new Error(`not a PostgreSQL LSN: ${text}`);

/**
 * The two 32-bit halves of an LSN; throws naming the text when it is not one. The one reader of LSN text here, by
 * hand: positions are compared several times per replicated transaction (the pipeline, the lag tracker, the
 * acknowledgement), and a regular expression with two BigInts cost three times as much there.
 */
function halvesOf(lsn: string): [number, number] {
  let high = 0;
  let low = 0;
  let digits = 0;
  let slash = false;
  for (let i = 0; i < lsn.length; i++) {
    const c = lsn.charCodeAt(i);
    if (c === 0x2f) {
      if (slash || digits === 0) throw notLsn(lsn);
      slash = true;
      digits = 0;
      continue;
    }
    const d = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x41 && c <= 0x46 ? c - 0x37 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1;
    if (d < 0 || ++digits > 8) throw notLsn(lsn);
    if (slash) low = low * 16 + d;
    else high = high * 16 + d;
  }
  if (!slash || digits === 0) throw notLsn(lsn);
  return [high, low];
}

export function compareLsn(a: string, b: string): number {
  const x = halvesOf(a);
  const y = halvesOf(b);
  if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
  return x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
}

export function maxLsn(a: string, b: string): string {
  return compareLsn(a, b) >= 0 ? a : b;
}

/** WAL page size (XLOG_BLCKSZ, 8 kB unless PostgreSQL was compiled otherwise) and its short page header. */
const WAL_PAGE = 8192n;
const SHORT_PAGE_HEADER = 24n;

/**
 * Where the server's WAL ends now: at or past the commit record of every transaction whose commit has returned, so a
 * transaction committing after this call commits beyond it. That is the insert position: pg_current_wal_lsn() is
 * where WAL has been written to, which lags a commit made with synchronous_commit = off (until the WAL writer runs),
 * and a row seen committed could then lie beyond the position read after it (verification would wait for too little
 * and call a row not yet applied drift).
 *
 * An insert position just past a page header (nothing of the page written yet) is moved back to the page's start,
 * where the last record ended: a reader of the log (the walsender's sent position) reports that end, and would
 * otherwise never reach the position on a quiet server.
 */
export async function currentLsn(client: pg.Client): Promise<string> {
  const lsn = (await client.query<{ lsn: string }>(`select pg_current_wal_insert_lsn()::text as lsn`)).rows[0]?.lsn as string;
  return endOfLastRecord(lsn);
}

export function endOfLastRecord(insertLsn: string): string {
  const at = lsnToBigInt(insertLsn);
  return at % WAL_PAGE === SHORT_PAGE_HEADER ? bigIntToLsn(at - SHORT_PAGE_HEADER) : insertLsn;
}
