/**
 * The Kafka feed's decoding of Debezium change events (src/transport/kafka/debezium.ts, values.ts): transaction
 * grouping, redelivery, and value encodings. Record shapes are those the PostgreSQL connector 3.6.1 wrote in
 * test/integration/kafka-postgres.cases.ts (JsonConverter with schemas).
 */
import { describe, expect, it } from 'vitest';
import { UNCHANGED, type CaptureEvent } from '../../src/model/change.js';
import { parse as parseLossless } from 'lossless-json';
import { DebeziumDecoder, lsnText, parseNumbersAsText } from '../../src/transport/kafka/debezium.js';
import { decodeValue, UNAVAILABLE } from '../../src/transport/kafka/values.js';
import type { TopicRecord } from '../../src/transport/kafka/client.js';

const compareLsn = (a: string, b: string) => {
  const n = (x: string) => {
    const [hi, lo] = x.split('/');
    return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
  };
  const [x, y] = [n(a), n(b)];
  return x < y ? -1 : x > y ? 1 : 0;
};

let offset = 0;
const rec = (value: unknown, key: unknown = null): TopicRecord => ({
  offset: String(offset++),
  key: key === null ? null : Buffer.from(JSON.stringify(key)),
  value: Buffer.from(JSON.stringify(value)),
});
// As the connector writes them: BEGIN `xid:<first lsn>`, END `xid:<commit lsn>` with event_count, and each change
// with `transaction: { id: 'xid:<its lsn>', total_order }` and its LSN in `source`.
const begin = (xid: number, lsn: number) => rec({ schema: { type: 'struct', name: 'io.debezium.connector.common.TransactionMetadataValue' }, payload: { status: 'BEGIN', id: `${xid}:${lsn}`, ts_ms: 1_700_000_000_000 } });
const end = (xid: number, commitLsn: number, events = 1) => rec({ schema: { type: 'struct' }, payload: { status: 'END', id: `${xid}:${commitLsn}`, event_count: events, ts_ms: 1_700_000_000_000 } });
const heartbeat = () => rec({ schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' }, payload: { ts_ms: 1 } });
const keySchema = { type: 'struct', fields: [{ type: 'int64', field: 'id' }] };
const valueSchema = {
  type: 'struct',
  fields: [
    { type: 'struct', field: 'before', fields: [{ type: 'int64', field: 'id' }, { type: 'string', field: 'v' }] },
    { type: 'struct', field: 'after', fields: [{ type: 'int64', field: 'id' }, { type: 'string', field: 'v' }] },
  ],
};
/** Change number `order` (1-based) of transaction `xid`, at WAL position `lsn`. */
const change = (op: string, id: number, v: string | null, xid = 7, lsn = 100 + id, order = 1) =>
  rec(
    {
      schema: valueSchema,
      payload: { op, before: op === 'd' ? { id, v: null } : null, after: op === 'd' ? null : { id, v }, source: { table: 't', lsn }, transaction: { id: `${xid}:${lsn}`, total_order: order, data_collection_order: order } },
    },
    { schema: keySchema, payload: { id } },
  );
/** Inserts `ids` as the changes of transaction `xid`: the row id is its order, its LSN `base + order`. */
const rows = (xid: number, base: number, ids: number[]) => ids.map((id) => change('c', id, `v${id}`, xid, base + id, id));
const inserted = (events: CaptureEvent[]) => events.flatMap((e) => (e.kind === 'change' && e.change.op === 'insert' ? [String(e.change.after?.id)] : []));

function decoder(appliedThrough = '0/0', maxBuffered = 100) {
  const events: CaptureEvent[] = [];
  const d = new DebeziumDecoder({ source: 'postgres', compare: compareLsn, appliedThrough, maxBuffered, emit: (e) => events.push(e) });
  return { d, events };
}

describe('DebeziumDecoder', () => {
  it('delivers a transaction whole at its END, at its commit LSN, with the END offset', () => {
    const { d, events } = decoder();
    d.record(begin(7, 100));
    d.record(change('c', 1, 'a', 7, 101, 1));
    expect(events).toEqual([]);
    d.record(change('u', 1, 'b', 7, 102, 2));
    d.record(change('d', 1, null, 7, 103, 3));
    const last = end(7, 0x1_0000_0200, 3);
    d.record(last);
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'change', 'change', 'commit']);
    expect(events[0]).toMatchObject({ kind: 'begin', position: '1/200' });
    expect(events[4]).toMatchObject({ kind: 'commit', position: '1/200', transportOffset: last.offset });
    expect(events[1]).toEqual({ kind: 'change', change: { op: 'insert', table: 't', after: { id: '1', v: 'a' } } });
    expect(events[2]).toEqual({ kind: 'change', change: { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: 'b' } } });
    expect(events[3]).toEqual({ kind: 'change', change: { op: 'delete', table: 't', before: { id: '1' } } });
  });

  it('drops a transaction sent again (same id) and one at or before the checkpoint', () => {
    const { d, events } = decoder();
    for (const r of [begin(7, 10), change('c', 1, 'a', 7, 10), end(7, 20), begin(7, 10), change('c', 1, 'a', 7, 10), end(7, 20)]) d.record(r);
    expect(events.filter((e) => e.kind === 'commit')).toHaveLength(1);
    expect(d.redeliveredEvents).toBe(3);
    // After a restart the ids are forgotten: the checkpoint's position decides.
    const restarted = decoder(lsnText(20n));
    for (const r of [begin(7, 10), change('c', 1, 'a', 7, 10), end(7, 20), begin(8, 21), change('c', 2, 'b', 8, 21), end(8, 30)]) restarted.d.record(r);
    expect(restarted.events.filter((e) => e.kind === 'commit').map((e) => (e as { position: string }).position)).toEqual([lsnText(30n)]);
  });

  it('a Connect restart inside a transaction: its tail sent again without a BEGIN is applied once', () => {
    // Seen after a kill -9 of the worker: the stored offset was inside transaction 9 (after its 2nd event), the
    // topic already held it whole and the next one; the restarted connector sent 9's events 3..4 and END again.
    const { d, events } = decoder();
    for (const r of [begin(9, 100), ...rows(9, 100, [1, 2, 3, 4]), end(9, 200, 4), begin(10, 200), ...rows(10, 200, [1]), end(10, 300)]) d.record(r);
    for (const r of [...rows(9, 100, [3, 4]), end(9, 200, 4), begin(10, 200), ...rows(10, 200, [1]), end(10, 300), begin(11, 300), ...rows(11, 300, [1, 2]), end(11, 400, 2)]) d.record(r);
    expect(events.filter((e) => e.kind === 'commit').map((e) => (e as { position: string }).position)).toEqual([lsnText(200n), lsnText(300n), lsnText(400n)]);
    expect(inserted(events)).toEqual(['1', '2', '3', '4', '1', '1', '2']);
    expect(d.redeliveredEvents).toBe(6);
  });

  it('a Connect restart inside a transaction the topic holds only part of: the tail completes it, each event once', () => {
    const { d, events } = decoder();
    // Events 1..3 reached the topic, the stored offset was after event 2: 3 and 4 come, then the END.
    for (const r of [begin(9, 100), ...rows(9, 100, [1, 2, 3]), ...rows(9, 100, [3, 4]), end(9, 200, 4)]) d.record(r);
    expect(inserted(events)).toEqual(['1', '2', '3', '4']);
    // Sent again from its BEGIN (the stored offset before it): the same.
    const again = decoder();
    for (const r of [begin(9, 100), ...rows(9, 100, [1, 2]), begin(9, 100), ...rows(9, 100, [1, 2, 3]), end(9, 200, 3)]) again.d.record(r);
    expect(inserted(again.events)).toEqual(['1', '2', '3']);
  });

  it('after a restart of Tandem, the tail of a transaction begun before its checkpoint is not applied again', () => {
    // Tandem applied 9 (checkpoint at its END) and starts after it; the topic then holds 9's tail sent again.
    const { d, events } = decoder(lsnText(200n));
    for (const r of [...rows(9, 100, [3, 4]), end(9, 200, 4), begin(10, 200), ...rows(10, 200, [1]), end(10, 300)]) d.record(r);
    expect(inserted(events)).toEqual(['1']);
    expect(events.filter((e) => e.kind === 'commit')).toHaveLength(1);
  });

  it('copies of a streamed transaction (larger than the buffer) are recognised too', () => {
    const { d, events } = decoder('0/1', 2);
    for (const r of [begin(3, 100), ...rows(3, 100, [1, 2, 3]), ...rows(3, 100, [2, 3, 4]), end(3, 200, 4)]) d.record(r);
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'change', 'change', 'change', 'commit']);
    expect(inserted(events)).toEqual(['1', '2', '3', '4']);
  });

  it('a Connect restart inside a large transaction: copies recognised by LSN though Debezium renumbers and undercounts', () => {
    // Seen with 3.6.1: after the restart the tail's total_order restarts from the stored offset's count, and the END
    // counts fewer events than the transaction has; the LSNs stay those of the WAL.
    const { d, events } = decoder();
    const tail = [3, 4, 5].map((id, i) => change('c', id, `v${id}`, 9, 100 + id, 2 + i));
    for (const r of [begin(9, 100), ...rows(9, 100, [1, 2, 3, 4]), ...tail, end(9, 200, 4)]) d.record(r);
    expect(inserted(events)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('a BEGIN that no event and no END follow (MariaDB DDL on a captured table) does not stop the next transaction', () => {
    const { d, events } = decoder();
    for (const r of [begin(9, 100), begin(10, 200), ...rows(10, 200, [1, 2]), end(10, 300)]) d.record(r);
    expect(inserted(events)).toEqual(['1', '2']);
    expect(events.filter((e) => e.kind === 'commit')).toHaveLength(1);
  });

  it('an int64 beyond 2^53 in the payload keeps every digit (the cached-schema parse keeps payload numbers as text)', () => {
    const { d, events } = decoder();
    d.record(begin(11, 500));
    const big = change('c', 1, 'x', 11, 501, 1);
    // JSON.stringify cannot write the literal: put it into the bytes as the connector would.
    big.value = Buffer.from((big.value as Buffer).toString('utf8').replace('"after":{"id":1', '"after":{"id":9007199254740993'));
    d.record(big);
    d.record(end(11, 510, 1));
    expect(inserted(events)).toEqual(['9007199254740993']);
  });

  it('parses JSON with every number as its text, exactly as written, also where a number-like text sits in a string', () => {
    const cases = [
      '{"a":1.50,"b":-0,"c":12345678901234567890,"d":"x:1234567890123456,y","e":[1e5,2,-7],"f":0.1,"g":123456789012345,"h":null,"i":true}',
      '{"s":"a\\":1234567890123456,b","t":[-1.0E-7]}',
      '[1,[2.50,{"k":9007199254740993}]]',
    ];
    for (const text of cases) expect(parseNumbersAsText(text)).toEqual(parseLossless(text, undefined, (n: string) => n));
    expect(parseNumbersAsText('{"a":1.50,"c":12345678901234567890,"g":42}')).toEqual({ a: '1.50', c: '12345678901234567890', g: '42' });
  });

  it('refuses a transaction whose rest never came before a later one ended', () => {
    const cut = decoder();
    for (const r of [begin(9, 100), ...rows(9, 100, [1]), begin(10, 200), ...rows(10, 200, [1])]) cut.d.record(r);
    expect(() => cut.d.record(end(10, 300))).toThrow(/transaction 9:100 began .* its rest never came/);
    expect(cut.events).toEqual([]);
  });

  it('refuses a change without transaction metadata', () => {
    const { d } = decoder();
    const bare = rec({ schema: valueSchema, payload: { op: 'c', before: null, after: { id: 1, v: 'a' }, source: { table: 't', lsn: 5 } } }, { schema: keySchema, payload: { id: 1 } });
    expect(() => d.record(bare)).toThrow(/belongs to no transaction/);
  });

  it("the switch's drain marker: a transactional logical message delivered with its transaction, never as a row; other messages ignored", () => {
    const { d, events } = decoder();
    // As the PostgreSQL connector writes pg_logical_emit_message(true, 'tandem_marker', …): op m, bytes as base64.
    const message = (prefix: string, content: string, tx: { id: string; total_order: number } | null, lsn: number) =>
      rec({ schema: { type: 'struct', name: 'io.debezium.connector.postgresql.MessageValue' }, payload: { op: 'm', source: { table: '', lsn }, message: { prefix, content: Buffer.from(content).toString('base64') }, transaction: tx } });
    d.record(begin(9, 300));
    d.record(change('c', 1, 'a', 9, 301, 1));
    d.record(message('tandem_marker', 'shop:cutover-1', { id: '9:302', total_order: 2 }, 302));
    d.record(message('audit', 'not ours', { id: '9:303', total_order: 3 }, 303));
    expect(events).toEqual([]);
    d.record(end(9, 310, 3));
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'marker', 'commit']);
    expect(events[2]).toEqual({ kind: 'marker', id: 'shop:cutover-1' });
    // A message outside any transaction (not the switch's, which is transactional) is dropped, not refused.
    d.record(message('tandem_marker', 'stray', null, 320));
    expect(events).toHaveLength(4);
  });

  it("MariaDB: a write to the fence table's marker column is the drain marker; fence writes and deletes are not rows", () => {
    const events: CaptureEvent[] = [];
    const d = new DebeziumDecoder({ source: 'mariadb', compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0), appliedThrough: 'bin.000001:4', maxBuffered: 100, emit: (e) => events.push(e) });
    const fence = (op: string, after: Record<string, unknown> | null, pos: number, order: number) =>
      rec({ schema: { type: 'struct', fields: [] }, payload: { op, after, source: { table: 'tandem_fence', file: 'bin.000001', pos, row: 0 }, transaction: { id: 'file=bin.000001,pos=100', total_order: order } } });
    d.record(rec({ schema: { type: 'struct' }, payload: { status: 'BEGIN', id: 'file=bin.000001,pos=100', ts_ms: 1_700_000_000_000 } }));
    d.record(fence('u', { migration: 'shop', fenced: 1, marker: null }, 200, 1));
    d.record(fence('u', { migration: 'shop', fenced: 1, marker: 'shop:rollback-2' }, 300, 2));
    d.record(fence('d', null, 400, 3));
    d.record(rec({ schema: { type: 'struct' }, payload: { status: 'END', id: 'file=bin.000001,pos=100', event_count: 3, ts_ms: 1_700_000_000_000 } }));
    expect(events.map((e) => e.kind)).toEqual(['begin', 'marker', 'commit']);
    expect(events[1]).toEqual({ kind: 'marker', id: 'shop:rollback-2' });
    expect(events[2]).toMatchObject({ kind: 'commit', position: 'bin.000001:400' });
  });

  it('turns heartbeats between transactions into idle events at the last position', () => {
    const { d, events } = decoder('0/5');
    d.record(heartbeat());
    d.record(begin(1, 6));
    d.record(heartbeat());
    d.record(change('c', 1, 'a', 1, 6));
    d.record(end(1, 8));
    d.record(heartbeat());
    expect(events.filter((e) => e.kind === 'idle')).toEqual([
      { kind: 'idle', position: '0/5' },
      { kind: 'idle', position: '0/8' },
    ]);
  });

  it('streams a transaction larger than the buffer without waiting for its END', () => {
    const { d, events } = decoder('0/1', 2);
    d.record(begin(3, 2));
    d.record(change('c', 1, 'a', 3, 2, 1));
    d.record(change('c', 2, 'b', 3, 3, 2));
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'change']);
    d.record(change('c', 3, 'c', 3, 4, 3));
    d.record(end(3, 50, 3));
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'change', 'change', 'commit']);
    expect(events[4]).toMatchObject({ position: lsnText(50n) });
  });
});

describe('Debezium value encodings', () => {
  const named = (name: string, type = 'int64') => ({ type, name });
  it('timestamps, dates and times as the engines print them, before 1970 and in year 1 too', () => {
    expect(decodeValue(named('io.debezium.time.MicroTimestamp'), '-1', 'c')).toBe('1969-12-31 23:59:59.999999');
    expect(decodeValue(named('io.debezium.time.MicroTimestamp'), '-62135596800000000', 'c')).toBe('0001-01-01 00:00:00');
    expect(decodeValue(named('io.debezium.time.MicroTimestamp'), '1704164645123400', 'c')).toBe('2024-01-02 03:04:05.1234');
    expect(decodeValue(named('io.debezium.time.ZonedTimestamp', 'string'), '2024-03-09T21:00:00.123450Z', 'c')).toBe('2024-03-09 21:00:00.12345');
    expect(decodeValue(named('io.debezium.time.ZonedTimestamp', 'string'), '2024-03-09T21:00:00Z', 'c')).toBe('2024-03-09 21:00:00');
    expect(decodeValue(named('io.debezium.time.Date', 'int32'), '-25509', 'c')).toBe('1900-02-28');
    expect(decodeValue(named('io.debezium.time.MicroTime'), '86399999999', 'c')).toBe('23:59:59.999999');
    expect(decodeValue(named('io.debezium.time.MicroTime'), '-3600000000', 'c')).toBe('-01:00:00');
  });

  it('integers and decimals keep every digit; bytes come from base64; the TOAST placeholder is UNCHANGED', () => {
    expect(decodeValue({ type: 'int64' }, '9223372036854775807', 'c')).toBe('9223372036854775807');
    expect(decodeValue({ type: 'string', name: 'io.debezium.data.VariableScaleDecimal' }, '18446744073709551615', 'c')).toBe('18446744073709551615');
    expect(decodeValue({ type: 'bytes' }, Buffer.from([0, 255, 16]).toString('base64'), 'c')).toEqual(Buffer.from([0, 255, 16]));
    expect(decodeValue({ type: 'string' }, UNAVAILABLE, 'c')).toBe(UNCHANGED);
    expect(decodeValue({ type: 'bytes' }, Buffer.from(UNAVAILABLE).toString('base64'), 'c')).toBe(UNCHANGED);
    expect(decodeValue({ type: 'boolean' }, true, 'c')).toBe('t');
    expect(() => decodeValue({ type: 'array' }, [] as never, 't.c')).toThrow(/t\.c/);
  });
});
