// Two-person approval on the dashboard (docs/approvals.md): the switch requests waiting for a second actor, listed in
// the #approvals hook, each with an Approve button. Approving asks for the migration's name like the switch buttons,
// then runs the switch through POST /api/v1/approvals/{id}; app.js shows its steps and result like any switch.
import { api, getInOrder } from './api.js';

const ROLE_RANK = { read: 1, operate: 2, admin: 3 };

/** The page's side: who is logged in, the migration's name, and how a switch's run is shown. */
let page = null;
let requests = [];
let drawn = '';
let chosen = null;
let dialog = null;

function el(tag, content, attrs) {
  const e = document.createElement(tag);
  if (content !== undefined && content !== null) e.textContent = String(content);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

/** Why the logged-in actor cannot approve `req`, or null when it can. */
export function approveBlockedBecause(session, migration, req, running) {
  if (!session) return 'loading…';
  if (ROLE_RANK[session.role] < ROLE_RANK.operate) return `your role (${session.role}) may not approve`;
  if (session.actor === req.requestedBy) return 'you requested it: a second person must approve';
  // The typed confirmation needs the migration's name, which comes with the status.
  if (!migration) return 'loading…';
  if (running) return `a ${running} is running`;
  return null;
}

/**
 * Wires the section once. `hooks`: session() and migration() read the page's state; running() names a switch the
 * page is running (or null); begin(kind) and end(kind, response) show a switch's run as app.js does for its buttons.
 */
export function setupApprovals(hooks) {
  page = hooks;
  dialog = buildDialog();
  document.body.append(dialog);
  // Requests appear and expire without an event this page necessarily sees (another service, the clock).
  setInterval(() => {
    if (page.session() && !document.hidden) void refreshApprovals();
  }, 5000);
}

/** Reads the requests again and redraws the section when anything it shows changed. */
export async function refreshApprovals() {
  if (!page || !page.session()) return;
  const r = await getInOrder('/api/v1/approvals');
  if (!r || !r.ok) return;
  requests = (r.json.requests || []).filter((q) => q.status === 'pending');
  render();
}

/** Redraws with the page's current session and running switch (rows are kept as they are when nothing changed). */
export function renderApprovals() {
  render();
}

function render() {
  const box = document.getElementById('approvals');
  if (!box || !page) return;
  const session = page.session();
  const running = page.running();
  const rows = requests.map((q) => ({ q, why: approveBlockedBecause(session, page.migration(), q, running) }));
  // Redrawing the same rows every few seconds would take the keyboard focus off an Approve button.
  const signature = JSON.stringify(rows.map(({ q, why }) => [q.requestId, q.expiresAt, why]));
  if (signature === drawn) return;
  drawn = signature;
  box.replaceChildren();
  box.hidden = rows.length === 0;
  if (!rows.length) return;
  box.setAttribute('aria-labelledby', 'approvals-title');
  box.setAttribute('role', 'region');
  box.append(el('h3', 'Waiting for approval', { id: 'approvals-title' }));
  box.append(el('p', 'A switch asked for under cutover.approvals: 2 runs when a second, different person approves it before it expires.', { class: 'muted' }));
  const scroll = el('div', null, { class: 'scroll' });
  const table = el('table', null, { id: 'approvals-table' });
  table.append(el('caption', 'Switch requests waiting for a second approval', { class: 'visually-hidden' }));
  const head = el('tr');
  for (const h of ['Kind', 'Requested by', 'Requested at', 'Expires at', 'Request', 'Approve']) head.append(el('th', h, { scope: 'col' }));
  const thead = el('thead');
  thead.append(head);
  table.append(thead);
  const body = el('tbody');
  rows.forEach(({ q, why }, i) => {
    const tr = el('tr', null, { 'data-request-id': q.requestId });
    const whyId = `approve-why-${i}`;
    const button = el('button', 'Approve', { type: 'button', class: 'danger', 'aria-describedby': whyId });
    button.append(el('span', ` ${q.request.kind} ${q.requestId}`, { class: 'visually-hidden' }));
    button.disabled = why !== null;
    button.addEventListener('click', () => openDialog(q));
    const cell = el('td', null, { class: 'approve' });
    cell.append(button, el('p', why === null ? 'you may approve: it runs at once' : why, { id: whyId, class: 'why' }));
    tr.append(el('td', q.request.kind), el('td', q.requestedBy), el('td', fmtTime(q.requestedAt)), el('td', fmtTime(q.expiresAt)), el('td', q.requestId, { class: 'request-id' }), cell);
    body.append(tr);
  });
  table.append(body);
  scroll.append(table);
  box.append(scroll);
}

// --- the confirmation ---------------------------------------------------------------------------------------------

function buildDialog() {
  const d = el('dialog', null, { id: 'approve-dialog', 'aria-labelledby': 'approve-title' });
  d.append(el('h2', 'Approve', { id: 'approve-title' }), el('p', null, { id: 'approve-summary' }));
  const typed = el('div', null, { class: 'typed' });
  const label = el('label', 'To approve and run it now, type the name of the migration, ', { for: 'approve-input' });
  label.append(el('code', null, { id: 'approve-name' }));
  const input = el('input', null, { id: 'approve-input', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  input.addEventListener('input', () => {
    document.getElementById('approve-go').disabled = !(chosen && input.value === page.migration());
  });
  typed.append(label, input);
  const actions = el('div', null, { class: 'actions' });
  const go = el('button', 'Approve', { id: 'approve-go', type: 'button', class: 'danger' });
  go.disabled = true;
  go.addEventListener('click', () => void approve());
  const cancel = el('button', 'Cancel', { id: 'approve-cancel', type: 'button' });
  cancel.addEventListener('click', () => {
    chosen = null;
    d.close();
  });
  d.addEventListener('close', () => {
    chosen = null;
  });
  actions.append(go, cancel);
  d.append(typed, actions);
  return d;
}

function openDialog(q) {
  chosen = q;
  document.getElementById('approve-title').textContent = `Approve the ${q.request.kind}`;
  document.getElementById('approve-summary').textContent =
    `${q.requestedBy} asked for a ${q.request.kind} (from phase ${q.request.expectedPhase}) at ${fmtTime(q.requestedAt)}; request ${q.requestId}, ` +
    `valid until ${fmtTime(q.expiresAt)}. Approving runs it now, as ${q.requestedBy} asked; the gates are checked again first.`;
  document.getElementById('approve-name').textContent = page.migration();
  const input = document.getElementById('approve-input');
  input.value = '';
  const go = document.getElementById('approve-go');
  go.textContent = `Approve and run the ${q.request.kind}`;
  go.disabled = true;
  dialog.showModal();
  input.focus();
}

async function approve() {
  const q = chosen;
  if (!q || document.getElementById('approve-input').value !== page.migration()) return;
  chosen = null;
  dialog.close();
  const kind = q.request.kind;
  page.begin(kind);
  render();
  const r = await api('POST', `/api/v1/approvals/${encodeURIComponent(q.requestId)}`, {});
  if (!r.ok && r.json && r.json.error && !r.json.result) {
    // Refused before any switch ran (self-approval, expired, already approved): say so in the switch's outcome.
    r.json = { result: 'not approved', error: r.json.error };
  }
  await page.end(kind, r);
  await refreshApprovals();
}
