/**
 * MySQL/MariaDB collations read as the model's words (ColumnCollation): whether a collation compares code points,
 * weights, or weights that ignore case, and whether it pads trailing spaces. A primary key or unique index
 * collides exactly when its collation says two values are equal, so this decides which rows can coexist.
 */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import type { ColumnCollation } from '../../model/schema.js';

export interface MysqlServer {
  mariadb: boolean;
  version: string;
  /** The server's collations by name: character set, and NO PAD where the server reports it (MySQL 8). */
  collations: Map<string, { charset: string | null; noPad: boolean | null }>;
}

export async function readMysqlServer(conn: mysql.Connection): Promise<MysqlServer> {
  const [[version]] = await conn.query<RowDataPacket[]>(`SELECT VERSION() AS v`);
  // SELECT *: MySQL 8 has PAD_ATTRIBUTE, MariaDB (10.11 included) does not; its NO PAD collations say so in their names.
  const [rows] = await conn.query<RowDataPacket[]>(`SELECT * FROM information_schema.collations`);
  const collations: MysqlServer['collations'] = new Map();
  for (const r of rows) {
    const get = (key: string): unknown => r[key] ?? r[key.toLowerCase()];
    const pad = get('PAD_ATTRIBUTE');
    const charset = get('CHARACTER_SET_NAME');
    collations.set(String(get('COLLATION_NAME')), {
      charset: charset === null || charset === undefined ? null : String(charset),
      noPad: pad === null || pad === undefined ? null : /no pad/i.test(String(pad)),
    });
  }
  const v = String(version?.v ?? '');
  return { mariadb: /mariadb/i.test(v), version: v, collations };
}

/** By name: `binary` and `*_bin` compare code points (bytes), `*_ci` ignores case, the rest (`_cs`) compare weights. */
export function collationEquality(name: string): ColumnCollation['equality'] {
  if (name === 'binary' || /_bin$/.test(name)) return 'exact';
  if (/_ci$/.test(name)) return 'case-insensitive';
  return 'weights';
}

/**
 * PAD SPACE unless the server says NO PAD; where it does not say (MariaDB, MySQL 5.7), the name does: MariaDB's
 * NO PAD collations are the `nopad` ones, MySQL's the UCA 9.0.0 (`_0900_`) ones; `binary` never pads.
 */
export function collationPads(name: string, server: MysqlServer | undefined): boolean {
  const noPad = server?.collations.get(name)?.noPad;
  if (noPad !== null && noPad !== undefined) return !noPad;
  if (name === 'binary') return false;
  return server?.mariadb === false ? !/_0900_/.test(name) : !/nopad/.test(name);
}

/**
 * The collation of `charset` that compares code points without padding on this server: MariaDB (10.2+)
 * `<charset>_nopad_bin`, MySQL 8 `utf8mb4_0900_bin`; failing those `<charset>_bin`, which still pads (MySQL 5.7).
 * Undefined when the server is unknown or has neither.
 */
export function exactCollation(charset: string, server: MysqlServer | undefined): string | undefined {
  if (!server) return undefined;
  const candidates = server.mariadb ? [`${charset}_nopad_bin`, `${charset}_bin`] : [`${charset}_0900_bin`, `${charset}_bin`];
  return candidates.find((c) => server.collations.has(c));
}

/** `charset`: the column's (information_schema.columns.character_set_name); by default the collation's own. */
/** MariaDB 10.10+ lists its UCA 14.0.0 collations once for all character sets (`uca1400_ai_ci`), columns name them per set. */
export function hasCollation(server: MysqlServer, name: string, charset = name.split('_')[0] ?? ''): boolean {
  return server.collations.has(name) || (server.mariadb && name.startsWith(`${charset}_`) && server.collations.has(name.slice(charset.length + 1)));
}

export function describeCollation(name: string, server: MysqlServer | undefined, charset = server?.collations.get(name)?.charset ?? name.split('_')[0] ?? name): ColumnCollation {
  const alternative = exactCollation(charset, server);
  return {
    name,
    equality: collationEquality(name),
    padSpace: collationPads(name, server),
    charset,
    ...(alternative === undefined ? {} : { exactAlternative: alternative }),
  };
}
