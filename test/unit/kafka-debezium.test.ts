/**
 * The Kafka feed's decoding of Debezium change events (src/transport/kafka/debezium.ts, values.ts): transaction
 * grouping, redelivery, and value encodings. Record shapes are those the PostgreSQL connector 3.6.1 wrote in
 * test/integration/kafka-postgres.cases.ts (JsonConverter with schemas).
 */
import { describe, expect, it } from 'vitest';
import { UNCHANGED, type CaptureEvent } from '../../src/model/change.js';
import { DebeziumDecoder, lsnText } from '../../src/transport/kafka/debezium.js';
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
const begin = (xid: number, lsn: number) => rec({ schema: { type: 'struct', name: 'io.debezium.connector.common.TransactionMetadataValue' }, payload: { status: 'BEGIN', id: `${xid}:${lsn}`, ts_ms: 1_700_000_000_000 } });
const end = (xid: number, commitLsn: number) => rec({ schema: { type: 'struct' }, payload: { status: 'END', id: `${xid}:${commitLsn}`, event_count: 1, ts_ms: 1_700_000_000_000 } });
const heartbeat = () => rec({ schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' }, payload: { ts_ms: 1 } });
const keySchema = { type: 'struct', fields: [{ type: 'int64', field: 'id' }] };
const valueSchema = {
  type: 'struct',
  fields: [
    { type: 'struct', field: 'before', fields: [{ type: 'int64', field: 'id' }, { type: 'string', field: 'v' }] },
    { type: 'struct', field: 'after', fields: [{ type: 'int64', field: 'id' }, { type: 'string', field: 'v' }] },
  ],
};
const change = (op: string, id: number, v: string | null) =>
  rec(
    { schema: valueSchema, payload: { op, before: op === 'd' ? { id, v: null } : null, after: op === 'd' ? null : { id, v }, source: { table: 't' } } },
    { schema: keySchema, payload: { id } },
  );

function decoder(appliedThrough = '0/0', maxBuffered = 100) {
  const events: CaptureEvent[] = [];
  const warnings: string[] = [];
  const d = new DebeziumDecoder({ source: 'postgres', compare: compareLsn, appliedThrough, maxBuffered, emit: (e) => events.push(e), warn: (m) => warnings.push(m) });
  return { d, events, warnings };
}

describe('DebeziumDecoder', () => {
  it('delivers a transaction whole at its END, at its commit LSN, with the END offset', () => {
    const { d, events } = decoder();
    d.record(begin(7, 100));
    d.record(change('c', 1, 'a'));
    expect(events).toEqual([]);
    d.record(change('u', 1, 'b'));
    d.record(change('d', 1, null));
    const last = end(7, 0x1_0000_0200);
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
    for (const r of [begin(7, 10), change('c', 1, 'a'), end(7, 20), begin(7, 10), change('c', 1, 'a'), end(7, 20)]) d.record(r);
    expect(events.filter((e) => e.kind === 'commit')).toHaveLength(1);
    // After a restart the ids are forgotten: the checkpoint's position decides.
    const restarted = decoder(lsnText(20n));
    for (const r of [begin(7, 10), change('c', 1, 'a'), end(7, 20), begin(8, 21), change('c', 2, 'b'), end(8, 30)]) restarted.d.record(r);
    expect(restarted.events.filter((e) => e.kind === 'commit').map((e) => (e as { position: string }).position)).toEqual([lsnText(30n)]);
  });

  it('drops a transaction cut short by a Connect restart and applies it when it comes again whole', () => {
    const { d, events, warnings } = decoder();
    for (const r of [begin(9, 10), change('c', 1, 'a'), begin(9, 10), change('c', 1, 'a'), change('c', 2, 'b'), end(9, 40)]) d.record(r);
    expect(events.filter((e) => e.kind === 'change')).toHaveLength(2);
    expect(warnings).toHaveLength(1);
  });

  it('turns heartbeats between transactions into idle events at the last position', () => {
    const { d, events } = decoder('0/5');
    d.record(heartbeat());
    d.record(begin(1, 6));
    d.record(heartbeat());
    d.record(change('c', 1, 'a'));
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
    d.record(change('c', 1, 'a'));
    d.record(change('c', 2, 'b'));
    expect(events.map((e) => e.kind)).toEqual(['begin', 'change', 'change']);
    d.record(change('c', 3, 'c'));
    d.record(end(3, 50));
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
