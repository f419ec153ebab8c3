/**
 * The dashboard in a real headless Chromium (Debian's `chromium`, driven by playwright-core) against a running
 * `tandem run` (PostgreSQL → PostgreSQL on a server of this file's own: the switches create slots, which wait for
 * every open transaction of the cluster). What an operator does and sees: logging in with a token (which the page
 * keeps nowhere), phase and lag moving while writes run, the switches disabled for a read token with why, a cutover
 * and a rollback run from the page through the dry run and the typed confirmation, and a drift planted on the shadow
 * showing up with its table and kind. Screenshots of each state go to test-artifacts/dashboard/.
 */
import pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName } from '../harness/db.js';
import { launchChromium, logIn, shot, startDashboardPair, textOf, waitEnabled, waitText } from '../harness/dashboard.js';
import { suiteResources, waitUntil } from '../harness/tandem-process.js';
import type { ShopDb } from '../harness/switch.js';

const READ = 'dash-read-token-0123456789abcdef';
const OPERATE = 'dash-operate-token-0123456789abcdef';

describe('the dashboard in Chromium', () => {
  const res = suiteResources();
  let oldDb: ShopDb;
  let newDb: ShopDb;
  let base = '';
  let browser: Browser;
  const migration = uniqueName('dash');

  beforeAll(async () => {
    // One browser for the file; each test opens its own context (its own cookies), as two people would.
    browser = await launchChromium();
    ({ oldDb, newDb, base } = await startDashboardPair(res, {
      migration,
      prefix: 'dash',
      cutover: {},
      tokens: [{ name: 'watcher', token: READ, role: 'read' }, { name: 'oncall', token: OPERATE, role: 'operate' }],
    }));
  });

  afterAll(async () => {
    await browser?.close();
  });

  const loggedIn = (token: string, viewport?: { width: number; height: number }, colorScheme?: 'light' | 'dark') => logIn(browser, base, token, { viewport, colorScheme });
  const count = (page: Page, selector: string) => page.locator(selector).count();

  it('logs in with a token the page keeps nowhere; a read token sees the switches disabled with why', async () => {
    const page = await loggedIn(READ);
    await waitText(page, '#phase', /^shadowing$/);
    await waitText(page, '#active-side', /^old$/);
    expect(await textOf(page, '#who-text')).toBe('watcher (read)');
    expect(await textOf(page, '#migration')).toBe(migration);
    for (const kind of ['cutover', 'rollback']) {
      await waitEnabled(page, `#${kind}-button`, false);
      await waitText(page, `#${kind}-why`, /role read; switching needs operate/);
    }
    // The token is not in the URL, the page, its storage or a script-readable cookie.
    expect(page.url()).not.toContain(READ);
    expect(await page.content()).not.toContain(READ);
    expect(await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie)).not.toMatch(/dash-read|tandem_session/);
    const cookies = await page.context().cookies();
    expect(cookies).toEqual([expect.objectContaining({ name: 'tandem_session', httpOnly: true, sameSite: 'Strict', path: '/' })]);
    expect(cookies[0]?.value).not.toContain(READ);
    await shot(page, '1-read-token-switches-disabled');
    // Phone-sized, in the dark: one column, nothing cut off sideways, the dark palette applied.
    const phone = await loggedIn(READ, { width: 390, height: 844 }, 'dark');
    await waitText(phone, '#phase', /^shadowing$/);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(await phone.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(17, 20, 24)');
    await shot(phone, '1b-phone-dark');
  });

  it('the login form works from the keyboard alone and refuses a wrong token', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${base}/`);
    // The token field has the focus on arrival; Enter submits.
    await page.locator('#token').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('token');
    await page.keyboard.type('not-a-token-00000000000');
    await page.keyboard.press('Enter');
    await waitText(page, '#login-error', /not one of api\.tokens/, 10_000);
    expect(await page.locator('#dash').isHidden()).toBe(true);
    expect(await page.locator('#token').inputValue()).toBe('');
    await page.keyboard.type(READ);
    await page.keyboard.press('Enter');
    await waitText(page, '#who-text', /^watcher \(read\)$/, 10_000);
    await page.getByRole('button', { name: 'Log out' }).click();
    await waitText(page, '#login-error', /Logged out/, 10_000);
    expect(await page.context().cookies()).toEqual([]);
  });

  it('lag, applied transactions and their rate update live while writes run', async () => {
    const page = await loggedIn(READ);
    await waitText(page, '#applied', /^\d+$/);
    const before = Number(await page.locator('#applied').textContent());
    let stop = false;
    let written = 0;
    const writer = (async () => {
      while (!stop) {
        await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1, 1, 'old' FROM generate_series(1, 5)`);
        written++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      // Without reloading: the figures move by themselves (events and samples), the chart draws a line.
      await waitUntil('applied transactions to grow on the page', async () => Number(await page.locator('#applied').textContent()) >= before + 20, 90_000, 250);
      await waitUntil('a transactions/s figure above zero', async () => Number(await page.locator('#tx-rate').textContent()) > 0, 60_000, 250);
      await waitText(page, '#lag-seconds', /^\d+(\.\d+)? (s|min)$/);
      await waitUntil('both charts to draw a line', async () => (await count(page, '#chart-seconds polyline')) === 1 && (await count(page, '#chart-bytes polyline')) === 1, 30_000, 200);
      await shot(page, '2-lag-live-under-writes');
    } finally {
      stop = true;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
  });

  async function switchFromPage(page: Page, kind: 'cutover' | 'rollback') {
    const button = page.locator(`#${kind}-button`);
    // Enabled once its gates pass (a clean verification pass after the last writes, the reverse stream running).
    await waitEnabled(page, `#${kind}-button`, true, 120_000);
    await waitText(page, `#${kind}-why`, /every gate passes/);
    await button.click();
    const dialog = page.locator('#confirm');
    await dialog.waitFor({ state: 'visible' });
    await waitText(page, '#confirm-result', /Every gate passes/, 30_000);
    expect(await count(page, '#confirm-gates li')).toBeGreaterThan(0);
    expect(await count(page, '#confirm-steps li')).toBeGreaterThan(3);
    const go = page.locator('#confirm-go');
    expect(await go.isEnabled()).toBe(false);
    await page.getByLabel(/type the migration's name/).fill(`${migration}-typo`);
    expect(await go.isEnabled()).toBe(false);
    await page.getByLabel(/type the migration's name/).fill(migration);
    await waitEnabled(page, '#confirm-go', true, 5_000);
    await shot(page, `${kind === 'cutover' ? '3' : '5'}-${kind}-dry-run-and-confirmation`);
    await go.click();
    await waitText(page, '#outcome-box', new RegExp(`${kind} done`), 120_000);
  }

  it('an operate token runs a cutover from the page through the typed confirmation and sees its steps, window and certificate', { timeout: 300_000 }, async () => {
    // Someone else watching with a read token: everything it shows of the switch comes from the events stream.
    const watcher = await loggedIn(READ);
    await waitText(watcher, '#phase', /^shadowing$/);
    const page = await loggedIn(OPERATE);
    await waitText(page, '#phase', /^shadowing$/);
    await switchFromPage(page, 'cutover');
    await waitText(page, '#outcome-box .window', /^Write-unavailability window: \d+ ms$/);
    expect(await textOf(page, '#outcome-box details summary')).toContain('cutover old → new by oncall');
    const steps = await page.locator('#live-steps li').allTextContents();
    for (const step of ['intent', 'fencing', 'fenced', 'drained', 'checkpointed', 'unfencing']) expect(steps.join('\n')).toContain(`: ${step}`);
    await waitText(page, '#phase', /^cutover$/);
    await waitText(page, '#active-side', /^new$/);
    await waitText(page, '#direction', /^reverse/);
    // The audit log and the certificates list show it without a reload.
    await waitText(page, '#audit-table tbody tr', /cutover\s*done/, 30_000);
    expect(await count(page, '#certificates details')).toBeGreaterThan(0);
    await shot(page, '4-cutover-done-window-and-certificate');
    await waitText(watcher, '#phase', /^cutover$/, 30_000);
    await waitText(watcher, '#active-side', /^new$/, 30_000);
    await waitText(watcher, '#live-steps', /fenced[\s\S]*unfencing[\s\S]*cutover done: window \d+ ms/, 30_000);
    await shot(watcher, '4b-cutover-seen-live-by-a-read-token');
    const status = (await (await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { phase: string; activeSide: string };
    expect(status).toMatchObject({ phase: 'cutover', activeSide: 'new' });
  });

  it('a rollback from the page puts the active side back to old', { timeout: 300_000 }, async () => {
    const page = await loggedIn(OPERATE);
    await waitText(page, '#phase', /^cutover$/);
    await waitText(page, '#rollback-ready', /^(yes|no)$/);
    await waitEnabled(page, '#cutover-button', false);
    await switchFromPage(page, 'rollback');
    await waitText(page, '#phase', /^shadowing$/);
    await waitText(page, '#active-side', /^old$/);
    await shot(page, '6-rollback-done');
    const status = (await (await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${READ}` } })).json()) as { phase: string; activeSide: string };
    expect(status).toMatchObject({ phase: 'shadowing', activeSide: 'old' });
  });

  it('the plan panel names the active side and the window the switches measured; the full plan opens as a page', { timeout: 180_000 }, async () => {
    const page = await loggedIn(READ);
    await waitText(page, '#phase', /^shadowing$/);
    await waitText(page, '#plan-summary', /Active side: old \(phase shadowing\)/, 120_000);
    await waitText(page, '#plan-summary', /Expected window: \d+ ms/);
    expect(await textOf(page, '#plan-summary')).toContain('Review: never reviewed');
    expect(await textOf(page, '#plan-risks')).toContain('sequences');
    await page.locator('#plan-card').scrollIntoViewIfNeeded();
    await shot(page, '6b-plan-panel');
    // The link opens the HTML plan with the session cookie: its sections, rendered.
    expect(await page.locator('#plan-html').getAttribute('href')).toBe('/api/v1/plan?format=html');
    await page.goto(`${base}/api/v1/plan?format=html`);
    const headings = await page.locator('h2').allTextContents();
    expect(headings).toEqual(expect.arrayContaining(['Summary', 'Commands', 'Gates', 'Expected window', 'Risks', 'Last drill', 'Review']));
    expect(await textOf(page, '#active-side')).toBe('old');
    await shot(page, '6c-plan-html');
  });

  it('a drift planted on the shadow appears on the page with its table and kind, and the cutover says why it is refused', { timeout: 180_000 }, async () => {
    const page = await loggedIn(OPERATE);
    await waitText(page, '#phase', /^shadowing$/);
    // Behind Tandem's back: the fence lets a session with replication role replica through (docs/fencing.md).
    const client = new pg.Client({ connectionString: newDb.url });
    await client.connect();
    try {
      await client.query(`BEGIN; SET LOCAL session_replication_role = replica; UPDATE orders SET total = total + 1000 WHERE id = (SELECT min(id) FROM orders); COMMIT`);
    } finally {
      await client.end();
    }
    await waitText(page, '#drift-table tr[data-table="orders"] td.drift', /^different: 1$/, 120_000);
    expect(await textOf(page, '#drift-table tr[data-table="customers"]')).toContain('none');
    await waitText(page, '#verification-summary', /^1 drifted row;/);
    await waitEnabled(page, '#cutover-button', false);
    await waitText(page, '#cutover-why', /refused by verification/);
    await shot(page, '7-drift-on-the-shadow');
  });
});
