/**
 * Direct reads of both databases for comparisons in tests: never through Tandem's own code. Each query returns
 * rows as arrays of text in a form both engines can produce; callers pass engine-specific SELECT lists when the
 * types print differently.
 */
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { untilTandem, type TandemProcess } from './tandem-process.js';

/** How pgRows and mysqlRows write SQL NULL. */
export const NULL_TEXT = '∅NULL';

export async function pgRows(client: pg.Client, sql: string): Promise<string[][]> {
  const r = await client.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (v: string) => v } });
  return (r.rows as Array<Array<string | null>>).map((row) => row.map((v) => (v === null ? NULL_TEXT : v)));
}

export async function mysqlRows(conn: mysql.Connection, sql: string): Promise<string[][]> {
  const [rows] = await conn.query<RowDataPacket[]>({ sql, rowsAsArray: true });
  return (rows as unknown as unknown[][]).map((row) => row.map((v) => (v === null ? NULL_TEXT : Buffer.isBuffer(v) ? v.toString('hex') : String(v))));
}

export async function pgCount(client: pg.Client, table: string): Promise<number> {
  const r = await client.query<{ n: string }>(`select count(*)::text as n from ${table}`);
  return Number(r.rows[0]?.n);
}

/** JSON text with object keys sorted and no white space: one text for one JSON value, however an engine stores it. */
export function canonicalJsonText(text: string): string {
  const sortKeys = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sortKeys)
      : v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, x]) => [k, sortKeys(x)]))
        : v;
  return JSON.stringify(sortKeys(JSON.parse(text)));
}

/** Rows as sorted JSON texts: two reads hold the same rows, in any order, when these are equal. */
export function rowTexts(rows: string[][]): string[] {
  return rows.map((r) => JSON.stringify(r)).sort();
}

/** The same rows on both sides, in any order (each row as often on one side as on the other). */
export function sameRows(source: string[][], shadow: string[][]): boolean {
  return JSON.stringify(rowTexts(source)) === JSON.stringify(rowTexts(shadow));
}

/** Several tables read as one list of rows, each row led by its table's name, to compare them all at once. */
export async function tablesRows<T extends string>(tables: readonly T[], read: (table: T) => Promise<string[][]>): Promise<string[][]> {
  const rows: string[][] = [];
  for (const table of tables) for (const row of await read(table)) rows.push([table, ...row]);
  return rows;
}

/**
 * Waits until `shadow` reads the same rows as `source`, in any order. With `procs`, fails as soon as one of them
 * exits; after the timeout, fails naming rows that only one side holds.
 */
export async function waitForSameRows(
  what: string,
  source: () => Promise<string[][]>,
  shadow: () => Promise<string[][]>,
  opts: { procs?: TandemProcess[]; timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  try {
    await untilTandem(opts.procs ?? [], what, async () => sameRows(await source(), await shadow()), opts.timeoutMs ?? 60_000, opts.intervalMs ?? 300);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${await difference(source, shadow)}`);
  }
}

/** Up to five rows that only the source holds and five that only the shadow holds, for a failure message. */
async function difference(source: () => Promise<string[][]>, shadow: () => Promise<string[][]>): Promise<string> {
  const [a, b] = await Promise.all([source(), shadow()]);
  const left = new Map<string, number>();
  for (const row of rowTexts(b)) left.set(row, (left.get(row) ?? 0) + 1);
  const sourceOnly = rowTexts(a).filter((row) => {
    const n = left.get(row) ?? 0;
    if (n) left.set(row, n - 1);
    return n === 0;
  });
  const shadowOnly = [...left].flatMap(([row, n]) => Array<string>(n).fill(row));
  const list = (rows: string[]) => rows.slice(0, 5).map((r) => `\n  ${r.slice(0, 600)}`).join('');
  return `${sourceOnly.length} row(s) only on the source:${list(sourceOnly)}\n${shadowOnly.length} row(s) only on the shadow:${list(shadowOnly)}`;
}
