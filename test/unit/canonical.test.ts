import { describe, expect, it } from 'vitest';
import { canonicalDecimal, canonicalFloat, canonicalJson } from '../../src/model/canonical.js';

describe('canonicalFloat', () => {
  it.each([
    [0.1, '1e-1'],
    [123.456, '1.23456e2'],
    [1, '1e0'],
    [-2.5e-7, '-2.5e-7'],
    [1e100, '1e100'],
    [1.5e-5, '1.5e-5'],
    [5e-324, '5e-324'],
    [Number.MAX_VALUE, '1.7976931348623157e308'],
    [1234567890123456, '1.234567890123456e15'],
    [100, '1e2'],
    [0, '0'],
    [-0, '0'],
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
  ])('%s → %s', (x, text) => {
    expect(canonicalFloat(x)).toBe(text);
  });

  it('round-trips every double it prints', () => {
    for (let i = 0; i < 2000; i++) {
      const x = randomDouble();
      expect(Number(canonicalFloat(x)), String(x)).toBe(x);
    }
  });

  it('of equally short texts, the nearest; of two equally near, the even one (Number.prototype.toString)', () => {
    // 2^55 + 4·(…): the double 36771020660923744 reads back from the 16-digit 3.677102066092374e16 (a tie between
    // two doubles, broken to this even one); PostgreSQL's Ryu prints 17 digits there.
    expect(canonicalFloat(36771020660923744)).toBe('3.677102066092374e16');
    expect(canonicalFloat(Number('9007199254740993'))).toBe('9.007199254740992e15');
  });

  it('float32 is compared as its exact widened double (H14)', () => {
    expect(canonicalFloat(Math.fround(0.1))).toBe('1.0000000149011612e-1');
    expect(canonicalFloat(Math.fround(3.4028234663852886e38))).toBe('3.4028234663852886e38');
    expect(canonicalFloat(Math.fround(1e-45))).toBe('1.401298464324817e-45');
  });
});

describe('canonicalDecimal', () => {
  it.each([
    ['1.500', '1.5'],
    ['-0.000', '0'],
    ['-0', '0'],
    ['0', '0'],
    ['100', '100'],
    ['007.10', '7.1'],
    ['1.', '1'],
    ['.5', '0.5'],
    ['-.5', '-0.5'],
    ['+3', '3'],
    ['1.5E3', '1500'],
    ['5.2e1', '52'],
    ['52.0', '52'],
    ['1e-3', '0.001'],
    ['-12.5e-3', '-0.0125'],
    ['18446744073709551615', '18446744073709551615'],
    // MySQL ZEROFILL padding, as a query prints DECIMAL(10,2) ZEROFILL and INT ZEROFILL.
    ['00000012.50', '12.5'],
    ['00000000.00', '0'],
    ['0000000042', '42'],
    ['-99999999999999999999999999999999999.999999999999999999999999999999', '-99999999999999999999999999999999999.999999999999999999999999999999'],
    ['0.000000000000000000000000000001', '0.000000000000000000000000000001'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['-Infinity', '-Infinity'],
  ])('%s → %s', (text, canonical) => {
    expect(canonicalDecimal(text)).toBe(canonical);
  });

  it('gives a text already in plain form back as it is, as it gives the same value written otherwise', () => {
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    const digits = (n: number) => Array.from({ length: n }, () => String(rnd(10))).join('');
    for (let i = 0; i < 2_000; i++) {
      const int = digits(rnd(3) === 0 ? rnd(110) : rnd(8) + 1);
      const frac = rnd(2) ? digits(rnd(3) === 0 ? rnd(110) : rnd(6)) : '';
      const sign = rnd(3) === 0 ? '-' : '';
      // The same value, padded with zeros and a plus sign: never the fast path's form.
      const padded = `${sign || '+'}00${int}.${frac}000`;
      const plain = canonicalDecimal(padded);
      expect(canonicalDecimal(plain)).toBe(plain);
      expect(canonicalDecimal(`${sign}${int || '0'}${frac ? `.${frac}` : ''}`)).toBe(plain);
    }
  });

  it('keeps values beyond 10^±100 in scientific form, whatever form they were written in', () => {
    expect(canonicalDecimal('1e400')).toBe('1e400');
    expect(canonicalDecimal(`1${'0'.repeat(400)}`)).toBe('1e400');
    expect(canonicalDecimal('12.5e399')).toBe('1.25e400');
    expect(canonicalDecimal('-1.50e-200')).toBe('-1.5e-200');
    expect(canonicalDecimal(`0.${'0'.repeat(199)}15`)).toBe('1.5e-200');
    expect(canonicalDecimal('1e100')).toBe(`1${'0'.repeat(100)}`);
    expect(canonicalDecimal('1e101')).toBe('1e101');
    expect(canonicalDecimal('1e-100')).toBe(`0.${'0'.repeat(99)}1`);
    expect(canonicalDecimal('1e-101')).toBe('1e-101');
    expect(canonicalDecimal('1e99999999999999999999')).toBe('1e99999999999999999999');
  });

  it('refuses what is not a number', () => {
    for (const bad of ['', '.', '1e', 'abc', '1.2.3', '0x10', '--1']) expect(() => canonicalDecimal(bad), bad).toThrow(SyntaxError);
  });
});

describe('canonicalJson', () => {
  it('sorts keys, drops white space, normalises numbers (H15)', () => {
    const a = canonicalJson('{ "b": 52.0, "a": [1, 2.50, {"y": true, "x": null}] }');
    const b = canonicalJson('{"a":[1e0,2.5,{"x":null,"y":true}],"b":5.2e1}');
    expect(a).toBe('{"a":[1,2.5,{"x":null,"y":true}],"b":52}');
    expect(b).toBe(a);
    expect(canonicalJson('{"b": 52.5}')).not.toBe(canonicalJson('{"b": 52}'));
  });

  it('keeps every digit of a number', () => {
    expect(canonicalJson('[12345678901234567890, 12345678901234567891]')).toBe('[12345678901234567890,12345678901234567891]');
    expect(canonicalJson('0.10000000000000000001')).not.toBe(canonicalJson('0.1'));
    expect(canonicalJson('[-0, -0.0, 1E+2]')).toBe('[0,0,100]');
  });

  it('orders keys by UTF-8 bytes, not UTF-16 code units', () => {
    // U+FF5E (UTF-8 ef bd 9e) sorts before U+1F600 (f0 9f 98 80) by bytes, after it by UTF-16 code units (d83d).
    const text = canonicalJson('{"\u{1F600}": 1, "\uFF5E": 2, "a": 3, "B": 4, "": 5}');
    expect(text).toBe('{"":5,"B":4,"a":3,"\uFF5E":2,"\u{1F600}":1}');
  });

  it('re-escapes strings the same way whatever their input escapes', () => {
    expect(canonicalJson('"\\u00e9\\n\\/\\u0041"')).toBe(canonicalJson('"é\\n/A"'));
    expect(canonicalJson('"é\\n/A"')).toBe('"é\\n/A"');
    expect(canonicalJson('{"\\u0062":1,"a":2}')).toBe('{"a":2,"b":1}');
  });

  it('duplicate keys: the last wins, as in jsonb', () => {
    expect(canonicalJson('{"a": 1, "b": 2, "a": 3}')).toBe('{"a":3,"b":2}');
  });

  it('keeps __proto__ as an ordinary key', () => {
    expect(canonicalJson('{"__proto__": {"x": 1}, "a": 2}')).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('scalars and empty containers', () => {
    expect(canonicalJson(' null ')).toBe('null');
    expect(canonicalJson('true')).toBe('true');
    expect(canonicalJson('"x"')).toBe('"x"');
    expect(canonicalJson('[ ]')).toBe('[]');
    expect(canonicalJson('{ }')).toBe('{}');
  });

  it('refuses text that is not JSON', () => {
    for (const bad of ['', '{', "{'a': 1}", '[1,]', 'NaN', '{"a" 1}']) expect(() => canonicalJson(bad), bad).toThrow(SyntaxError);
  });
});

/** A double with a random bit pattern (every exponent equally likely, subnormals included), never NaN. */
function randomDouble(): number {
  const buf = Buffer.alloc(8);
  for (;;) {
    for (let i = 0; i < 8; i++) buf[i] = Math.floor(Math.random() * 256);
    const x = buf.readDoubleBE(0);
    if (!Number.isNaN(x)) return x;
  }
}
