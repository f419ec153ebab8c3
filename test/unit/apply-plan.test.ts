import { describe, expect, it } from 'vitest';
import { planChanges, regroupByTable } from '../../src/engines/shared/apply-plan.js';
import { UNCHANGED, type Change } from '../../src/model/change.js';

const key = () => ['id'];
const ins = (id: string, v = 'x'): Change => ({ op: 'insert', table: 't', after: { id, v } });

describe('planChanges', () => {
  it('puts consecutive inserts of one table into one upsert', () => {
    expect(planChanges([ins('1'), ins('2'), ins('3')], key, 100)).toEqual([{ kind: 'upsert', table: 't', columns: ['id', 'v'], rows: [{ id: '1', v: 'x' }, { id: '2', v: 'x' }, { id: '3', v: 'x' }], insertsOnly: true }]);
  });

  it('replaces a repeated key\'s full row in the open statement: an insert then an update is one new row with the later values', () => {
    const ops = planChanges([ins('1', 'a'), ins('2', 'a'), { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: 'b' } }], key, 100);
    expect(ops).toEqual([{ kind: 'upsert', table: 't', columns: ['id', 'v'], rows: [{ id: '1', v: 'b' }, { id: '2', v: 'a' }], insertsOnly: true }]);
  });

  it('keeps every write of a table whose trigger fires for replicated rows: a repeated key starts a new statement', () => {
    const changes: Change[] = [ins('1', 'a'), { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: 'b' } }];
    expect(planChanges(changes, key, 100, (t) => t === 't').map((o) => (o.kind === 'upsert' ? o.rows.map((r) => r.v) : o.kind))).toEqual([['a'], ['b']]);
  });

  it('starts a new statement when a repeated key comes with another operation or other columns, so the later change wins in order', () => {
    const ops = planChanges(
      [ins('1', 'a'), { op: 'delete', table: 't', before: { id: '1' } }, ins('1', 'c'), { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: 'd', w: 'x' } }],
      key,
      100,
    );
    expect(ops.map((o) => (o.kind === 'upsert' ? o.rows.map((r) => r.v) : o.kind))).toEqual([['a'], 'delete', ['c'], ['d']]);
  });

  it('respects the row bound per statement', () => {
    expect(planChanges([ins('1'), ins('2'), ins('3')], key, 2).map((o) => (o.kind === 'upsert' ? o.rows.length : 0))).toEqual([2, 1]);
  });

  it('turns a key change into delete of the old key then upsert of the new row', () => {
    const ops = planChanges([{ op: 'update', table: 't', before: { id: '1' }, after: { id: '2', v: 'x' } }], key, 100);
    expect(ops).toEqual([
      { kind: 'delete', table: 't', key: ['id'], keys: [{ id: '1' }] },
      { kind: 'upsert', table: 't', columns: ['id', 'v'], rows: [{ id: '2', v: 'x' }], insertsOnly: false },
    ]);
  });

  it('updates in place, without the unchanged TOAST column, moving the key when it changed', () => {
    const ops = planChanges(
      [
        { op: 'update', table: 't', after: { id: '1', v: 'y', big: UNCHANGED } },
        { op: 'update', table: 't', before: { id: '1' }, after: { id: '5', v: 'z', big: UNCHANGED } },
      ],
      key,
      100,
    );
    expect(ops).toEqual([
      { kind: 'update', table: 't', key: { id: '1' }, set: { v: 'y' } },
      { kind: 'update', table: 't', key: { id: '1' }, set: { id: '5', v: 'z' } },
    ]);
  });

  it('keeps truncate between the changes around it', () => {
    const ops = planChanges([ins('1'), { op: 'truncate', tables: ['t'] }, ins('1')], key, 100);
    expect(ops.map((o) => o.kind)).toEqual(['upsert', 'truncate', 'upsert']);
  });

  it('never merges different tables or operations', () => {
    const ops = planChanges(
      [ins('1'), { op: 'insert', table: 'u', after: { id: '1' } }, { op: 'delete', table: 't', before: { id: '9' } }, { op: 'delete', table: 't', before: { id: '8' } }],
      key,
      100,
    );
    expect(ops.map((o) => `${o.kind}:${'table' in o ? o.table : ''}`)).toEqual(['upsert:t', 'upsert:u', 'delete:t']);
  });

  it('distinguishes byte keys and NULL from look-alike text', () => {
    const ops = planChanges([{ op: 'insert', table: 't', after: { id: Buffer.from('6e756c6c', 'hex') } }, { op: 'insert', table: 't', after: { id: 'null' } }], key, 100);
    expect(ops).toHaveLength(1);
  });
});

describe('regroupByTable', () => {
  const row = (table: string, id: string): Change => ({ op: 'insert', table, after: { id } });
  const label = (changes: Change[]) => changes.map((c) => (c.op === 'truncate' ? `truncate ${c.tables.join('+')}` : `${c.table}:${(c.after ?? c.before)?.id as string}`));
  const none = () => false;

  it('gathers interleaved tables, each in its source order, so each table becomes one statement', () => {
    const shop = [row('orders', '1'), row('lines', '1'), row('stock', 'a'), row('orders', '2'), row('lines', '2'), row('stock', 'a'), row('lines', '3')];
    const regrouped = regroupByTable(shop, none);
    expect(label(regrouped)).toEqual(['orders:1', 'orders:2', 'lines:1', 'lines:2', 'lines:3', 'stock:a', 'stock:a']);
    // The stock row written twice is written once, with its later state.
    expect(planChanges(regrouped, key, 100).map((o) => (o.kind === 'upsert' ? `${o.table}×${o.rows.length}` : o.kind))).toEqual(['orders×2', 'lines×3', 'stock×1']);
  });

  it('keeps TRUNCATE where it was: nothing moves across it', () => {
    const changes: Change[] = [row('a', '1'), row('b', '1'), row('a', '2'), { op: 'truncate', tables: ['a'] }, row('b', '2'), row('a', '3'), row('b', '3')];
    expect(label(regroupByTable(changes, none))).toEqual(['a:1', 'a:2', 'b:1', 'truncate a', 'b:2', 'b:3', 'a:3']);
  });

  it('keeps the source order of a stretch that touches a table whose trigger fires for replicated rows', () => {
    const changes = [row('a', '1'), row('audited', '1'), row('a', '2')];
    expect(label(regroupByTable(changes, (t) => t === 'audited'))).toEqual(['a:1', 'audited:1', 'a:2']);
  });
});
