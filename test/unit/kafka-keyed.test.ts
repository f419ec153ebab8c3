/**
 * `transport.kafka.ordering: key` (H22) without a broker: the lane decoder (src/transport/kafka/keyed.ts), the
 * config rules, the topic's partitions in the rendered connector, the lag over lanes and the switch gate's refusal.
 * The real multi-partition run is test/integration/kafka-keyed.cases.ts.
 */
import { describe, expect, it } from 'vitest';
import type { CaptureEvent } from '../../src/model/change.js';
import { KeyedDecoder, compareOffsets, laneConflictingKeys } from '../../src/transport/kafka/keyed.js';
import { laneConflictCheck } from '../../src/transport/kafka/checks.js';
import type { TableSchema } from '../../src/model/schema.js';
import type { TopicRecord } from '../../src/transport/kafka/client.js';
import { configSchema } from '../../src/config/schema.js';
import { changePartitions, renderConnector } from '../../src/transport/kafka/connectors.js';
import { kafkaSwitchReadiness } from '../../src/transport/kafka/switching.js';
import { LagTracker } from '../../src/replicate/lag.js';
import { LanesLag } from '../../src/replicate/lanes.js';
import { TandemError } from '../../src/errors.js';

let offset = 0;
const rec = (value: unknown, key: unknown = null): TopicRecord => ({
  offset: String(offset++),
  key: key === null ? null : Buffer.from(JSON.stringify(key)),
  value: Buffer.from(JSON.stringify(value)),
});
const keySchema = { type: 'struct', fields: [{ type: 'int64', field: 'id' }] };
const valueSchema = {
  type: 'struct',
  fields: [
    { type: 'struct', field: 'before', fields: [{ type: 'int64', field: 'id' }, { type: 'int64', field: 'v' }] },
    { type: 'struct', field: 'after', fields: [{ type: 'int64', field: 'id' }, { type: 'int64', field: 'v' }] },
  ],
};
/** Change `order` of transaction `xid` to row `id`, at WAL position `lsn`, as the PostgreSQL connector writes it. */
const change = (op: string, id: number, v: number, xid: number, lsn: number, order: number, table = 't') =>
  rec(
    {
      schema: valueSchema,
      payload: { op, before: null, after: op === 'd' ? null : { id, v }, source: { table, lsn, ts_ms: 1_700_000_000_000 + order }, transaction: { id: `${xid}:${lsn}`, total_order: order, data_collection_order: order } },
    },
    { schema: keySchema, payload: { id } },
  );
const boundary = (status: 'BEGIN' | 'END', xid: number, lsn: number) => rec({ schema: { type: 'struct' }, payload: { status, id: `${xid}:${lsn}`, ts_ms: 1 } });
const heartbeat = () => rec({ schema: { type: 'struct', name: 'io.debezium.connector.common.Heartbeat' }, payload: { ts_ms: 1 } });

function lane() {
  const events: CaptureEvent[] = [];
  return { d: new KeyedDecoder('postgres', (e) => events.push(e)), events };
}
const values = (events: CaptureEvent[]) => events.flatMap((e) => (e.kind === 'change' && e.change.op !== 'truncate' ? [`${e.change.op} ${String(e.change.after?.id ?? e.change.before?.id)}=${String(e.change.after?.v ?? '-')}`] : []));

describe('KeyedDecoder (one partition of a key-ordered change topic)', () => {
  it('makes each row change a transaction of its own at its offset, checkpointed with that offset', () => {
    const { d, events } = lane();
    const r = change('u', 1, 5, 700, 100, 1);
    expect(d.record(r)).toBe('change');
    expect(events).toEqual([
      { kind: 'begin', position: r.offset, commitTime: new Date(1_700_000_000_001) },
      { kind: 'change', change: { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: '5' } } },
      { kind: 'commit', position: r.offset, commitTime: new Date(1_700_000_000_001), transportOffset: r.offset },
    ]);
  });

  it('gives nothing to apply for transaction boundaries, and an idle event at its offset for a heartbeat', () => {
    const { d, events } = lane();
    expect(d.record(boundary('BEGIN', 700, 100))).toBe('none');
    expect(d.record(boundary('END', 700, 180))).toBe('none');
    const h = heartbeat();
    expect(d.record(h)).toBe('idle');
    expect(events).toEqual([{ kind: 'idle', position: h.offset }]);
  });

  it('drops the copies Debezium sends again after a Connect restart: a tail of the current transaction, and transactions the lane moved past', () => {
    const { d, events } = lane();
    const first = [change('c', 1, 1, 700, 100, 1), change('u', 1, 2, 700, 110, 2), change('u', 1, 3, 701, 150, 1)];
    for (const r of first) d.record(r);
    // Connect restarted from an offset inside transaction 700: its second event and all of 701 come again.
    expect(d.record(change('u', 1, 2, 700, 110, 2))).toBe('none');
    expect(d.record(change('u', 1, 3, 701, 150, 1))).toBe('none');
    // Then what is new: a later event of 701 and a new transaction.
    d.record(change('u', 1, 4, 701, 160, 2));
    d.record(change('u', 1, 5, 702, 140, 1));
    expect(values(events)).toEqual(['insert 1=1', 'update 1=2', 'update 1=3', 'update 1=4', 'update 1=5']);
    expect(d.redelivered).toBe(2);
  });

  it('orders transactions by their place in the partition, not their LSNs (a later commit can hold a smaller LSN)', () => {
    const { d, events } = lane();
    d.record(change('u', 2, 1, 759, 300, 1));
    d.record(change('u', 2, 2, 758, 200, 1)); // began first, committed later
    expect(values(events)).toEqual(['update 2=1', 'update 2=2']);
  });

  it('leaves the switch marker and MariaDB fence writes out, and refuses TRUNCATE, which no lane can order against the others', () => {
    const { d, events } = lane();
    const marker = rec({ schema: { type: 'struct' }, payload: { op: 'm', source: { table: '', lsn: 1 }, message: { prefix: 'tandem', content: Buffer.from('x').toString('base64') }, transaction: { id: '9:1', total_order: 1 } } });
    expect(d.record(marker)).toBe('none');
    const truncate = rec({ schema: valueSchema, payload: { op: 't', source: { table: 'orders', lsn: 2 }, transaction: { id: '10:2', total_order: 1 } } });
    let err: unknown;
    try {
      d.record(truncate);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).message).toMatch(/TRUNCATE of orders .*ordering: key/);
    expect((err as TandemError).fix).toMatch(/ordering: transaction/);
    expect(events).toEqual([]);
    const mariadb = new KeyedDecoder('mariadb', (e) => events.push(e));
    const fence = rec({ schema: valueSchema, payload: { op: 'c', after: { id: 1, v: 1 }, source: { table: 'tandem_fence', file: 'b.000001', pos: 4 }, transaction: { id: 'g1', total_order: 1 } } }, { schema: keySchema, payload: { id: 1 } });
    expect(mariadb.record(fence)).toBe('none');
    expect(events).toEqual([]);
  });

  it('compares lane positions as 64-bit offsets', () => {
    expect(compareOffsets('9', '10')).toBe(-1);
    expect(compareOffsets('-1', '0')).toBe(-1);
    expect(compareOffsets('9223372036854775807', '9223372036854775806')).toBe(1);
    expect(compareOffsets('7', '7')).toBe(0);
  });
});

const base = { migration: 'm1', old: { url: 'postgres://u:secret@h/old' }, new: { url: 'postgres://u@h/new' }, transport: { kind: 'kafka' } };

describe('transport.kafka.ordering and partitions', () => {
  it('defaults to one partition by transaction; key ordering defaults to 4 partitions, which the connector creates the topic with', () => {
    const plain = configSchema.parse(base);
    expect(plain.transport.kafka.ordering).toBe('transaction');
    expect(changePartitions(plain)).toBe(1);
    expect(renderConnector(plain, 'forward', ['t']).config['topic.creation.default.partitions']).toBe('1');
    const keyed = configSchema.parse({ ...base, transport: { kind: 'kafka', kafka: { ordering: 'key' } } });
    expect(changePartitions(keyed)).toBe(4);
    const eight = configSchema.parse({ ...base, transport: { kind: 'kafka', kafka: { ordering: 'key', partitions: 8 } } });
    expect(renderConnector(eight, 'forward', ['t']).config['topic.creation.default.partitions']).toBe('8');
  });

  it('refuses partitions without ordering: key, and counts outside 2–64, naming the setting', () => {
    const bad = (kafka: Record<string, unknown>) => {
      const r = configSchema.safeParse({ ...base, transport: { kind: 'kafka', kafka } });
      return r.success ? 'accepted' : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    };
    expect(bad({ partitions: 4 })).toMatch(/transport\.kafka\.partitions: transport\.kafka\.partitions needs ordering: key/);
    expect(bad({ ordering: 'key', partitions: 1 })).toMatch(/at least 2 with ordering: key/);
    expect(bad({ ordering: 'key', partitions: 65 })).toMatch(/at most 64/);
    expect(bad({ ordering: 'row' })).toMatch(/transport\.kafka\.ordering/);
  });

  it('the switch gate refuses with ordering: key before asking Connect anything, naming the way back', async () => {
    const keyed = configSchema.parse({ ...base, transport: { kind: 'kafka', kafka: { ordering: 'key', connectUrl: 'http://127.0.0.1:1' } } });
    const finding = await kafkaSwitchReadiness(keyed, 'forward', 'reverse', ['t']);
    expect(finding.ok).toBe(false);
    expect(finding.value).toBe('ordering: key');
    expect(finding.detail).toMatch(/switch with ordering: transaction/);
  });
});

describe('unique indexes besides the key, with ordering: key', () => {
  const table = (name: string, uniqueKeys: TableSchema['uniqueKeys']): [string, TableSchema] => [name, { name, columns: [], primaryKey: ['id'], uniqueKeys }];
  const schemas = new Map([table('orders', []), table('accounts', [{ name: 'accounts_email_key', parts: [{ column: 'email' }] }])]);

  it('are listed by table and index, and fail tandem check only with ordering: key', () => {
    expect(laneConflictingKeys(schemas)).toEqual(['accounts (accounts_email_key)']);
    const keyed = configSchema.parse({ ...base, transport: { kind: 'kafka', kafka: { ordering: 'key' } } });
    expect(laneConflictCheck(keyed, 'new', schemas)).toMatchObject({ id: 'kafka.ordering_unique', status: 'fail', side: 'new' });
    expect(laneConflictCheck(keyed, 'new', new Map([table('orders', [])]))).toMatchObject({ status: 'pass' });
    expect(laneConflictCheck(configSchema.parse(base), 'new', schemas)).toBeUndefined();
  });
});

describe('LanesLag', () => {
  it('is the worst lane\'s lag, unknown until every lane knows the source clock', () => {
    const lanes = [new LagTracker(compareOffsets), new LagTracker(compareOffsets)];
    const lag = new LanesLag(lanes);
    expect(lag.seconds(10_000)).toBeNull();
    lag.setClockOffset(0);
    lanes[0]?.read('5', new Date(7_000));
    lanes[1]?.read('3', new Date(9_000));
    expect(lag.seconds(10_000)).toBe(3);
    expect(lag.unapplied).toBe(2);
    lanes[0]?.appliedThrough('5');
    expect(lag.seconds(10_000)).toBe(1);
  });
});
