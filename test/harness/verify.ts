import { runTandem } from './db.js';
import type { VerifyTable } from '../../src/engines/engine.js';
import { engineForUrl } from '../../src/engines/registry.js';
import type { TableSchema } from '../../src/model/schema.js';
import { tableSpec } from '../../src/verify/verifier.js';

/** `tandem verify --json` as the tests read it (the shape the issue and the README promise). */
export interface VerifyReport {
  tables: Array<{
    table: string;
    rowsCompared: number;
    changing: number;
    drift: Array<{ key: Record<string, string>; kind: string; columns: string[] }>;
    unconfirmed: { rows: number; keys: Array<Record<string, string>> } | null;
  }>;
  driftCount: number;
  unconfirmedCount: number;
}

/** Runs `tandem verify --json` as an operator would; fails with its stderr when it printed no report. */
export async function runVerify(config: string, args: string[] = []): Promise<{ code: number | null; report: VerifyReport; stderr: string }> {
  const r = await runTandem(['verify', '--json', '--config', config, ...args], { timeoutMs: 180_000 });
  try {
    return { code: r.code, report: JSON.parse(r.stdout) as VerifyReport, stderr: r.stderr };
  } catch {
    throw new Error(`tandem verify exited with ${r.code} without a JSON report: ${r.stderr}`);
  }
}

async function schemaOf(url: string, table: string): Promise<TableSchema> {
  const db = await engineForUrl(url).openDatabase('old', url);
  try {
    const t = (await db.describeTables([table])).get(table);
    if (!t) throw new Error(`no table ${table} at ${url}`);
    return t;
  } finally {
    await db.close();
  }
}

/** The spec Verifier builds for `table` from both sides' schemas: what `tandem verify` gives the readers. */
export async function builtSpec(activeUrl: string, shadowUrl: string, table: string): Promise<VerifyTable> {
  const [a, s] = await Promise.all([schemaOf(activeUrl, table), schemaOf(shadowUrl, table)]);
  return tableSpec(table, a.columns.map((c) => c.name), { engine: engineForUrl(activeUrl).kind, schema: a }, { engine: engineForUrl(shadowUrl).kind, schema: s }).spec;
}
