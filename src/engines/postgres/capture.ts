import pg from 'pg';
import { TandemError, errorMessage } from '../../errors.js';
import { redactUrl } from '../../config/redact.js';
import { UNCHANGED, type CaptureEvent, type RowImage, type Row } from '../../model/change.js';
import { publicationName, slotName } from '../../model/names.js';
import { connectPostgres } from './connect.js';
import { createTextPgoutputParser, type PgoutputMessage } from './pgoutput.js';
import { decodePgText } from './values.js';
import { bigIntToLsn, compareLsn, currentLsn, lsnToBigInt } from './lsn.js';
import type { CaptureSink, CaptureSource, CaptureStream, SlotState, SnapshotHandle, TableReader } from '../engine.js';
import { openPgReader } from './reader.js';

const q = (name: string) => pg.escapeIdentifier(name);
/** Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's epoch. */
const PG_EPOCH_OFFSET_US = 946_684_800_000_000n;
/**
 * How often a status update (asking for a reply) goes to the walsender. Its keepalive replies carry the WAL end, which
 * becomes the idle position: verification waits for the checkpoint to pass a position, so this bounds that wait on a
 * quiet database. One small message a second.
 */
const STATUS_INTERVAL_MS = 1_000;

interface RelationColumn {
  name: string;
  typeOid: number;
}

/** Is this a lost connection (worth retrying) rather than a refusal? */
export function isTransientPgError(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? '';
  const msg = errorMessage(err);
  return (
    /^(08|57P0[1-3]|53|55006|40001|40P01)/.test(code) ||
    /Connection terminated|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|the database system is (starting up|shutting down)|terminating connection|Client has encountered a connection error/i.test(msg) ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET'
  );
}

/** Capture from PostgreSQL through a logical replication slot with pgoutput. */
export class PgCapture implements CaptureSource {
  readonly engine = 'postgres' as const;
  readonly slot: string;
  readonly publication: string;

  constructor(
    private readonly url: string,
    migration: string,
  ) {
    this.slot = slotName(migration);
    this.publication = publicationName(migration);
  }

  /** Creates the publication, or sets its table list to exactly `tables`. Must exist before the slot. */
  async prepare(tables: string[]): Promise<void> {
    const c = await connectPostgres(this.url, 'publication');
    try {
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

  async dropSlot(): Promise<void> {
    const c = await connectPostgres(this.url, 'slot');
    try {
      await c.query(`select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name = $1`, [this.slot]);
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
  async createSlotWithSnapshot(): Promise<SnapshotHandle> {
    const repl = await connectPostgres(this.url, 'slot snapshot', { replication: 'database' } as Partial<pg.ClientConfig>);
    try {
      const r = await repl.query<{ consistent_point: string; snapshot_name: string }>(`CREATE_REPLICATION_SLOT ${q(this.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT`);
      const row = r.rows[0];
      if (!row) throw new Error('CREATE_REPLICATION_SLOT returned no row');
      return { position: row.consistent_point, snapshot: row.snapshot_name, release: () => repl.end() };
    } catch (err) {
      await repl.end().catch(() => undefined);
      throw err;
    }
  }

  /** Streams committed transactions after `from` into `sink`, until stopped or failed. */
  async start(from: string, sink: CaptureSink): Promise<CaptureStream> {
    const client = await connectPostgres(this.url, 'capture', { replication: 'database' } as Partial<pg.ClientConfig>);
    const connection = (client as unknown as { connection: PgConnection }).connection;
    const parser = createTextPgoutputParser(this.publication);
    const relations = new Map<number, { table: string; columns: RelationColumn[] }>();
    let acked = lsnToBigInt(from);
    let inTransaction = false;
    let stopped = false;

    const sendStatus = (requestReply: boolean) => {
      if (stopped) return;
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

    const decodeTuple = (relationOid: number, tuple: Record<string, unknown> | null): RowImage | undefined => {
      if (!tuple) return undefined;
      const rel = relations.get(relationOid);
      const out: RowImage = {};
      for (const col of rel?.columns ?? []) {
        const raw = tuple[col.name];
        out[col.name] = raw === undefined ? UNCHANGED : decodePgText(col.typeOid, raw as string | null);
      }
      return out;
    };

    const toEvent = (msg: PgoutputMessage): CaptureEvent | undefined => {
      switch (msg.tag) {
        case 'begin':
          inTransaction = true;
          return { kind: 'begin', position: normalizeLsn(msg.commitLsn) };
        case 'commit':
          inTransaction = false;
          return { kind: 'commit', position: normalizeLsn(msg.commitEndLsn), commitTime: new Date(Number(BigInt(msg.commitTime.toString()) / 1000n)) };
        case 'relation': {
          const columns = msg.columns.map((c) => ({ name: c.name, typeOid: c.typeOid }));
          relations.set(msg.relationOid, { table: msg.name, columns });
          return { kind: 'relation', table: msg.name, columns: columns.map((c) => c.name) };
        }
        case 'insert':
          return { kind: 'change', change: { op: 'insert', table: msg.relation.name, after: decodeTuple(msg.relation.relationOid, msg.new) } };
        case 'update': {
          const before = decodeTuple(msg.relation.relationOid, msg.key ?? msg.old) as Row | undefined;
          return { kind: 'change', change: { op: 'update', table: msg.relation.name, before: msg.key ? stripUndefined(before) : before, after: decodeTuple(msg.relation.relationOid, msg.new) } };
        }
        case 'delete': {
          const before = decodeTuple(msg.relation.relationOid, msg.key ?? msg.old) as Row | undefined;
          return { kind: 'change', change: { op: 'delete', table: msg.relation.name, before: msg.key ? stripUndefined(before) : before } };
        }
        case 'truncate':
          return { kind: 'change', change: { op: 'truncate', tables: msg.relations.map((r) => r.name) } };
        default:
          return undefined; // origin, type and logical messages carry nothing to apply
      }
    };

    let fail: (err: unknown) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);

    connection.on('copyData', ({ chunk }: { chunk: Buffer }) => {
      if (stopped) return;
      try {
        if (chunk[0] === 0x77) {
          const event = toEvent(parser.parse(chunk.subarray(25)));
          if (event) sink.push(event);
          if (sink.isFull()) {
            connection.stream.pause();
            void sink.waitForRoom().then(() => connection.stream.resume());
          }
        } else if (chunk[0] === 0x6b) {
          const walEnd = chunk.readBigUInt64BE(1);
          // Outside a transaction, everything before walEnd has been sent: the pipeline may acknowledge it once applied.
          if (!inTransaction) sink.push({ kind: 'idle', position: bigIntToLsn(walEnd) });
          if (chunk.readUInt8(17) === 1) sendStatus(false);
        }
      } catch (err) {
        fail(err);
      }
    });

    const timer = setInterval(() => sendStatus(!inTransaction), STATUS_INTERVAL_MS);
    const query = client.query(`START_REPLICATION SLOT ${q(this.slot)} LOGICAL ${from} (proto_version '1', publication_names ${pg.escapeLiteral(this.publication)})`);
    const done = Promise.race([query.then(() => undefined), failed])
      .catch((err: unknown) => {
        if (stopped) return;
        throw this.mapError(err);
      })
      .finally(() => {
        clearInterval(timer);
        stopped = true;
        void client.end().catch(() => undefined);
      });
    done.catch(() => undefined);

    return {
      done,
      acknowledge: (position: string) => {
        const lsn = lsnToBigInt(position);
        if (lsn > acked) {
          acked = lsn;
          sendStatus(false);
        }
      },
      stop: async () => {
        if (stopped) return;
        sendStatus(false);
        stopped = true;
        clearInterval(timer);
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

/** The parser pads LSNs (`00000000/026AB4A0`); Tandem prints them as PostgreSQL does (`0/26AB4A0`). */
function normalizeLsn(lsn: string | null): string {
  return lsn ? bigIntToLsn(lsnToBigInt(lsn)) : '0/0';
}

function stripUndefined(row: Row | undefined): Row | undefined {
  if (!row) return row;
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) if (typeof v !== 'symbol') out[k] = v;
  return out;
}
