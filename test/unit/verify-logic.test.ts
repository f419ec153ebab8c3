import { afterEach, describe, expect, it, vi } from 'vitest';
import { mergeFindings, type TableVerification } from '../../src/verify/store.js';
import { canonicalOfNeutral, parseKeyArgument } from '../../src/verify/keys.js';
import { classify } from '../../src/verify/compare.js';
import { waitForApplied, type PositionOracle } from '../../src/verify/recheck.js';
import { RowRateLimiter } from '../../src/verify/rate-limit.js';
import type { CanonicalRow, VerifyTable } from '../../src/engines/engine.js';

const table: VerifyTable = { name: 'lines', key: ['order_id', 'line'], columns: ['order_id', 'line', 'qty', 'sku'] };
const single: VerifyTable = { name: 'accounts', key: ['id'], columns: ['id', 'email'] };

describe('drift records', () => {
  const entry = (): TableVerification => ({ table: 't', rowsCompared: 0, lastPassStartedAt: null, lastPassCompletedAt: null, drift: [] });

  it('keeps the first-seen time of drift seen again and resolves records of rows found equal', () => {
    const e = entry();
    mergeFindings(e, [{ key: { id: '1' }, kind: 'different', columns: ['a'] }, { key: { id: '2' }, kind: 'missing', columns: [] }], [], { complete: true, at: 't1' });
    mergeFindings(e, [{ key: { id: '1' }, kind: 'different', columns: ['a', 'b'] }], [{ id: '2' }], { complete: false, at: 't2' });
    expect(e.drift).toEqual([{ key: { id: '1' }, kind: 'different', columns: ['a', 'b'], firstSeen: 't1', lastSeen: 't2' }]);
  });

  it('a complete pass drops records not seen again, except rows still in flight', () => {
    const e = entry();
    mergeFindings(e, [{ key: { id: '1' }, kind: 'extra', columns: [] }, { key: { id: '2' }, kind: 'extra', columns: [] }], [], { complete: true, at: 't1' });
    mergeFindings(e, [], [], { complete: true, at: 't2', undecided: [{ id: '2' }] });
    expect(e.drift.map((d) => d.key)).toEqual([{ id: '2' }]);
  });

  it('a partial check never drops records it did not look at', () => {
    const e = entry();
    mergeFindings(e, [{ key: { id: '1' }, kind: 'extra', columns: [] }], [], { complete: true, at: 't1' });
    mergeFindings(e, [{ key: { id: '3' }, kind: 'missing', columns: [] }], [], { complete: false, at: 't2' });
    expect(e.drift.map((d) => d.key.id).sort()).toEqual(['1', '3']);
  });
});

describe('keys on the command line', () => {
  it('accepts plain text for one-column keys and JSON objects or arrays for composite keys', () => {
    expect(parseKeyArgument(single, '42')).toEqual(['42']);
    expect(parseKeyArgument(table, '{"order_id":"5","line":2}')).toEqual(['5', '2']);
    expect(parseKeyArgument(table, '["5","2"]')).toEqual(['5', '2']);
  });

  it('names the key columns when the key does not fit', () => {
    expect(() => parseKeyArgument(table, '5')).toThrow(/order_id, line/);
    expect(() => parseKeyArgument(table, '{"order_id":"5"}')).toThrow(/order_id, line/);
    expect(() => parseKeyArgument(table, '{"order_id":"5","line":"1","x":"y"}')).toThrow(/x is not a key column/);
    expect(() => parseKeyArgument(table, '{nope')).toThrow(/not valid JSON/);
  });
});

describe('canonical keys of applied changes', () => {
  it('matches the canonical text the databases compute', () => {
    expect(canonicalOfNeutral('2024-01-01 10:00:00', { kind: 'timestamp', precision: 6, withTimeZone: true })).toBe('2024-01-01 10:00:00.000000');
    expect(canonicalOfNeutral('10:00:00.5', { kind: 'time', precision: 6 })).toBe('10:00:00.500000');
    expect(canonicalOfNeutral('1.500', { kind: 'decimal', precision: 10, scale: 3 })).toBe('1.5');
    expect(canonicalOfNeutral('0.1', { kind: 'float', bits: 64 })).toBe('1e-1');
    expect(canonicalOfNeutral('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', { kind: 'uuid' })).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(canonicalOfNeutral(Buffer.from([0, 255]), { kind: 'binary', maxLength: null, fixed: false })).toBe('00ff');
    expect(canonicalOfNeutral('1', { kind: 'boolean' })).toBe('t');
    expect(canonicalOfNeutral('f', { kind: 'boolean' })).toBe('f');
  });
});

describe('classifying differing rows', () => {
  const row = (key: string[], values: Record<string, string | null>): CanonicalRow => ({ key, values });
  it('tells missing, extra and different apart, naming the columns', () => {
    const active = new Map([
      ['["1","1"]', row(['1', '1'], { order_id: '1', line: '1', qty: '2', sku: 'a' })],
      ['["1","2"]', row(['1', '2'], { order_id: '1', line: '2', qty: '1', sku: null })],
      ['["2","1"]', row(['2', '1'], { order_id: '2', line: '1', qty: '1', sku: 'c' })],
    ]);
    const shadow = new Map([
      ['["1","1"]', row(['1', '1'], { order_id: '1', line: '1', qty: '3', sku: 'a' })],
      ['["1","2"]', row(['1', '2'], { order_id: '1', line: '2', qty: '1', sku: '' })],
      ['["3","1"]', row(['3', '1'], { order_id: '3', line: '1', qty: '1', sku: 'x' })],
    ]);
    const found = classify(table, [['1', '1'], ['1', '2'], ['2', '1'], ['3', '1']], active, shadow);
    expect([...found.values()]).toEqual([
      { key: ['1', '1'], kind: 'different', columns: ['qty'] },
      { key: ['1', '2'], kind: 'different', columns: ['sku'] },
      { key: ['2', '1'], kind: 'missing', columns: [] },
      { key: ['3', '1'], kind: 'extra', columns: [] },
    ]);
  });
});

describe('waiting for the checkpoint (H23)', () => {
  const oracle = (applied: string[]): PositionOracle => {
    let i = 0;
    return { activePosition: async () => '0/0', appliedPosition: async () => applied[Math.min(i++, applied.length - 1)], compare: (a, b) => Number(a) - Number(b) };
  };
  it('decides by comparing log positions, and returns where the checkpoint stood on timeout', async () => {
    expect(await waitForApplied(oracle(['5', '9', '12']), '10', 5_000)).toBe(true);
    expect(await waitForApplied(oracle(['5']), '10', 300)).toBe('5');
  });
});

describe('the verification rate limit', () => {
  afterEach(() => vi.useRealTimers());

  /** Charges `rows` and returns how long (fake) time had to pass before the charge was allowed. */
  async function charged(limiter: RowRateLimiter, rows: number): Promise<number> {
    const start = Date.now();
    const done = limiter.charge(rows).then(() => Date.now() - start);
    await vi.runAllTimersAsync();
    return done;
  }

  it('holds the average to the rate from the first row, and shared callers together', async () => {
    vi.useFakeTimers();
    const limiter = new RowRateLimiter(1_000);
    expect(await charged(limiter, 500)).toBe(500);
    expect(await charged(limiter, 2_000)).toBe(2_000);
    // Two loops sharing it (passes and re-checks): the second pays for the first's rows too.
    const a = limiter.charge(1_000);
    const b = limiter.charge(1_000);
    const start = Date.now();
    let bDone = 0;
    void b.then(() => (bDone = Date.now() - start));
    await vi.runAllTimersAsync();
    await a;
    expect(bDone).toBe(2_000);
  });

  it('lets idle time buy at most one second of rows', async () => {
    vi.useFakeTimers();
    const limiter = new RowRateLimiter(1_000);
    await vi.advanceTimersByTimeAsync(600_000);
    expect(await charged(limiter, 3_000)).toBe(2_000);
  });

  it('never waits when unlimited', async () => {
    vi.useFakeTimers();
    expect(await charged(new RowRateLimiter(0), 1e9)).toBe(0);
  });
});
