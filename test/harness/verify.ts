import { runTandem } from './db.js';

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
