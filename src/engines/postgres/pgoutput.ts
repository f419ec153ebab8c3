// Replication spec: docs/engines/postgres.md
import { PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';

export type PgoutputMessage = Pgoutput.Message;

/**
 * pgoutput protocol parsing comes from pg-logical-replication. Its parser converts column text through node-pg's
 * global type parsers (timestamps become local-time Dates, numerics JavaScript numbers), which would lose
 * exactness; Tandem keeps the server's text instead, so each relation column's parser is replaced by identity.
 * An unchanged TOAST value is left `undefined` by the parser (unless the old row carries it).
 */
export function createTextPgoutputParser(publication: string): { parse(buf: Buffer): PgoutputMessage } {
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });
  const parser = (plugin as unknown as { parser: { readRelationColumn: (reader: unknown) => Record<string, unknown> } }).parser;
  const original = parser.readRelationColumn.bind(parser);
  parser.readRelationColumn = (reader: unknown) => ({ ...original(reader), parser: (raw: string) => raw });
  return plugin;
}
