// The Tandem dashboard: state from GET /api/v1/status, live changes from the events stream, switches through the
// control API with a dry-run preview and a typed confirmation. Plain ES modules, no build step.
import { api, errorText, getInOrder, setCsrf } from './api.js';
import { drawChart } from './chart.js';
import { initPlan, refreshPlan } from './plan.js';
import { refreshApprovals, renderApprovals, setupApprovals } from './approvals.js';

const $ = (id) => document.getElementById(id);
const ROLE_RANK = { read: 1, operate: 2, admin: 3 };

const state = {
  session: null,
  status: null,
  samples: [],
  gates: { cutover: null, rollback: null },
  running: null,
  events: null,
};

// --- formatting -------------------------------------------------------------------------------------------------

function fmtSeconds(s) {
  if (s === null || s === undefined) return '–';
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.round(s / 60)} min`;
}

function fmtBytes(b) {
  if (b === null || b === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = b;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

function fmtTime(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function text(tag, content, cls) {
  const e = document.createElement(tag);
  if (content !== undefined && content !== null) e.textContent = String(content);
  if (cls) e.className = cls;
  return e;
}

// --- login ------------------------------------------------------------------------------------------------------

function showLogin(message) {
  state.session = null;
  setCsrf(null);
  if (state.events) state.events.close();
  state.events = null;
  $('dash').hidden = true;
  $('who').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message || '';
  $('token').focus();
}

async function login(event) {
  event.preventDefault();
  const input = $('token');
  const token = input.value;
  // The token leaves the page with this request and is not kept: not in the field, the URL or any storage.
  input.value = '';
  const r = await api('POST', '/api/v1/session', { token });
  if (!r.ok) {
    showLogin(r.status === 401 ? 'That token is not one of api.tokens.' : errorText(r));
    return;
  }
  start(r.json);
}

async function logout() {
  // Forget the session before the server does, so the event stream closing or a request answered 401 meanwhile
  // is not taken for a session that ended on its own.
  state.session = null;
  if (state.events) state.events.close();
  state.events = null;
  await api('DELETE', '/api/v1/session');
  showLogin('Logged out.');
}

// A 401 while logged in: the session expired or was revoked. After a logout there is nothing to report.
function sessionEnded() {
  if (state.session) showLogin('The session ended: log in again.');
}

// --- loading and rendering --------------------------------------------------------------------------------------

function start(session) {
  state.session = session;
  setCsrf(session.csrfToken);
  $('login').hidden = true;
  $('dash').hidden = false;
  $('who').hidden = false;
  $('who-text').textContent = `${session.actor} (${session.role})`;
  openEvents();
  void refreshAll();
}

async function refreshAll() {
  void refreshPlan();
  await Promise.all([refreshStatus(), refreshSamples(), refreshAudit(), refreshApprovals()]);
  await refreshGates();
}

async function refreshStatus() {
  const r = await getInOrder('/api/v1/status');
  if (!r) return;
  if (r.status === 401) return sessionEnded();
  if (!r.ok) return;
  state.status = r.json;
  renderStatus();
  renderSwitches();
  renderApprovals();
}

async function refreshSamples() {
  const r = await getInOrder('/api/v1/samples');
  if (!r || !r.ok) return;
  state.samples = r.json.samples;
  renderCharts();
}

async function refreshAudit() {
  const r = await getInOrder('/api/v1/audit');
  if (!r || !r.ok) return;
  renderAudit(r.json.entries);
}

async function refreshGates() {
  for (const kind of ['cutover', 'rollback']) {
    const r = await api('GET', `/api/v1/gates/${kind}`);
    state.gates[kind] = r.ok ? r.json : { error: errorText(r) };
  }
  renderSwitches();
}

function renderStatus() {
  const s = state.status;
  $('migration').textContent = s.migration;
  const phase = $('phase');
  phase.textContent = s.switch ? `${s.phase} (${s.switch.step})` : s.phase;
  phase.className = `big ${s.phase === 'cutting-over' || s.phase === 'rolling-back' ? 'switching' : ''}`;
  $('active-side').textContent = s.activeSide;
  $('direction').textContent = s.direction === 'forward' ? 'forward (old → new)' : 'reverse (new → old)';
  const rb = $('rollback-ready');
  const reasons = $('rollback-reasons');
  reasons.replaceChildren();
  if (s.phase !== 'cutover' || !s.rollback) {
    // Readiness is a question after a cutover; before it, "no" would read as an alarm.
    rb.textContent = s.phase === 'cutover' ? 'unknown' : 'n/a';
    rb.className = 'big';
    reasons.append(text('li', s.phase === 'cutover' ? 'no running service reports readiness' : `a rollback follows a cutover; the migration is in ${s.phase}`, 'muted'));
  } else {
    rb.textContent = s.rollback.ready ? 'yes' : 'no';
    rb.className = `big ${s.rollback.ready ? 'yes' : 'no'}`;
    for (const reason of s.rollback.reasons) reasons.append(text('li', reason));
  }
  const svc = s.service;
  $('service-line').textContent = svc ? `service ${svc.state} on ${svc.host} (pid ${svc.pid}), lease epoch ${svc.epoch}` : 'no service holds the lease';
  const err = $('last-error');
  err.hidden = !s.lastError;
  err.textContent = s.lastError ? `Last error: ${s.lastError}` : '';
  $('lag-seconds').textContent = fmtSeconds(s.lag.seconds);
  $('lag-bytes').textContent = fmtBytes(s.lag.bytes);
  $('applied').textContent = String(s.appliedTransactions);
  renderVerification();
}

function renderVerification() {
  const v = state.status.verification;
  const verifier = state.status.verifier;
  const summary = $('verification-summary');
  const body = $('drift-table').querySelector('tbody');
  body.replaceChildren();
  if (!v) {
    summary.textContent = 'No verification yet.';
    return;
  }
  const passes = verifier ? `; ${verifier.passesCompleted} passes completed since the service started` : '';
  summary.textContent = `${v.driftCount} drifted row${v.driftCount === 1 ? '' : 's'}; last complete pass over every table: ${fmtTime(v.lastCompletePass)}${passes}.`;
  for (const t of v.tables) {
    const row = document.createElement('tr');
    row.dataset.table = t.table;
    const kinds = {};
    let first = null;
    let last = null;
    for (const d of t.drift) {
      kinds[d.kind] = (kinds[d.kind] || 0) + 1;
      if (!first || d.firstSeen < first) first = d.firstSeen;
      if (!last || d.lastSeen > last) last = d.lastSeen;
    }
    const byKind = Object.entries(kinds).map(([k, n]) => `${k}: ${n}`).join(', ');
    const th = text('th', t.table);
    th.scope = 'row';
    row.append(th, text('td', t.state), text('td', t.rowsCompared), text('td', byKind || 'none', byKind ? 'drift' : ''), text('td', fmtTime(first)), text('td', fmtTime(last)), text('td', fmtTime(t.lastPassCompletedAt)));
    body.append(row);
  }
}

function renderCharts() {
  const pts = state.samples;
  drawChart($('chart-seconds'), pts.map((p) => ({ t: p.t, v: p.lagSeconds })), (v) => fmtSeconds(v));
  drawChart($('chart-bytes'), pts.map((p) => ({ t: p.t, v: p.lagBytes })), (v) => fmtBytes(Math.round(v)));
  const last = pts[pts.length - 1];
  if (last) {
    $('tx-rate').textContent = last.txPerSecond === null ? '–' : last.txPerSecond.toFixed(1);
    $('lag-seconds').textContent = fmtSeconds(last.lagSeconds);
    if (last.lagBytes !== null) $('lag-bytes').textContent = fmtBytes(last.lagBytes);
    $('applied').textContent = String(last.appliedTransactions);
  }
}

function renderAudit(entries) {
  const body = $('audit-table').querySelector('tbody');
  body.replaceChildren();
  const certs = $('certificates');
  certs.replaceChildren();
  for (const e of [...entries].reverse().slice(0, 100)) {
    const row = document.createElement('tr');
    row.append(text('td', fmtTime(e.at)), text('td', e.action), text('td', e.event), text('td', e.actor), text('td', e.phase), text('td', e.activeSide), text('td', e.windowMs === null || e.windowMs === undefined ? '' : `${e.windowMs} ms`));
    body.append(row);
    if (e.certificate) certs.append(certificateDetails(e.certificate));
  }
  if (!body.childElementCount) {
    const row = document.createElement('tr');
    const cell = text('td', 'No entries yet: switches, dry runs, repairs and finalize are recorded here.', 'muted');
    cell.colSpan = 7;
    row.append(cell);
    body.append(row);
  }
  if (!certs.childElementCount) certs.append(text('p', 'No switch has completed yet.', 'muted'));
}

function certificateDetails(c) {
  const d = document.createElement('details');
  d.append(text('summary', `${c.kind} ${c.from} → ${c.to} by ${c.actor}, ${fmtTime(c.completedAt)}: window ${c.windowMs} ms`));
  const tables = (c.tables || []).map((t) => `${t.table}: ${t.rows} rows`).join('; ');
  if (tables) d.append(text('p', tables));
  d.append(text('pre', JSON.stringify(c, null, 2)));
  return d;
}

// --- switches ---------------------------------------------------------------------------------------------------

const SWITCH = {
  cutover: { label: 'Cut over to new', phase: 'shadowing', verb: 'cutover' },
  rollback: { label: 'Roll back to old', phase: 'cutover', verb: 'rollback' },
};

/** Why `kind` cannot be asked for now, or null when it can. */
function blockedBecause(kind) {
  const session = state.session;
  const s = state.status;
  if (!session || !s) return 'loading…';
  if (ROLE_RANK[session.role] < ROLE_RANK.operate) return `your token (${session.actor}) has role ${session.role}; switching needs operate`;
  if (state.running) return `a ${state.running} is running`;
  if (s.switch) return `a ${s.switch.kind} is in progress (step ${s.switch.step})`;
  if (s.phase !== SWITCH[kind].phase) return `a ${kind} starts from phase ${SWITCH[kind].phase}; the migration is in ${s.phase}`;
  const g = state.gates[kind];
  if (!g) return 'checking the gates…';
  if (g.error) return g.error;
  const failing = g.gates.filter((x) => !x.ok);
  if (failing.length) return `refused by ${failing.map((x) => `${x.name}: ${x.detail}`).join('; ')}`;
  return null;
}

function renderSwitches() {
  for (const kind of ['cutover', 'rollback']) {
    const why = blockedBecause(kind);
    const button = $(`${kind}-button`);
    button.disabled = why !== null;
    $(`${kind}-why`).textContent = why === null ? 'every gate passes: the button shows a dry run first' : why;
  }
}

let pending = null;

async function preview(kind) {
  const s = state.status;
  const r = await api('POST', `/api/v1/${kind}`, { expectedPhase: s.phase, dryRun: true });
  const result = r.json || {};
  pending = { kind, expectedPhase: s.phase };
  $('confirm-title').textContent = `${SWITCH[kind].label}: dry run`;
  const gates = $('confirm-gates');
  gates.replaceChildren();
  for (const g of result.gates || []) gates.append(text('li', `${g.name}: ${g.detail}`, g.ok ? 'ok' : 'fail'));
  const steps = $('confirm-steps');
  steps.replaceChildren();
  for (const step of result.steps || []) steps.append(text('li', step));
  const can = r.ok && result.result === 'dry-run';
  $('confirm-result').textContent = can ? 'Every gate passes. Nothing has changed yet.' : `Refused: ${errorText(r)}`;
  $('confirm-typed').hidden = !can;
  $('confirm-name').textContent = s.migration;
  $('confirm-input').value = '';
  $('confirm-go').textContent = `Run ${kind}`;
  $('confirm-go').disabled = true;
  $('confirm').showModal();
  if (can) $('confirm-input').focus();
}

function typedOk() {
  $('confirm-go').disabled = !(pending && $('confirm-input').value === state.status.migration);
}

async function runSwitch() {
  if (!pending) return;
  const { kind, expectedPhase } = pending;
  pending = null;
  $('confirm').close();
  beginRun(kind, `${kind} requested…`);
  const r = await api('POST', `/api/v1/${kind}`, { expectedPhase });
  await endRun(kind, r);
}

// A switch run from the page: its buttons or an approval (approvals.js) show its steps and result the same way.
function beginRun(kind, message) {
  state.running = kind;
  renderSwitches();
  renderApprovals();
  $('live-title').hidden = false;
  $('live-steps').replaceChildren();
  $('switch-outcome').replaceChildren(text('p', message));
}

async function endRun(kind, r) {
  state.running = null;
  showOutcome(kind, r);
  await refreshAll();
}

function showOutcome(kind, r) {
  const box = $('switch-outcome');
  box.replaceChildren();
  const result = r.json || {};
  const div = document.createElement('div');
  div.className = `outcome ${result.result === 'done' ? '' : 'failed'}`;
  div.id = 'outcome-box';
  if (result.result === 'pending-approval') {
    // Two-person approval (docs/approvals.md): approvals.js lists the request under "Waiting for approval".
    div.append(text('p', `${kind} waits for a second person's approval (request ${result.requestId}): it is listed under Waiting for approval.`));
  } else if (result.result === 'done') {
    const approval = result.approval && result.approval.approvedBy ? ` Requested by ${result.approval.requestedBy}, approved by ${result.approval.approvedBy}.` : '';
    div.append(text('p', `${kind} done: ${result.activeSide} is active (phase ${result.phase}).${approval}`));
    div.append(text('p', `Write-unavailability window: ${result.windowMs} ms`, 'window'));
    if (result.certificate) div.append(certificateDetails(result.certificate));
  } else {
    div.append(text('p', `${kind} ${result.result || 'failed'}: ${result.error ? `${result.error.message}${result.error.fix ? ` (${result.error.fix})` : ''}` : errorText(r)}`));
  }
  box.append(div);
}

// --- live events ------------------------------------------------------------------------------------------------

let statusTimer = null;
function refreshSoon() {
  // Bursts of events (a switch's steps) cost one status build.
  if (statusTimer) return;
  statusTimer = setTimeout(() => {
    statusTimer = null;
    void refreshStatus();
  }, 300);
}

function openEvents() {
  if (state.events) state.events.close();
  const es = new EventSource('/api/v1/events');
  state.events = es;
  const conn = $('conn');
  es.onopen = () => {
    conn.textContent = 'live';
    conn.className = 'conn live';
  };
  es.onerror = async () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn down';
    const r = await api('GET', '/api/v1/session');
    if (r.status === 401) sessionEnded();
  };
  const on = (type, handler) => es.addEventListener(type, (m) => handler(JSON.parse(m.data)));
  on('reset', () => void refreshAll());
  on('phase', (d) => {
    if (state.status) {
      state.status.phase = d.phase;
      state.status.activeSide = d.activeSide;
      state.status.direction = d.direction;
      renderStatus();
    }
    refreshSoon();
    void refreshGates();
  });
  on('switch.step', (d) => {
    $('live-title').hidden = false;
    const list = $('live-steps');
    if (list.dataset.requestId !== d.requestId) {
      list.replaceChildren();
      list.dataset.requestId = d.requestId;
    }
    list.append(text('li', `${d.kind} ${d.from} → ${d.to}: ${d.step}`));
    if (state.status) {
      state.status.switch = { kind: d.kind, step: d.step, requestId: d.requestId };
      renderStatus();
      renderSwitches();
    }
  });
  on('switch.result', (d) => {
    const list = $('live-steps');
    list.append(text('li', `${d.kind} ${d.result}${d.windowMs === null ? '' : `: window ${d.windowMs} ms`}`));
    refreshSoon();
  });
  on('audit', (d) => {
    void refreshAudit();
    // A switch, a review or a drill changes what the plan says.
    const action = d && d.entry && d.entry.action;
    if (['cutover', 'rollback', 'plan-review', 'drill'].includes(action) && d.entry.event !== 'requested' && d.entry.event !== 'dry-run') void refreshPlan();
    // A request asked, approved or expired (here or by the CLI) changes the approvals list.
    if (d.entry && ['pending-approval', 'approved', 'expired'].includes(d.entry.event)) void refreshApprovals();
  });
  on('drift', () => refreshSoon());
  on('verification.pass', () => {
    refreshSoon();
    void refreshGates();
  });
  on('lag', () => void refreshGates());
  on('lease', () => refreshSoon());
  on('sample', (s) => {
    state.samples.push(s);
    const hourAgo = Date.now() - 3600_000;
    while (state.samples.length && state.samples[0].t < hourAgo) state.samples.shift();
    renderCharts();
  });
}

// --- wiring -----------------------------------------------------------------------------------------------------

async function boot() {
  $('login-form').addEventListener('submit', login);
  $('logout').addEventListener('click', () => void logout());
  initPlan();
  for (const kind of ['cutover', 'rollback']) $(`${kind}-button`).addEventListener('click', () => void preview(kind));
  $('confirm-input').addEventListener('input', typedOk);
  $('confirm-go').addEventListener('click', () => void runSwitch());
  setupApprovals({
    session: () => state.session,
    migration: () => (state.status ? state.status.migration : ''),
    running: () => state.running,
    begin: (kind) => beginRun(kind, `${kind} approved: running…`),
    end: endRun,
  });
  $('confirm-cancel').addEventListener('click', () => {
    pending = null;
    $('confirm').close();
  });
  // Figures that change without an event (lag bytes, rollback readiness) are read again every few seconds; the
  // gates (which read both databases) less often.
  let ticks = 0;
  setInterval(() => {
    if (state.session && !document.hidden) {
      void refreshStatus();
      if (ticks++ % 3 === 0) void refreshGates();
    }
  }, 5000);
  const r = await api('GET', '/api/v1/session');
  if (r.ok) start(r.json);
  else showLogin('');
}

void boot();
