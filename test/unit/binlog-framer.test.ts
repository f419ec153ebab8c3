import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TandemError } from '../../src/errors.js';
import type { CaptureEvent, Change } from '../../src/model/change.js';
import { BinlogFramer, type BinlogEvent, type DdlFollowUp } from '../../src/engines/mysql/binlog-framer.js';
import { comparePositions, formatPosition, parsePosition } from '../../src/engines/mysql/position.js';
import { readFixture, type BinlogFixture } from '../harness/binlog-fixtures.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'binlog');

interface Replay {
  fx: BinlogFixture;
  events: CaptureEvent[];
  followUps: DdlFollowUp[];
  /** framer.idle() after each step: undefined while a transaction is open. */
  idles: Array<string | undefined>;
  error?: unknown;
}

/** Feeds a fixture to a framer as the listener would: events in order, a DDL's columns when it asks for them. */
function replay(name: string): Replay {
  const fx = readFixture(join(FIXTURES, `${name}.json`));
  const events: CaptureEvent[] = [];
  const framer = new BinlogFramer({ database: fx.database, tables: new Set(fx.tables), values: { zeroDates: 'refuse' }, start: parsePosition(fx.start), emit: (e) => events.push(e) });
  const out: Replay = { fx, events, followUps: [], idles: [] };
  let waiting = false;
  try {
    for (const step of fx.steps) {
      if ('columns' in step) {
        expect(waiting, `${name}: columns nobody asked for`).toBe(true);
        framer.resume(new Map(Object.entries(step.columns)));
        waiting = false;
      } else {
        expect(waiting, `${name}: an event while the framer waits for columns`).toBe(false);
        const followUp = framer.next(step.event);
        if (followUp) out.followUps.push(followUp);
        waiting = followUp?.describe ?? false;
      }
      out.idles.push(framer.idle()?.position);
    }
  } catch (err) {
    out.error = err;
  }
  return out;
}

/** The recorded events of one kind, in order. */
function recorded<K extends BinlogEvent['kind']>(fx: BinlogFixture, kind: K): Array<Extract<BinlogEvent, { kind: K }>> {
  return fx.steps.flatMap((s) => ('event' in s && s.event.kind === kind ? [s.event as Extract<BinlogEvent, { kind: K }>] : []));
}

const at = (file: string, offset: number, gtid: string) => formatPosition({ file, offset, gtid });
const fileOf = (fx: BinlogFixture) => parsePosition(fx.start).file;
/** A GTID list as a set: the server prints BINLOG_GTID_POS in its own order, Tandem sorts by domain. */
const gtidSet = (position: string) => (parsePosition(position).gtid ?? '').split(',').sort().join(',');

const kinds = (events: CaptureEvent[]) => events.map((e) => e.kind);
const changes = (events: CaptureEvent[]): Change[] => events.flatMap((e) => (e.kind === 'change' ? [e.change] : []));
const ofKind = <K extends CaptureEvent['kind']>(events: CaptureEvent[], kind: K) => events.filter((e): e is Extract<CaptureEvent, { kind: K }> => e.kind === kind);

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.replace(/\.json$/, ''));

describe('binlog framer on recorded MariaDB events', () => {
  it('has every recorded scenario', () => {
    expect(fixtures.sort()).toEqual(['autocommit-insert', 'ddl-add-column', 'gtid-domains', 'many-rows', 'outside-migration', 'rotate', 'row-image-minimal', 'truncate', 'two-tables']);
  });

  it.each(fixtures.filter((f) => f !== 'row-image-minimal'))('%s: whole transactions in position order, idle at the end of what was read', (name) => {
    const { fx, events, idles, error } = replay(name);
    expect(error).toBeUndefined();
    let open: string | undefined;
    let last = fx.start;
    for (const e of events) {
      if (e.kind === 'begin') {
        expect(open, 'a begin inside a transaction').toBeUndefined();
        expect(comparePositions(e.position, last)).toBeGreaterThanOrEqual(0);
        open = last = e.position;
      } else if (e.kind === 'commit') {
        expect(open, 'a commit without a begin').toBeDefined();
        expect(comparePositions(e.position, last)).toBeGreaterThan(0);
        open = undefined;
        last = e.position;
      } else if (e.kind === 'change') {
        expect(open, 'a change outside a transaction').toBeDefined();
      }
    }
    expect(open).toBeUndefined();
    // The framer's idle position after the last event is where the server said the binlog ended.
    const end = idles.at(-1);
    expect(end).toBeDefined();
    expect(comparePositions(end as string, fx.end)).toBe(0);
    expect(gtidSet(end as string)).toBe(gtidSet(fx.end));
  });

  it('autocommit insert: relation, begin at the start, the row as neutral text, commit at the end of its XID', () => {
    const { fx, events } = replay('autocommit-insert');
    const xid = recorded(fx, 'xid')[0];
    expect(events).toEqual([
      { kind: 'relation', table: 'customers', columns: ['id', 'name', 'email'] },
      { kind: 'begin', position: fx.start },
      { kind: 'change', change: { op: 'insert', table: 'customers', after: { id: '1', name: 'Ada', email: 'ada@example.com' } } },
      { kind: 'commit', position: fx.end, commitTime: new Date(xid?.time ?? 0) },
    ]);
  });

  it('one transaction over two tables: every change in statement order, values in neutral form, one relation per table', () => {
    const { fx, events } = replay('two-tables');
    expect(kinds(events)).toEqual(['relation', 'begin', 'change', 'relation', 'change', 'change', 'change', 'change', 'change', 'commit']);
    expect(ofKind(events, 'begin')[0]?.position).toBe(fx.start);
    expect(ofKind(events, 'commit')[0]?.position).toBe(fx.end);
    const order10 = { id: '10', customer_id: '2', total: '12.50', ratio: '0.1', placed: '2024-02-29 13:14:15.123456', tag: Buffer.from('00ff10', 'hex'), flags: '101', big: '18446744073709551615', note: 'first' };
    const order11 = { id: '11', customer_id: '2', total: '99999999.99', ratio: null, placed: null, tag: null, flags: null, big: null, note: null };
    expect(changes(events)).toEqual([
      { op: 'insert', table: 'customers', after: { id: '2', name: 'Grace', email: null } },
      { op: 'insert', table: 'orders', after: order10 },
      { op: 'insert', table: 'orders', after: order11 },
      { op: 'update', table: 'orders', before: order10, after: { ...order10, total: '13.75', note: 'changed' } },
      { op: 'update', table: 'customers', before: { id: '2', name: 'Grace', email: null }, after: { id: '2', name: 'Grace', email: 'grace@example.com' } },
      { op: 'delete', table: 'orders', before: order11 },
    ]);
  });

  it('many rows: one transaction across several rows events per statement', () => {
    const { fx, events } = replay('many-rows');
    expect(recorded(fx, 'rows').length).toBeGreaterThan(2);
    expect(ofKind(events, 'begin')).toHaveLength(1);
    expect(ofKind(events, 'commit')).toEqual([{ kind: 'commit', position: fx.end, commitTime: expect.any(Date) }]);
    expect(ofKind(events, 'relation')).toHaveLength(1);
    const ids = (op: string) => changes(events).flatMap((c) => (c.op === op && c.op !== 'truncate' ? [Number((c.after ?? c.before)?.id)] : []));
    const expected = Array.from({ length: 400 }, (_, i) => 1000 + i);
    expect(ids('insert')).toEqual(expected);
    expect(ids('delete')).toEqual(expected);
    expect(changes(events)).toHaveLength(800);
  });

  it('standalone ALTER TABLE: the framer waits for the new columns, sends them with the statement; rows logged before it keep their own columns; DDL elsewhere passes', () => {
    const { fx, events, followUps } = replay('ddl-add-column');
    const file = fileOf(fx);
    const [xidBefore, xidAfter] = recorded(fx, 'xid');
    const [alter] = recorded(fx, 'query');
    // Only the ALTER of a replicated table asks for anything; the ALTERs of audit_log and other.notes do not.
    expect(followUps).toEqual([{ tables: ['customers'], describe: true }]);
    expect(events).toEqual([
      // Read after the ALTER ran: information_schema already lists phone, the row has the three columns it was logged with.
      { kind: 'relation', table: 'customers', columns: ['id', 'name', 'email'] },
      { kind: 'begin', position: fx.start },
      { kind: 'change', change: { op: 'insert', table: 'customers', after: { id: '3', name: 'Edsger', email: null } } },
      { kind: 'commit', position: at(file, xidBefore?.end ?? 0, '0-1-10'), commitTime: expect.any(Date) },
      // A DDL statement is a relation event of its own, between transactions.
      { kind: 'relation', table: 'customers', columns: ['id', 'name', 'email', 'phone'], ddl: 'ALTER TABLE customers ADD COLUMN phone varchar(20)' },
      { kind: 'begin', position: at(file, alter?.end ?? 0, '0-1-11') },
      { kind: 'change', change: { op: 'insert', table: 'customers', after: { id: '4', name: 'Barbara', email: null, phone: '+1 555 0100' } } },
      { kind: 'commit', position: at(file, xidAfter?.end ?? 0, '0-1-12'), commitTime: expect.any(Date) },
    ]);
  });

  it('TRUNCATE of a replicated table is a transaction of its own; of another table, nothing', () => {
    const { fx, events, followUps } = replay('truncate');
    const file = fileOf(fx);
    const [xid] = recorded(fx, 'xid');
    const [truncate] = recorded(fx, 'query');
    // Its cached columns are forgotten, but nothing waits: a TRUNCATE changes no definition.
    expect(followUps).toEqual([{ tables: ['orders'], describe: false }]);
    expect(events.slice(-3)).toEqual([
      { kind: 'begin', position: at(file, xid?.end ?? 0, '0-1-15') },
      { kind: 'change', change: { op: 'truncate', tables: ['orders'] } },
      { kind: 'commit', position: at(file, truncate?.end ?? 0, '0-1-16'), commitTime: new Date(truncate?.time ?? 0) },
    ]);
  });

  it('two GTID domains interleaved: one file:offset order, each commit advances only its own domain in the GTID list (H8)', () => {
    const { fx, events } = replay('gtid-domains');
    const file = fileOf(fx);
    const ends = recorded(fx, 'xid').map((x) => x.end);
    expect(recorded(fx, 'mariadb-gtid').map((g) => g.gtid)).toEqual(['0-1-18', '1-1-1', '1-1-2', '0-1-19', '1-1-3']);
    const lists = ['0-1-18', '0-1-18,1-1-1', '0-1-18,1-1-2', '0-1-19,1-1-2', '0-1-19,1-1-3'];
    expect(ofKind(events, 'commit').map((c) => c.position)).toEqual(lists.map((gtid, i) => at(file, ends[i] ?? 0, gtid)));
    // Each transaction begins where the previous one committed.
    expect(ofKind(events, 'begin').map((b) => b.position)).toEqual([fx.start, ...ofKind(events, 'commit').slice(0, -1).map((c) => c.position)]);
    expect(changes(events).map((c) => (c.op === 'truncate' ? undefined : (c.after ?? c.before)?.name))).toEqual([
      'domain 0 first',
      'domain 1 first',
      'domain 1 second',
      'domain 0 second',
      'domain 1 third',
    ]);
  });

  it('a table outside the migration: its transactions send nothing, yet move the position and the GTID list on', () => {
    const { fx, events } = replay('outside-migration');
    const file = fileOf(fx);
    const [alone, mixed] = recorded(fx, 'xid');
    expect(recorded(fx, 'rows').map((r) => r.table.name)).toEqual(['audit_log', 'audit_log', 'customers', 'audit_log']);
    expect(events).toEqual([
      { kind: 'relation', table: 'customers', columns: ['id', 'name', 'email', 'phone'] },
      { kind: 'begin', position: at(file, alone?.end ?? 0, '0-1-20,1-1-3') },
      {
        kind: 'change',
        change: { op: 'update', table: 'customers', before: { id: '1', name: 'Ada', email: 'ada@example.com', phone: null }, after: { id: '1', name: 'Ada L.', email: 'ada@example.com', phone: null } },
      },
      { kind: 'commit', position: at(file, mixed?.end ?? 0, '0-1-21,1-1-3'), commitTime: expect.any(Date) },
    ]);
  });

  it('a partial row image (binlog_row_image=MINIMAL) stops before anything of it is sent, naming the table, the transaction and the checkpoint', () => {
    const { fx, events, error } = replay('row-image-minimal');
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(TandemError);
    const err = error as TandemError;
    expect(err.code).toBe('TANDEM_CAPTURE_ROW_IMAGE');
    expect(err.message).toContain('an UPDATE of customers in transaction 0-1-23 carries only some of the table');
    expect(err.message).toContain(`at checkpoint position ${fx.start}`);
    expect(err.fix).toMatch(/binlog_row_image=FULL/);
  });

  it('a rotate: the next transaction begins in the new file, after its GTID list and checkpoint events', () => {
    const { fx, events, idles } = replay('rotate');
    const rotates = fx.steps.flatMap((s, i) => ('event' in s && s.event.kind === 'rotate' ? [i] : []));
    expect(rotates).toHaveLength(3); // the dump's own first event, the rotate in the old file, the one opening the new file
    const checkpoint = recorded(fx, 'other').find((o) => o.type === 'BinlogCheckpoint');
    expect(idles[rotates[1] ?? 0]).toBe(at('binlog.000002', 4, '0-1-24,1-1-3'));
    const [first, second] = ofKind(events, 'begin');
    expect(parsePosition(first?.position ?? '').file).toBe('binlog.000001');
    expect(second?.position).toBe(at('binlog.000002', checkpoint?.end ?? 0, '0-1-24,1-1-3'));
    expect(ofKind(events, 'commit').at(-1)?.position).toBe(at('binlog.000002', parsePosition(fx.end).offset, '0-1-25,1-1-3'));
  });

  it('no idle position while a transaction is open', () => {
    const { fx, idles } = replay('two-tables');
    const gtid = fx.steps.findIndex((s) => 'event' in s && s.event.kind === 'mariadb-gtid');
    const xid = fx.steps.findIndex((s) => 'event' in s && s.event.kind === 'xid');
    expect(idles.slice(0, gtid)).toEqual(idles.slice(0, gtid).map(() => fx.start));
    expect(idles.slice(gtid, xid).every((p) => p === undefined)).toBe(true);
    expect(idles[xid]).toBe(fx.end);
  });
});

describe('binlog framer on events no MariaDB recording holds', () => {
  const table = { schema: 'db', name: 't', columns: [{ name: 'id', columnType: 'int(11)' }] };
  const framer = (events: CaptureEvent[]) => new BinlogFramer({ database: 'db', tables: new Set(['t']), values: { zeroDates: 'refuse' }, start: { file: 'binlog.000001', offset: 100 }, emit: (e) => events.push(e) });
  const insert = (id: number): BinlogEvent => ({ kind: 'rows', op: 'insert', table, columnCount: 1, present: [Buffer.from([1])], rows: [{ id }], end: 0 });

  it('MySQL: the GTID event is no BEGIN; the BEGIN query is, and the XID ends the transaction', () => {
    const events: CaptureEvent[] = [];
    const f = framer(events);
    f.next({ kind: 'mysql-gtid', gtid: '3e11fa47-71ca-11e1-9e33-c80aa9429562:7' });
    f.next({ kind: 'query', schema: 'db', sql: 'BEGIN', end: 180, time: 0 });
    f.next({ kind: 'query', schema: 'db', sql: 'SAVEPOINT a', end: 220, time: 0 });
    f.next(insert(1));
    expect(f.idle()).toBeUndefined();
    f.next({ kind: 'xid', end: 300, time: 5_000 });
    expect(events).toEqual([
      { kind: 'relation', table: 't', columns: ['id'] },
      { kind: 'begin', position: 'binlog.000001:100' },
      { kind: 'change', change: { op: 'insert', table: 't', after: { id: '1' } } },
      { kind: 'commit', position: 'binlog.000001:300', commitTime: new Date(5_000) },
    ]);
  });

  it('a heartbeat between transactions moves the idle position; inside one it does not', () => {
    const f = framer([]);
    f.next({ kind: 'heartbeat', file: 'binlog.000001', end: 150 });
    expect(f.idle()).toEqual({ kind: 'idle', position: 'binlog.000001:150' });
    f.next({ kind: 'mariadb-gtid', gtid: '0-1-5', standalone: false });
    f.next({ kind: 'heartbeat', file: 'binlog.000001', end: 170 });
    f.next({ kind: 'xid', end: 200, time: 0 });
    expect(f.idle()).toEqual({ kind: 'idle', position: 'binlog.000001:200#0-1-5' });
  });

  it('an event zongji cannot decode stops the stream', () => {
    expect(() => framer([]).next({ kind: 'undecodable', type: 'TransactionPayload' })).toThrow(/TransactionPayload event, which Tandem cannot decode/);
  });

  it('refuses an event while it waits for the columns after a DDL statement, and goes on after them', () => {
    const events: CaptureEvent[] = [];
    const f = framer(events);
    f.next({ kind: 'mariadb-gtid', gtid: '0-1-6', standalone: true });
    expect(f.next({ kind: 'query', schema: 'db', sql: 'ALTER TABLE t RENAME COLUMN id TO key_id', end: 400, time: 0 })).toEqual({ tables: ['t'], describe: true });
    expect(() => f.next(insert(2))).toThrow(/while the columns after `ALTER TABLE t RENAME COLUMN id TO key_id` were being looked up/);
    f.resume(new Map([['t', ['key_id']]]));
    expect(events).toEqual([{ kind: 'relation', table: 't', columns: ['key_id'], ddl: 'ALTER TABLE t RENAME COLUMN id TO key_id' }]);
    expect(f.idle()).toEqual({ kind: 'idle', position: 'binlog.000001:400#0-1-6' });
  });
});
