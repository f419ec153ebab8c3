/**
 * Progress of long commands on the terminal: `tandem verify` and `tandem repair --all` on a pseudo-terminal draw a
 * progress bar (tables or rows of the total, rate, ETA); with --json, or without a terminal, it prints nothing extra.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runTandem } from '../harness/db.js';
import { makeScenario, waitForStage, type Scenario } from '../harness/scenario.js';
import { runOnTerminal } from '../harness/terminal.js';

describe('terminal progress', () => {
  const pgUrl = inject('pgUrl');
  let s: Scenario;
  beforeAll(async () => {
    s = await makeScenario({ pgUrl, shadow: { kind: 'pg', serverUrl: pgUrl } });
    const p = s.run();
    await waitForStage(s, 'streaming', p);
  });
  afterAll(async () => {
    await s?.cleanup();
  });

  it('tandem verify on a terminal shows tables done of the total, rows compared, rate and ETA', async () => {
    const r = await runOnTerminal(['verify', '--config', s.config]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/verify \[[#.]{24}\] \d+% \d+\/\d+ tables \| [\d,]+ rows compared, [\d,]+ rows\/s/);
    expect(r.output).toMatch(/verify \[#{24}\] 100% (\d+)\/\1 tables/);
    expect(r.output).toContain('ETA');
  });

  it('tandem repair --all on a terminal shows the rows compared of the estimate while it looks for drift', async () => {
    const shadow = new pg.Client({ connectionString: s.shadowUrl });
    await shadow.connect();
    try {
      // Drift planted on the shadow past its fence (as a replica session).
      await shadow.query(`SET session_replication_role = replica`);
      await shadow.query(`UPDATE counters SET n = n + 1000 WHERE id = 1`);
    } finally {
      await shadow.end();
    }
    const r = await runOnTerminal(['repair', '--table', 'counters', '--all', '--yes', '--config', s.config]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/repair counters \[[#.]{24}\] \d+% [\d,]+\/[\d,]+ rows \| [\d,]+ rows\/s compared/);
    expect(r.output).toMatch(/1 (row|change)/);
  });

  it('prints nothing extra with --json on a terminal, or without a terminal', async () => {
    const json = await runOnTerminal(['verify', '--json', '--config', s.config]);
    expect(json.code, json.output).toBe(0);
    expect(json.output).not.toContain('verify [');
    expect(JSON.parse(json.output.replace(/\r/g, ''))).toMatchObject({ driftCount: 0 });
    const piped = await runTandem(['verify', '--config', s.config]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stderr).toBe('');
    expect(piped.stdout).not.toContain('verify [');
  });
});
