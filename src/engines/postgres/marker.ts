/** The prefix of the switch's drain marker, a transactional logical message (pg_logical_emit_message). */
export const MARKER_PREFIX = 'tandem_marker';
