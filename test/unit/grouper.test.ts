import { describe, expect, it } from 'vitest';
import { GroupBuffer, TransactionGrouper } from '../../src/replicate/grouper.js';
import type { Change } from '../../src/model/change.js';

const change = (id: number): Change => ({ op: 'insert', table: 't', after: { id: String(id) } });

describe('TransactionGrouper', () => {
  it('commits when the feed has nothing waiting, when rows or time run out, and when stopping', () => {
    let now = 0;
    const g = new TransactionGrouper(100, 200, () => now);
    g.beginTransaction();
    g.addRows(10);
    expect(g.shouldCommit({ backlog: 5, stopping: false })).toBe(false);
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    expect(g.shouldCommit({ backlog: 5, stopping: true })).toBe(true);
    g.addRows(90);
    expect(g.shouldCommit({ backlog: 5, stopping: false })).toBe(true);
    g.committed();
    g.beginTransaction();
    now = 150;
    g.beginTransaction();
    expect(g.transactions).toBe(2);
    expect(g.shouldCommit({ backlog: 5, stopping: false })).toBe(false);
    now = 200;
    expect(g.shouldCommit({ backlog: 5, stopping: false })).toBe(true);
  });
});

describe('GroupBuffer', () => {
  it('keeps small transactions so a failing one can be isolated', () => {
    const b = new GroupBuffer(10);
    b.begin('1');
    b.add(change(1));
    b.commit('1c', new Date(0), null);
    b.begin('2');
    b.add(change(2));
    expect(b.transactions.map((t) => [t.begin, t.changes.length, t.commit?.position])).toEqual([
      ['1', 1, '1c'],
      ['2', 1, undefined],
    ]);
    expect(b.mustSplit()).toBe(false);
  });

  it('asks for a split when a transaction after others makes the group too large, then keeps nothing', () => {
    const b = new GroupBuffer(3);
    b.begin('1');
    b.add(change(1));
    b.commit('1c', new Date(0), null);
    b.begin('2');
    for (let i = 0; i < 3; i++) b.add(change(10 + i));
    expect(b.mustSplit()).toBe(true);
    b.keepOnlyCurrent();
    b.add(change(99));
    expect(b.transactions).toEqual([]);
    expect(b.keeping).toBe(false);
  });

  it('never keeps a single large transaction (memory stays bounded by the feed)', () => {
    const b = new GroupBuffer(5);
    b.begin('1');
    for (let i = 0; i < 1000; i++) b.add(change(i));
    expect(b.keeping).toBe(false);
    expect(b.transactions).toEqual([]);
    b.clear();
    expect(b.keeping).toBe(true);
  });
});
