/**
 * Fencing a MySQL/MariaDB side (docs/fencing.md): the server's `read_only`. It refuses every write, TRUNCATE and DDL
 * included, from every account without READ ONLY ADMIN (MariaDB 10.11; SUPER no longer bypasses it there, but
 * accounts granted ALL ON *.* hold READ ONLY ADMIN) — Tandem's account must hold it to write through the fence, and
 * it is also the privilege MariaDB 10.11 asks for to set read_only. A transaction that wrote before the fence cannot
 * commit after it (the server refuses the COMMIT of a read-write transaction while read_only is on).
 * Its limits, which docs/fencing.md and `tandem check` state: it is server-wide (every database of the server is
 * fenced), it does not survive a server restart (fencedTables then reports nothing fenced and fencing again restores
 * it), and the error an application gets is the server's own read-only error, which cannot name the migration
 * (MySQL 8 would use super_read_only; not testable here).
 *
 * Several migrations may fence the same server: each records its fence in its own database's `tandem_fence`
 * table, and read_only is switched off only when no database of the server records a fence any more. A named lock
 * (GET_LOCK) serializes these decisions between Tandem instances, so that one switching read_only off never races
 * another recording its fence.
 */
import type mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { TandemError, errorMessage } from '../../errors.js';
import type { Counter, FenceOptions, FenceResult, SwitchSide } from '../engine.js';
import { connectMysql } from './connect.js';
import { quoteMysqlIdent as q } from './quote.js';
import { masterPosition } from './reader.js';
import { markerId } from '../../model/names.js';

const FENCE_TABLE = `CREATE TABLE IF NOT EXISTS tandem_fence (
  migration varchar(64) NOT NULL PRIMARY KEY, fenced tinyint(1) NOT NULL, active_side varchar(8) NOT NULL,
  since datetime(6) NOT NULL, marker varchar(128) NULL, marked_at datetime(6) NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** The migration names config accepts. */
const MIGRATION_NAME = /^[a-z][a-z0-9_]{0,39}$/;
/** Server-wide: serializes recording fences and switching read_only between Tandem instances. */
const FENCE_LOCK = 'tandem_fence';
const FENCE_LOCK_WAIT_S = 120;
const ATTEMPTS = 4;
/**
 * information_schema.innodb_trx is a cache the server refreshes at most every 100 ms: a list read sooner than that
 * after read_only went on may predate a transaction that had written by then.
 */
const TRX_CACHE_MS = 150;

/**
 * Transactions of other accounts than Tandem's (and not the server's own threads) that wrote, or are running a
 * statement that writes: the ones that hold SET GLOBAL read_only up, and the ones that can no longer commit once it
 * is on. Tandem's own sessions (its apply) write through the fence and are left alone.
 */
const WRITERS = `SELECT t.trx_mysql_thread_id AS id, p.user AS who
   FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id
  WHERE t.trx_mysql_thread_id <> CONNECTION_ID() AND p.user NOT IN ('system user', 'event_scheduler')
    AND p.user <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1)
    AND (t.trx_rows_modified > 0 OR (t.trx_tables_locked > 0 AND t.trx_query IS NOT NULL))`;

function checkMigration(migration: string): void {
  if (!MIGRATION_NAME.test(migration)) throw new TandemError('TANDEM_INTERNAL', `not a migration name: ${JSON.stringify(migration)}`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class MysqlSwitchSide implements SwitchSide {
  readonly engine = 'mysql' as const;

  private constructor(private readonly conn: mysql.Connection) {}

  static async open(url: string): Promise<MysqlSwitchSide> {
    return new MysqlSwitchSide(await connectMysql(url, 'switch', { multipleStatements: false }));
  }

  private async readOnly(): Promise<boolean> {
    const [rows] = await this.conn.query<RowDataPacket[]>('SELECT @@GLOBAL.read_only AS ro');
    return Number(rows[0]?.ro) === 1;
  }

  /** Runs `work` holding the server-wide fence lock. */
  private async serialized<T>(what: string, work: () => Promise<T>): Promise<T> {
    const [rows] = await this.conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [FENCE_LOCK, FENCE_LOCK_WAIT_S]);
    if (Number(rows[0]?.got) !== 1) {
      throw new TandemError('TANDEM_FENCE_FAILED', `cannot ${what}: another session holds the lock ${FENCE_LOCK} (another Tandem fencing this server?)`, {
        fix: `try again; SELECT IS_USED_LOCK('${FENCE_LOCK}') names the connection holding it`,
        retriable: true,
      });
    }
    try {
      return await work();
    } finally {
      await this.conn.query('SELECT RELEASE_LOCK(?)', [FENCE_LOCK]).catch(() => undefined);
    }
  }

  async fence(opts: FenceOptions): Promise<FenceResult> {
    checkMigration(opts.migration);
    const deadline = Date.now() + opts.timeoutMs;
    let ended = 0;
    await this.conn.query(FENCE_TABLE);
    await this.serialized(`fence ${opts.side}`, async () => {
      await this.conn.query(
        `INSERT INTO tandem_fence (migration, fenced, active_side, since) VALUES (?, 1, ?, UTC_TIMESTAMP(6))
         ON DUPLICATE KEY UPDATE since = IF(fenced = 1, since, VALUES(since)), fenced = 1, active_side = VALUES(active_side)`,
        [opts.migration, opts.activeSide],
      );
      // SET GLOBAL read_only waits for running write statements (not for idle transactions); past half the bound,
      // they are ended. (Setting it when it is already on returns at once.)
      await this.conn.query(`SET SESSION lock_wait_timeout = ${Math.max(1, Math.ceil(opts.timeoutMs / 2000))}`);
      try {
        for (let attempt = 1; ; attempt++) {
          try {
            await this.conn.query('SET GLOBAL read_only = ON');
            break;
          } catch (err) {
            const errno = (err as { errno?: number }).errno;
            if ((errno !== 1205 && errno !== 1223) || attempt >= ATTEMPTS) {
              throw new TandemError('TANDEM_FENCE_FAILED', `cannot fence ${opts.side}: SET GLOBAL read_only = ON failed: ${errorMessage(err)}`, {
                fix:
                  errno === 1205 || errno === 1223
                    ? "statements of Tandem's own account, or not visible to it, keep writing: end them (SHOW PROCESSLIST; KILL) and try again"
                    : "Tandem's account needs READ ONLY ADMIN (MariaDB 10.5.2 and later; SUPER before, and on MySQL SUPER or SYSTEM_VARIABLES_ADMIN) to set read_only and to write while it is on (tandem check lists what is missing)",
                cause: err,
              });
            }
            ended += await this.endWriters();
          }
        }
      } finally {
        await this.conn.query('SET SESSION lock_wait_timeout = DEFAULT').catch(() => undefined);
      }
    });
    // Transactions that wrote before the fence can no longer commit, but hold their row locks (which would block
    // Tandem's apply) until they end: they are given until the timeout, then ended.
    await sleep(TRX_CACHE_MS);
    while ((await this.writers()).length > 0 && Date.now() < deadline) await sleep(TRX_CACHE_MS);
    ended += await this.endWriters();
    return { endedTransactions: ended, position: await this.positionIfLogged() };
  }

  /**
   * The binlog position, or none when the server keeps no binary log: a shadow without one is fenced all the same
   * (it needs a binary log only to become active, and the cutover's gate refuses until it has one).
   */
  private async positionIfLogged(): Promise<string | undefined> {
    const [rows] = await this.conn.query<RowDataPacket[]>('SELECT @@GLOBAL.log_bin AS logged');
    return Number(rows[0]?.logged) === 1 ? masterPosition(this.conn) : undefined;
  }

  private async writers(): Promise<Array<{ id: number; who: string }>> {
    const [rows] = await this.conn.query<RowDataPacket[]>(WRITERS);
    return rows.map((r) => ({ id: Number(r.id), who: String(r.who) }));
  }

  /** Ends the connections of the writers (KILL needs PROCESS to see them and CONNECTION ADMIN to end them). */
  private async endWriters(): Promise<number> {
    let ended = 0;
    for (const w of await this.writers()) {
      try {
        await this.conn.query(`KILL CONNECTION ${w.id}`);
        ended++;
      } catch {
        // It ended on its own meanwhile, or Tandem may not end it: a fence that stays blocked says so.
      }
    }
    return ended;
  }

  /** The fences recorded on this server (database and migration), in every tandem_fence table Tandem can see. */
  private async recordedFences(): Promise<string[]> {
    const [schemas] = await this.conn.query<RowDataPacket[]>(`SELECT table_schema AS s FROM information_schema.tables WHERE table_name = 'tandem_fence'`);
    const out: string[] = [];
    for (const s of schemas) {
      const schema = String(s.s);
      let rows: RowDataPacket[];
      try {
        [rows] = await this.conn.query<RowDataPacket[]>(`SELECT migration FROM ${q(schema)}.tandem_fence WHERE fenced = 1`);
      } catch (err) {
        // Unknown is not unfenced: read_only stays on.
        throw new TandemError('TANDEM_FENCE_FAILED', `cannot tell whether ${schema} is fenced (read_only stays on): ${errorMessage(err)}`, {
          fix: `GRANT SELECT ON ${q(schema)}.tandem_fence TO Tandem's account, or look at it and SET GLOBAL read_only = OFF by hand (docs/fencing.md)`,
          cause: err,
        });
      }
      for (const r of rows) out.push(`${schema}: ${String(r.migration)}`);
    }
    return out;
  }

  async unfence(opts: { migration: string; tables: string[] }): Promise<void> {
    checkMigration(opts.migration);
    await this.conn.query(FENCE_TABLE);
    await this.serialized('unfence', async () => {
      await this.conn.query(`UPDATE tandem_fence SET fenced = 0 WHERE migration = ?`, [opts.migration]);
      // read_only is the server's: off only when no database of it records a fence.
      if ((await this.recordedFences()).length === 0 && (await this.readOnly())) await this.conn.query('SET GLOBAL read_only = OFF');
    });
  }

  /** Every table while read_only is on (whichever migration put it on): applications cannot write any of them. */
  async fencedTables(opts: { migration: string; tables: string[] }): Promise<string[]> {
    return (await this.readOnly()) ? [...opts.tables] : [];
  }

  async writeMarker(migration: string, requestId: string): Promise<string> {
    checkMigration(migration);
    await this.conn.query(FENCE_TABLE);
    // One statement that always changes the row (marked_at), so the binlog always gets a transaction, even for a
    // request repeated with the same id.
    await this.conn.query(
      `INSERT INTO tandem_fence (migration, fenced, active_side, since, marker, marked_at) VALUES (?, 0, '', UTC_TIMESTAMP(6), ?, UTC_TIMESTAMP(6))
       ON DUPLICATE KEY UPDATE marker = VALUES(marker), marked_at = IF(marked_at = UTC_TIMESTAMP(6), marked_at + INTERVAL 1 MICROSECOND, UTC_TIMESTAMP(6))`,
      [migration, markerId(migration, requestId)],
    );
    return masterPosition(this.conn);
  }

  currentPosition(): Promise<string> {
    return masterPosition(this.conn);
  }

  async counters(tables: string[]): Promise<Counter[]> {
    if (tables.length === 0) return [];
    const [rows] = await this.conn.query<RowDataPacket[]>(
      `SELECT c.table_name AS tbl, c.column_name AS col, t.auto_increment AS next
         FROM information_schema.columns c JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = DATABASE() AND c.table_name IN (?) AND c.extra LIKE '%auto_increment%'
        ORDER BY 1, 2`,
      [tables],
    );
    const out: Counter[] = [];
    for (const r of rows) {
      const [max] = await this.conn.query<RowDataPacket[]>(`SELECT MAX(${q(String(r.col))}) AS m FROM ${q(String(r.tbl))}`);
      const afterMax = max[0]?.m === null || max[0]?.m === undefined ? 1n : BigInt(String(max[0].m)) + 1n;
      const next = BigInt(String(r.next ?? 1));
      out.push({ table: String(r.tbl), column: String(r.col), next: (next > afterMax ? next : afterMax).toString() });
    }
    return out;
  }

  /**
   * ALTER TABLE ... AUTO_INCREMENT: DDL, written to the binlog (a capture reading this side sees an ALTER TABLE on a
   * replicated table) and waiting for the table's metadata lock.
   */
  async advanceCounters(floors: Counter[]): Promise<Counter[]> {
    const mine = new Map((await this.counters([...new Set(floors.map((f) => f.table))])).map((c) => [`${c.table}\u0000${c.column}`, c]));
    const out: Counter[] = [];
    for (const f of floors) {
      const here = mine.get(`${f.table}\u0000${f.column}`);
      if (!here) continue;
      const target = BigInt(f.next) > BigInt(here.next) ? BigInt(f.next) : BigInt(here.next);
      if (target > BigInt(here.next) || (await this.storedNext(f.table)) < target) {
        await this.conn.query(`ALTER TABLE ${q(f.table)} AUTO_INCREMENT = ${target.toString()}`);
      }
      out.push({ table: f.table, column: f.column, next: target.toString() });
    }
    return out;
  }

  /** The table's AUTO_INCREMENT as stored (may be below MAX + 1 after rows were written with explicit keys). */
  private async storedNext(table: string): Promise<bigint> {
    const [rows] = await this.conn.query<RowDataPacket[]>(`SELECT auto_increment AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?`, [table]);
    return BigInt(String(rows[0]?.n ?? 1));
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => undefined);
  }
}
