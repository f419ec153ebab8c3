import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

// patches/@vlasky+zongji+<version>.patch (applied by patch-package on install) replaces zongji's zeroPad, which every
// DATETIME part and DECIMAL digit group of a binlog row goes through, with a faster one. It must give the same text.
const zongjiDir = dirname(createRequire(import.meta.url).resolve('@vlasky/zongji'));
const installed = (JSON.parse(readFileSync(join(zongjiDir, 'package.json'), 'utf8')) as { version: string }).version;

/** zongji 0.9.0's own zeroPad, as it was. */
const original = (num: number, size: number) => {
  const s = `00000000000000000000000000000000${num}`;
  return s.substring(s.length - size);
};

describe('the zongji patch', () => {
  it('is made for the installed zongji (an upgrade needs the patch looked at again)', () => {
    const patches = readdirSync(new URL('../../patches/', import.meta.url)).filter((f) => f.startsWith('@vlasky+zongji+'));
    expect(patches).toEqual([`@vlasky+zongji+${installed}.patch`]);
  });

  it('pads numbers exactly as zongji did, for every width the decoder asks for', async () => {
    const { zeroPad } = (await import(pathToFileURL(join(zongjiDir, 'lib', 'common.js')).href)) as { zeroPad: (num: number, size: number) => string };
    const numbers = [0, 1, 7, 9, 10, 59, 99, 100, 838, 999, 1000, 2026, 9999, 12345, 99999, 123456, 999999, 1000000, 99999999, 123456789, 999999999, 1e9, -1, -42];
    for (let size = 0; size <= 9; size++) {
      for (const n of numbers) expect(zeroPad(n, size), `zeroPad(${n}, ${size})`).toBe(original(n, size));
    }
    // DATETIME(6) microseconds and DECIMAL's nine-digit groups: every value of a sweep.
    for (let n = 0; n < 1_000_000; n += 997) {
      expect(zeroPad(n, 6)).toBe(original(n, 6));
      expect(zeroPad(n * 1000 + 7, 9)).toBe(original(n * 1000 + 7, 9));
    }
  });
});
