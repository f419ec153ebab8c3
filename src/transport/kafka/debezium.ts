/**
 * Debezium change events of one ordered topic (rows, transaction BEGIN/END, heartbeats; connectors.ts routes them
 * all into it) turned into the pipeline's capture events, one source transaction at a time.
 *
 * Exactly once: the feed starts after the checkpointed Kafka offset, and Debezium's at-least-once redelivery (a
 * Connect restart sends transactions again, under new offsets) is recognised two ways: a transaction whose id was
 * seen in this stream, and a transaction whose commit position is not beyond the last one delivered (PostgreSQL: the
 * commit LSN of its END event). A transaction is held until its END arrives (up to `maxBuffered` changes), so one cut
 * short by a Connect crash and sent again whole is dropped, not half applied.
 */
import { parse as parseLossless } from 'lossless-json';
import type { CaptureEvent, Change, Row } from '../../model/change.js';
import { TandemError } from '../../errors.js';
import { decodeRow, type ConnectSchema } from './values.js';
import type { TopicRecord } from './client.js';
import type { SourceKind } from './connectors.js';

interface Envelope {
  schema?: ConnectSchema;
  payload?: Record<string, unknown> | null;
}

/** PostgreSQL LSN as Tandem writes it (`X/Y`, hex) from Debezium's 64-bit number. */
export function lsnText(lsn: string | bigint): string {
  const v = BigInt(lsn);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

function parseJson(buf: Buffer | null): Envelope | null {
  if (!buf || buf.length === 0) return null;
  // Numbers stay text: bigint and decimal values never pass through a JavaScript number.
  return parseLossless(buf.toString('utf8'), undefined, (n: string) => n) as Envelope;
}

interface OpenTransaction {
  id: string;
  commitTime: Date;
  changes: Change[];
  /** Its begin and changes already went out (it outgrew the buffer). */
  streaming: boolean;
  /** A redelivered transaction: read to its END and dropped. */
  skip: boolean;
  /** MariaDB: the furthest source position its rows carried. */
  lastPosition?: string;
}

export interface DecoderOptions {
  source: SourceKind;
  /** The active engine's position order. */
  compare(a: string, b: string): number;
  /** The position the shadow already holds: transactions ending at or before it are not delivered again. */
  appliedThrough: string;
  /** Changes held per transaction before it is streamed without waiting for its END. */
  maxBuffered: number;
  emit(event: CaptureEvent): void;
  warn(message: string, detail: Record<string, unknown>): void;
}

const RECENT_IDS = 10_000;

export class DebeziumDecoder {
  private open: OpenTransaction | undefined;
  private last: string;
  private readonly recent = new Set<string>();

  constructor(private readonly opts: DecoderOptions) {
    this.last = opts.appliedThrough;
  }

  /** The position of the last transaction delivered (or the checkpoint's). */
  get position(): string {
    return this.last;
  }

  record(rec: TopicRecord): void {
    const value = parseJson(rec.value);
    const payload = value?.payload;
    if (!payload) return; // a tombstone (none are configured) or an empty record
    const schemaName = value.schema?.name ?? '';
    if (schemaName.endsWith('.Heartbeat') || (payload.ts_ms !== undefined && Object.keys(payload).length === 1)) return this.heartbeat();
    if (typeof payload.status === 'string') return this.boundary(payload, rec.offset);
    if (typeof payload.op === 'string') return this.change(value, rec);
  }

  private heartbeat(): void {
    if (!this.open) this.opts.emit({ kind: 'idle', position: this.last });
  }

  /** The identity of a transaction across its BEGIN and END (PostgreSQL ids are `xid:lsn`, the lsn differing). */
  private identity(id: string): string {
    return this.opts.source === 'postgres' ? (id.split(':')[0] ?? id) : id;
  }

  private boundary(payload: Record<string, unknown>, offset: string): void {
    const id = String(payload.id);
    const commitTime = new Date(Number(payload.ts_ms));
    if (payload.status === 'BEGIN') {
      if (this.open) {
        this.opts.warn('a transaction began before the last one ended (a Connect restart cut it short and sends it again): the partial one is dropped', { id: this.open.id, offset });
        if (this.open.streaming) {
          throw new TandemError('TANDEM_STATE', `transaction ${this.open.id} was cut short in the change topic after Tandem had started applying it (it outgrew transport.queueChanges)`, {
            fix: 'restart tandem run: the partial transaction is rolled back on the shadow and read again from the checkpoint',
            retriable: true,
          });
        }
      }
      this.open = { id, commitTime, changes: [], streaming: false, skip: this.recent.has(this.identity(id)) };
      return;
    }
    // END
    const tx = this.open;
    this.open = undefined;
    if (!tx) return; // the END of a transaction whose BEGIN came before the checkpointed offset
    if (tx.skip) return;
    const position = this.commitPosition(id, tx);
    this.remember(this.identity(id));
    if (tx.streaming) {
      this.last = this.later(position);
      this.opts.emit({ kind: 'commit', position: this.last, commitTime: tx.commitTime, transportOffset: offset });
      return;
    }
    if (this.opts.compare(position, this.last) <= 0) return; // delivered before (redelivery), or covered by the checkpoint
    this.last = position;
    this.opts.emit({ kind: 'begin', position, commitTime: tx.commitTime });
    for (const change of tx.changes) this.opts.emit({ kind: 'change', change });
    this.opts.emit({ kind: 'commit', position, commitTime: tx.commitTime, transportOffset: offset });
  }

  private later(position: string): string {
    return this.opts.compare(position, this.last) > 0 ? position : this.last;
  }

  private remember(identity: string): void {
    this.recent.add(identity);
    if (this.recent.size > RECENT_IDS) this.recent.delete(this.recent.values().next().value as string);
  }

  /** PostgreSQL: the END event's id carries the commit LSN. MariaDB: the furthest binlog position of its rows. */
  private commitPosition(endId: string, tx: OpenTransaction): string {
    if (this.opts.source === 'postgres') {
      const lsn = endId.split(':')[1];
      if (lsn && /^\d+$/.test(lsn)) return lsnText(lsn);
      throw new TandemError('TANDEM_STATE', `Debezium's transaction END event has id ${endId}, without the commit LSN Tandem orders transactions by`, {
        fix: 'use the Debezium PostgreSQL connector 3.x with provide.transaction.metadata=true (tandem connectors apply sets it)',
      });
    }
    return tx.lastPosition ?? this.last;
  }

  private change(value: Envelope, rec: TopicRecord): void {
    const payload = value.payload as Record<string, unknown>;
    const fields = new Map((value.schema?.fields ?? []).map((f) => [f.field, f]));
    const source = (payload.source ?? {}) as Record<string, string | number | null>;
    const table = String(source.table);
    const op = payload.op as string;
    const tx = this.open;
    if (!tx) {
      throw new TandemError('TANDEM_STATE', `a change to ${table} at offset ${rec.offset} of the change topic belongs to no transaction`, {
        fix: 'the connector must run with provide.transaction.metadata=true and its transaction events routed into the change topic: run `tandem connectors apply`',
      });
    }
    if (tx.skip) return;
    if (this.opts.source === 'mariadb' && source.file) {
      const pos = `${source.file}:${source.pos}${source.gtid ? `#${source.gtid}` : ''}`;
      tx.lastPosition = tx.lastPosition && this.opts.compare(tx.lastPosition, pos) >= 0 ? tx.lastPosition : pos;
    }
    let change: Change;
    if (op === 't') change = { op: 'truncate', tables: [table] };
    else {
      const key = decodeRow(parseJson(rec.key)?.schema, parseJson(rec.key)?.payload as never, table) as Row | undefined;
      const after = decodeRow(fields.get('after'), payload.after as never, table);
      if (op === 'c' || op === 'r') change = { op: 'insert', table, after };
      else if (op === 'u') change = { op: 'update', table, before: key, after };
      else if (op === 'd') change = { op: 'delete', table, before: key ?? (decodeRow(fields.get('before'), payload.before as never, table) as Row) };
      else return; // 'm' (logical messages) and future operations carry no row change
    }
    if (tx.streaming) {
      this.opts.emit({ kind: 'change', change });
      return;
    }
    tx.changes.push(change);
    if (tx.changes.length >= this.opts.maxBuffered) {
      // Too large to hold: it goes out now, and is not protected against a cut-short redelivery (docs/kafka.md).
      tx.streaming = true;
      this.opts.emit({ kind: 'begin', position: this.last, commitTime: tx.commitTime });
      for (const c of tx.changes) this.opts.emit({ kind: 'change', change: c });
      tx.changes = [];
    }
  }
}
