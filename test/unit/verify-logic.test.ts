import { afterEach, describe, expect, it, vi } from 'vitest';
import { mergeFindings, type TableVerification } from '../../src/verify/store.js';
import { canonicalKeyOfRow, canonicalOfNeutral, parseKeyArgument } from '../../src/verify/keys.js';
import { tableSpec } from '../../src/verify/verifier.js';
import type { EngineKind, TableSchema } from '../../src/model/schema.js';
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

  it('gives integers plain digits, whatever padding the value came with (ZEROFILL)', () => {
    const int = { kind: 'integer', min: 0n, max: 4294967295n } as const;
    expect(canonicalOfNeutral('0000000042', int)).toBe('42');
    expect(canonicalOfNeutral('-5', { kind: 'integer', min: -128n, max: 127n })).toBe('-5');
    expect(canonicalOfNeutral('0', int)).toBe('0');
    expect(canonicalOfNeutral('18446744073709551615', { kind: 'integer', min: 0n, max: 18446744073709551615n })).toBe('18446744073709551615');
    expect(canonicalOfNeutral('00000012.50', { kind: 'decimal', precision: 10, scale: 2 })).toBe('12.5');
  });
});

describe('what the spec decides from both sides\' column types', () => {
  const schema = (columns: Array<[string, string]>, primaryKey = ['id']): TableSchema => ({
    name: 't',
    primaryKey,
    columns: columns.map(([name, nativeType]) => ({ name, nativeType, nullable: true, hasDefault: false })),
  });
  const spec = (engines: [EngineKind, EngineKind], a: Array<[string, string]>, s: Array<[string, string]>, key = ['id']) =>
    tableSpec('t', a.map(([c]) => c), { engine: engines[0], schema: schema(a, key) }, { engine: engines[1], schema: schema(s, key) });

  it('compares MySQL tinyint(1) as the integer it stores unless the other column is a true boolean, keys included', () => {
    const { spec: t, keyTypes } = spec(
      ['mysql', 'postgres'],
      [['id', 'tinyint(1)'], ['flag', 'tinyint(1)'], ['small', 'tinyint(1)'], ['b', 'bool']],
      [['id', 'smallint'], ['flag', 'boolean'], ['small', 'integer'], ['b', 'numeric(3,0)']],
    );
    expect(t.asInteger).toEqual(['id', 'small', 'b']);
    expect(t.plain).toEqual(['id', 'flag', 'small', 'b']);
    expect(keyTypes.get('id')).toEqual({ kind: 'integer', min: -128n, max: 127n });
    expect(canonicalKeyOfRow({ id: '2' }, t, keyTypes)).toEqual(['2']);
    expect(canonicalKeyOfRow({ id: '-5' }, t, keyTypes)).toEqual(['-5']);
    // Reverse direction: the integer is the active side's, the tinyint(1) the shadow's.
    expect(spec(['postgres', 'mysql'], [['id', 'integer'], ['v', 'smallint']], [['id', 'int(11)'], ['v', 'tinyint(1)']]).spec.asInteger).toEqual(['v']);
    // Between two tinyint(1) columns the integers are compared too: 1 and 2 differ.
    expect(spec(['mysql', 'mysql'], [['id', 'int(11)'], ['v', 'tinyint(1)']], [['id', 'int(11)'], ['v', 'tinyint(1)']]).spec.asInteger).toEqual(['v']);
    // A true boolean on both sides, or against tinyint(1), stays boolean (`t`/`f`), keys too.
    const booleans = spec(['postgres', 'mysql'], [['id', 'boolean'], ['v', 'boolean']], [['id', 'tinyint(1)'], ['v', 'tinyint(1)']]);
    expect(booleans.spec.asInteger).toEqual([]);
    expect(canonicalKeyOfRow({ id: 't' }, booleans.spec, booleans.keyTypes)).toEqual(['t']);
    expect(spec(['mysql', 'postgres'], [['id', 'int(11)'], ['v', 'tinyint(1)']], [['id', 'integer'], ['v', 'boolean']]).spec.asInteger).toEqual([]);
    expect(spec(['postgres', 'postgres'], [['id', 'integer'], ['v', 'boolean']], [['id', 'integer'], ['v', 'boolean']]).spec.asInteger).toEqual([]);
  });

  it('digests long values of text and binary columns that can hold them on either side, never of keys', () => {
    const { spec: t } = spec(
      ['mysql', 'postgres'],
      [['id', 'varchar(2000)'], ['blob', 'longblob'], ['doc', 'longtext'], ['name', 'varchar(100)'], ['vb', 'varbinary(16)'], ['txt', 'varchar(20)'], ['small', 'tinytext'], ['mid', 'text'], ['js', 'json'], ['n', 'int(11)']],
      [['id', 'text'], ['blob', 'bytea'], ['doc', 'text'], ['name', 'character varying(100)'], ['vb', 'bytea'], ['txt', 'text'], ['small', 'text'], ['mid', 'character varying(200)'], ['js', 'text'], ['n', 'integer']],
    );
    // vb and txt: PostgreSQL bytea and text hold long values even though the MariaDB columns cannot.
    expect(t.digest).toEqual(['blob', 'doc', 'vb', 'txt', 'small', 'mid']);
    expect(spec(['postgres', 'postgres'], [['id', 'integer'], ['v', 'character varying(1024)'], ['w', 'character varying(1025)']], [['id', 'integer'], ['v', 'character varying(1024)'], ['w', 'character varying(1025)']]).spec.digest).toEqual(['w']);
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

  it('reads the checkpoint again soon at first, then backs off to every 250 ms', async () => {
    vi.useFakeTimers();
    try {
      const readAt: number[] = [];
      const start = Date.now();
      const slow: PositionOracle = {
        activePosition: async () => '0',
        appliedPosition: async () => (readAt.push(Date.now() - start), '5'),
        compare: (a, b) => Number(a) - Number(b),
      };
      const waiting = waitForApplied(slow, '10', 1_000);
      await vi.advanceTimersByTimeAsync(1_000);
      expect(await waiting).toBe('5');
      // A shadow in step is seen within milliseconds; a lagging one is not read more than 4 times a second.
      expect(readAt.slice(0, 8)).toEqual([0, 5, 15, 35, 75, 155, 315, 565]);
      expect(readAt.at(-1)).toBe(1_000);
    } finally {
      vi.useRealTimers();
    }
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
