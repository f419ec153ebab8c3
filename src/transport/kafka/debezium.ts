/**
 * Debezium change events of one ordered topic (rows, transaction BEGIN/END, heartbeats; connectors.ts routes them
 * all into it) turned into the pipeline's capture events, one source transaction at a time.
 *
 * Exactly once. The feed starts after the checkpointed Kafka offset, and Debezium's at-least-once redelivery is
 * recognised here. After a Connect worker dies, the restarted connector goes back to the last source offset Connect
 * stored (flushed every second), which may lie inside a transaction: it then sends that transaction's remaining
 * events again without a BEGIN (Debezium restores its transaction context from the offset), or whole transactions
 * again, under new Kafka offsets. Every change event names its transaction (`transaction.id`), so:
 * - a transaction is held until its END and delivered once;
 * - within a transaction, an event at or before the last one held (source position, then `total_order`) is a copy;
 * - an event or END of a transaction already delivered, or whose BEGIN lies before where this reader started (the
 *   checkpoint is the END offset of the last applied transaction and the topic holds transactions in commit order,
 *   so that transaction is covered by the checkpoint), is a copy;
 * - a transaction whose commit position is not beyond the last one delivered is a copy (PostgreSQL: the commit LSN
 *   of its END event); this covers whole transactions sent again when Tandem itself restarted in between.
 * A transaction larger than `maxBuffered` changes is streamed before its END; the same rules keep its copies out.
 * What cannot be repaired is refused: a transaction left incomplete when a later one ends (its rest never came).
 */
import { parse as parseLossless } from 'lossless-json';
import type { CaptureEvent, Change, Row } from '../../model/change.js';
import { TandemError } from '../../errors.js';
import { MARKER_COLUMN, MARKER_MESSAGE_PREFIX, MARKER_TABLE } from '../../model/names.js';
import { decodeRow, type ConnectSchema } from './values.js';
import type { TopicRecord } from './client.js';
import type { SourceKind } from './connectors.js';

export interface Envelope {
  schema?: ConnectSchema;
  payload?: Record<string, unknown> | null;
}

/** PostgreSQL LSN as Tandem writes it (`X/Y`, hex) from Debezium's 64-bit number. */
export function lsnText(lsn: string | bigint): string {
  const v = BigInt(lsn);
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * A number literal a JavaScript number would not give back as written: 16 digits or more, a fraction or an exponent,
 * or -0, where a value ends (before `,`, `}` or `]`) after `:`, `,` or `[`. Quoted before JSON.parse, so it stays text.
 */
const UNSAFE_NUMBER = /([:,[])(-?\d{16,}|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+|-0)(?=[,}\]])/g;

function numbersToText(v: unknown): unknown {
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = numbersToText(v[i]);
  } else if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) o[k] = numbersToText(o[k]);
  }
  return v;
}

/**
 * JSON with every number as its text, as lossless-json gives it, about six times faster: the numbers a double would
 * change are quoted first, JSON.parse reads the rest (integers of at most 15 digits, which a double holds exactly and
 * prints back the same), and those become text. A match inside a string literal puts a quote there, which always
 * makes the JSON invalid (a string directly followed by a digit): then lossless-json parses the original.
 */
export function parseNumbersAsText(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(UNSAFE_NUMBER, '$1"$2"'));
  } catch {
    return parseLossless(text, undefined, (n: string) => n);
  }
  return numbersToText(parsed);
}

const SCHEMA_HEAD = '{"schema":';
const PAYLOAD_AT = ',"payload":';
/** Parsed envelope schemas by their text: every event of a table carries the same one, and it is most of its bytes. */
const schemas = new Map<string, ConnectSchema>();
const SCHEMAS_KEPT = 512;

/**
 * Kafka Connect's JsonConverter writes `{"schema":…,"payload":…}` in that order. The schema holds no number that
 * needs care and repeats for every event of a table: it is parsed once (JSON.parse) and cached by its text. The
 * payload is parsed with its numbers kept as text (parseNumbersAsText), so bigint and decimal values never pass through a JavaScript
 * number. (`,"payload":` cannot occur earlier: a schema's keys are fixed words and a quote inside a string is
 * escaped.) Anything else is parsed whole the careful way.
 */
export function parseJson(buf: Buffer | null): Envelope | null {
  if (!buf || buf.length === 0) return null;
  const text = buf.toString('utf8');
  const at = text.startsWith(SCHEMA_HEAD) ? text.indexOf(PAYLOAD_AT) : -1;
  if (at < 0 || !text.endsWith('}')) return parseNumbersAsText(text) as Envelope;
  const schemaText = text.slice(SCHEMA_HEAD.length, at);
  let schema = schemas.get(schemaText);
  if (!schema) {
    schema = JSON.parse(schemaText) as ConnectSchema;
    if (schemas.size >= SCHEMAS_KEPT) schemas.delete(schemas.keys().next().value as string);
    schemas.set(schemaText, schema);
  }
  const payload = parseNumbersAsText(text.slice(at + PAYLOAD_AT.length, -1)) as Envelope['payload'];
  return { schema, payload };
}

/** Where a change event sits in its source's log, ordered within one transaction: a copy is at or before the last one held. */
export type EventKey = readonly (string | bigint)[];

export function compareKeys(a: EventKey, b: EventKey): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

interface OpenTransaction {
  id: string;
  commitTime: Date;
  changes: Change[];
  /** The switch's drain markers it carries (delivered with it, after its changes). */
  markers: string[];
  /** Events accepted (copies excluded). */
  received: number;
  /** The last event accepted: a later copy is at or before it. */
  lastEvent?: EventKey;
  /** Its begin and changes already went out (it outgrew the buffer). */
  streaming: boolean;
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
}

const RECENT_IDS = 10_000;

export class DebeziumDecoder {
  /** Transactions begun and not ended, by identity: one normally, more while a redelivery overlaps. */
  private readonly open = new Map<string, OpenTransaction>();
  private last: string;
  /** Identities of transactions ended in this stream (delivered, or covered by the checkpoint). */
  private readonly recent = new Set<string>();
  private redelivered = 0;

  constructor(private readonly opts: DecoderOptions) {
    this.last = opts.appliedThrough;
  }

  /** The position of the last transaction delivered (or the checkpoint's). */
  get position(): string {
    return this.last;
  }

  /** Events recognised as copies Debezium sent again (at-least-once delivery), and dropped. */
  get redeliveredEvents(): number {
    return this.redelivered;
  }

  record(rec: TopicRecord): void {
    const value = parseJson(rec.value);
    const payload = value?.payload;
    if (!payload) return; // a tombstone (none are configured) or an empty record
    if (isHeartbeat(value)) return this.heartbeat();
    if (typeof payload.status === 'string') return this.boundary(payload, rec.offset);
    if (typeof payload.op === 'string') return this.change(value, rec);
  }

  private heartbeat(): void {
    if (this.open.size === 0) this.opts.emit({ kind: 'idle', position: this.last });
  }

  /** The identity of a transaction across its BEGIN, changes and END (PostgreSQL ids are `xid:lsn`, the lsn differing). */
  private identity(id: string): string {
    return this.opts.source === 'postgres' ? (id.split(':')[0] ?? id) : id;
  }

  private boundary(payload: Record<string, unknown>, offset: string): void {
    const id = String(payload.id);
    const identity = this.identity(id);
    if (payload.status === 'BEGIN') {
      if (this.recent.has(identity)) this.redelivered++;
      // Sent again from its start while held: its copies are recognised event by event.
      else if (!this.open.has(identity)) this.open.set(identity, { id, commitTime: new Date(Number(payload.ts_ms)), changes: [], markers: [], received: 0, streaming: false });
      return;
    }
    // END
    const tx = this.open.get(identity);
    if (!tx) {
      // Delivered already, or begun before where this reader started (covered by the checkpoint).
      this.redelivered++;
      return;
    }
    this.open.delete(identity);
    this.remember(identity);
    const position = this.commitPosition(id, tx);
    if (!tx.streaming && this.opts.compare(position, this.last) <= 0) return; // covered by the checkpoint: sent again
    this.assertComplete(tx, offset);
    if (tx.streaming) {
      this.last = this.later(position);
      this.opts.emit({ kind: 'commit', position: this.last, commitTime: tx.commitTime, transportOffset: offset });
      return;
    }
    this.last = position;
    this.opts.emit({ kind: 'begin', position, commitTime: tx.commitTime });
    for (const change of tx.changes) this.opts.emit({ kind: 'change', change });
    for (const id of tx.markers) this.opts.emit({ kind: 'marker', id });
    this.opts.emit({ kind: 'commit', position, commitTime: tx.commitTime, transportOffset: offset });
  }

  /**
   * Before a transaction is delivered: no earlier transaction is left half read (the topic is in commit order, so a
   * transaction still open now will never be completed). The END's event_count is not compared: after a restart
   * inside a transaction Debezium 3.6 restores its counter from the stored offset and the END undercounts (seen:
   * 19 324 for a transaction of 20 001 events, every one of which arrived).
   */
  private assertComplete(tx: OpenTransaction, offset: string): void {
    for (const [identity, cut] of this.open) {
      // A BEGIN no event and no END ever followed: MariaDB DDL on a captured table (CREATE TABLE IF NOT EXISTS of the
      // fence table, an ALTER TABLE) is a transaction of its own to Debezium, which never ends it. Nothing of it
      // could have been applied, so nothing is left half done.
      if (cut.received === 0 && !cut.streaming) {
        this.open.delete(identity);
        continue;
      }
      throw new TandemError('TANDEM_STATE', `transaction ${cut.id} began in the change topic but its rest never came (${cut.received} events read) before transaction ${tx.id} ended at offset ${offset}`, {
        fix: 'the change topic lost events (a connector whose offsets were reset): copy the tables again (`tandem connectors delete`, `tandem backfill --yes`, `tandem run`)',
      });
    }
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
    const source = (payload.source ?? {}) as Record<string, string | number | null>;
    const table = String(source.table);
    const meta = payload.transaction as { id?: unknown; total_order?: unknown } | null | undefined;
    const marker = markerOf(this.opts.source, payload, table);
    // A logical message outside any transaction is not the switch's (its marker is transactional): nothing to apply.
    if (marker !== undefined && !meta?.id) return;
    if (!meta?.id) {
      throw new TandemError('TANDEM_STATE', `a change to ${table} at offset ${rec.offset} of the change topic belongs to no transaction`, {
        fix: 'the connector must run with provide.transaction.metadata=true and its transaction events routed into the change topic: run `tandem connectors apply`',
      });
    }
    const tx = this.open.get(this.identity(String(meta.id)));
    const key = eventKey(this.opts.source, source, meta.total_order);
    // No open transaction: a copy of a delivered one's tail, or of one begun before this reader's start.
    if (!tx || (tx.lastEvent && compareKeys(key, tx.lastEvent) <= 0)) {
      this.redelivered++;
      return;
    }
    tx.received++;
    tx.lastEvent = key;
    if (this.opts.source === 'mariadb' && source.file) {
      const pos = `${source.file}:${source.pos}${source.gtid ? `#${source.gtid}` : ''}`;
      tx.lastPosition = tx.lastPosition && this.opts.compare(tx.lastPosition, pos) >= 0 ? tx.lastPosition : pos;
    }
    if (marker !== undefined) {
      if (marker === null) return;
      if (tx.streaming) this.opts.emit({ kind: 'marker', id: marker });
      else tx.markers.push(marker);
      return;
    }
    const change = decodeChange(value, rec, table);
    if (!change) return;
    if (tx.streaming) {
      this.opts.emit({ kind: 'change', change });
      return;
    }
    tx.changes.push(change);
    if (tx.changes.length >= this.opts.maxBuffered) {
      // Too large to hold: it goes out now; its copies are still recognised event by event.
      tx.streaming = true;
      this.opts.emit({ kind: 'begin', position: this.last, commitTime: tx.commitTime });
      for (const c of tx.changes) this.opts.emit({ kind: 'change', change: c });
      tx.changes = [];
    }
  }
}

/** Where a change event sits in its source's log, for copies within one transaction. PostgreSQL: the change's LSN; MariaDB: binlog file, event position, row in the event; then the transaction's count. */
export function eventKey(kind: SourceKind, source: Record<string, string | number | null>, order: unknown): EventKey {
  const n = (v: unknown) => (v === undefined || v === null || v === '' ? -1n : BigInt(String(v)));
  const tail = n(order);
  return kind === 'postgres' ? [n(source.lsn), tail] : [String(source.file ?? ''), n(source.pos), n(source.row), tail];
}

/** A Debezium heartbeat (routed into the change topic with the rows). */
export function isHeartbeat(value: Envelope): boolean {
  const payload = value.payload ?? {};
  return (value.schema?.name ?? '').endsWith('.Heartbeat') || (payload.ts_ms !== undefined && Object.keys(payload).length === 1);
}

/**
 * The switch's drain marker (model/names.ts): its id; null for another event of the marker's carrier (a fence
 * write to MariaDB's fence table, a logical message with another prefix); undefined for a row change.
 */
export function markerOf(source: SourceKind, payload: Record<string, unknown>, table: string): string | null | undefined {
  if (payload.op === 'm') {
    const message = payload.message as { prefix?: unknown; content?: unknown } | undefined;
    if (message?.prefix !== MARKER_MESSAGE_PREFIX || typeof message.content !== 'string') return null;
    // bytes travel as base64 in Kafka Connect's JSON
    return Buffer.from(message.content, 'base64').toString('utf8');
  }
  if (source !== 'mariadb' || table !== MARKER_TABLE) return undefined;
  const after = payload.after as Record<string, unknown> | null | undefined;
  const id = payload.op === 'd' ? null : after?.[MARKER_COLUMN];
  return typeof id === 'string' && id !== '' ? id : null;
}

/** The row change a Debezium change event carries (undefined for logical messages and unknown operations). */
export function decodeChange(value: Envelope, rec: TopicRecord, table: string): Change | undefined {
  const payload = value.payload as Record<string, unknown>;
  const fields = new Map((value.schema?.fields ?? []).map((f) => [f.field, f]));
  const op = payload.op as string;
  if (op === 't') return { op: 'truncate', tables: [table] };
  const keyEnvelope = parseJson(rec.key);
  const key = decodeRow(keyEnvelope?.schema, keyEnvelope?.payload as never, table) as Row | undefined;
  const after = decodeRow(fields.get('after'), payload.after as never, table);
  if (op === 'c' || op === 'r') return { op: 'insert', table, after };
  if (op === 'u') return { op: 'update', table, before: key, after };
  if (op === 'd') return { op: 'delete', table, before: key ?? (decodeRow(fields.get('before'), payload.before as never, table) as Row) };
  return undefined; // 'm' (logical messages) and future operations carry no row change
}
