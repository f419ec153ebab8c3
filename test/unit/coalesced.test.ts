import { describe, expect, it } from 'vitest';
import { coalesced } from '../../src/server/service.js';

/** A build that ends when the test says so, counting how often it started. */
function gatedBuild() {
  const gates: Array<() => void> = [];
  let started = 0;
  const build = async () => {
    const n = ++started;
    await new Promise<void>((resolve) => gates.push(resolve));
    return n;
  };
  return { build, release: () => gates.shift()?.(), started: () => started };
}

describe('coalesced status builds', () => {
  it('runs one build at a time; callers arriving during a build share the next one, which starts after it', async () => {
    const g = gatedBuild();
    const ask = coalesced(g.build);
    const first = ask();
    const during = Array.from({ length: 50 }, () => ask());
    expect(g.started()).toBe(1);
    g.release();
    expect(await first).toBe(1);
    await new Promise((r) => setImmediate(r));
    // Fifty callers cost one more build, begun after they asked: none gets the answer of the build before.
    expect(g.started()).toBe(2);
    g.release();
    expect(new Set(await Promise.all(during))).toEqual(new Set([2]));
    const later = ask();
    expect(g.started()).toBe(3);
    g.release();
    expect(await later).toBe(3);
  });

  it('a failed build fails only its own callers; the next caller gets a fresh build', async () => {
    let calls = 0;
    const ask = coalesced(async () => {
      calls++;
      if (calls === 1) throw new Error('side unreachable');
      return calls;
    });
    await expect(ask()).rejects.toThrow('side unreachable');
    expect(await ask()).toBe(2);
  });
});
