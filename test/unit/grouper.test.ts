import { describe, expect, it } from 'vitest';
import { GroupBuffer, TransactionGrouper } from '../../src/replicate/grouper.js';
import type { Change } from '../../src/model/change.js';

const change = (id: number): Change => ({ op: 'insert', table: 't', after: { id: String(id) } });

describe('TransactionGrouper', () => {
  it('commits when the feed has nothing waiting, when rows or time run out, and when stopping', () => {
    let now = 0;
    const g = new TransactionGrouper({ batchRows: 100, batchTimeMs: 200, commitDelayMs: 0 }, () => now);
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

  it('holds a busy stream\'s group until the commit delay has passed since the last commit, never past the batch time', () => {
    let now = 1_000;
    const g = new TransactionGrouper({ batchRows: 100, batchTimeMs: 200, commitDelayMs: 5 }, () => now);
    // A quiet stream: the first transaction commits at once.
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    g.committed();
    // The next arrives 1 ms later: held until 5 ms after that commit.
    now = 1_001;
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(false);
    expect(g.deadline).toBe(1_005);
    expect(g.holdMs()).toBe(4);
    now = 1_003;
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(false);
    now = 1_005;
    expect(g.holdMs()).toBe(0);
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    // Stopping and the row bound commit whatever the delay says.
    expect(g.shouldCommit({ backlog: 3, stopping: true })).toBe(true);
    g.committed();
    now = 1_006;
    g.beginTransaction();
    g.addRows(100);
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    g.committed();
    // A transaction arriving later than the delay after the last commit commits at once.
    now = 1_020;
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    g.committed();
  });

  it('commits on a keepalive only when nothing waits behind it and the group is not held', () => {
    let now = 1_000;
    const g = new TransactionGrouper({ batchRows: 100, batchTimeMs: 200, commitDelayMs: 5 }, () => now);
    g.beginTransaction();
    expect(g.commitsOnIdle(0)).toBe(true); // a quiet stream: nothing held, nothing waiting
    expect(g.commitsOnIdle(3)).toBe(false); // a stale keepalive: transactions queued behind it join the group
    g.committed();
    now = 1_001;
    g.beginTransaction();
    expect(g.commitsOnIdle(0)).toBe(false); // held to share the commit
    now = 1_005;
    expect(g.commitsOnIdle(0)).toBe(true);
    expect(g.commitsOnIdle(1)).toBe(false);
  });

  it('never holds a group past the batch time, and an idle acknowledgement does not count as a busy stream', () => {
    let now = 0;
    const g = new TransactionGrouper({ batchRows: 100, batchTimeMs: 200, commitDelayMs: 60_000 }, () => now);
    g.beginTransaction();
    g.committed();
    now = 10;
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(false);
    expect(g.deadline).toBe(210);
    now = 210;
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
    g.committed();
    // Much later, an idle acknowledgement commits an empty group; the next transaction still commits at once.
    now = 100_000;
    g.committed();
    now = 100_001;
    g.beginTransaction();
    expect(g.shouldCommit({ backlog: 0, stopping: false })).toBe(true);
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
