/**
 * Two-person approval on the dashboard, in a real headless Chromium (Debian's `chromium`, driven by playwright-core)
 * against a running `tandem run` with `cutover.approvals: 2` (PostgreSQL → PostgreSQL on a server of this file's own:
 * a cutover creates slots, which wait for every open transaction of the cluster). Alice asks for a cutover from the
 * page and sees it wait; her own Approve button is disabled with why, as is a read token's; Bob logs in, approves
 * through the typed confirmation and sees the cutover run; the audit names both. Screenshots go to
 * test-artifacts/dashboard/.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/db.js';
import { launchChromium, logIn, shot, startDashboardPair, textOf, waitEnabled, waitText } from '../harness/dashboard.js';
import { suiteResources, waitUntil } from '../harness/tandem-process.js';

const ALICE = 'approve-alice-token-0123456789abcdef';
const BOB = 'approve-bob-token-0123456789abcdef';
const READ = 'approve-read-token-0123456789abcdef';

interface AuditRow {
  action: string;
  event: string;
  actor: string;
  approvedBy?: string;
  requestId?: string;
}

describe('two-person approval on the dashboard', () => {
  const res = suiteResources();
  let base = '';
  let browser: Browser;
  const migration = uniqueName('dashapprove');

  beforeAll(async () => {
    // One browser for the file; each person gets a context of their own (their own cookies).
    browser = await launchChromium();
    ({ base } = await startDashboardPair(res, {
      migration,
      prefix: 'appr',
      cutover: { approvals: 2, approvalTimeout: '15m' },
      tokens: [
        { name: 'alice', token: ALICE, role: 'operate' },
        { name: 'bob', token: BOB, role: 'operate' },
        { name: 'watcher', token: READ, role: 'read' },
      ],
    }));
  });

  afterAll(async () => {
    await browser?.close();
  });

  const pageErrors: string[] = [];
  const loggedIn = (token: string) => logIn(browser, base, token, { pageErrors });
  const audit = async () => ((await (await fetch(`${base}/api/v1/audit`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { entries: AuditRow[] }).entries;

  it('alice asks for a cutover, cannot approve it herself, a read token cannot either; bob approves it on his page and it runs', { timeout: 300_000 }, async () => {
    const alice = await loggedIn(ALICE);
    await waitText(alice, '#phase', /^shadowing$/);
    // The cutover button as without approval: the gates, the dry run, the typed name; then it waits instead of running.
    await waitEnabled(alice, '#cutover-button', true, 120_000);
    await alice.locator('#cutover-button').click();
    await waitText(alice, '#confirm-result', /Every gate passes/, 30_000);
    await alice.getByLabel(/type the migration's name/).fill(migration);
    await waitEnabled(alice, '#confirm-go', true, 5_000);
    await alice.locator('#confirm-go').click();
    await waitText(alice, '#outcome-box', /cutover waits for a second person's approval \(request [\w-]+\)/, 60_000);
    const requestId = /request ([\w-]+)\)/.exec(await textOf(alice, '#outcome-box'))?.[1] ?? '';
    expect(requestId).not.toBe('');
    await waitText(alice, '#active-side', /^old$/);

    // Alice's page lists it, her Approve disabled with why.
    const row = `#approvals tr[data-request-id="${requestId}"]`;
    await alice.locator(row).waitFor({ state: 'visible', timeout: 30_000 });
    expect(await textOf(alice, '#approvals-title')).toBe('Waiting for approval');
    const cells = (await alice.locator(`${row} td`).allTextContents()).map((t) => t.trim());
    expect(cells.slice(0, 2)).toEqual(['cutover', 'alice']);
    expect(cells[2]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(cells[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(cells[4]).toBe(requestId);
    await waitEnabled(alice, `${row} button`, false, 5_000);
    await waitText(alice, `${row} .why`, /^you requested it: a second person must approve$/, 10_000);
    // The button's accessible name says what it approves; its description says why it is disabled.
    expect(await alice.getByRole('button', { name: `Approve cutover ${requestId}` }).getAttribute('aria-describedby')).toBe(await alice.locator(`${row} .why`).getAttribute('id'));
    await shot(alice, '8-approval-pending-requester-cannot-approve');

    // Someone watching with a read token sees it, and may not approve.
    const watcher = await loggedIn(READ);
    await watcher.locator(row).waitFor({ state: 'visible', timeout: 30_000 });
    await waitEnabled(watcher, `${row} button`, false, 5_000);
    await waitText(watcher, `${row} .why`, /^your role \(read\) may not approve$/, 10_000);
    await shot(watcher, '9-approval-pending-read-token');

    // Bob: enabled; the confirmation stays shut until the migration's name is typed.
    const bob = await loggedIn(BOB);
    await bob.locator(row).waitFor({ state: 'visible', timeout: 30_000 });
    await waitEnabled(bob, `${row} button`, true, 30_000);
    await waitText(bob, `${row} .why`, /^you may approve: it runs at once$/, 5_000);
    await bob.getByRole('button', { name: `Approve cutover ${requestId}` }).click();
    await bob.locator('#approve-dialog').waitFor({ state: 'visible' });
    expect(await textOf(bob, '#approve-summary')).toContain(`alice asked for a cutover`);
    expect(await textOf(bob, '#approve-dialog label')).toBe(`To approve and run it now, type the name of the migration, ${migration}`);
    const go = bob.locator('#approve-go');
    expect(await go.isEnabled()).toBe(false);
    // From the keyboard: the field has the focus when the dialog opens.
    expect(await bob.evaluate(() => document.activeElement?.id)).toBe('approve-input');
    await bob.keyboard.type(`${migration}-typo`);
    expect(await go.isEnabled()).toBe(false);
    await bob.getByLabel(/type the name of the migration/).fill(migration);
    await waitEnabled(bob, '#approve-go', true, 5_000);
    await shot(bob, '10-approve-typed-confirmation');
    await go.click();

    await waitText(bob, '#outcome-box', /cutover done: new is active \(phase cutover\)\. Requested by alice, approved by bob\./, 120_000);
    await waitText(bob, '#outcome-box .window', /^Write-unavailability window: \d+ ms$/);
    const steps = (await bob.locator('#live-steps li').allTextContents()).join('\n');
    for (const step of ['intent', 'fencing', 'fenced', 'drained', 'checkpointed', 'unfencing']) expect(steps).toContain(`: ${step}`);
    await waitText(bob, '#active-side', /^new$/);
    await waitText(bob, '#phase', /^cutover$/);
    // Approved requests leave the list, on every page.
    await waitUntil('the approvals section to empty on bob\'s page', async () => (await bob.locator('#approvals').isHidden()), 30_000, 200);
    await waitUntil('the approvals section to empty on alice\'s page', async () => (await alice.locator('#approvals').isHidden()), 30_000, 200);
    await waitText(alice, '#active-side', /^new$/, 30_000);
    // The audit on the page names both: alice asked, bob approved.
    await waitText(bob, '#audit-table tbody', /approved\s*bob/, 30_000);
    // The switch's own record comes last; the table shows it at its next refresh after the outcome box (seen in a
    // full run: the table read once, right after bob's row appeared, still ended at "requested … cutting-over").
    await waitText(bob, '#audit-table tbody', /cutover\s*done\s*alice/, 30_000);
    const auditText = await textOf(bob, '#audit-table tbody');
    expect(auditText).toMatch(/pending-approval\s*alice/);
    expect(auditText).toMatch(/cutover\s*done\s*alice/);
    await shot(bob, '11-approved-cutover-done');

    const trail = (await audit()).filter((e) => e.requestId === requestId).map((e) => [e.event, e.actor, e.approvedBy ?? null]);
    expect(trail).toContainEqual(['pending-approval', 'alice', null]);
    expect(trail).toContainEqual(['approved', 'bob', 'bob']);
    expect(trail).toContainEqual(['done', 'alice', 'bob']);
    const status = (await (await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { phase: string; activeSide: string };
    expect(status).toMatchObject({ phase: 'cutover', activeSide: 'new' });
    expect(pageErrors).toEqual([]);
  });
});
