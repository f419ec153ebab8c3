import { describe, expect, it } from 'vitest';
import { isZeroDate, toNeutral } from '../../src/engines/mysql/binlog-values.js';
import { applyEnvOverrides, parseConfig } from '../../src/config/load.js';
import { TandemError } from '../../src/errors.js';

const minimal = { migration: 'm', old: { url: 'mysql://u@h/db' }, new: { url: 'postgres://u@h/db' } };

describe('zero dates (H13)', () => {
  it('recognizes month or day 00, and nothing else', () => {
    for (const z of ['0000-00-00', '2022-11-00', '2022-00-05 10:00:00.5', '0000-00-00 00:00:00.000000']) expect(isZeroDate(z), z).toBe(true);
    for (const v of ['2022-11-05', '1000-01-01 00:00:00', '0001-01-01', '00:00:00']) expect(isZeroDate(v), v).toBe(false);
    // Only text shaped YYYY-MM-DD counts: not short text, other separators, or letters where digits belong.
    for (const v of ['', '2022-11-0', '2022-1-00', '2022/11/00', '20x2-00-00', '2022-0a-00', '2022-11-0x', ' 2022-11-00']) expect(isZeroDate(v), v).toBe(false);
  });

  it('one policy for every path: keep, refuse naming table and column, or NULL', () => {
    const col = { name: 'born', columnType: 'datetime(6)' };
    expect(toNeutral('people', col, '0000-00-00 00:00:00.000000')).toBe('0000-00-00 00:00:00.000000');
    expect(toNeutral('people', col, '2022-11-00 00:00:00.000000', { zeroDates: 'null' })).toBeNull();
    expect(toNeutral('people', col, '2022-11-05 00:00:00.000000', { zeroDates: 'refuse' })).toBe('2022-11-05 00:00:00.000000');
    expect(() => toNeutral('people', col, '2022-11-00 00:00:00.000000', { zeroDates: 'refuse' })).toThrow(/people\.born \(datetime\(6\)\) holds the zero date 2022-11-00/);
    try {
      toNeutral('people', col, '0000-00-00 00:00:00.000000', { zeroDates: 'refuse' });
    } catch (err) {
      expect((err as TandemError).code).toBe('TANDEM_VALUE_UNSUPPORTED');
      expect((err as TandemError).fix).toMatch(/values\.zeroDates: null/);
    }
    // Not a date column: text that looks like a zero date is just text.
    expect(toNeutral('people', { name: 'note', columnType: 'varchar(20)' }, '0000-00-00', { zeroDates: 'refuse' })).toBe('0000-00-00');
  });

  it('the zero year arrives from the binlog as 1900 and from a query as 0: both become 0', () => {
    expect(toNeutral('t', { name: 'y', columnType: 'year(4)' }, 1900)).toBe('0');
    expect(toNeutral('t', { name: 'y', columnType: 'year(4)' }, 0)).toBe('0');
    expect(toNeutral('t', { name: 'y', columnType: 'year(4)' }, 2155)).toBe('2155');
  });

  it('config values.zeroDates: refuse by default; null or "null" from the file or the environment', () => {
    expect(parseConfig(minimal).values.zeroDates).toBe('refuse');
    expect(parseConfig({ ...minimal, values: { zeroDates: null } }).values.zeroDates).toBe('null');
    expect(parseConfig({ ...minimal, values: { zeroDates: 'null' } }).values.zeroDates).toBe('null');
    expect(parseConfig(applyEnvOverrides({ ...minimal }, { TANDEM_VALUES_ZERO_DATES: 'null' })).values.zeroDates).toBe('null');
    expect(() => parseConfig({ ...minimal, values: { zeroDates: 'epoch' } })).toThrow(/zeroDates/);
  });
});
