/**
 * The rollback plan as documents: Markdown for a team's wiki and review, HTML to print or open from the dashboard.
 * Both have the same sections in the same order (PLAN_SECTIONS); the tests check them by these titles.
 */
import type { RollbackPlan } from './plan.js';

export const PLAN_SECTIONS = ['Summary', 'Tables', 'Commands', 'Gates', 'Expected window', 'What the application must do', 'Risks', 'People', 'Last drill', 'Review'] as const;

const none = (list: string[]) => (list.length ? list.join(', ') : 'none configured (plan.* in tandem.yaml)');
const rows = (n: number | null) => (n === null ? '?' : `~${n.toLocaleString('en')}`);

function reviewLine(p: RollbackPlan): string {
  const r = p.review;
  if (r.by === null) return 'never reviewed: read this plan, then record the review with `tandem plan --approve`';
  return r.changedSince ? `reviewed by ${r.by} at ${r.at}; CHANGED SINCE: ${r.changes.join('; ')}` : `reviewed by ${r.by} at ${r.at}; nothing material changed since`;
}

function drillLine(p: RollbackPlan): string {
  const d = p.lastDrill;
  if (!d) return 'no drill has run: rehearse on a staging pair with `tandem drill`';
  return `${d.at}: ${d.verdict.toUpperCase()} (${d.cycles} switches by ${d.by}; longest window ${d.maxWindowMs ?? '?'} ms, longest time to roll back ${d.maxTimeToRollbackMs ?? '?'} ms, ${d.rowsLost} rows lost${d.emergency ? `; emergency rollback rehearsed: ${d.emergency.timeToRollbackMs ?? '?'} ms to roll back, ${d.emergency.rowsLost} acknowledged write(s) on new lost` : ''})${d.reasons.length ? `; ${d.reasons.join('; ')}` : ''}${d.verdict === 'fail' ? `; last passing drill: ${d.lastPassAt ?? 'never'}` : ''}`;
}

/** Table cells: a pipe would end the cell. */
const cell = (v: unknown) => String(v ?? '—').replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderPlanMarkdown(p: RollbackPlan): string {
  const out: string[] = [];
  out.push(`# Rollback plan: ${p.migration}`, '', `Generated ${p.generatedAt} by Tandem from the live state of the migration.`, '');
  out.push('## Summary', '');
  out.push(`- pair: old ${p.pair.old.engine} ${p.pair.old.host}/${p.pair.old.database} → new ${p.pair.new.engine} ${p.pair.new.host}/${p.pair.new.database}`);
  out.push(`- phase: **${p.phase}**; active side: **${p.activeSide}** (the application writes there); shadow: ${p.shadowSide}`);
  out.push(`- review: ${reviewLine(p)}`, `- last drill: ${drillLine(p)}`, '');
  out.push('## Tables', '', '| table | rows (estimate) |', '| --- | ---: |', ...p.tables.map((t) => `| ${cell(t.table)} | ${rows(t.rows)} |`), '');
  out.push('## Commands', '');
  for (const [name, c] of [['Cutover', p.commands.cutover], ['Rollback', p.commands.rollback], ['Emergency rollback', p.commands.emergencyRollback]] as const) {
    out.push(`### ${name}${c.availableNow ? ' (available now)' : ''}`, '', c.note, '', '```sh', c.cli, '```', '', `API: \`${c.api}\``, '');
  }
  out.push('## Gates', '', `The ${p.gatesFor}'s gates as they evaluate now (${p.gatesSource === 'service' ? 'from the running service' : 'from the databases: no tandem run answered, so the live gates cannot pass'}):`, '');
  out.push('| gate | ok | value | needs |', '| --- | --- | --- | --- |', ...p.gates.map((g) => `| ${g.name} | ${g.ok ? 'yes' : '**NO**'} | ${cell(g.value)} | ${cell(g.threshold)} |`), '');
  for (const g of p.gates.filter((x) => !x.ok)) out.push(`- ${g.name}: ${g.detail}`);
  out.push('', '## Expected window', '', `Writes are refused for up to **${p.expectedWindowMs === null ? '?' : `${p.expectedWindowMs} ms`}** per switch: ${p.windowBasis}.`, '');
  out.push('## What the application must do', '', ...p.application.map((a) => `- ${a}`), '');
  out.push('## Risks', '', ...(p.risks.length ? p.risks.map((r) => `- **${r.kind}**: ${r.detail}${r.fix ? ` — fix: ${r.fix}` : ''}`) : ['- none found']), '');
  out.push('## People', '', `- owners: ${none(p.owners)}`, `- contacts: ${none(p.contacts)}`, `- approvers: ${none(p.approvers)}`, '');
  out.push('## Last drill', '', drillLine(p), '');
  out.push('## Review', '', reviewLine(p), '', `Plan hash: \`${p.review.currentHash}\` (tables, column mappings and switch settings; live figures are not part of it).`, '');
  if (p.errors.length) out.push('## Not read', '', ...p.errors.map((e) => `- ${e}`), '');
  return out.join('\n');
}

/** HTML text: escaped, and Markdown's code backticks dropped (the sentences are shared with the Markdown). */
const esc = (v: unknown) => String(v ?? '—').replace(/`/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** A standalone page: its own small stylesheet, no script, nothing fetched. */
export function renderPlanHtml(p: RollbackPlan): string {
  const li = (items: string[]) => `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;
  const section = (title: (typeof PLAN_SECTIONS)[number], body: string) => `<section id="${title.toLowerCase().replace(/\W+/g, '-')}"><h2>${title}</h2>${body}</section>`;
  const cmd = (name: string, c: RollbackPlan['commands']['cutover']) =>
    `<h3>${name}${c.availableNow ? ' <span class="now">available now</span>' : ''}</h3><p>${esc(c.note)}</p><pre><code>${esc(c.cli)}</code></pre><p>API: <code>${esc(c.api)}</code></p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rollback plan: ${esc(p.migration)}</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f23}table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left}.no{color:#b00020;font-weight:600}.ok{color:#1a7f37}.now{background:#1a7f37;color:#fff;border-radius:3px;padding:0 .4rem;font-size:.8em}pre{background:#f3f4f6;padding:.5rem}</style>
</head><body>
<h1>Rollback plan: ${esc(p.migration)}</h1><p>Generated ${esc(p.generatedAt)} by Tandem from the live state of the migration.</p>
${section('Summary', li([`pair: old ${esc(p.pair.old.engine)} ${esc(p.pair.old.host)}/${esc(p.pair.old.database)} → new ${esc(p.pair.new.engine)} ${esc(p.pair.new.host)}/${esc(p.pair.new.database)}`, `phase: <strong>${esc(p.phase)}</strong>; active side: <strong id="active-side">${esc(p.activeSide)}</strong>; shadow: ${esc(p.shadowSide)}`, `review: ${esc(reviewLine(p))}`, `last drill: ${esc(drillLine(p))}`]))}
${section('Tables', `<table><tr><th>table</th><th>rows (estimate)</th></tr>${p.tables.map((t) => `<tr><td>${esc(t.table)}</td><td>${esc(rows(t.rows))}</td></tr>`).join('')}</table>`)}
${section('Commands', cmd('Cutover', p.commands.cutover) + cmd('Rollback', p.commands.rollback) + cmd('Emergency rollback', p.commands.emergencyRollback))}
${section('Gates', `<p>The ${esc(p.gatesFor)}'s gates as they evaluate now (${p.gatesSource === 'service' ? 'from the running service' : 'from the databases: no tandem run answered'}).</p><table><tr><th>gate</th><th>ok</th><th>value</th><th>needs</th><th>detail</th></tr>${p.gates.map((g) => `<tr><td>${esc(g.name)}</td><td class="${g.ok ? 'ok' : 'no'}">${g.ok ? 'yes' : 'NO'}</td><td>${esc(g.value)}</td><td>${esc(g.threshold)}</td><td>${esc(g.detail)}</td></tr>`).join('')}</table>`)}
${section('Expected window', `<p>Writes are refused for up to <strong>${p.expectedWindowMs === null ? '?' : `${p.expectedWindowMs} ms`}</strong> per switch: ${esc(p.windowBasis)}.</p>`)}
${section('What the application must do', li(p.application.map(esc)))}
${section('Risks', p.risks.length ? li(p.risks.map((r) => `<strong>${esc(r.kind)}</strong>: ${esc(r.detail)}${r.fix ? ` — fix: ${esc(r.fix)}` : ''}`)) : '<p>none found</p>')}
${section('People', li([`owners: ${esc(none(p.owners))}`, `contacts: ${esc(none(p.contacts))}`, `approvers: ${esc(none(p.approvers))}`]))}
${section('Last drill', `<p>${esc(drillLine(p))}</p>`)}
${section('Review', `<p>${esc(reviewLine(p))}</p><p>Plan hash: <code>${esc(p.review.currentHash)}</code></p>`)}
${p.errors.length ? `<section id="not-read"><h2>Not read</h2>${li(p.errors.map(esc))}</section>` : ''}
</body></html>
`;
}
