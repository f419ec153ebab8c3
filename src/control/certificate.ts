/**
 * The counts and hashes of a switch's certificate: every table of one side, in key-ordered chunks, read with the
 * verifier's own row hash (the same canonical values it compares the sides with). The side read is the one
 * becoming the shadow, right after the switch: it is fenced and nothing has been applied to it since the drain, so
 * it holds exactly the drained point.
 */
import type { TandemConfig } from '../config/schema.js';
import type { Direction } from '../model/direction.js';
import type { TableCertificate } from '../model/switch.js';
import { Verifier } from '../verify/verifier.js';

/** Rows per certificate chunk: small enough to narrow a later dispute down, few enough to keep the record small. */
const CHUNK_ROWS = 100_000;

/** Reads the shadow side of `direction` (the side that just became the shadow). */
export async function tableCertificates(config: TandemConfig, direction: Direction, tables: string[]): Promise<TableCertificate[]> {
  const verifier = await Verifier.open(config, direction, tables);
  try {
    const reader = verifier.shadow;
    const out: TableCertificate[] = [];
    for (const table of tables) {
      const spec = verifier.specs.get(table);
      if (!spec) continue;
      const chunks: TableCertificate['chunks'] = [];
      let after: string[] | undefined;
      for (;;) {
        const upTo = await reader.keyAfter(spec, after, CHUNK_ROWS);
        const summary = await reader.summarize(spec, { after, upTo });
        chunks.push({ upTo: upTo ?? null, rows: summary.rows, hash: summary.hash });
        if (!upTo) break;
        after = upTo;
      }
      out.push({ table, rows: chunks.reduce((n, c) => n + c.rows, 0), chunks });
    }
    return out;
  } finally {
    await verifier.close();
  }
}
