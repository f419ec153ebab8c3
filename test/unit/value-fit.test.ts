import { describe, expect, it } from 'vitest';
import { changesForShadow, misfit, shadowTableRules, type ColumnFit } from '../../src/engines/shared/value-fit.js';
import type { LogicalType } from '../../src/model/types.js';

const limits = { decimalPrecision: 65, decimalScale: 30, secondDigits: 6 };
const fit = (type: LogicalType, native = 'x'): ColumnFit => ({ table: 't', column: 'c', native, type, limits });

describe('values a shadow column would alter (value-fit)', () => {
  it('decimals: fractional digits beyond the scale and integer digits beyond the precision are refused; trailing and leading zeros do not count', () => {
    const d = fit({ kind: 'decimal', precision: 10, scale: 2 }, 'decimal(10,2)');
    for (const ok of ['12.50', '12.5', '-99999999.99', '0.1000000', '00012.30', 'NaN', null]) expect(misfit(d, ok), String(ok)).toBeUndefined();
    expect(misfit(d, '12.345')?.message).toContain('3 fractional digit(s) and the column keeps 2');
    expect(misfit(d, '123456789.5')?.message).toContain('9 integer digit(s) and the column holds 8');
    expect(misfit(fit({ kind: 'decimal', precision: null, scale: null }), '0.123456789012345678901234567890123')).toBeUndefined();
  });

  it('decimals: every plain form is counted, signs and bare points included; what is not a plain decimal is left to the database', () => {
    const d = fit({ kind: 'decimal', precision: 4, scale: 2 }, 'decimal(4,2)');
    for (const ok of ['+12.34', '-0.01', '12.', '.5', '0', '-0', '00.00', ' 12.34 ', '', '-', '.', 'Infinity', '-inf', '1e3', '1.2.3', '12,34']) {
      expect(misfit(d, ok), JSON.stringify(ok)).toBeUndefined();
    }
    expect(misfit(d, '+123.4')?.message).toContain('3 integer digit(s) and the column holds 2');
    expect(misfit(d, '-00123')?.message).toContain('3 integer digit(s) and the column holds 2');
    expect(misfit(d, '.125')?.message).toContain('3 fractional digit(s) and the column keeps 2');
    expect(misfit(d, ' 1.0010 ')?.message).toContain('3 fractional digit(s) and the column keeps 2');
    expect(misfit(d, '10.100000')).toBeUndefined();
  });

  it('the fix never proposes a column the engine cannot have', () => {
    const d = fit({ kind: 'decimal', precision: 65, scale: 30 }, 'decimal(65,30)');
    expect(misfit(d, `0.${'1'.repeat(35)}`)?.fix).toContain('no decimal column on this shadow keeps 35 fractional digits (at most 30)');
    expect(misfit(fit({ kind: 'decimal', precision: 10, scale: 2 }), '1.234')?.fix).toContain('widen t.c on the shadow to hold 3 fractional digits');
  });

  it('fractional seconds beyond the precision are refused, trailing zeros not counted', () => {
    const ts = fit({ kind: 'timestamp', precision: 3, withTimeZone: false }, 'timestamp(3)');
    expect(misfit(ts, '2024-01-01 10:00:00.123000')).toBeUndefined();
    expect(misfit(ts, '2024-01-01 10:00:00')).toBeUndefined();
    expect(misfit(ts, '2024-01-01 10:00:00.1234')?.message).toContain('4 fractional-second digit(s) and the column keeps 3');
    expect(misfit(fit({ kind: 'time', precision: 0 }), '10:00:00.5')?.message).toContain('1 fractional-second digit(s)');
  });

  it('a PostgreSQL shadow (times of day, jsonb) refuses MySQL durations outside 00:00:00..24:00:00 and JSON holding \\u0000, naming the column', () => {
    const pgLimits = { ...limits, timeOfDay: true, jsonb: true };
    const tm: ColumnFit = { table: 't', column: 'c', native: 'time(6) without time zone', type: { kind: 'time', precision: 6 }, limits: pgLimits };
    for (const ok of ['00:00:00', '23:59:59.999999', '24:00:00', '24:00:00.000000', '-00:00:00']) expect(misfit(tm, ok), ok).toBeUndefined();
    for (const bad of ['-838:59:59.000000', '838:59:59', '24:00:00.000001', '-00:00:00.000001']) expect(misfit(tm, bad)?.message, bad).toContain('t.c');
    // A MySQL shadow keeps its durations.
    expect(misfit({ ...tm, limits }, '838:59:59')).toBeUndefined();
    const js: ColumnFit = { table: 't', column: 'c', native: 'jsonb', type: { kind: 'json' }, limits: pgLimits };
    for (const ok of ['{"a": "\\\\u0000"}', '{"a": "\\u0001"}', '[]']) expect(misfit(js, ok), ok).toBeUndefined();
    for (const bad of ['{"a": "\\u0000"}', '"x\\\\\\u0000"']) expect(misfit(js, bad)?.message, bad).toContain('jsonb cannot hold the escape');
    expect(misfit({ ...js, native: 'json' }, '{"a": "\\u0000"}')).toBeUndefined();
  });

  it('booleans take only boolean spellings', () => {
    const b = fit({ kind: 'boolean' }, 'boolean');
    for (const ok of ['t', 'f', '1', '0', 'true', 'FALSE']) expect(misfit(b, ok), ok).toBeUndefined();
    expect(misfit(b, '2')?.message).toContain('t.c');
  });

  it('leaves out the columns the shadow computes, and checks the rest before anything is written', () => {
    const rules = shadowTableRules('t', [{ name: 'id', nativeType: 'int' }, { name: 'total', nativeType: 'numeric(12,2)', isGenerated: true }, { name: 'price', nativeType: 'numeric(10,2)' }], (native) =>
      native.startsWith('numeric') ? { kind: 'decimal', precision: Number(/\((\d+)/.exec(native)?.[1]), scale: 2 } : undefined, { strictBoolean: true, limits });
    const out = changesForShadow([{ op: 'insert', table: 't', after: { id: '1', price: '1.50', total: '3.00' } }], () => rules);
    expect(out).toEqual([{ op: 'insert', table: 't', after: { id: '1', price: '1.50' } }]);
    expect(() => changesForShadow([{ op: 'update', table: 't', before: { id: '1' }, after: { id: '1', price: '1.505' } }], () => rules)).toThrow(/t\.price/);
  });
});
