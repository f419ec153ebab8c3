import { runTandem, type CliResult } from './db.js';
import { writeConfig } from './config.js';

/** `tandem check --json` as the tests read it. */
export interface CheckReport {
  ok: boolean;
  tables: string[];
  checks: Array<{ id: string; status: string; side: string; title: string; detail: string; fix?: string; columns?: Array<{ column: string; detail: string; fix?: string }> }>;
}

/**
 * Runs `tandem check --json` as an operator would, on a config file or on a config written for the call (then
 * removed with the test file's other temporary folders). `report` is undefined when it printed nothing.
 */
export async function runCheck(config: string | Record<string, unknown>, args: string[] = []): Promise<CliResult & { report: CheckReport | undefined }> {
  const file = typeof config === 'string' ? config : writeConfig(config);
  const result = await runTandem(['check', '--json', '--config', file, ...args]);
  return { ...result, report: result.stdout ? (JSON.parse(result.stdout) as CheckReport) : undefined };
}

/** The checks that failed. */
export const failures = (report: CheckReport | undefined) => (report?.checks ?? []).filter((c) => c.status === 'fail');

/** One line of `tandem check --json`. */
export type CheckReportItem = CheckReport['checks'][number];

/** `tandem check --json` on a config file: its exit code, every check, the failures, and stderr. */
export async function checkItems(config: string): Promise<{ code: number | null; stderr: string; checks: CheckReportItem[]; failures: CheckReportItem[] }> {
  const r = await runCheck(config);
  const checks = r.report?.checks ?? [];
  return { code: r.code, stderr: r.stderr, checks, failures: failures(r.report) };
}
