/**
 * The dashboard's browser tests share this: Debian's Chromium driven by playwright-core (one browser per file), a
 * shop pair on a PostgreSQL server of the file's own (switches create slots, which wait for every open transaction of
 * the cluster) replicated by `tandem run`, logging in from the page, and polling the page as a reader would
 * (playwright-core has no web-first assertions; those are @playwright/test's).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { writeConfig } from './config.js';
import { readLeaseRow } from './control.js';
import { startPostgres } from './servers.js';
import { untilTandem, waitUntil, type SuiteResources, type TandemProcess } from './tandem-process.js';
import { createShopDb, SHOP_TABLES, type ShopDb } from './switch.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts/dashboard';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface DashboardPair {
  oldDb: ShopDb;
  newDb: ShopDb;
  service: TandemProcess;
  /** The service's API, where the dashboard is served. */
  base: string;
}

/** A seeded shop pair replicated by `tandem run` with verification every second and these cutover and API settings. */
export async function startDashboardPair(
  res: SuiteResources,
  opts: { migration: string; prefix: string; cutover: Record<string, unknown>; tokens: Array<{ name: string; token: string; role: string }> },
): Promise<DashboardPair> {
  const server = await startPostgres();
  res.servers.push(server);
  const oldDb = await createShopDb('pg', server.url, `${opts.prefix}old`);
  const newDb = await createShopDb('pg', server.url, `${opts.prefix}new`);
  res.dbs.push(oldDb, newDb);
  await oldDb.query(`INSERT INTO customers (name) SELECT 'customer ' || g FROM generate_series(1, 5) g`);
  await oldDb.query(`INSERT INTO orders (ref, customer_id, total, origin) SELECT gen_random_uuid(), 1 + g % 5, g, 'old' FROM generate_series(1, 50) g`);
  const config = writeConfig({
    migration: opts.migration,
    old: { url: oldDb.url },
    new: { url: newDb.url },
    tables: SHOP_TABLES,
    verify: { interval: '1s' },
    // The lag gate has its own test (switch-gates); a busy machine must not refuse the switches under test.
    cutover: { maxLag: '60s', ...opts.cutover },
    api: { listen: '127.0.0.1:0', tokens: opts.tokens },
  });
  const service = res.start(['run', '--config', config]);
  const api = await untilTandem(service, 'the service to publish its API', async () => (await readLeaseRow(oldDb.url, opts.migration))?.api ?? undefined);
  return { oldDb, newDb, service, base: `http://${api}` };
}

/**
 * A new browser context (its own cookies, as another person's browser) logged in through the form with `token`.
 * `pageErrors` collects the page's script errors, so a test can fail with their message.
 */
export async function logIn(
  browser: Browser,
  base: string,
  token: string,
  opts: { viewport?: { width: number; height: number }; colorScheme?: 'light' | 'dark'; pageErrors?: string[] } = {},
): Promise<Page> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 900 }, colorScheme: opts.colorScheme ?? 'light' });
  const page = await context.newPage();
  if (opts.pageErrors) page.on('pageerror', (err) => opts.pageErrors?.push(err.message));
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.locator('#who-text').waitFor({ state: 'visible' });
  return page;
}

export const shot = (page: Page, name: string) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

export const textOf = async (page: Page, selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim();

export const waitText = (page: Page, selector: string, pattern: RegExp, timeout = 90_000) =>
  waitUntil(`${selector} to read ${pattern}`, async () => pattern.test(await textOf(page, selector)), timeout, 200).catch(async (err: Error) => {
    throw new Error(`${err.message}; it reads "${await textOf(page, selector)}"`);
  });

export const waitEnabled = (page: Page, selector: string, enabled: boolean, timeout = 30_000) =>
  waitUntil(`${selector} to be ${enabled ? 'enabled' : 'disabled'}`, async () => (await page.locator(selector).isEnabled()) === enabled, timeout, 200).catch(async (err: Error) => {
    // What the page says next to it (a switch button's or an approval's reason) is what tells why.
    const around = await page.locator(selector).first().locator('xpath=..').textContent().catch(() => null);
    throw new Error(`${err.message}; next to it the page reads "${(around ?? '').trim()}"`);
  });
