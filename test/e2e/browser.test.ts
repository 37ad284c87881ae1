/**
 * The demo in a real browser: Debian's Chromium (`which chromium`), driven by playwright-core
 * (which never downloads a browser), headless, offline, with a fresh profile. What a person
 * would check: the view counter, login regenerating the id, the HttpOnly cookie, logout and the
 * back button, and two tabs at once.
 *
 * Without Chromium the suite is skipped on a developer machine and fails with `CI` set
 * (.ci/run installs Debian's `chromium` package when it is missing).
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { Session } from 'sessionware';
import { startExample, type RunningExample } from '../helpers/demo';

/** Debian's Chromium, or `undefined` when `which chromium` finds none. */
function findChromium(): string | undefined {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const CHROMIUM = findChromium();
const CI = Boolean(process.env['CI']) && process.env['CI'] !== 'false';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Concurrent tabs lose nothing only once the demo's counter is an atomic update (`increment`,
 * a separate issue); until the session has one, that check is a todo.
 */
const ATOMIC_COUNTER = typeof (Session.prototype as unknown as Record<string, unknown>)['increment'] === 'function';

(CHROMIUM || CI ? describe : describe.skip)('the demo in Chromium', () => {
  let demo: RunningExample;
  let profile: string;
  let context: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error('Chromium is missing: apt-get install -y chromium (CI runs the browser test, it never skips it)');
    demo = await startExample('demo.ts');
    profile = await mkdtemp(join(tmpdir(), 'sessionware-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await context?.close();
    await demo?.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  }, 30_000);

  beforeEach(async () => {
    await context.clearCookies();
    page = await context.newPage();
  });

  afterEach(async () => {
    await page?.close(); // undefined when beforeAll failed: report that failure alone
  });

  const views = async (p: Page = page): Promise<number> => Number(await p.textContent('#views'));
  const heading = (p: Page = page): Promise<string | null> => p.textContent('h1');
  const sessionCookie = async () => (await context.cookies(demo.url)).find((c) => c.name === 'sessionid');

  async function logIn(name: string): Promise<void> {
    await page.fill('input[name=name]', name);
    await Promise.all([page.waitForURL(`${demo.url}/`), page.click('text=Log in')]);
  }

  it('should count views across reloads', async () => {
    await page.goto(`${demo.url}/`);
    expect(await views()).toBe(1);
    await page.reload();
    expect(await views()).toBe(2);
    await page.reload();
    expect(await views()).toBe(3);
    expect(await heading()).toBe('Not logged in');
  });

  it('should change the session id on login and keep the data', async () => {
    await page.goto(`${demo.url}/`);
    await page.reload();
    const before = await sessionCookie();
    expect(before?.value).toMatch(/^[A-Za-z0-9_-]{8,128}$/);
    await logIn('Ada <admin>');
    expect(await heading()).toBe('Hello, Ada <admin>'); // escaped in the HTML, shown as typed
    const after = await sessionCookie();
    expect(after?.value).toMatch(/^[A-Za-z0-9_-]{8,128}$/);
    expect(after?.value).not.toBe(before?.value);
    expect(await views()).toBe(3); // regenerate() keeps the data under the new id
  });

  it('should keep the session cookie out of reach of scripts (HttpOnly, SameSite=Lax)', async () => {
    await page.goto(`${demo.url}/`);
    const cookie = await sessionCookie();
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    const scriptVisible = String(await page.evaluate('document.cookie')); // what the page's scripts see
    expect(scriptVisible).not.toContain('sessionid');
    expect(scriptVisible).not.toContain(cookie?.value ?? '<none>');
    await page.evaluate("document.cookie = 'theme=dark'"); // scripts can set and read their own cookies
    expect(String(await page.evaluate('document.cookie'))).toBe('theme=dark');
  });

  it('should show logged out after logout, also when going back', async () => {
    await page.goto(`${demo.url}/`);
    await logIn('ada');
    expect(await heading()).toBe('Hello, ada');
    await Promise.all([page.waitForURL(`${demo.url}/`), page.click('text=Log out')]);
    expect(await heading()).toBe('Not logged in');
    await page.goBack();
    expect(await heading()).toBe('Not logged in');
    await page.reload();
    expect(await heading()).toBe('Not logged in');
  });

  /**
   * Two tabs of one browser load the counter page concurrently: every view is counted. Each load
   * has its own URL, or Chromium's cache lock would queue the tabs' requests one behind the other.
   */
  async function twoTabsLoseNothing(): Promise<void> {
    const rounds = 20;
    await page.goto(`${demo.url}/`);
    const start = await views();
    const other = await context.newPage();
    try {
      const reloads = async (p: Page, tab: number): Promise<void> => {
        for (let i = 0; i < rounds; i++) await p.goto(`${demo.url}/?tab=${tab}&load=${i}`);
      };
      await Promise.all([reloads(page, 1), reloads(other, 2)]);
      await page.goto(`${demo.url}/`);
      expect(await views()).toBe(start + 2 * rounds + 1);
    } finally {
      await other.close();
    }
  }

  if (ATOMIC_COUNTER) it('should lose no view when two tabs work concurrently', twoTabsLoseNothing, 60_000);
  else it.todo('should lose no view when two tabs work concurrently (needs the atomic increment for the demo counter)');
});
