import { describe, expect, it } from 'vitest';
import { bigIntToLsn, compareLsn, lsnToBigInt, maxLsn } from '../../src/engines/postgres/lsn.js';

describe('PostgreSQL LSNs', () => {
  it('compare as 64-bit positions, not as text', () => {
    expect(compareLsn('0/A', '0/9')).toBe(1);
    expect(compareLsn('0/9', '0/A')).toBe(-1);
    expect(compareLsn('1/0', '0/FFFFFFFF')).toBe(1);
    expect(compareLsn('0/10', '0/F')).toBe(1);
    expect(compareLsn('0/1e0eed8', '0/1E0EED8')).toBe(0);
    expect(compareLsn('FFFFFFFF/FFFFFFFF', 'FFFFFFFF/FFFFFFFE')).toBe(1);
    expect(maxLsn('0/AE13BF0', '0/AE13BF1')).toBe('0/AE13BF1');
  });

  it('agree with their 64-bit values on every pair of a spread of positions', () => {
    const values = [0n, 1n, 0xfn, 0x10n, 0xffffffffn, 0x100000000n, 0x1_0000_0001n, 0xab_cdef0123n, 0xffffffff_ffffffffn];
    for (const x of values) {
      for (const y of values) {
        expect(compareLsn(bigIntToLsn(x), bigIntToLsn(y)), `${bigIntToLsn(x)} vs ${bigIntToLsn(y)}`).toBe(Math.sign(Number(x - y)));
      }
      expect(lsnToBigInt(bigIntToLsn(x))).toBe(x);
    }
  });

  it('refuse what is not an LSN, naming it', () => {
    for (const bad of ['', '/', '0/', '/0', '0//0', '0/0/0', '123456789/0', '0/123456789', '0/G', ' 0/1', '0/1 ', '-1/0', '0x1/0']) {
      expect(() => compareLsn(bad, '0/1'), JSON.stringify(bad)).toThrow(`not a PostgreSQL LSN: ${bad}`);
      expect(() => compareLsn('0/1', bad), JSON.stringify(bad)).toThrow(`not a PostgreSQL LSN: ${bad}`);
      expect(() => lsnToBigInt(bad), JSON.stringify(bad)).toThrow(`not a PostgreSQL LSN: ${bad}`);
    }
  });
});
