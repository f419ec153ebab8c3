/**
 * Fencing a PostgreSQL side (docs/fencing.md): statement-level triggers on every replicated table and on every
 * partition of it (statement triggers are not inherited, and applications may write to a partition directly), for
 * INSERT, UPDATE, DELETE and TRUNCATE, raising `read_only_sql_transaction` (25006) with the migration and the active
 * side named. They fire for every ordinary session, the tables' owner and superusers included, and not for
 * Tandem's apply session, which runs with session_replication_role = replica (ordinary triggers do not fire there).
 * The fence lives in the database: it holds whether Tandem runs or not.
 *
 * Creating or enabling a trigger takes SHARE ROW EXCLUSIVE on the table: it waits for every transaction that has
 * written to the table (their ROW EXCLUSIVE conflicts with it) and for no reader. So once the fence is up no
 * transaction that wrote before it can still commit: that is what makes the drain marker written after it a proof.
 * The wait is bounded: past half the timeout, the sessions holding such locks are ended and the fence tried again.
 * Unfencing disables the triggers (the same lock, never ACCESS EXCLUSIVE, which DROP TRIGGER takes and which would
 * wait for every reader and hold up every new one); fencing again enables them. Both need the tables' owner.
 */
import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import type { Counter, FenceOptions, FenceResult, SwitchSide } from '../engine.js';
import { connectPostgres } from './connect.js';
import { currentLsn } from './lsn.js';
import { MARKER_MESSAGE_PREFIX as MARKER_PREFIX, markerId } from '../../model/names.js';

const q = (name: string) => pg.escapeIdentifier(name);

/** The migration names config accepts; the fence's object names are built from them. */
const MIGRATION_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/** The trigger on each table and the function it calls, for one migration. */
export function fenceObjects(migration: string): { trigger: string; fn: string } {
  if (!MIGRATION_NAME.test(migration)) throw new TandemError('TANDEM_INTERNAL', `not a migration name: ${JSON.stringify(migration)}`);
  return { trigger: `tandem_fence_${migration}`, fn: `tandem.${q(`fence_${migration}`)}` };
}

/** Lock waits (lock_timeout) and deadlocks with an application transaction: ending its writers can clear them. */
const LOCK_CONFLICT = new Set(['55P03', '40P01']);
const ATTEMPTS = 4;
/** How long unfencing waits for a lock (only Tandem's apply, or application transactions already refused, hold one). */
const UNFENCE_LOCK_WAIT_MS = 5_000;

interface Relation {
  /** The replicated table this relation is, or is a partition of. */
  top: string;
  /** Schema-qualified and quoted. */
  rel: string;
  /** The fence trigger's pg_trigger.tgenabled, null when there is none. */
  state: string | null;
}

/** Fires for application sessions: 'O' (origin and local) or 'A' (always). */
const firing = (state: string | null) => state === 'O' || state === 'A';

export class PgSwitchSide implements SwitchSide {
  readonly engine = 'postgres' as const;

  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<PgSwitchSide> {
    return new PgSwitchSide(await connectPostgres(url, 'switch'));
  }

  /** The tables and every partition (or child) below them, with the state of the fence trigger on each. */
  private async relations(tables: string[], trigger: string): Promise<Relation[]> {
    const r = await this.client.query<Relation>(
      `with recursive rels(oid, top) as (
         select c.oid, c.relname::text from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and c.relname = any($1) and c.relkind in ('r', 'p')
         union all
         select i.inhrelid, rels.top from pg_inherits i join rels on i.inhparent = rels.oid)
       select rels.top, format('%I.%I', n.nspname, c.relname) as rel,
              (select t.tgenabled::text from pg_trigger t where t.tgrelid = c.oid and t.tgname = $2) as state
         from rels join pg_class c on c.oid = rels.oid join pg_namespace n on n.oid = c.relnamespace
        order by 1, 2`,
      [tables, trigger],
    );
    return r.rows;
  }

  /**
   * Runs `work` in a transaction whose lock waits end after `lockWaitMs`; on a lock conflict, ends the application
   * sessions holding write locks on the tables and tries again. Returns how many sessions it ended.
   */
  private async underLocks(what: string, tables: string[], trigger: string, lockWaitMs: number, work: (rels: Relation[]) => Promise<void>): Promise<number> {
    let ended = 0;
    const notEnded: string[] = [];
    for (let attempt = 1; ; attempt++) {
      let rels: Relation[] = [];
      await this.client.query('BEGIN');
      try {
        await this.client.query(`SET LOCAL lock_timeout = ${Math.max(100, Math.floor(lockWaitMs))}`);
        rels = await this.relations(tables, trigger);
        await work(rels);
        await this.client.query('COMMIT');
        return ended;
      } catch (err) {
        await this.client.query('ROLLBACK').catch(() => undefined);
        if (err instanceof TandemError) throw err;
        const code = String((err as { code?: unknown }).code ?? '');
        if (!LOCK_CONFLICT.has(code) || attempt >= ATTEMPTS) {
          const blocked = notEnded.length ? `; could not end ${[...new Set(notEnded)].join(', ')}` : '';
          throw new TandemError('TANDEM_FENCE_FAILED', `cannot ${what}: ${errorMessage(err)}${blocked}`, {
            fix: LOCK_CONFLICT.has(code)
              ? "application transactions keep write locks on the tables: end them (pg_terminate_backend; ROLLBACK PREPARED for prepared transactions), or give Tandem's user pg_signal_backend so it can, and try again"
              : "Tandem's user must own the replicated tables (or be a member of their owner's role) and may create in schema tandem (tandem check lists what is missing)",
            cause: err,
          });
        }
        // Sessions holding write locks would otherwise commit after the fence, and after the drain marker.
        const r = await this.endWriters(rels.map((x) => x.rel));
        ended += r.ended;
        notEnded.push(...r.notEnded);
      }
    }
  }

  async fence(opts: FenceOptions): Promise<FenceResult> {
    const { trigger, fn } = fenceObjects(opts.migration);
    const message = `tandem: migration ${opts.migration}: ${opts.side} is fenced (it is not the active side; the active side is ${opts.activeSide}): route writes to ${opts.activeSide}`;
    const hint = `the migration moved writes to ${opts.activeSide}; Tandem keeps this side equal to it`;
    const ended = await this.underLocks(`fence ${opts.side}`, opts.tables, trigger, opts.timeoutMs / 2, async (rels) => {
      const found = new Set(rels.map((r) => r.top));
      const missing = opts.tables.filter((t) => !found.has(t));
      if (missing.length) {
        throw new TandemError('TANDEM_FENCE_FAILED', `cannot fence ${opts.side}: no table ${missing.join(', ')} in its schema`, {
          fix: 'the replicated tables must exist on both sides (tandem check)',
        });
      }
      await this.client.query('CREATE SCHEMA IF NOT EXISTS tandem');
      await this.client.query(
        `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fence$
         BEGIN
           RAISE EXCEPTION USING ERRCODE = 'read_only_sql_transaction', MESSAGE = ${pg.escapeLiteral(message)}, HINT = ${pg.escapeLiteral(hint)};
         END $fence$`,
      );
      for (const r of rels) {
        if (r.state === null) {
          await this.client.query(`CREATE TRIGGER ${q(trigger)} BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${r.rel} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
        } else if (r.state !== 'O') {
          // Disabled by unfence (or by hand): 'O' fires for applications and not for Tandem's apply.
          await this.client.query(`ALTER TABLE ${r.rel} ENABLE TRIGGER ${q(trigger)}`);
        }
      }
    });
    return { endedTransactions: ended, position: await this.currentPosition() };
  }

  /** Ends the sessions (other than Tandem's) whose transactions hold locks that conflict with the fence. */
  private async endWriters(relations: string[]): Promise<{ ended: number; notEnded: string[] }> {
    if (relations.length === 0) return { ended: 0, notEnded: [] };
    const r = await this.client.query<{ pid: number; who: string }>(
      `select distinct l.pid, format('pid %s (%s)', l.pid, coalesce(a.usename, '?')) as who
         from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.database = (select oid from pg_database where datname = current_database())
          and l.relation = any(select to_regclass(x)::oid from unnest($1::text[]) x) and l.granted
          and l.mode in ('RowExclusiveLock', 'ShareUpdateExclusiveLock', 'ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')
          and l.pid <> pg_backend_pid() and coalesce(a.application_name, '') not like 'tandem %'`,
      [relations],
    );
    let ended = 0;
    const notEnded: string[] = [];
    for (const row of r.rows) {
      try {
        const t = await this.client.query<{ ok: boolean }>('select pg_terminate_backend($1) as ok', [row.pid]);
        if (t.rows[0]?.ok) ended++;
      } catch {
        // Not allowed (a superuser's session, or no pg_signal_backend): named in the error if the fence fails.
        notEnded.push(row.who);
      }
    }
    return { ended, notEnded };
  }

  async unfence(opts: { migration: string; tables: string[] }): Promise<void> {
    const { trigger } = fenceObjects(opts.migration);
    await this.underLocks('unfence', opts.tables, trigger, UNFENCE_LOCK_WAIT_MS, async (rels) => {
      for (const r of rels) if (r.state !== null && r.state !== 'D') await this.client.query(`ALTER TABLE ${r.rel} DISABLE TRIGGER ${q(trigger)}`);
    });
  }

  /** A table is fenced when its trigger fires for applications on it and on every partition below it. */
  async fencedTables(opts: { migration: string; tables: string[] }): Promise<string[]> {
    const rels = await this.relations(opts.tables, fenceObjects(opts.migration).trigger);
    return opts.tables.filter((t) => {
      const mine = rels.filter((r) => r.top === t);
      return mine.length > 0 && mine.every((r) => firing(r.state));
    });
  }

  async writeMarker(migration: string, requestId: string): Promise<string> {
    fenceObjects(migration);
    // A transactional logical message, committed on its own: every application transaction (the fence is up)
    // committed before it.
    await this.client.query(`select pg_logical_emit_message(true, $1, $2)`, [MARKER_PREFIX, markerId(migration, requestId)]);
    return this.currentPosition();
  }

  /** Past every commit that has returned (lsn.ts). */
  currentPosition(): Promise<string> {
    return currentLsn(this.client);
  }

  /** Counters that count up (sequence increment > 0) on serial and identity columns. */
  private async sequences(tables: string[]): Promise<Array<{ table: string; column: string; seq: string; increment: string }>> {
    const r = await this.client.query<{ table: string; column: string; seq: string; increment: string }>(
      `select x.relname as table, x.attname as column, x.seq, s.seqincrement::text as increment
         from (select c.relname, a.attname, pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname) as seq
                 from pg_class c join pg_namespace n on n.oid = c.relnamespace
                 join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                where n.nspname = current_schema() and c.relname = any($1)) x
         join pg_sequence s on s.seqrelid = to_regclass(x.seq)
        where x.seq is not null and s.seqincrement > 0
        order by 1, 2`,
      [tables],
    );
    return r.rows;
  }

  async counters(tables: string[]): Promise<Counter[]> {
    const out: Counter[] = [];
    for (const s of await this.sequences(tables)) {
      const v = await this.client.query<{ next: string; after_max: string }>(
        `select (select (case when is_called then last_value + $1::bigint else last_value end)::text from ${s.seq}) as next,
                (select coalesce(max(${q(s.column)}) + 1, 1)::text from ${q(s.table)}) as after_max`,
        [s.increment],
      );
      const next = BigInt(v.rows[0]?.next ?? '1');
      const afterMax = BigInt(v.rows[0]?.after_max ?? '1');
      out.push({ table: s.table, column: s.column, next: (next > afterMax ? next : afterMax).toString() });
    }
    return out;
  }

  async advanceCounters(floors: Counter[]): Promise<Counter[]> {
    const tables = [...new Set(floors.map((f) => f.table))];
    const mine = new Map((await this.counters(tables)).map((c) => [`${c.table}\u0000${c.column}`, c]));
    const seqs = new Map((await this.sequences(tables)).map((s) => [`${s.table}\u0000${s.column}`, s]));
    const out: Counter[] = [];
    for (const f of floors) {
      const key = `${f.table}\u0000${f.column}`;
      const here = mine.get(key);
      const s = seqs.get(key);
      if (!here || !s) continue;
      const target = BigInt(f.next) > BigInt(here.next) ? BigInt(f.next) : BigInt(here.next);
      // setval(s, n, false): the next value is n. The sequence is read again in the same statement, so a value
      // taken since `counters` read it is not handed out again.
      const r = await this.client.query<{ next: string }>(
        `select setval($1::regclass, greatest($2::bigint, (select case when is_called then last_value + $3::bigint else last_value end from ${s.seq})), false)::text as next`,
        [s.seq, target.toString(), s.increment],
      );
      out.push({ table: f.table, column: f.column, next: r.rows[0]?.next ?? target.toString() });
    }
    return out;
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}
