import type { Command } from 'commander';
import type { TandemConfig } from '../../config/schema.js';
import { TandemError } from '../../errors.js';
import { sidesOf, type Direction } from '../../model/direction.js';
import type { EngineKind } from '../../model/schema.js';
import type { SideName } from '../../model/direction.js';
import { engineForUrl } from '../../engines/registry.js';
import type { EngineModule, SchemaDialect, SchemaSide } from '../../engines/engine.js';
import type { ColumnProblem, DdlTable, TablePlan } from '../../model/ddl.js';
import type { ColumnCheck } from '../../engines/shared/checks.js';
import { compareTableSchemas } from '../../schema/compat.js';
import {
  commentText,
  missingIndexes,
  renderTableScript,
  translateTable,
} from '../../schema/translate.js';
import { replicatedTables } from '../../replicate/tables.js';
import { confirm, printJson, printOut } from '../output.js';
import { loadCliConfig } from '../context.js';
import { Option } from 'commander';
import { StateStore } from '../../control/state-store.js';
import { storedDirection } from '../../control/verification.js';

interface TableReport {
  name: string;
  /** The table's reviewable script: header, warnings as comments, statements. */
  sql: string;
  statements: string[];
  warnings: string[];
}

interface Difference {
  table: string;
  status: 'fail' | 'warn';
  title: string;
  detail: string;
  /** Per column, when the difference stands for several columns of the table (see CheckItem.columns). */
  columns?: ColumnCheck[];
}

interface SchemaReport {
  migration: string;
  direction: Direction;
  from: { side: SideName; engine: EngineKind };
  to: { side: SideName; engine: EngineKind };
  tables: TableReport[];
  /** Included tables that do not exist on the source side. */
  missing: string[];
  /** Columns whose type has no equivalent on the target: their tables are not translated. */
  errors: ColumnProblem[];
  applied?: { created: string[]; existed: string[]; differences: Difference[] };
}


/**
 * The target server's own dialect (which collations it has decides how key columns are created); the engine's
 * general one when the target cannot be reached, since printing the DDL for review needs no target.
 */
async function targetDialect(to: EngineModule, side: SideName, url: string): Promise<SchemaDialect> {
  let target: SchemaSide;
  try {
    target = await to.openSchemaSide(side, url);
  } catch {
    return to.dialect;
  }
  await target.close();
  return target.dialect;
}

async function translate(config: TandemConfig, direction: Direction): Promise<{ report: SchemaReport; plans: TablePlan[]; source: Map<string, DdlTable> }> {
  const { active, shadow } = sidesOf(direction);
  const from = engineForUrl(config[active].url);
  const to = engineForUrl(config[shadow].url);
  const fromEngine = from.kind;
  const toEngine = to.kind;
  const dialect = await targetDialect(to, shadow, config[shadow].url);
  const names = await replicatedTables(config, direction);
  const side = await from.openSchemaSide(active, config[active].url);
  let described;
  try {
    described = await side.describe(names);
  } finally {
    await side.close();
  }
  const report: SchemaReport = {
    migration: config.migration,
    direction,
    from: { side: active, engine: fromEngine },
    to: { side: shadow, engine: toEngine },
    tables: [],
    missing: names.filter((n) => !described.has(n)),
    errors: [],
  };
  const plans: TablePlan[] = [];
  for (const name of names) {
    const table = described.get(name);
    if (!table) continue;
    const { plan, problems } = translateTable(table, fromEngine, dialect);
    report.errors.push(...problems);
    if (!plan) continue;
    plans.push(plan);
    report.tables.push({ name, sql: renderTableScript(plan, dialect), statements: dialect.render(plan).map((s) => s.sql), warnings: plan.warnings });
  }
  return { report, plans, source: described };
}

function renderText(report: SchemaReport): string {
  const { from, to } = report;
  const lines = [
    `-- tandem schema for migration ${report.migration}: ${from.side} (${from.engine}) → ${to.side} (${to.engine}), ${report.tables.length} table(s)`,
    `-- for review: "warning" comments mark what the translation changes or cannot carry over`,
  ];
  for (const t of report.tables) lines.push('', t.sql);
  if (report.applied) {
    const a = report.applied;
    lines.push('', `-- applied on ${to.side} (${to.engine}):`);
    lines.push(`--   created: ${a.created.map(commentText).join(', ') || 'none'}`);
    lines.push(`--   already existed (left alone): ${a.existed.map(commentText).join(', ') || 'none'}`);
    for (const d of a.differences) lines.push(`--   ${d.status === 'fail' ? 'DIFFERS' : 'note'}: ${commentText(d.table)}: ${commentText(d.title)} — ${commentText(d.detail)}`);
  }
  return lines.join('\n');
}

function problemsError(report: SchemaReport): TandemError {
  const lines = [
    ...report.missing.map((t) => `table ${t} does not exist on ${report.from.side}`),
    ...report.errors.map((e) => `column ${e.table}.${e.column} (${e.nativeType}) does not map to ${report.to.engine}: ${e.reason}`),
  ];
  return new TandemError('TANDEM_SCHEMA_UNSUPPORTED', `cannot translate every included table:\n  ${lines.join('\n  ')}`, {
    fix: 'change the column type on the source, or exclude the table in tandem.yaml (exclude: [...]); nothing was created',
  });
}

async function apply(config: TandemConfig, report: SchemaReport, plans: TablePlan[], source: Map<string, DdlTable>): Promise<void> {
  const { to, from } = report;
  const target = await engineForUrl(config[to.side].url).openSchemaSide(to.side, config[to.side].url);
  try {
    const { created, existed } = await target.createMissing(plans);
    const differences: Difference[] = [];
    const existing = await target.describe(existed);
    for (const name of existed) {
      const there = existing.get(name);
      const src = source.get(name);
      const plan = plans.find((p) => p.name === name);
      if (!there || !src || !plan) continue;
      const srcSide = { engine: from.engine, table: src };
      const tgtSide = { engine: to.engine, table: there };
      const [oldSide, newSide] = from.side === 'old' ? [srcSide, tgtSide] : [tgtSide, srcSide];
      for (const item of compareTableSchemas(name, oldSide, newSide)) {
        if (item.status === 'pass') continue;
        differences.push({ table: name, status: item.status, title: item.title, detail: item.detail, ...(item.columns ? { columns: item.columns } : {}) });
      }
      for (const m of missingIndexes(plan, there)) differences.push({ table: name, status: 'warn', title: `index ${m.index}`, detail: m.detail });
    }
    report.applied = { created, existed, differences };
  } finally {
    await target.close();
  }
}

/** The stored direction; forward when the store cannot be read yet (schema translation comes before the first run). */
async function directionOf(config: TandemConfig): Promise<Direction> {
  const store = new StateStore(config);
  try {
    return await storedDirection(store);
  } catch {
    return 'forward';
  } finally {
    await store.close();
  }
}

export function registerSchema(program: Command): void {
  program
    .command('schema')
    .description('print the DDL that creates the included tables on the shadow side, translated between engines; --apply creates the missing ones')
    .addOption(new Option('--direction <direction>', 'translate old → new (forward) or new → old (reverse); default: the migration\'s stored direction').choices(['forward', 'reverse']))
    .option('--apply', 'create the tables that do not exist on the shadow side (never drops or alters anything)')
    .option('--dry-run', 'only print the DDL (the default)')
    .option('--yes', 'do not ask for confirmation on a terminal')
    .option('--json', 'print a machine-readable report')
    .action(async (opts: { direction: Direction; apply?: boolean; dryRun?: boolean; yes?: boolean; json?: boolean }, cmd: Command) => {
      if (opts.apply && opts.dryRun) throw new TandemError('TANDEM_USAGE', '--apply and --dry-run exclude each other', { fix: 'pass one of them' });
      const { config } = loadCliConfig(cmd);
      const direction = opts.direction ?? (await directionOf(config));
      const { report, plans, source } = await translate(config, direction);
      const failed = report.errors.length > 0 || report.missing.length > 0;
      if (opts.apply && !failed) {
        // Creating missing tables is additive, so only an operator at a terminal is asked; scripts run without a prompt.
        if (process.stdin.isTTY && !opts.yes) {
          process.stderr.write(`${renderText(report)}\n\n`);
          if (!(await confirm(`Create the missing tables on ${report.to.side} (${report.to.engine})? [y/N] `))) {
            throw new TandemError('TANDEM_USAGE', 'schema --apply cancelled', { fix: 'nothing was changed' });
          }
        }
        await apply(config, report, plans, source);
      }
      if (opts.json) printJson(report);
      else printOut(renderText(report));
      if (failed) throw problemsError(report);
    });
}
