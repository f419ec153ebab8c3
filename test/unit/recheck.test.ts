import { describe, expect, it } from 'vitest';
import type { CanonicalKey, CanonicalRow, VerifyReader, VerifyTable } from '../../src/engines/engine.js';
import { keyId } from '../../src/verify/keys.js';
import { recheck, type PositionOracle } from '../../src/verify/recheck.js';

const table: VerifyTable = { name: 'orders', key: ['id'], columns: ['id', 'total'] };

/** One side's rows in memory, each read recorded (which keys were asked for). */
class Side {
  readonly reads: string[][] = [];
  constructor(public rows: Map<string, string>) {}
  reader(onRead?: (side: Side) => void): VerifyReader {
    return {
      canonicalRows: async (_t: VerifyTable, keys: CanonicalKey[]) => {
        this.reads.push(keys.map((k) => k[0] as string));
        const out = new Map<string, CanonicalRow>();
        for (const k of keys) {
          const total = this.rows.get(k[0] as string);
          if (total !== undefined) out.set(keyId(k), { key: k, values: { id: k[0] as string, total } });
        }
        onRead?.(this);
        return out;
      },
    } as unknown as VerifyReader;
  }
}

/** A side whose reader also hashes rows (VerifyReader.rowFastHashes): the hash is the row's text; each hash read recorded. */
class HashingSide extends Side {
  readonly hashReads: string[][] = [];
  override reader(onRead?: (side: Side) => void): VerifyReader {
    return {
      ...super.reader(onRead),
      fastHash: 'test',
      rowFastHashes: async (_t: VerifyTable, keys: CanonicalKey[]) => {
        this.hashReads.push(keys.map((k) => k[0] as string));
        return new Map(keys.filter((k) => this.rows.has(k[0] as string)).map((k) => [keyId(k), `h${this.rows.get(k[0] as string)}`]));
      },
    } as unknown as VerifyReader;
  }
}

/** The shadow has always applied everything: verification never waits. */
const oracle: PositionOracle = { activePosition: async () => '0/10', appliedPosition: async () => '0/10', compare: (a, b) => a.localeCompare(b) };
const keys = (...ids: string[]): CanonicalKey[] => ids.map((id) => [id]);

describe('re-checking applied rows', () => {
  it('resolves equal rows reading the active side once; reads again only the rows that differ', async () => {
    const active = new Side(new Map([['1', '10'], ['2', '20'], ['3', '30']]));
    const shadow = new Side(new Map([['1', '10'], ['2', '20'], ['3', '31']]));
    const result = await recheck(active.reader(), shadow.reader(), table, keys('1', '2', '3'), oracle, { settleMs: 1_000 });
    expect(result.resolved.map((k) => k[0])).toEqual(['1', '2']);
    expect(result.drift.map((f) => [f.key[0], f.kind, f.columns])).toEqual([['3', 'different', ['total']]]);
    // Round 1: all three, then key 3 again; round 2 (the confirmation): key 3, then key 3 again.
    expect(active.reads).toEqual([['1', '2', '3'], ['3'], ['3'], ['3']]);
    expect(shadow.reads).toEqual([['1', '2', '3'], ['3']]);
  });

  it('a differing row whose active value moves while it is compared stays in flight, never drift', async () => {
    let n = 0;
    // Every read of the active side moves key 5 on: it is being written all the time.
    const active = new Side(new Map([['5', '0']]));
    const moving = active.reader((side) => side.rows.set('5', String(++n)));
    const shadow = new Side(new Map([['5', '-1']]));
    const result = await recheck(moving, shadow.reader(), table, keys('5'), oracle, { settleMs: 1_000, maxRounds: 3 });
    expect(result.drift).toEqual([]);
    expect(result.changing.map((k) => k[0])).toEqual(['5']);
  });

  it('a row missing on the shadow, with its active value standing still, is drift after the confirming rounds', async () => {
    const active = new Side(new Map([['7', '70']]));
    const shadow = new Side(new Map());
    const result = await recheck(active.reader(), shadow.reader(), table, keys('7'), oracle, { settleMs: 1_000, confirmRounds: 3 });
    expect(result.drift.map((f) => [f.key[0], f.kind])).toEqual([['7', 'missing']]);
    expect(shadow.reads).toHaveLength(3);
  });

  it('with row hashes on both sides, equal rows are settled by their hashes and only the others are read canonically', async () => {
    const active = new HashingSide(new Map([['1', '10'], ['2', '20'], ['3', '30'], ['4', '40']]));
    const shadow = new HashingSide(new Map([['1', '10'], ['2', '20'], ['3', '31']]));
    const result = await recheck(active.reader(), shadow.reader(), table, keys('1', '2', '3', '4', '9'), oracle, { settleMs: 1_000 });
    // 9 is on neither side: deleted on both, equal.
    expect(result.resolved.map((k) => k[0])).toEqual(['1', '2', '9']);
    expect(result.drift.map((f) => [f.key[0], f.kind])).toEqual([['3', 'different'], ['4', 'missing']]);
    expect(active.hashReads).toEqual([['1', '2', '3', '4', '9']]);
    expect(shadow.hashReads).toEqual([['1', '2', '3', '4', '9']]);
    expect(active.reads[0]).toEqual(['3', '4']);
    expect(shadow.reads[0]).toEqual(['3', '4']);
  });

  it('row hashes of different kinds on the two sides are never compared', async () => {
    const active = new HashingSide(new Map([['1', '10']]));
    const shadow = new HashingSide(new Map([['1', '10']]));
    const other = { ...shadow.reader(), fastHash: 'other' } as VerifyReader;
    const result = await recheck(active.reader(), other, table, keys('1'), oracle, { settleMs: 1_000 });
    expect(result.resolved.map((k) => k[0])).toEqual(['1']);
    expect(active.hashReads).toEqual([]);
    expect(active.reads).toEqual([['1']]);
  });

  it('a shadow that does not reach the active position during the hash round leaves every key unconfirmed', async () => {
    const active = new HashingSide(new Map([['1', '10']]));
    const shadow = new HashingSide(new Map([['1', '10']]));
    const behind: PositionOracle = { activePosition: async () => '0/20', appliedPosition: async () => '0/10', compare: (a, b) => a.localeCompare(b) };
    const result = await recheck(active.reader(), shadow.reader(), table, keys('1'), behind, { settleMs: 50 });
    expect(result.unconfirmed).toEqual({ keys: [['1']], waitingFor: '0/20', applied: '0/10' });
    expect(result.resolved).toEqual([]);
    expect(shadow.hashReads).toEqual([]);
  });
});
