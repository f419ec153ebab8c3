import { describe, expect, it } from 'vitest';
import { planChanges } from '../../src/replicate/apply-plan.js';
import { UNCHANGED, type Change } from '../../src/model/change.js';

const key = () => ['id'];
const ins = (id: string, v = 'x'): Change => ({ op: 'insert', table: 't', after: { id, v } });

describe('planChanges', () => {
  it('puts consecutive inserts of one table into one upsert', () => {
    expect(planChanges([ins('1'), ins('2'), ins('3')], key, 100)).toEqual([{ kind: 'upsert', table: 't', columns: ['id', 'v'], rows: [{ id: '1', v: 'x' }, { id: '2', v: 'x' }, { id: '3', v: 'x' }], insertsOnly: true }]);
  });

  it('starts a new statement when a key repeats, so the later change wins in order', () => {
    const ops = planChanges([ins('1', 'a'), { op: 'update', table: 't', before: { id: '1' }, after: { id: '1', v: 'b' } }], key, 100);
    expect(ops.map((o) => (o.kind === 'upsert' ? o.rows.map((r) => r.v) : o.kind))).toEqual([['a'], ['b']]);
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
