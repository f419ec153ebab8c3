/**
 * The rollback plan (issue 17, `tandem plan`, GET /api/v1/plan): a document generated from the live state of the
 * migration, so it cannot go stale the way a wiki page does. It names the pair, the tables, the active side, the
 * exact commands (CLI and API) for cutover, rollback and emergency rollback, the gates as they evaluate now, the
 * write-unavailability window to expect (from the last switches' certificates and drills), what the application
 * must do, who owns and approves it, the risks Tandem can see for this pair, the last drill and the last review.
 *
 * The running service builds it with its own gates (lag and apply state are only known there); without a service,
 * the CLI builds it from the databases and says the live gates cannot pass.
 */
import type { TandemConfig } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { engineForUrl } from '../engines/registry.js';
import type { ControlState, Phase, SwitchKind } from '../model/control.js';
import { sidesOf, type SideName } from '../model/direction.js';
import type { AuditEntry, Gate } from '../model/switch.js';
import { replicatedTables } from '../replicate/tables.js';
import { evaluateGates, type LiveFacts } from './gates.js';
import { lastDrillOf, readMaterial, reviewState, type LastDrill, type PlanMaterial, type ReviewState } from './plan-review.js';
import { runPreflight } from './preflight.js';
import type { StateStore } from './state-store.js';

export interface PlanCommand {
  /** What an operator types (the config file is passed as --config). */
  cli: string;
  /** The same through the control API: method, path and body (an operate token). */
  api: string;
  /** Whether it can be run from the current phase. */
  availableNow: boolean;
  note: string;
}

export interface PlanRisk {
  /** `lossy-mapping`, `trigger`, `sequences`, `ddl`, `binlog-retention`, `shadow-unfenced`, `check` (another warning of tandem check). */
  kind: string;
  detail: string;
  fix?: string;
}

export interface RollbackPlan {
  migration: string;
  generatedAt: string;
  phase: Phase;
  activeSide: SideName;
  shadowSide: SideName;
  pair: Record<SideName, { engine: string; host: string; database: string }>;
  /** Row counts are the active side's estimates (statistics), not exact counts. */
  tables: Array<{ table: string; rows: number | null }>;
  /** The switch the gates below are evaluated for (the next one from this phase, or --for). */
  gatesFor: SwitchKind;
  /** `service`: the running service's gates (live lag and apply state); `databases`: no service answered. */
  gatesSource: 'service' | 'databases';
  commands: { cutover: PlanCommand; rollback: PlanCommand; emergencyRollback: PlanCommand };
  gates: Array<Pick<Gate, 'name' | 'ok' | 'value' | 'threshold' | 'detail'>>;
  /** The longest window of the recent switches and drills; null before any switch. */
  expectedWindowMs: number | null;
  windowBasis: string;
  application: string[];
  risks: PlanRisk[];
  owners: string[];
  contacts: string[];
  approvers: string[];
  lastDrill: LastDrill | null;
  review: ReviewState;
  material: PlanMaterial;
  /** What could not be read while building the plan (the rest is still right). */
  errors: string[];
}

export interface PlanOptions {
  /** Evaluate the gates of this switch instead of the next one from the phase. */
  for?: SwitchKind;
  /** The running service's gates; without them the plan evaluates what the databases alone can say. */
  gates?: (kind: SwitchKind, control: ControlState) => Promise<Gate[]>;
  /** How the config file is named in the commands (default tandem.yaml). */
  configFile?: string;
}

/** The live facts when no service runs: the gates that need it fail, saying why. */
const NO_SERVICE: LiveFacts = { lagSeconds: null, runState: 'not running (no tandem run answered)', lastError: null, failed: false, switchRunning: false };

/** Windows recorded by the last switches (certificates) and drills, newest last. */
function recentWindows(audit: AuditEntry[]): number[] {
  const out: number[] = [];
  for (const e of audit) {
    if ((e.action === 'cutover' || e.action === 'rollback') && (e.event === 'done' || e.event === 'recovered-done') && typeof e.windowMs === 'number') out.push(e.windowMs);
  }
  return out.slice(-10);
}

function hostOf(url: string): { engine: string; host: string; database: string } {
  const u = new URL(url);
  return { engine: engineForUrl(url).label, host: u.host, database: decodeURIComponent(u.pathname.replace(/^\//, '')) };
}

export function planCommands(config: TandemConfig, phase: Phase, configFile = 'tandem.yaml'): RollbackPlan['commands'] {
  const c = configFile === 'tandem.yaml' ? '' : ` --config ${configFile}`;
  return {
    cutover: {
      cli: `tandem cutover${c} --dry-run && tandem cutover${c} --yes`,
      api: 'POST /api/v1/cutover {"expectedPhase":"shadowing"} (operate token)',
      availableNow: phase === 'shadowing',
      note: 'fence old, drain it into new, make new active; old then follows new (the reverse stream)',
    },
    rollback: {
      cli: `tandem rollback${c} --dry-run && tandem rollback${c} --yes`,
      api: 'POST /api/v1/rollback {"expectedPhase":"cutover"} (operate token)',
      availableNow: phase === 'cutover',
      note: 'fence new, drain it into old, make old active again; nothing written on new is lost',
    },
    emergencyRollback: {
      cli: `tandem rollback${c} --emergency --accept-data-loss --yes`,
      api: 'POST /api/v1/rollback {"expectedPhase":"cutover","emergency":true,"acceptDataLoss":true} (operate token)',
      availableNow: phase === 'cutover',
      note: `only when new is unreachable: old becomes active without draining new (tries ${config.cutover.emergencyFenceTimeout} ms to fence new); changes on new that did not reach old are lost, and new must be copied again (tandem backfill --yes) afterwards`,
    },
  };
}

function applicationDuties(config: TandemConfig): string[] {
  const hooks = config.hooks.onSwitch;
  return [
    'follow the active side: read activeSide from GET /api/v1/status (or tandem status --json) and send writes there only',
    hooks.length
      ? `hooks.onSwitch tells the application (${hooks.map((h) => h.name ?? h.command?.[0] ?? h.url ?? 'hook').join(', ')}): before the new side is unfenced, and after the switch`
      : 'no hooks.onSwitch is configured: nothing tells the application that a switch happened; it must poll the status, or add a hook',
    'writes that reach the fenced side fail (PostgreSQL SQLSTATE 25006 read_only_sql_transaction, MariaDB error 1290 read-only): retry them against the active side; they were not applied',
    `expect writes to be refused for the window (below) while the switch fences one side and unfences the other; writes held longer than cutover.fenceTimeout (${config.cutover.fenceTimeout} ms) in an open transaction are ended`,
  ];
}

/** The risks Tandem can see for this pair: from tandem check's warnings, the counters, and the configuration. */
async function risksOf(config: TandemConfig, tables: string[], activeSide: SideName, errors: string[]): Promise<PlanRisk[]> {
  const risks: PlanRisk[] = [];
  try {
    const report = await runPreflight(config);
    for (const item of report.checks) {
      if (item.status === 'pass') continue;
      const id = item.id;
      const kind = id.includes('trigger')
        ? 'trigger'
        : /binlog.*(retention|expire)|retention/.test(id)
          ? 'binlog-retention'
          : id.startsWith('schema.') || id.includes('value') || id.includes('zero_date') || (item.columns?.length ?? 0) > 0
            ? 'lossy-mapping'
            : 'check';
      const cols = item.columns?.length ? ` (${item.columns.map((c) => `${c.column}: ${c.detail}`).join('; ')})` : '';
      risks.push({ kind, detail: `${item.status === 'fail' ? 'FAILS tandem check: ' : ''}${item.side}: ${item.title}: ${item.detail}${cols}`, ...(item.fix ? { fix: item.fix } : {}) });
    }
  } catch (err) {
    errors.push(`tandem check could not run: ${errorMessage(err)}`);
  }
  try {
    const side = await engineForUrl(config[activeSide].url).openSwitchSide(config[activeSide].url);
    try {
      const counters = await side.counters(tables);
      if (counters.length) {
        risks.push({
          kind: 'sequences',
          detail: `${counters.length} counter(s) (${counters.map((c) => `${c.table}.${c.column}`).join(', ')}) are not replicated: each switch advances them on the side becoming active past the other side's values (H19)`,
          fix: 'keep inserts that choose their own ids below the counters; tandem status shows rollback.ready (sequences) after a cutover',
        });
      }
    } finally {
      await side.close();
    }
  } catch (err) {
    errors.push(`counters: ${errorMessage(err)}`);
  }
  risks.push({
    kind: 'ddl',
    detail: 'a schema change (DDL) on a replicated table stops replication until the same change is made on the shadow (TANDEM_CAPTURE_DDL, H9): until then the shadow falls behind and the lag gate refuses a switch',
    fix: 'freeze schema changes during the migration, or make each change on the shadow too, then restart tandem run',
  });
  if (!config.fence.shadow) {
    risks.push({ kind: 'shadow-unfenced', detail: 'fence.shadow is false: a misrouted application can write to the shadow between switches, and that write is lost or overwritten', fix: 'set fence.shadow: true' });
  }
  return risks;
}

async function rowEstimates(config: TandemConfig, side: SideName, tables: string[], errors: string[]): Promise<RollbackPlan['tables']> {
  try {
    const reader = await engineForUrl(config[side].url).captureSource({ url: config[side].url, migration: config.migration, side }).openReader(undefined);
    try {
      const out: RollbackPlan['tables'] = [];
      for (const t of tables) out.push({ table: t, rows: await reader.estimateRows(t).catch(() => null) });
      return out;
    } finally {
      await reader.close();
    }
  } catch (err) {
    errors.push(`row counts: ${errorMessage(err)}`);
    return tables.map((t) => ({ table: t, rows: null }));
  }
}

export async function buildPlan(config: TandemConfig, store: StateStore, opts: PlanOptions = {}): Promise<RollbackPlan> {
  const errors: string[] = [];
  const control = (await store.readControl())?.state;
  const state: ControlState = control ?? { phase: 'setup', direction: 'forward', activeSide: 'old', switch: null, resyncRequired: false, updatedAt: new Date().toISOString(), updatedBy: 'nobody' };
  const { active, shadow } = sidesOf(state.direction);
  const tables = await replicatedTables(config, state.direction);
  const gatesFor: SwitchKind = opts.for ?? (state.phase === 'cutover' || state.phase === 'rolling-back' ? 'rollback' : 'cutover');

  let gates: Gate[];
  if (opts.gates) gates = await opts.gates(gatesFor, state);
  else {
    gates = await evaluateGates({ config, kind: gatesFor, control: state, live: NO_SERVICE, tables, verification: await store.readVerification(state.direction).catch(() => []), allowDrift: false, store });
  }
  let audit: AuditEntry[] = [];
  try {
    audit = await store.listAudit();
  } catch (err) {
    errors.push(`audit log: ${errorMessage(err)}`);
  }
  const { material } = await readMaterial(config, tables);
  const windows = recentWindows(audit);
  const lastDrill = lastDrillOf(audit);
  const drillWindow = lastDrill?.maxWindowMs ?? null;
  const all = [...windows, ...(drillWindow !== null ? [drillWindow] : [])];
  const expectedWindowMs = all.length ? Math.max(...all) : null;
  const windowBasis = all.length
    ? `the longest of ${windows.length} recent switch window(s)${drillWindow !== null ? ' and the last drill' : ''}: ${all.map((w) => `${w} ms`).join(', ')}`
    : `no switch or drill has run yet: expect up to cutover.fenceTimeout + cutover.drainTimeout (${config.cutover.fenceTimeout + config.cutover.drainTimeout} ms) in the worst case; run tandem drill on a staging pair to measure it`;
  const [rows, risks] = await Promise.all([rowEstimates(config, active, tables, errors), risksOf(config, tables, active, errors)]);
  return {
    migration: config.migration,
    generatedAt: new Date().toISOString(),
    phase: state.phase,
    activeSide: state.activeSide,
    shadowSide: shadow,
    pair: { old: hostOf(config.old.url), new: hostOf(config.new.url) },
    tables: rows,
    gatesFor,
    gatesSource: opts.gates ? 'service' : 'databases',
    commands: planCommands(config, state.phase, opts.configFile),
    gates: gates.map((g) => ({ name: g.name, ok: g.ok, value: g.value, threshold: g.threshold, detail: g.detail })),
    expectedWindowMs,
    windowBasis,
    application: applicationDuties(config),
    risks,
    owners: config.plan.owners,
    contacts: config.plan.contacts,
    approvers: config.plan.approvers,
    lastDrill,
    review: reviewState(audit, material),
    material,
    errors,
  };
}
