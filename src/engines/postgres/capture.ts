// Replication spec: docs/engines/postgres.md
import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import { UNCHANGED, type CaptureEvent, type RowImage, type Row } from '../../model/change.js';
import type { SideName } from '../../model/direction.js';
import { MARKER_MESSAGE_PREFIX as MARKER_PREFIX, publicationName, slotName } from '../../model/names.js';
import { connectPostgres } from './connect.js';
import { PG_EPOCH_OFFSET_US, UNCHANGED_TOAST, parsePgoutput, type PgoutputMessage, type PgoutputTuple } from './pgoutput.js';
import { decodePgText } from './values.js';
import { bigIntToLsn, compareLsn, currentLsn, lsnToBigInt } from './lsn.js';
import type { CaptureSink, CaptureSource, CaptureStream, SlotState, SnapshotHandle, TableReader } from '../engine.js';
import { openPgReader } from './reader.js';
import { isTransientPgError } from './errors.js';

const q = (name: string) => pg.escapeIdentifier(name);
/**
 * How often a status update (asking for a reply) goes to the walsender. Its keepalive replies carry the WAL end, which
 * becomes the idle position: verification waits for the checkpoint to pass a position, so this bounds that wait on a
 * quiet database. One small message a second.
 */
const STATUS_INTERVAL_MS = 1_000;
/**
 * A shadow commit's acknowledgement waits this long after the last status update, so a busy stream sends about twenty
 * a second instead of one per shadow commit (each wakes the walsender on the source, and cost `tandem run` 3% of its
 * CPU under an order-placing load). The slot's confirmed position trails the shadow by this much at most; nothing
 * waits on it but the source's WAL retention.
 */
const ACK_COALESCE_MS = 50;
/**
 * Type OIDs below this are assigned by hand to PostgreSQL's built-in types (pg_type.dat), none of them a domain.
 * Any other type in a relation message may be a domain (information_schema's own domains included) and is looked up.
 */
const FIRST_NON_BUILTIN_OID = 10_000;

interface RelationColumn {
  name: string;
  /** The base type: a domain column is decoded as what the domain is over. */
  typeOid: number;
  key: boolean;
}

/** Capture from PostgreSQL through a logical replication slot with pgoutput. */
export class PgCapture implements CaptureSource {
  readonly engine = 'postgres' as const;
  readonly slot: string;
  readonly publication: string;
  /**
   * The base type of every non-built-in type OID met in relation messages (itself when it is no domain). pgoutput
   * names a domain column by the domain's OID, and values are decoded by their base type (a domain over bytea is
   * bytes, not the text `\x0102`). A domain's base type never changes (ALTER DOMAIN cannot change it), so the map
   * lives as long as the capture, across reconnections.
   */
  private readonly baseTypes = new Map<number, number>();

  constructor(
    private readonly url: string,
    migration: string,
    side: SideName,
  ) {
    this.slot = slotName(migration, side);
    this.publication = publicationName(migration);
  }

  /** Creates the publication, or sets its table list to exactly `tables`. Must exist before the slot. */
  async prepare(tables: string[], opts: { lockTimeoutMs?: number } = {}): Promise<void> {
    const c = await connectPostgres(this.url, 'publication');
    try {
      if (opts.lockTimeoutMs) await c.query(`SET lock_timeout = ${Math.max(1, Math.floor(opts.lockTimeoutMs))}`);
      const exists = (await c.query(`select 1 from pg_publication where pubname = $1`, [this.publication])).rowCount === 1;
      const list = tables.map(q).join(', ');
      if (!exists) await c.query(`CREATE PUBLICATION ${q(this.publication)} FOR TABLE ${list}`);
      else {
        const current = await c.query<{ tablename: string }>(`select tablename from pg_publication_tables where pubname = $1 and schemaname = current_schema()`, [this.publication]);
        const have = current.rows.map((r) => r.tablename).sort().join('\u0000');
        if (have !== [...tables].sort().join('\u0000')) await c.query(`ALTER PUBLICATION ${q(this.publication)} SET TABLE ${list}`);
      }
    } finally {
      await c.end();
    }
  }

  joinStatement(table: string): string {
    return `ALTER PUBLICATION ${q(this.publication)} ADD TABLE ${q(table)};`;
  }

  comparePositions(a: string, b: string): number {
    return compareLsn(a, b);
  }

  distance(from: string, to: string): number {
    const d = lsnToBigInt(to) - lsnToBigInt(from);
    return d > 0n ? Number(d) : 0;
  }

  openReader(snapshot: string | undefined): Promise<TableReader> {
    return openPgReader(this.url, snapshot);
  }

  async slotState(): Promise<SlotState> {
    const c = await connectPostgres(this.url, 'slot');
    try {
      const r = await c.query<{ confirmed_flush_lsn: string | null; restart_lsn: string | null; active: boolean; current: string; database: string; mine: boolean }>(
        `select s.confirmed_flush_lsn::text, s.restart_lsn::text, s.active, pg_current_wal_lsn()::text as current, s.database, s.database = current_database() as mine
           from pg_replication_slots s where s.slot_name = $1`,
        [this.slot],
      );
      const row = r.rows[0];
      if (!row) return { exists: false };
      return {
        exists: true,
        confirmedPosition: row.confirmed_flush_lsn ?? undefined,
        retainedBytes: row.restart_lsn ? Number(lsnToBigInt(row.current) - lsnToBigInt(row.restart_lsn)) : undefined,
        active: row.active,
      };
    } finally {
      await c.end();
    }
  }

  async ensureSlot(opts: { timeoutMs?: number } = {}): Promise<void> {
    const c = await connectPostgres(this.url, 'slot');
    try {
      // Creating a logical slot waits for every transaction of the cluster that holds a transaction id.
      if (opts.timeoutMs) await c.query(`SET statement_timeout = ${Math.max(1, Math.floor(opts.timeoutMs))}`);
      await c.query(
        `select pg_create_logical_replication_slot($1, 'pgoutput') where not exists (select 1 from pg_replication_slots where slot_name = $1)`,
        [this.slot],
      );
    } finally {
      await c.end();
    }
  }

  async removeCaptureObjects(): Promise<void> {
    await this.dropSlot();
    const c = await connectPostgres(this.url, 'publication');
    try {
      await c.query(`DROP PUBLICATION IF EXISTS ${q(this.publication)}`);
    } finally {
      await c.end();
    }
  }

  async advanceSlot(position: string): Promise<void> {
    const c = await connectPostgres(this.url, 'slot');
    try {
      // Never past what is flushed (PostgreSQL refuses that) and never back (it refuses that too).
      await c.query(
        `select pg_replication_slot_advance(slot_name, least($2::pg_lsn, pg_current_wal_flush_lsn()))
           from pg_replication_slots where slot_name = $1 and confirmed_flush_lsn < least($2::pg_lsn, pg_current_wal_flush_lsn())`,
        [this.slot, position],
      );
    } finally {
      await c.end();
    }
  }

  async dropSlot(): Promise<void> {
    // Whoever still reads it (a stopped stream's walsender, a removed Debezium connector's) would make the drop fail.
    await this.releaseStaleConsumer();
    const c = await connectPostgres(this.url, 'slot');
    try {
      await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`, [this.slot]);
    } finally {
      await c.end();
    }
  }

  async clock(): Promise<Date> {
    const c = await connectPostgres(this.url, 'clock');
    try {
      return (await c.query<{ now: Date }>(`select clock_timestamp() as now`)).rows[0]?.now as Date;
    } finally {
      await c.end();
    }
  }

  /** The active side's current position: where a change committed now would be. */
  async currentPosition(): Promise<string> {
    const c = await connectPostgres(this.url, 'position');
    try {
      return await currentLsn(c);
    } finally {
      await c.end();
    }
  }

  /**
   * Creates the slot and exports the snapshot at its consistent point: a backfill read under that snapshot plus
   * the stream from that point covers every change exactly once. The snapshot lives while the handle is open.
   */
  async createSlotWithSnapshot(opts?: { readers?: number }): Promise<SnapshotHandle> {
    const repl = await connectPostgres(this.url, 'slot snapshot', { replication: 'database' } as Partial<pg.ClientConfig>);
    try {
      const r = await repl.query<{ consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${q(this.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
      const row = r.rows[0];
      if (!row) throw new Error('CREATE_REPLICATION_SLOT returned no row');
      // Every reader imports the exported snapshot (SET TRANSACTION SNAPSHOT): they all read the slot's consistent point.
      return { position: row.consistent_point, snapshot: row.snapshot_name, readers: Math.max(1, opts?.readers ?? 1), release: () => repl.end() };
    } catch (err) {
      await repl.end().catch(() => undefined);
      throw err;
    }
  }

  /** Streams committed transactions after `from` into `sink`, until stopped or failed. */
  /**
   * A slot serves one consumer at a time. Only the lease holder streams, so a consumer still attached is a previous
   * holder that lost its lease (paused, partitioned: its connection lingers until wal_sender_timeout): end its
   * session so the slot is free now. Its epoch is superseded, so nothing it might still do commits on the shadow.
   */
  private async releaseStaleConsumer(): Promise<void> {
    const c = await connectPostgres(this.url, 'slot');
    try {
      for (let attempt = 0; attempt < 50; attempt++) {
        const r = await c.query<{ pid: number | null }>(`select active_pid as pid from pg_replication_slots where slot_name = $1`, [this.slot]);
        const pid = r.rows[0]?.pid;
        if (!pid) return;
        if (attempt === 0) await c.query(`select pg_terminate_backend($1)`, [pid]);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await c.end();
    }
  }

  /** Looks up the base types of `oids` (through domains over domains) on a connection of its own, into baseTypes. */
  private async resolveBaseTypes(oids: number[]): Promise<void> {
    const c = await connectPostgres(this.url, 'capture types');
    try {
      const r = await c.query<{ oid: string; base: string }>(
        `with recursive chain(oid, cur) as (
           select t.oid, t.oid from pg_type t where t.oid = any($1::oid[])
           union all
           select chain.oid, t.typbasetype from chain join pg_type t on t.oid = chain.cur where t.typtype = 'd')
         select chain.oid::text as oid, chain.cur::text as base from chain join pg_type t on t.oid = chain.cur where t.typtype <> 'd'`,
        [oids],
      );
      for (const row of r.rows) this.baseTypes.set(Number(row.oid), Number(row.base));
      // A type gone meanwhile (dropped after the change was written) decodes as what the stream names.
      for (const oid of oids) if (!this.baseTypes.has(oid)) this.baseTypes.set(oid, oid);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  async start(from: string, sink: CaptureSink): Promise<CaptureStream> {
    await this.releaseStaleConsumer();
    const client = await connectPostgres(this.url, 'capture', { replication: 'database' } as Partial<pg.ClientConfig>);
    const connection = (client as unknown as { connection: PgConnection }).connection;
    const relations = new Map<number, { table: string; columns: RelationColumn[] }>();
    let acked = lsnToBigInt(from);
    let inTransaction = false;
    let stopped = false;
    let lastStatusAt = 0;
    let ackTimer: NodeJS.Timeout | undefined;

    const sendStatus = (requestReply: boolean) => {
      if (stopped) return;
      clearTimeout(ackTimer);
      ackTimer = undefined;
      lastStatusAt = Date.now();
      const buf = Buffer.alloc(34);
      buf.write('r', 0);
      // written, flushed and applied positions: Tandem reports only what the shadow has committed.
      buf.writeBigUInt64BE(acked, 1);
      buf.writeBigUInt64BE(acked, 9);
      buf.writeBigUInt64BE(acked, 17);
      buf.writeBigInt64BE(BigInt(Date.now()) * 1000n - PG_EPOCH_OFFSET_US, 25);
      buf.writeUInt8(requestReply ? 1 : 0, 33);
      connection.sendCopyFromChunk(buf);
    };

    const relationOf = (oid: number) => {
      const rel = relations.get(oid);
      if (!rel) throw new TandemError('TANDEM_CONNECT_FAILED', `the replication stream sent a change of relation ${oid} before describing it`, { retriable: true });
      return rel;
    };

    /**
     * A tuple as a row image. An unchanged out-of-line value is UNCHANGED, unless the old row (REPLICA IDENTITY
     * FULL) carries it; `keyOnly` keeps only the replica identity's columns (the rest are nulls on the wire).
     */
    const decodeTuple = (columns: RelationColumn[], tuple: PgoutputTuple, opts: { keyOnly?: boolean; old?: PgoutputTuple } = {}): RowImage => {
      if (tuple.length !== columns.length) {
        throw new TandemError('TANDEM_CONNECT_FAILED', `the replication stream sent a row of ${tuple.length} columns for a relation of ${columns.length}`, { retriable: true });
      }
      const out: RowImage = {};
      for (let i = 0; i < columns.length; i++) {
        const col = columns[i] as RelationColumn;
        let raw = tuple[i] as PgoutputTuple[number];
        if (opts.keyOnly && (!col.key || raw === null)) continue;
        if (raw === UNCHANGED_TOAST && opts.old) raw = opts.old[i] as PgoutputTuple[number];
        out[col.name] = raw === UNCHANGED_TOAST ? UNCHANGED : decodePgText(col.typeOid, raw);
      }
      return out;
    };

    const toEvent = (msg: PgoutputMessage): CaptureEvent | undefined => {
      switch (msg.tag) {
        case 'begin':
          inTransaction = true;
          return { kind: 'begin', position: bigIntToLsn(msg.finalLsn), commitTime: microsToDate(msg.commitTime) };
        case 'commit':
          inTransaction = false;
          return { kind: 'commit', position: bigIntToLsn(msg.endLsn), commitTime: microsToDate(msg.commitTime) };
        case 'relation': {
          // Decoded by base type: the message names a domain column by the domain (resolved before it got here).
          const columns = msg.columns.map((c) => ({ name: c.name, typeOid: this.baseTypes.get(c.typeOid) ?? c.typeOid, key: c.key }));
          relations.set(msg.relationOid, { table: msg.name, columns });
          return { kind: 'relation', table: msg.name, columns: columns.map((c) => c.name) };
        }
        case 'insert': {
          const rel = relationOf(msg.relationOid);
          return { kind: 'change', change: { op: 'insert', table: rel.table, after: decodeTuple(rel.columns, msg.new) } };
        }
        case 'update': {
          const rel = relationOf(msg.relationOid);
          const before = msg.key ? decodeTuple(rel.columns, msg.key, { keyOnly: true }) : msg.old ? decodeTuple(rel.columns, msg.old) : undefined;
          return { kind: 'change', change: { op: 'update', table: rel.table, before: before as Row | undefined, after: decodeTuple(rel.columns, msg.new, { old: msg.old }) } };
        }
        case 'delete': {
          const rel = relationOf(msg.relationOid);
          const before = msg.key ? decodeTuple(rel.columns, msg.key, { keyOnly: true }) : decodeTuple(rel.columns, msg.old ?? []);
          return { kind: 'change', change: { op: 'delete', table: rel.table, before: before as Row } };
        }
        case 'truncate':
          return { kind: 'change', change: { op: 'truncate', tables: msg.relationOids.map((oid) => relationOf(oid).table) } };
        case 'message':
          // The switch's drain marker (fence.ts writeMarker): a transactional logical message.
          return msg.transactional && msg.prefix === MARKER_PREFIX ? { kind: 'marker', id: msg.content.toString('utf8') } : undefined;
        default:
          return undefined; // origin and type messages carry nothing to apply
      }
    };

    let fail: (err: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);

    const deliver = (msg: PgoutputMessage) => {
      const event = toEvent(msg);
      if (event) sink.push(event);
      if (sink.isFull()) {
        connection.stream.pause();
        void sink.waitForRoom().then(() => connection.stream.resume());
      }
    };

    /**
     * Messages that arrive while a relation's types are looked up wait here, in order, and so do the messages the
     * socket had already read when it was paused: nothing reaches the sink before the relation it depends on.
     */
    const held: Buffer[] = [];
    let resolving = false;

    const receive = (chunk: Buffer) => {
      if (chunk[0] === 0x77) {
        const msg = parsePgoutput(chunk, 25); // after the XLogData header (start, end and clock)
        const unknown = msg.tag === 'relation' ? [...new Set(msg.columns.map((c) => c.typeOid))].filter((oid) => oid >= FIRST_NON_BUILTIN_OID && !this.baseTypes.has(oid)) : [];
        if (unknown.length) awaitTypes(msg, unknown);
        else deliver(msg);
      } else if (chunk[0] === 0x6b) {
        const walEnd = chunk.readBigUInt64BE(1);
        // Outside a transaction, everything before walEnd has been sent: the pipeline may acknowledge it once applied.
        if (!inTransaction) sink.push({ kind: 'idle', position: bigIntToLsn(walEnd) });
        if (chunk.readUInt8(17) === 1) sendStatus(false);
      }
    };

    const awaitTypes = (relation: PgoutputMessage, oids: number[]) => {
      resolving = true;
      connection.stream.pause();
      this.resolveBaseTypes(oids).then(
        () => {
          resolving = false;
          if (stopped) return;
          try {
            deliver(relation);
            while (!resolving && !stopped && held.length) receive(held.shift() as Buffer);
          } catch (err) {
            fail(err);
            return;
          }
          // Still paused while the sink is full: its waitForRoom resumes the socket then.
          if (!resolving && !stopped && !sink.isFull()) connection.stream.resume();
        },
        (err: unknown) => fail(err),
      );
    };

    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      if (stopped) return;
      if (resolving) {
        // A copy: the chunk is a view of the protocol parser's buffer, which it reuses for the next packets.
        held.push(Buffer.from(chunk));
        return;
      }
      try {
        receive(chunk);
      } catch (err) {
        fail(err);
      }
    });

    const timer = setInterval(() => sendStatus(!inTransaction), STATUS_INTERVAL_MS);
    const query = client.query(`START_REPLICATION SLOT ${q(this.slot)} LOGICAL ${from} (proto_version '1', publication_names ${pg.escapeLiteral(this.publication)}, messages 'true')`);
    const done = Promise.race([query.then(() => undefined), failed])
      .catch((err: unknown) => {
        if (stopped) return;
        throw this.mapError(err);
      })
      .finally(() => {
        clearInterval(timer);
        clearTimeout(ackTimer);
        stopped = true;
        void client.end().catch(() => undefined);
      });
    done.catch(() => undefined);

    return {
      done,
      acknowledge: (position: string) => {
        const lsn = lsnToBigInt(position);
        if (lsn <= acked) return;
        acked = lsn;
        const wait = lastStatusAt + ACK_COALESCE_MS - Date.now();
        if (wait <= 0) sendStatus(false);
        else ackTimer ??= setTimeout(() => sendStatus(false), wait);
      },
      stop: async () => {
        if (stopped) return;
        sendStatus(false);
        stopped = true;
        clearInterval(timer);
        clearTimeout(ackTimer);
        await client.end().catch(() => undefined);
      },
    };
  }

  private mapError(err: unknown): Error {
    const code = (err as { code?: string }).code;
    const msg = errorMessage(err);
    if (code === '42704' && /replication slot/.test(msg)) {
      return new TandemError('TANDEM_CAPTURE_SLOT_MISSING', `replication slot ${this.slot} no longer exists on ${redactUrl(this.url)}: changes since the checkpoint may be lost`, {
        fix: 'run `tandem backfill` to copy the tables again and start a new slot',
      });
    }
    if (err instanceof TandemError) return err;
    return new TandemError('TANDEM_CONNECT_FAILED', `replication connection to ${redactUrl(this.url)} failed: ${msg}`, { retriable: isTransientPgError(err) || !code, cause: err });
  }
}

interface PgConnection {
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(buf: Buffer): void;
  stream: { pause(): void; resume(): void };
}

/** A pgoutput time (microseconds since 1970) as a Date, to the millisecond. */
function microsToDate(us: bigint): Date {
  return new Date(Number(us / 1000n));
}
