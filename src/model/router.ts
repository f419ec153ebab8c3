/**
 * What the application router reads from the service (GET /api/v1/active-side, docs/router.md): the words shared by
 * the service and `tandem/router`, which imports nothing but model.
 */
import type { Phase, SwitchKind } from './control.js';
import type { Direction, SideName } from './direction.js';

export interface ActiveSideView {
  migration: string;
  phase: Phase;
  activeSide: SideName;
  direction: Direction;
  /** A switch in progress: a router holds new writes from its first step until it is gone. */
  switch: { kind: SwitchKind; requestId: string; step: string } | null;
}
