import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { terminalProgress } from '../../src/cli/terminal-progress.js';

/** A stream that says it is a terminal, collecting what is drawn on it. */
function fakeTerminal(): { stream: NodeJS.WriteStream; drawn: () => string } {
  const pass = new PassThrough();
  let text = '';
  pass.on('data', (d: Buffer) => (text += d.toString()));
  return { stream: Object.assign(pass, { isTTY: true, columns: 120 }) as unknown as NodeJS.WriteStream, drawn: () => text };
}

describe('terminal progress', () => {
  it('draws the detail on a terminal, computing it only then', () => {
    const { stream, drawn } = fakeTerminal();
    const bar = terminalProgress('verify', 'tables', { stream });
    let asked = 0;
    bar.update(1, 3, () => (asked++, '1,234 rows compared'));
    bar.stop();
    expect(asked).toBe(1);
    expect(drawn()).toContain('1,234 rows compared');
    expect(drawn()).toContain('1/3 tables');
  });

  it('with --json, or on a stream that is not a terminal, draws nothing and never formats the detail', () => {
    const { stream, drawn } = fakeTerminal();
    const piped = Object.assign(new PassThrough(), { isTTY: false }) as unknown as NodeJS.WriteStream;
    let asked = 0;
    for (const bar of [terminalProgress('verify', 'tables', { stream, json: true }), terminalProgress('verify', 'tables', { stream: piped })]) {
      bar.update(1, 3, () => (asked++, 'x'));
      bar.stop();
    }
    expect(asked).toBe(0);
    expect(drawn()).toBe('');
  });
});
