/** `old` or `new`: sides are named for their role in the migration and never swap names. */
export type SideName = 'old' | 'new';

/** `forward` copies old → new; `reverse` copies new → old. The active side is always the source. */
export type Direction = 'forward' | 'reverse';

export const DIRECTIONS: readonly Direction[] = ['forward', 'reverse'];

export function sidesOf(direction: Direction): { active: SideName; shadow: SideName } {
  return direction === 'forward' ? { active: 'old', shadow: 'new' } : { active: 'new', shadow: 'old' };
}

/** The direction whose active side (source) is `active`. */
export function directionWithActive(active: SideName): Direction {
  return active === 'old' ? 'forward' : 'reverse';
}

/** The direction a switch turns `direction` into (and back). */
export function otherDirection(direction: Direction): Direction {
  return direction === 'forward' ? 'reverse' : 'forward';
}

export function otherSide(side: SideName): SideName {
  return side === 'old' ? 'new' : 'old';
}
