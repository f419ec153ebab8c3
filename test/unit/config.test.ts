import { describe, expect, it } from 'vitest';
import { applyEnvOverrides, configEnvVariables, parseConfig } from '../../src/config/load.js';
import { redact, redactUrl, registerSecret } from '../../src/config/redact.js';
import { parseDuration } from '../../src/config/duration.js';
import { TandemError } from '../../src/errors.js';

const minimal = { migration: 'shop', old: { url: 'postgres://u@h:5432/a' }, new: { url: 'mysql://root@h:3306/b' } };

function configError(input: Record<string, unknown>): string {
  try {
    parseConfig(input);
  } catch (err) {
    expect(err).toBeInstanceOf(TandemError);
    expect((err as TandemError).exitCode).toBe(2);
    return (err as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('config', () => {
  it('fills documented defaults from the minimal form', () => {
    const c = parseConfig(minimal);
    expect(c.transport.kind).toBe('embedded');
    expect(c.cutover.maxLag).toBe(5000);
    expect(c.api.listen).toBe('127.0.0.1:7420');
    expect(c.exclude).toEqual([]);
    expect(c.tables).toBeUndefined();
    expect(c.backfill).toEqual({ rowsPerSecond: 0, parallelTables: 2 });
  });

  it('takes backfill.parallelTables from TANDEM_BACKFILL_PARALLEL_TABLES', () => {
    expect(parseConfig(applyEnvOverrides(minimal, { TANDEM_BACKFILL_PARALLEL_TABLES: '4' })).backfill.parallelTables).toBe(4);
  });

  it.each([
    [{ ...minimal, tabels: ['a'] }, 'tabels: unknown key (did you mean "tables"?)'],
    [{ ...minimal, old: { url: 'postgres://u@h/a', usr: 'x' } }, 'old.usr: unknown key'],
    [{ ...minimal, migration: 'Shop Migration' }, 'migration: "Shop Migration" — expected lower-case letters'],
    [{ ...minimal, new: { url: 'sqlite:///x' } }, 'new.url: "sqlite:///x" — expected a URL such as'],
    [{ ...minimal, apply: { batchRows: -3 } }, 'apply.batchRows: -3'],
    [{ migration: 'shop', old: minimal.old }, 'new: missing'],
    [{ ...minimal, drill: { stopNew: 'pg_ctl -D /d stop' } }, 'drill.startNew: missing — drill.stopNew and drill.startNew go together'],
    [{ ...minimal, drill: { stopNew: '  ', startNew: 'pg_ctl -D /d start' } }, 'drill.stopNew: "  " — expected a shell command line, e.g. "systemctl stop postgresql"; it is empty'],
    [{ ...minimal, drill: { stopNew: ['pg_ctl', 'stop'], startNew: 'pg_ctl start' } }, 'drill.stopNew: ["pg_ctl","stop"] — expected a shell command line as a string'],
    [{ ...minimal, backfill: { parallelTables: 0 } }, 'backfill.parallelTables: 0 — backfill.parallelTables is at least 1'],
    [{ ...minimal, backfill: { parallelTables: 64 } }, 'backfill.parallelTables: 64 — backfill.parallelTables is at most 16'],
    [{ ...minimal, backfill: { parallelTables: 2.5 } }, 'backfill.parallelTables: 2.5 — expected a whole number of tables copied at once'],
    [{ ...minimal, backfill: { parallelTables: 'four' } }, 'backfill.parallelTables: "four" — expected a whole number of tables copied at once'],
  ])('names the key, the value and the expected form (%#)', (input, expected) => {
    expect(configError(input as Record<string, unknown>)).toContain(expected);
  });

  it('maps every leaf to a TANDEM_* variable and applies overrides with YAML values', () => {
    const names = configEnvVariables().map(([, n]) => n);
    expect(names).toContain('TANDEM_CUTOVER_MAX_LAG');
    expect(names).toContain('TANDEM_OLD_URL');
    expect(names).toContain('TANDEM_DRILL_STOP_NEW');
    const out = applyEnvOverrides(minimal, { TANDEM_CUTOVER_MAX_LAG: '2s', TANDEM_TABLES: '[a, b]', TANDEM_APPLY_BATCH_ROWS: '10', TANDEM_CONFIG: 'x.yaml' });
    const c = parseConfig(out);
    expect(c.cutover.maxLag).toBe(2000);
    expect(c.tables).toEqual(['a', 'b']);
    expect(c.apply.batchRows).toBe(10);
  });

  it('refuses an unknown TANDEM_* variable rather than ignoring it', () => {
    expect(() => applyEnvOverrides(minimal, { TANDEM_CUTOVER_MAXLAG: '2s' })).toThrow(/TANDEM_CUTOVER_MAXLAG \(did you mean TANDEM_CUTOVER_MAX_LAG\?\)/);
  });

  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('soon')).toBeUndefined();
  });
});

describe('redaction', () => {
  it('hides URL passwords, registered secrets and their URL-encoded forms', () => {
    expect(redactUrl('postgres://app:hunter22@db:5432/shop')).toBe('postgres://app:***@db:5432/shop');
    registerSecret('p@ss word!');
    expect(redact('connect mysql://root:p%40ss%20word!@h/x failed; p@ss word! was wrong')).not.toMatch(/p@ss|p%40ss/);
    expect(redact('no secrets here')).toBe('no secrets here');
  });

  it('hides a password written with raw @, / and # whole, in any text', () => {
    expect(redactUrl('postgres://postgres:S3cr@t%/#Zq@127.0.0.1:5432/db')).toBe('postgres://postgres:***@127.0.0.1:5432/db');
    expect(redact('cannot connect to mysql://root:a@b@c@h:3306/x (capture): refused')).toBe('cannot connect to mysql://root:***@h:3306/x (capture): refused');
    expect(redact('mysql://root@h:3306/x and ada@example.com')).toBe('mysql://root@h:3306/x and ada@example.com');
  });

  it('refuses a URL whose password holds raw @ / # ? or a stray %, naming the key and never the password', () => {
    const message = configError({ ...minimal, old: { url: 'postgres://postgres:S3cr@t%/#Zq@127.0.0.1:5432/db' } });
    expect(message).toContain('old.url: postgres://postgres:***@127.0.0.1:5432/db');
    expect(message).toMatch(/"@", "\/", "#"|"@".*"#"/);
    expect(message).not.toMatch(/S3cr|t%|Zq/);
    let fix = '';
    try {
      parseConfig({ ...minimal, new: { url: 'mysql://root:50%off@h:3306/b' } });
    } catch (err) {
      fix = (err as TandemError).fix ?? '';
      expect((err as Error).message).toContain('a % that is not an escape');
    }
    expect(fix).toContain('percent-encode special characters in the password');
    // Percent-encoded, the same password is fine.
    expect(() => parseConfig({ ...minimal, old: { url: `postgres://postgres:${encodeURIComponent('S3cr@t%/#Zq')}@127.0.0.1:5432/db` } })).not.toThrow();
  });

  it('keeps a config error free of the URL password', () => {
    const message = configError({ ...minimal, old: { url: 'postgres://u:Sup3rSecret@h/a', port: 1 } });
    expect(message).not.toContain('Sup3rSecret');
  });
});
