// The rollback plan panel: GET /api/v1/plan's summary (active side, expected window, review and whether the plan
// changed since, last drill, risks) and links to the full plan as HTML and Markdown. The plan reads both databases'
// schemas and runs tandem check's queries, so it is loaded when the page opens, after a switch or a review, and on
// request — never on every status change.
import { errorText, getInOrder } from './api.js';

const $ = (id) => document.getElementById(id);

function item(label, value, cls) {
  const li = document.createElement('li');
  const b = document.createElement('strong');
  b.textContent = `${label}: `;
  li.append(b, document.createTextNode(value));
  if (cls) li.className = cls;
  return li;
}

function reviewText(r) {
  if (!r.by) return 'never reviewed (tandem plan --approve)';
  return r.changedSince ? `by ${r.by} at ${r.at} — CHANGED SINCE: ${r.changes.join('; ')}` : `by ${r.by} at ${r.at}; nothing material changed since`;
}

function drillText(d) {
  if (!d) return 'no drill yet (tandem drill on a staging pair)';
  return `${d.verdict.toUpperCase()} at ${d.at}: ${d.cycles} switches, longest window ${d.maxWindowMs ?? '?'} ms, ${d.rowsLost} rows lost${d.emergency ? `; emergency rollback ${d.emergency.timeToRollbackMs ?? '?'} ms, ${d.emergency.rowsLost} writes on new lost` : ''}`;
}

export async function refreshPlan() {
  const summary = $('plan-summary');
  const risks = $('plan-risks');
  if (!summary || !risks) return;
  $('plan-state').textContent = 'reading the plan…';
  const r = await getInOrder('/api/v1/plan');
  if (!r) return;
  if (!r.ok) {
    $('plan-state').textContent = `the plan could not be read: ${errorText(r)}`;
    return;
  }
  const p = r.json;
  $('plan-state').textContent = `generated ${p.generatedAt}`;
  const failing = p.gates.filter((g) => !g.ok).map((g) => g.name);
  summary.replaceChildren(
    item('Active side', `${p.activeSide} (phase ${p.phase})`),
    item('Expected window', p.expectedWindowMs === null ? 'not measured yet' : `${p.expectedWindowMs} ms`),
    item(`${p.gatesFor} gates`, failing.length ? `failing: ${failing.join(', ')}` : 'all pass'),
    item('Review', reviewText(p.review), p.review.changedSince ? 'error' : p.review.by ? '' : 'warn'),
    item('Last drill', drillText(p.lastDrill), p.lastDrill && p.lastDrill.verdict === 'fail' ? 'error' : ''),
    item('Owners', p.owners.join(', ') || 'none configured'),
  );
  risks.replaceChildren(...p.risks.map((k) => item(k.kind, k.detail)));
}

export function initPlan() {
  const button = $('plan-refresh');
  if (button) button.addEventListener('click', () => void refreshPlan());
}
