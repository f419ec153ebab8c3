import type { SideName } from '../engines/engine.js';

export type Direction = 'forward' | 'reverse';

/** Forward copies old → new; reverse copies new → old. The active side is always the source. */
export function sidesOf(direction: Direction): { active: SideName; shadow: SideName } {
  return direction === 'forward' ? { active: 'old', shadow: 'new' } : { active: 'new', shadow: 'old' };
}
