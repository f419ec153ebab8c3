/**
 * The type sweep: for every type pair of the mapping table (src/schema/type-rules.ts, the engines' native-types.ts),
 * the extreme and awkward values the source accepts, each in a row of its own. The shadow is created by
 * `tandem schema --apply`, so the mapping under test is Tandem's own; `tandem check` runs on the pair; `tandem run`
 * backfills the rows and then streams the same rows inserted again. Every value must end in one of three outcomes:
 * identical (both databases read with SQL and compared here, never through `tandem verify`), refused by check
 * (the column named), or refused at apply (the service stops naming table and column, nothing stored). Values that
 * stop the service live in tables of their own, so the identical ones are still compared. The observed table is
 * printed (docs/type-mapping.md is made from it).
 *
 * Not repeated here, proven elsewhere: MariaDB zero dates and DST/time-zone instants (replicate-mysql-types),
 * tinyint(1) holding 2 and 31+ fractional digits into decimal(65,30) (values-refused, check-types), the verify
 * readers' canonical text of the same corpus (canonical-corpus).
 */
import { describe, expect, inject, it } from 'vitest';
import type pg from 'pg';
import type mysql from 'mysql2/promise';
import { connectMysql, createMysqlDatabase, createPgDatabase, runTandem, uniqueName, type MysqlTestDatabase, type PgTestDatabase } from '../harness/db.js';
import { writeConfig } from '../harness/config.js';
import { runCheck, type CheckReport } from '../harness/check.js';
import { mysqlRows, NULL_TEXT, pgRows } from '../harness/compare.js';
import { suiteResources, untilTandem, waitForShadowing, type TandemProcess } from '../harness/tandem-process.js';
import { tempDir } from '../harness/temp.js';
import { slotName } from '../../src/model/names.js';

/** Runs `jobs` at most `width` at a time; results in the order of `jobs`. */
async function pool<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const out: T[] = new Array<T>(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await (jobs[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return out;
}

/** How a column's values are read as comparable text on each engine, and normalized in TS where the engines print one value differently. */
type Kind = 'int' | 'bool' | 'dec' | 'float4' | 'float8' | 'text' | 'bin' | 'date' | 'ts' | 'tstz' | 'time' | 'json' | 'bit' | 'year' | 'inet' | 'raw';

/**
 * Outcome expected of one value: identical on the shadow, or the service stops naming table and column. `zero`: a
 * negative zero, which MariaDB cannot store at all (it keeps 0); the one alteration Tandem lets through, because its
 * canonical values (src/model/canonical.ts) hold both zeros equal. It is reported, and nothing else may differ.
 */
type Expected = 'identical' | 'apply' | 'zero';

interface Value {
  /** SQL expression inserted on the source. */
  sql: string;
  /** How the value is shown in the report. */
  label: string;
  expected: Expected;
  /** A refused value tried in the stream too (each try is a migration of its own, so only some are). */
  stream?: boolean;
}

interface Column {
  name: string;
  /** Source type as written in CREATE TABLE. */
  type: string;
  kind: Kind;
  /** bit(n): n, to print MariaDB's bits at full length. */
  bits?: number;
  values: Value[];
}

const same = (sql: string, label = sql): Value => ({ sql, label, expected: 'identical' });
const refused = (sql: string, label = sql, opts: { stream?: boolean } = {}): Value => ({ sql, label, expected: 'apply', ...opts });
const STREAM = { stream: true };
const negativeZero = (sql: string, label = sql): Value => ({ sql, label, expected: 'zero' });

/** A SELECT expression giving comparable text for a column of `kind` on PostgreSQL. */
function pgExpr(c: string, kind: Kind): string {
  switch (kind) {
    case 'bool':
      return `CASE WHEN ${c} THEN '1' WHEN NOT ${c} THEN '0' END`;
    case 'bin':
      return `encode(${c}, 'hex')`;
    case 'ts':
      return `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS.US')`;
    case 'tstz':
      return `to_char(${c} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')`;
    case 'json':
      return `${c}::jsonb::text`;
    case 'inet':
      // inet's own output (a host without /32 or /128); a cast to text always adds the netmask.
      return `format('%s', ${c})`;
    default:
      return `${c}::text`;
  }
}

/** The same on MariaDB (the session reads in UTC). */
function mysqlExpr(c: string, kind: Kind, bits = 1): string {
  switch (kind) {
    case 'bin':
      return `LOWER(HEX(${c}))`;
    case 'ts':
    case 'tstz':
      return `DATE_FORMAT(${c}, '%Y-%m-%d %H:%i:%s.%f')`;
    case 'float4':
      // A FLOAT printed as text keeps 6 digits; as a double it is the exact stored value.
      return `CAST(${c} AS DOUBLE)`;
    case 'bit':
      return `LPAD(BIN(${c}), ${bits}, '0')`;
    case 'year':
      return `CAST(${c} AS UNSIGNED)`;
    default:
      return `CAST(${c} AS CHAR)`;
  }
}

/** -0 kept apart from 0, NaN equal to itself. */
const floatText = (n: number): string => (Object.is(n, -0) ? '-0' : String(n));

/**
 * Normalizes what the two engines print differently for one value: decimals with trailing zeros to the column's
 * scale, floats in their own digits, times without fraction. Nothing here makes two different values equal.
 */
function normalize(kind: Kind, text: string): string {
  if (text === NULL_TEXT) return text;
  switch (kind) {
    case 'dec':
      return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
    case 'float4':
      return floatText(Math.fround(Number(text)));
    case 'float8':
      return floatText(Number(text));
    case 'time': {
      const m = /^(-?\d+:\d\d:\d\d)(?:\.(\d+))?$/.exec(text);
      return m ? `${m[1]}.${(m[2] ?? '').padEnd(6, '0')}` : text;
    }
    default:
      return text;
  }
}

/** One observed value: what the report prints for it. */
interface Observation {
  direction: string;
  column: string;
  sourceType: string;
  shadowType: string;
  label: string;
  outcome: string;
}

/** Engine-specific access the sweep needs, so both directions run the same steps. */
interface Side {
  engine: 'postgres' | 'mysql';
  url: string;
  exec(sql: string): Promise<void>;
  rows(sql: string): Promise<string[][]>;
  /** Column types as the engine spells them (information_schema / format_type), by column name. */
  types(table: string): Promise<Map<string, string>>;
  quote(name: string): string;
}

function pgSide(db: PgTestDatabase): Side {
  return {
    engine: 'postgres',
    url: db.url,
    exec: async (sql) => void (await db.admin.query(sql)),
    rows: (sql) => pgRows(db.admin, sql),
    types: async (table) => {
      const r = await pgRows(db.admin, `SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = '${table}'::regclass AND a.attnum > 0 AND NOT a.attisdropped`);
      return new Map(r.map(([n, t]) => [n as string, t as string]));
    },
    quote: (n) => `"${n}"`,
  };
}

function mysqlSide(db: MysqlTestDatabase, conn: mysql.Connection): Side {
  return {
    engine: 'mysql',
    url: db.url,
    exec: async (sql) => void (await conn.query(sql)),
    rows: (sql) => mysqlRows(conn, sql),
    types: async (table) => {
      const r = await mysqlRows(conn, `SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '${table}'`);
      return new Map(r.map(([n, t]) => [n as string, t as string]));
    },
    quote: (n) => `\`${n}\``,
  };
}

const expr = (side: Side, col: Column) => (side.engine === 'postgres' ? pgExpr(side.quote(col.name), col.kind) : mysqlExpr(side.quote(col.name), col.kind, col.bits));

/** JSON texts in one form for comparison: PostgreSQL's jsonb reads both sides' texts (numbers kept exactly, keys ordered). */
async function jsonCanonical(pgc: pg.Client, text: string): Promise<string> {
  if (text === NULL_TEXT) return text;
  const r = await pgc.query<{ j: string }>({ text: 'SELECT $1::jsonb::text AS j', values: [text] });
  return r.rows[0]?.j ?? '';
}

/** The check items that name `table`.`column` (a failure naming it, or a table warning listing it), as report text. */
function checkOutcome(report: CheckReport | undefined, table: string, column: string): { failed: boolean; text: string } {
  const items = report?.checks ?? [];
  const named = items.flatMap((i) => {
    const listed = i.columns?.find((c) => c.column === column);
    if (listed && i.title.includes(`table ${table}:`)) return [{ status: i.status, detail: listed.detail }];
    if (i.title.includes(`${table}.${column} `) || i.title.endsWith(`${table}.${column}`)) return [{ status: i.status, detail: `${i.title}: ${i.detail}` }];
    return [];
  });
  const failed = named.some((n) => n.status === 'fail');
  return { failed, text: named.map((n) => `${n.status}: ${n.detail}`).join(' / ') || 'pass' };
}

interface Direction {
  label: string;
  source: Side;
  shadow: Side;
  columns: Column[];
  /** Source DDL run before the tables (enum types). */
  prelude?: string[];
  /** Columns no shadow type can hold: `tandem schema` refuses them; `shadowType` is what the check is given instead. */
  unmapped: Array<{ name: string; type: string; shadowType: string }>;
  /** For JSON canonical text and slot cleanup: a PostgreSQL client of the pair. */
  pgc: pg.Client;
  pgSource?: pg.Client;
}

const STREAM_OFFSET = 100_000;

/**
 * Runs the sweep of one direction and returns what it observed; every assertion about outcomes is made here, so
 * each direction's test is the same steps over its own columns.
 */
async function sweep(d: Direction, start: (args: string[]) => TandemProcess): Promise<Observation[]> {
  const { source, shadow } = d;
  const q = source.quote;
  for (const sql of d.prelude ?? []) await source.exec(sql);
  const idType = source.engine === 'postgres' ? 'integer' : 'int';
  await source.exec(`CREATE TABLE sweep (id ${idType} PRIMARY KEY, ${d.columns.map((c) => `${q(c.name)} ${c.type}`).join(', ')})`);
  // Values that stop the service: one table each, named after the column and the value's place.
  const refusedTables: Array<{ table: string; col: Column; value: Value }> = [];
  for (const col of d.columns) {
    col.values.forEach((value, i) => {
      if (value.expected === 'apply') refusedTables.push({ table: `r_${col.name}_${i}`, col, value });
    });
  }
  for (const r of refusedTables) {
    await source.exec(`CREATE TABLE ${r.table} (id ${idType} PRIMARY KEY, ${q(r.col.name)} ${r.col.type})`);
    if (r.value.stream) await source.exec(`CREATE TABLE ${r.table}_s (id ${idType} PRIMARY KEY, ${q(r.col.name)} ${r.col.type})`);
  }

  // The identical-expected values, one row each: the backfilled copy now, the streamed one after the copy.
  const rows: Array<{ id: number; col: Column; value: Value }> = [];
  for (const col of d.columns) for (const value of col.values) if (value.expected !== 'apply') rows.push({ id: rows.length + 1, col, value });
  const insertRows = async (offset: number) => {
    for (const r of rows) await source.exec(`INSERT INTO sweep (id, ${q(r.col.name)}) VALUES (${r.id + offset}, ${r.value.sql})`);
  };
  await insertRows(0);

  const tables = ['sweep', ...refusedTables.flatMap((r) => [r.table, ...(r.value.stream ? [`${r.table}_s`] : [])])];
  const base = { old: { url: source.url }, new: { url: shadow.url }, state: { dir: tempDir('tandem-state-') } };
  const schemaConfig = writeConfig({ ...base, migration: uniqueName('sweep'), tables });
  const applied = await runTandem(['schema', '--apply', '--config', schemaConfig]);
  expect(applied.code, applied.stderr).toBe(0);
  const shadowTypes = await shadow.types('sweep');
  const sourceTypes = await source.types('sweep');

  // tandem check on the pair, the refused values present in their tables: every column's verdict is recorded.
  for (const r of refusedTables) await source.exec(`INSERT INTO ${r.table} (id, ${q(r.col.name)}) VALUES (1, ${r.value.sql})`);
  const checked = await runCheck(schemaConfig);
  expect(checked.report, checked.stderr).toBeDefined();
  const checkOf = new Map<string, { failed: boolean; text: string }>();
  for (const col of d.columns) checkOf.set(col.name, checkOutcome(checked.report, 'sweep', col.name));
  for (const r of refusedTables) checkOf.set(r.table, checkOutcome(checked.report, r.table, r.col.name));
  // The identical-expected columns map without failure: check passes them (a limit is at most a warning).
  for (const col of d.columns) expect(checkOf.get(col.name)?.failed, `${col.name}: ${checkOf.get(col.name)?.text}`).toBe(false);

  // Backfill and stream of the sweep table.
  const config = writeConfig({ ...base, migration: uniqueName('sweep'), tables: ['sweep'] });
  const tandem = start(['run', '--config', config]);
  const observations: Observation[] = [];
  try {
    await waitForShadowing(config, 120_000);
    await insertRows(STREAM_OFFSET);
    await untilTandem(tandem, 'the streamed rows on the shadow', async () => (await shadow.rows(`SELECT count(*) FROM sweep`))[0]?.[0] === String(rows.length * 2), 120_000, 300);

    const read = async (side: Side) => {
      const out = new Map<number, string>();
      for (const col of d.columns) {
        const got = await side.rows(`SELECT id, ${expr(side, col)} FROM sweep WHERE ${side.quote(col.name)} IS NOT NULL`);
        for (const [id, text] of got) out.set(Number(id), col.kind === 'json' ? await jsonCanonical(d.pgc, text as string) : normalize(col.kind, text as string));
      }
      return out;
    };
    const [fromSource, onShadow] = [await read(source), await read(shadow)];
    const silent: string[] = [];
    for (const r of rows) {
      let outcome = 'identical';
      for (const [phase, id] of [['backfill', r.id], ['stream', r.id + STREAM_OFFSET]] as const) {
        const a = fromSource.get(id);
        const b = onShadow.get(id);
        if (r.value.expected === 'zero' && a === '-0' && b === '0') {
          outcome = 'arrives as 0: MariaDB has no negative zero (not refused; both zeros are one canonical value)';
          continue;
        }
        // A value that did not arrive as it was is the one outcome not allowed: altered without anyone told.
        if (a === undefined || a !== b) silent.push(`${r.col.name} ${r.value.label} (${phase}): source ${String(a).slice(0, 120)} → shadow ${String(b).slice(0, 120)}`);
      }
      observations.push({ direction: d.label, column: r.col.name, sourceType: sourceTypes.get(r.col.name) ?? r.col.type, shadowType: shadowTypes.get(r.col.name) ?? '?', label: r.value.label, outcome });
    }
    expect(silent, 'values that arrived altered').toEqual([]);
  } finally {
    tandem.kill('SIGTERM');
    expect(await tandem.exited, tandem.output().slice(-3000)).toBe(0);
  }

  // Refused values: the backfill stops naming table and column and stores nothing; for values marked `stream`, the
  // same when the value arrives through the stream. Each is a migration of its own, a few at a time.
  const refusal = async (r: (typeof refusedTables)[number], phase: 'backfill' | 'stream'): Promise<string> => {
    const migration = uniqueName('refused');
    const table = phase === 'backfill' ? r.table : `${r.table}_s`;
    const cfg = writeConfig({ ...base, migration, tables: [table] });
    const p = start(['run', '--config', cfg]);
    if (phase === 'stream') {
      await waitForShadowing(cfg, 120_000);
      await source.exec(`INSERT INTO ${table} (id, ${q(r.col.name)}) VALUES (1, ${r.value.sql})`);
    }
    const code = await Promise.race([p.exited, new Promise((res) => setTimeout(() => res('still running'), 60_000))]);
    if (code === 'still running') p.kill('SIGKILL');
    const out = p.output();
    const stored = (await shadow.rows(`SELECT count(*) FROM ${table}`))[0]?.[0];
    await d.pgSource?.query(`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`, [slotName(migration)]);
    // Tandem's own refusals say `table.column`; errors the shadow raises say `db`.`table`.`column`, or `table` and `column` apart.
    const names = out.includes(`${table}.${r.col.name}`) || out.includes(`\`${table}\`.\`${r.col.name}\``) || (out.includes(table) && out.includes(`column '${r.col.name}'`)) || (out.includes(`table ${table}`) && out.includes(`column ${r.col.name}`));
    expect({ code, stored, names }, `${table} ${r.value.label} (${phase}):\n${out.slice(-2000)}`).toEqual({ code: 4, stored: '0', names: true });
    const message = /^tandem: (.*)$/m.exec(out)?.[1] ?? '';
    return message.slice(0, 300);
  };
  const jobs = refusedTables.flatMap((r) => [() => refusal(r, 'backfill'), ...(r.value.stream ? [() => refusal(r, 'stream')] : [])]);
  const messages = await pool(jobs, 4);
  let j = 0;
  for (const r of refusedTables) {
    const shadowType = (await shadow.types(r.table)).get(r.col.name) ?? '?';
    const check = checkOf.get(r.table);
    const message = messages[j] ?? '';
    j += r.value.stream ? 2 : 1;
    observations.push({
      direction: d.label,
      column: r.col.name,
      sourceType: r.col.type,
      shadowType,
      label: r.value.label,
      outcome: `refused at apply${r.value.stream ? ' (backfill and stream)' : ''}${check?.failed ? ', and by check' : ''}: ${message}`,
    });
  }

  // Types with no mapping: tandem schema refuses them, naming each; tandem check fails each on a hand-made shadow.
  if (d.unmapped.length > 0) {
    await source.exec(`CREATE TABLE unmapped (id ${idType} PRIMARY KEY, ${d.unmapped.map((u) => `${q(u.name)} ${u.type}`).join(', ')})`);
    const cfg = writeConfig({ ...base, migration: uniqueName('unmapped'), tables: ['unmapped'] });
    const s = await runTandem(['schema', '--config', cfg]);
    expect(s.code, s.stdout).toBe(1);
    const sq = shadow.quote;
    await shadow.exec(`CREATE TABLE unmapped (id ${shadow.engine === 'postgres' ? 'integer' : 'int'} PRIMARY KEY, ${d.unmapped.map((u) => `${sq(u.name)} ${u.shadowType}`).join(', ')})`);
    const c = await runCheck(cfg);
    for (const u of d.unmapped) {
      expect(s.stderr, u.name).toContain(`unmapped.${u.name} (`);
      const verdict = checkOutcome(c.report, 'unmapped', u.name);
      expect(verdict.failed, `${u.name}: ${verdict.text}`).toBe(true);
      const reason = new RegExp(`unmapped\\.${u.name} \\([^)]*\\)[^\\n]*`).exec(s.stderr)?.[0] ?? '';
      observations.push({ direction: d.label, column: u.name, sourceType: u.type, shadowType: `none (check given ${u.shadowType})`, label: 'any value', outcome: `refused by schema and check: ${reason}` });
    }
    expect(c.code).not.toBe(0);
  }

  // The check's verdict per column, for the report.
  for (const o of observations) {
    const col = d.columns.find((c) => c.name === o.column);
    if (col && !o.outcome.startsWith('refused')) o.outcome = `${o.outcome} (check: ${checkOf.get(col.name)?.text ?? ''})`;
  }
  return observations;
}

function printReport(observations: Observation[]): void {
  const lines = ['| direction | column | source type | shadow type | value | outcome |', '|---|---|---|---|---|---|'];
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  for (const o of observations) lines.push(`| ${[o.direction, o.column, o.sourceType, o.shadowType, o.label, o.outcome].map(cell).join(' | ')} |`);
  console.log(lines.join('\n'));
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL → MariaDB
// ---------------------------------------------------------------------------------------------------------------

const NINES_65_30 = `${'9'.repeat(35)}.${'9'.repeat(30)}`;

const PG_COLUMNS: Column[] = [
  { name: 'i2', type: 'smallint', kind: 'int', values: [same('-32768'), same('32767')] },
  { name: 'i4', type: 'integer', kind: 'int', values: [same('-2147483648'), same('2147483647')] },
  { name: 'i8', type: 'bigint', kind: 'int', values: [same('-9223372036854775808'), same('9223372036854775807')] },
  { name: 'bo', type: 'boolean', kind: 'bool', values: [same('true'), same('false')] },
  { name: 'n102', type: 'numeric(10,2)', kind: 'dec', values: [same('99999999.99'), same('-99999999.99'), same('0.01')] },
  { name: 'n6530', type: 'numeric(65,30)', kind: 'dec', values: [same(NINES_65_30, '35 nines . 30 nines'), same(`-${NINES_65_30}`, '-(35 nines . 30 nines)'), same(`0.${'0'.repeat(29)}1`, '1e-30')] },
  {
    name: 'n',
    type: 'numeric',
    kind: 'dec',
    values: [
      same(`'${NINES_65_30}'`, '35 nines . 30 nines'),
      same('-0.5'),
      refused(`'NaN'`, 'NaN', STREAM),
      refused(`'Infinity'`, 'Infinity'),
      refused(`1e35`, '1e35 (36 integer digits)'),
    ],
  },
  { name: 'nneg', type: 'numeric(5,-2)', kind: 'dec', values: [same('9999900'), same('-1234500')] },
  { name: 'nfrac', type: 'numeric(3,5)', kind: 'dec', values: [same('0.00999'), same('-0.00001')] },
  {
    name: 'r',
    type: 'real',
    kind: 'float4',
    values: [
      same(`'3.4028235e38'`),
      same(`'-3.4028235e38'`),
      same(`'1.1754944e-38'`, '1.1754944e-38 (smallest normal)'),
      same(`'1e-45'`, '1e-45 (subnormal)'),
      negativeZero(`'-0'`),
      same(`'0.1'`),
      refused(`'Infinity'`, 'Infinity'),
    ],
  },
  {
    name: 'd',
    type: 'double precision',
    kind: 'float8',
    values: [
      same(`'1.7976931348623157e308'`),
      same(`'-1.7976931348623157e308'`),
      same(`'2.2250738585072014e-308'`, '2.2250738585072014e-308 (smallest normal)'),
      same(`'5e-324'`, '5e-324 (subnormal)'),
      negativeZero(`'-0'`),
      same(`'0.1'`),
      refused(`'NaN'`, 'NaN'),
    ],
  },
  { name: 'ch', type: 'character(5)', kind: 'text', values: [same(`'abc'`, `'abc' (padded)`), same(`'😀😀😀😀😀'`, '5 four-byte emoji'), same(`''`, 'empty')] },
  {
    name: 'vc',
    type: 'varchar(10)',
    kind: 'text',
    values: [same(`'😀𝄞éaZ😀𝄞éaZ'`, '10 characters, 26 bytes'), same(`E'\\t\\n\\r\\x01\\x1f\\x7f'`, 'control characters (no NUL)'), same(`'a   '`, 'trailing spaces'), same(`E'\\\\ ''q'' "d"'`, 'backslash and quotes')],
  },
  { name: 'vcl', type: 'varchar(20000)', kind: 'text', values: [same(`repeat('😀', 20000)`, '20000 emoji (80000 bytes)')] },
  { name: 'tx', type: 'text', kind: 'text', values: [same(`repeat('x', 100000)`, '100000 characters'), same(`E'\\u2028\\u2029 e\\u0301 \\u00e9'`, 'U+2028/2029, combining mark'), same(`''`, 'empty')] },
  { name: 'by', type: 'bytea', kind: 'bin', values: [same(`'\\x00ff'`, '0x00FF'), same(`'\\x'`, 'empty'), same(`decode(repeat('00ff', 5000), 'hex')`, '10000 bytes of 00 FF')] },
  {
    name: 'dt',
    type: 'date',
    kind: 'date',
    values: [
      same(`'0001-01-01'`),
      same(`'9999-12-31'`),
      same(`'1000-01-01'`),
      same(`'2024-02-29'`),
      refused(`'infinity'`),
      refused(`'0044-03-15 BC'`),
      refused(`'10000-01-01'`),
    ],
  },
  {
    name: 'ts',
    type: 'timestamp(6)',
    kind: 'ts',
    values: [
      same(`'0001-01-01 00:00:00'`),
      same(`'9999-12-31 23:59:59.999999'`),
      same(`'2024-03-10 02:30:00.5'`),
      refused(`'infinity'`),
    ],
  },
  { name: 'ts0', type: 'timestamp(0)', kind: 'ts', values: [same(`'2024-01-01 23:59:59'`)] },
  { name: 'ts3', type: 'timestamp(3)', kind: 'ts', values: [same(`'2024-01-01 23:59:59.999'`)] },
  {
    name: 'tz',
    type: 'timestamptz(6)',
    kind: 'tstz',
    values: [
      same(`'0001-01-01 00:00:00+00'`),
      same(`'9999-12-31 23:59:59.999999+00'`),
      same(`'2000-01-01 00:00:00+05:30'`),
      same(`'1970-01-01 00:00:00+00'`),
      refused(`'9999-12-31 23:00:00-05'`, '9999-12-31 23:00:00-05 (year 10000 in UTC)'),
    ],
  },
  { name: 'tm', type: 'time(6)', kind: 'time', values: [same(`'00:00:00'`), same(`'23:59:59.999999'`), same(`'24:00:00'`)] },
  { name: 'tm0', type: 'time(0)', kind: 'time', values: [same(`'12:34:56'`)] },
  {
    name: 'js',
    type: 'json',
    kind: 'json',
    values: [
      same(`'{"big": 123456789012345678901234567890.5, "e": 1e400, "u": "\\u00e9\\ud83d\\ude00", "dup": 1, "dup": 2}'`, 'big numbers, 1e400, unicode escapes, duplicate keys'),
      same(`'[[[[[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]]]]]'`, '20 levels deep'),
    ],
  },
  { name: 'jb', type: 'jsonb', kind: 'json', values: [same(`'{"big": -123456789012345678901234567890.000001, "tiny": 1e-300, "s": "😀\\"\\\\"}'`, 'big number, 1e-300, escapes'), same(`'null'`), same(`'"x"'`)] },
  { name: 'uu', type: 'uuid', kind: 'text', values: [same(`'00000000-0000-0000-0000-000000000000'`), same(`'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF'`)] },
  {
    name: 'ip',
    type: 'inet',
    kind: 'inet',
    values: [same(`'0.0.0.0'`), same(`'255.255.255.255'`), same(`'10.0.0.0/8'`), same(`'192.168.1.5/24'`), same(`'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/120'`), same(`'::ffff:1.2.3.4'`), same(`'::1'`)],
  },
  { name: 'en', type: 'mood', kind: 'text', values: [same(`''`, 'empty label'), same(`'a b'`), same(`'ü😀'`), same(`'${'x'.repeat(63)}'`, '63-byte label')] },
  { name: 'b1', type: 'bit(1)', kind: 'bit', bits: 1, values: [same(`B'0'`), same(`B'1'`)] },
  { name: 'b64', type: 'bit(64)', kind: 'bit', bits: 64, values: [same(`B'${'1'.repeat(64)}'`, '64 ones'), same(`B'1${'0'.repeat(63)}'`, '1 then 63 zeros')] },
];

const PG_UNMAPPED = [
  { name: 'vb', type: 'bit varying(8)', shadowType: 'bit(8)' },
  { name: 'arr', type: 'integer[]', shadowType: 'json' },
  { name: 'iv', type: 'interval', shadowType: 'time(6)' },
  { name: 'mo', type: 'money', shadowType: 'decimal(19,2)' },
  { name: 'b65', type: 'bit(65)', shadowType: 'bit(64)' },
  { name: 'n70', type: 'numeric(70,2)', shadowType: 'decimal(65,2)' },
  { name: 'ttz', type: 'time with time zone', shadowType: 'time(6)' },
];

// ---------------------------------------------------------------------------------------------------------------
// MariaDB → PostgreSQL
// ---------------------------------------------------------------------------------------------------------------

const MYSQL_COLUMNS: Column[] = [
  { name: 'ti', type: 'tinyint', kind: 'int', values: [same('-128'), same('127')] },
  { name: 'tiu', type: 'tinyint unsigned', kind: 'int', values: [same('0'), same('255')] },
  { name: 'si', type: 'smallint', kind: 'int', values: [same('-32768'), same('32767')] },
  { name: 'siu', type: 'smallint unsigned', kind: 'int', values: [same('65535')] },
  { name: 'mi', type: 'mediumint', kind: 'int', values: [same('-8388608'), same('8388607')] },
  { name: 'miu', type: 'mediumint unsigned', kind: 'int', values: [same('16777215')] },
  { name: 'i', type: 'int', kind: 'int', values: [same('-2147483648'), same('2147483647')] },
  { name: 'iu', type: 'int unsigned', kind: 'int', values: [same('4294967295')] },
  { name: 'bi', type: 'bigint', kind: 'int', values: [same('-9223372036854775808'), same('9223372036854775807')] },
  { name: 'biu', type: 'bigint unsigned', kind: 'int', values: [same('18446744073709551615'), same('0')] },
  { name: 'bo', type: 'tinyint(1)', kind: 'bool', values: [same('0'), same('1')] },
  { name: 'd6530', type: 'decimal(65,30)', kind: 'dec', values: [same(NINES_65_30, '35 nines . 30 nines'), same(`-${NINES_65_30}`, '-(35 nines . 30 nines)'), same(`0.${'0'.repeat(29)}1`, '1e-30')] },
  { name: 'd650', type: 'decimal(65,0)', kind: 'dec', values: [same('9'.repeat(65), '65 nines')] },
  { name: 'd102', type: 'decimal(10,2)', kind: 'dec', values: [same('-99999999.99'), same('0.01')] },
  {
    name: 'fl',
    type: 'float',
    kind: 'float4',
    values: [same('3.4028234e38'), same('-3.4028234e38'), same('1.17549435e-38', '1.17549435e-38 (smallest normal)'), same('1.4e-45', '1.4e-45 (subnormal)'), same('-0e0', '-0'), same('0.1')],
  },
  {
    name: 'db',
    type: 'double',
    kind: 'float8',
    values: [same('1.7976931348623157e308'), same('-1.7976931348623157e308'), same('2.2250738585072014e-308', '2.2250738585072014e-308 (smallest normal)'), same('4.9406564584124654e-324', '5e-324 (subnormal)'), same('-0e0', '-0'), same('0.1')],
  },
  { name: 'ch', type: 'char(10)', kind: 'text', values: [same(`'abc'`), same(`REPEAT('😀', 10)`, '10 four-byte emoji'), same(`''`, 'empty')] },
  {
    name: 'vc',
    type: 'varchar(1000)',
    kind: 'text',
    values: [same(`REPEAT('😀', 1000)`, '1000 emoji (4000 bytes)'), same(`CONCAT('a', CHAR(9), CHAR(10), CHAR(13), CHAR(1), CHAR(31), CHAR(127))`, 'control characters (no NUL)'), same(`'trailing  '`, 'trailing spaces'), same(`'\\\\ ''q'' "d"'`, 'backslash and quotes')],
  },
  { name: 'tt', type: 'tinytext', kind: 'text', values: [same(`CONCAT(REPEAT('😀', 63), 'abc')`, '255 bytes (63 emoji + 3)')] },
  { name: 'tx', type: 'text', kind: 'text', values: [same(`REPEAT('é', 32767)`, '32767 × é (65534 bytes)')] },
  { name: 'mt', type: 'mediumtext', kind: 'text', values: [same(`REPEAT('x', 100000)`, '100000 characters')] },
  { name: 'lt', type: 'longtext', kind: 'text', values: [same(`'e${'\u0301'} ${'\u00e9'} ${'\u2028'}'`, 'combining mark, U+2028')] },
  { name: 'lat', type: 'varchar(20) CHARACTER SET latin1', kind: 'text', values: [same(`'é ß ÿ £ ©'`, 'latin1 é ß ÿ £ ©')] },
  { name: 'bn', type: 'binary(4)', kind: 'bin', values: [same(`x'00000000'`), same(`x'ffffffff'`), same(`x'01'`, "x'01' (zero-padded by MariaDB)")] },
  { name: 'vb', type: 'varbinary(10)', kind: 'bin', values: [same(`x''`, 'empty'), same(`x'00ff00ff00ff00ff00ff'`)] },
  { name: 'bl', type: 'blob', kind: 'bin', values: [same(`REPEAT(x'00ff', 5000)`, '10000 bytes of 00 FF')] },
  { name: 'lb', type: 'longblob', kind: 'bin', values: [same(`x'00'`)] },
  { name: 'dt', type: 'date', kind: 'date', values: [same(`'1000-01-01'`), same(`'9999-12-31'`), same(`'0001-01-01'`), same(`'2024-02-29'`)] },
  { name: 'dtm', type: 'datetime(6)', kind: 'ts', values: [same(`'1000-01-01 00:00:00.000000'`), same(`'9999-12-31 23:59:59.999999'`), same(`'0001-01-01 00:00:00'`)] },
  { name: 'dt0', type: 'datetime', kind: 'ts', values: [same(`'9999-12-31 23:59:59'`)] },
  { name: 'ts', type: 'timestamp(6) NULL', kind: 'tstz', values: [same(`'1970-01-01 00:00:01.000000'`), same(`'2038-01-19 03:14:07.999999'`)] },
  {
    name: 'tm',
    type: 'time(6)',
    kind: 'time',
    values: [same(`'00:00:00'`), same(`'23:59:59.999999'`), same(`'24:00:00'`), refused(`'-838:59:59'`), refused(`'838:59:59.999999'`, `'838:59:59.999999'`, STREAM), refused(`'-00:00:00.000001'`, `'-00:00:00.000001'`, STREAM)],
  },
  { name: 'yr', type: 'year', kind: 'year', values: [same('1901'), same('2155'), same('0', '0000')] },
  {
    name: 'js',
    type: 'json',
    kind: 'json',
    values: [
      same(`'{"big": 123456789012345678901234567890.5, "e": 1e400, "u": "\\\\u00e9\\\\ud83d\\\\ude00", "n": [[[[[[[[[[{}]]]]]]]]]]}'`, 'big numbers, 1e400, unicode escapes, nested'),
      same(`'"😀"'`),
      same(`'[]'`),
      refused(`'{"a": "\\\\u0000"}'`, '{"a": "\\u0000"}', STREAM),
    ],
  },
  { name: 'en', type: "enum('','a','ü€','x y')", kind: 'text', values: [same(`''`, 'empty label'), same(`'ü€'`), same(`'x y'`)] },
  { name: 'st', type: "set('a','b','c')", kind: 'text', values: [same(`''`, 'empty set'), same(`'a,b,c'`), same(`'b'`)] },
  { name: 'b1', type: 'bit(1)', kind: 'bit', bits: 1, values: [same(`b'0'`), same(`b'1'`)] },
  { name: 'b64', type: 'bit(64)', kind: 'bit', bits: 64, values: [same(`b'${'1'.repeat(64)}'`, '64 ones'), same(`b'1${'0'.repeat(63)}'`, '1 then 63 zeros')] },
  { name: 'uu', type: 'uuid', kind: 'text', values: [same(`'00000000-0000-0000-0000-000000000000'`), same(`'ffffffff-ffff-ffff-ffff-ffffffffffff'`)] },
  { name: 'i6', type: 'inet6', kind: 'inet', values: [same(`'::'`), same(`'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'`), same(`'::ffff:1.2.3.4'`)] },
  { name: 'i4', type: 'inet4', kind: 'inet', values: [same(`'0.0.0.0'`), same(`'255.255.255.255'`)] },
];

const MYSQL_UNMAPPED = [
  { name: 'pt', type: 'point', shadowType: 'bytea' },
  { name: 'f73', type: 'float(7,3)', shadowType: 'real' },
];

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL → PostgreSQL: the identical type on both sides, compared by its own text output.
// ---------------------------------------------------------------------------------------------------------------

const PG_PG_COLUMNS: Column[] = [
  { name: 'n', type: 'numeric', kind: 'raw', values: [same(`'NaN'`), same(`'Infinity'`), same(`'-Infinity'`), same(`1e-400`), same(`'1e1000'`)] },
  { name: 'r', type: 'real', kind: 'raw', values: [same(`'NaN'`), same(`'-Infinity'`), same(`'1e-45'`), same(`'-0'`)] },
  { name: 'd', type: 'double precision', kind: 'raw', values: [same(`'Infinity'`), same(`'5e-324'`), same(`'-0'`)] },
  { name: 'dt', type: 'date', kind: 'raw', values: [same(`'infinity'`), same(`'-infinity'`), same(`'4713-01-01 BC'`), same(`'5874897-12-31'`)] },
  { name: 'ts', type: 'timestamp(6)', kind: 'raw', values: [same(`'infinity'`), same(`'4713-01-01 00:00:00 BC'`), same(`'294276-12-31 23:59:59.999999'`)] },
  { name: 'tz', type: 'timestamptz(6)', kind: 'raw', values: [same(`'-infinity'`), same(`'0001-01-01 00:00:00+14'`)] },
  { name: 'tm', type: 'time(6)', kind: 'raw', values: [same(`'24:00:00'`)] },
  { name: 'ttz', type: 'time with time zone', kind: 'raw', values: [same(`'24:00:00-15:59'`), same(`'00:00:00+15:59'`)] },
  { name: 'iv', type: 'interval', kind: 'raw', values: [same(`'-178000000 years'`), same(`'1 mon -1 day 00:00:00.000001'`)] },
  { name: 'arr', type: 'text[]', kind: 'raw', values: [same(`ARRAY['a,b', NULL, '😀', '"q"']`), same(`'{{1,2},{3,4}}'`)] },
  { name: 'vb', type: 'bit varying', kind: 'raw', values: [same(`B'101'`), same(`B''`)] },
  { name: 'mo', type: 'money', kind: 'raw', values: [same(`'-92233720368547758.08'`)] },
  { name: 'js', type: 'json', kind: 'raw', values: [same(`'{"a":1,  "a":2, "z":"\\u0000"}'`, 'duplicate keys, white space, \\u0000')] },
  { name: 'x', type: 'xml', kind: 'raw', values: [same(`'<a b="1">😀</a>'`)] },
  { name: 'cidr', type: 'cidr', kind: 'raw', values: [same(`'10.0.0.0/8'`)] },
  { name: 'pt', type: 'point', kind: 'raw', values: [same(`'(1e300,-0)'`)] },
  { name: 'tv', type: 'tsvector', kind: 'raw', values: [same(`'a:1 b:2'`)] },
];

describe('type sweep: extreme values of every mapped type pair arrive identical or are refused naming the column', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs, start, cleanups } = suiteResources();

  it('PostgreSQL → MariaDB', { timeout: 600_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'sweep_src'), await createMysqlDatabase(mysqlUrl, 'sweep_dst')];
    dbs.push(src, dst);
    const conn = await connectMysql(dst.url, { timeZone: '+00:00' });
    cleanups.push(() => conn.end());
    const obs = await sweep(
      {
        label: 'PostgreSQL → MariaDB',
        source: pgSide(src),
        shadow: mysqlSide(dst, conn),
        columns: PG_COLUMNS,
        prelude: [`CREATE TYPE mood AS ENUM ('', 'a b', 'ü😀', '${'x'.repeat(63)}')`],
        unmapped: PG_UNMAPPED,
        pgc: src.admin,
        pgSource: src.admin,
      },
      start,
    );
    printReport(obs);
  });

  it('MariaDB → PostgreSQL', { timeout: 600_000 }, async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'sweep_src'), await createPgDatabase(pgUrl, 'sweep_dst')];
    dbs.push(src, dst);
    const conn = await connectMysql(src.url, { timeZone: '+00:00' });
    cleanups.push(() => conn.end());
    const obs = await sweep({ label: 'MariaDB → PostgreSQL', source: mysqlSide(src, conn), shadow: pgSide(dst), columns: MYSQL_COLUMNS, unmapped: MYSQL_UNMAPPED, pgc: dst.admin }, start);
    printReport(obs);
  });

  it('PostgreSQL → PostgreSQL', { timeout: 600_000 }, async () => {
    const [src, dst] = [await createPgDatabase(pgUrl, 'sweep_src'), await createPgDatabase(pgUrl, 'sweep_dst')];
    dbs.push(src, dst);
    const obs = await sweep({ label: 'PostgreSQL → PostgreSQL', source: pgSide(src), shadow: pgSide(dst), columns: PG_PG_COLUMNS, unmapped: [], pgc: src.admin, pgSource: src.admin }, start);
    printReport(obs);
  });
});

/**
 * Found by the sweep: MariaDB keeps ENUM/SET labels with 4-byte characters correctly in the data, but its data
 * dictionary (information_schema.COLUMNS.COLUMN_TYPE, SHOW CREATE TABLE) is utf8mb3 and shows `?` for each such
 * character. The binlog carries only the label's number, and the binlog reader (zongji, binlog_row_metadata=NO_LOG)
 * turns it into text from that dictionary, so the stream would write 'ü?' where the source holds 'ü😀'. Tandem cannot
 * read the true label anywhere the stream could use it, so `tandem check` refuses such a column early, naming it.
 */
describe('MariaDB ENUM and SET labels with 4-byte characters', () => {
  const pgUrl = inject('pgUrl');
  const mysqlUrl = inject('mysqlUrl');
  const { dbs } = suiteResources();

  it('tandem check fails naming the columns that hold them, warns where no row does yet, and passes once they are strings', { timeout: 180_000 }, async () => {
    const [src, dst] = [await createMysqlDatabase(mysqlUrl, 'label_src'), await createPgDatabase(pgUrl, 'label_dst')];
    dbs.push(src, dst);
    await src.admin.query(`CREATE TABLE labels (id int PRIMARY KEY, en enum('ü😀','x'), st set('😀','a'), later enum('🚀','y'), plain enum('A?','b'))`);
    await src.admin.query(`INSERT INTO labels VALUES (1, 'ü😀', '😀,a', 'y', 'A?'), (2, 'x', 'a', NULL, 'b')`);
    const config = writeConfig({ migration: uniqueName('labels'), old: { url: src.url }, new: { url: dst.url }, state: { dir: tempDir('tandem-state-') } });
    const applied = await runTandem(['schema', '--apply', '--config', config]);
    expect(applied.code, applied.stderr).toBe(0);
    const before = await runCheck(config);
    expect(before.code).toBe(1);
    const items = (before.report?.checks ?? []).filter((c) => c.id === 'mysql.enum_labels');
    expect(items.map((c) => [c.status, c.title.split(':')[0]])).toEqual([
      ['fail', 'labels.en'],
      ['fail', 'labels.st'],
      ['warn', 'labels.later'],
      ['warn', 'labels.plain'],
    ]);
    expect(items[0]?.detail).toContain("'ü😀'");
    expect(items[0]?.fix).toContain('MODIFY `en` VARCHAR(64) CHARACTER SET utf8mb4');
    // The fix the check gives works: as strings, the labels are data, and the stream carries them.
    await src.admin.query('ALTER TABLE labels MODIFY en VARCHAR(64) CHARACTER SET utf8mb4, MODIFY st VARCHAR(64) CHARACTER SET utf8mb4');
    const after = await runCheck(config);
    expect((after.report?.checks ?? []).filter((c) => c.id === 'mysql.enum_labels').map((c) => c.status)).toEqual(['warn', 'warn']);
  });
});
