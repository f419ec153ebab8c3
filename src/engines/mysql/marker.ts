/**
 * Tandem's fence table in the active database (fence.ts): it records each migration's fence, and the switch's drain
 * marker is a write to its `marker` column. Capture reads that table's row events as markers, never as changes.
 */
export const MARKER_TABLE = 'tandem_fence';
export const MARKER_COLUMN = 'marker';
