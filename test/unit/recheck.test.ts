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
});
