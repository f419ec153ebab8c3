import { describe, expect, it } from 'vitest';
import { ropeJoin } from '../../src/engines/shared/rope.js';

describe('ropeJoin', () => {
  it('gives the text join gives', () => {
    for (const parts of [[], ['a'], ['', ''], ['INSERT 1', 'INSERT 2', 'COMMIT'], ["'x'", 'NULL', `'${'y'.repeat(5_000)}'`]]) {
      for (const sep of [', ', ';\n', '']) expect(ropeJoin(parts, sep)).toBe(parts.join(sep));
    }
  });
});
