import type pg from 'pg';

/** PostgreSQL log sequence numbers, `X/Y` in hex, compared as 64-bit integers. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`not a PostgreSQL LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function compareLsn(a: string, b: string): number {
  const x = lsnToBigInt(a);
  const y = lsnToBigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

export function maxLsn(a: string, b: string): string {
  return compareLsn(a, b) >= 0 ? a : b;
}

/** Where the server's WAL ends now: a transaction committing after this call commits beyond it. */
export async function currentLsn(client: pg.Client): Promise<string> {
  return (await client.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`)).rows[0]?.lsn as string;
}
