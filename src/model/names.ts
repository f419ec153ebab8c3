import type { SideName } from './direction.js';

/** Names of the objects Tandem owns, derived from the migration name so two migrations never collide. */
/**
 * The capture slot on `side`. Each side has its own (old's for the forward stream, new's for the reverse one): two
 * databases of one PostgreSQL cluster share its slot names. Old's keeps the name Tandem always gave it.
 */
export function slotName(migration: string, side: SideName = 'old'): string {
  return side === 'old' ? `tandem_${migration}` : `tandem_${migration}_new`;
}
/** The id a drain marker carries: the migration and the switch request it belongs to. */
export function markerId(migration: string, requestId: string): string {
  return `${migration}:${requestId}`;
}
export function publicationName(migration: string): string {
  return `tandem_${migration}`;
}

/**
 * The switch's drain marker as capture meets it (the embedded captures and the Kafka transport's decoder both read
 * it). PostgreSQL: a transactional logical message with this prefix (pg_logical_emit_message). MariaDB: a write to
 * the `marker` column of Tandem's fence table in the active database; its row events are markers, never changes.
 */
export const MARKER_MESSAGE_PREFIX = 'tandem_marker';
export const MARKER_TABLE = 'tandem_fence';
export const MARKER_COLUMN = 'marker';

/**
 * The checkpoint row of one apply lane (Kafka `ordering: key`): beside the direction's own row, which holds the
 * source position all lanes together have applied. Removed with it.
 */
export function laneCheckpointKey(direction: string, lane: number): string {
  return `${direction}#${lane}`;
}

/** A LIKE pattern matching every lane checkpoint row of `direction`. */
export function laneCheckpointPattern(direction: string): string {
  return `${direction}#%`;
}
