/** Names of the objects Tandem owns, derived from the migration name so two migrations never collide. */
export function slotName(migration: string): string {
  return `tandem_${migration}`;
}
export function publicationName(migration: string): string {
  return `tandem_${migration}`;
}
/** Schema (PostgreSQL) or table prefix (MySQL) holding Tandem's checkpoint and state on a shadow side. */
export const STATE_SCHEMA = 'tandem';
export const CHECKPOINT_TABLE = 'tandem_checkpoint';
