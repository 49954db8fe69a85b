import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, BrowserContext, Page } from 'playwright-core';
import { REASONS } from '../console/src/lib/reasons';
import { signWebUiToken } from '../src/auth/jwt';
import { consoleRoot } from '../src/console/console-static';
import { CONSOLE_BUDGET_BYTES, consoleFirstLoad } from '../tools/lib/console-size';
import { FakeOpenRouter, fakeModel } from './support/fake-openrouter';
import { launchChromium, requireChromium } from './support/chromium';
import { ServerProcess } from './support/server-process';

const ARTIFACTS = join(__dirname, 'artifacts');
const ADMIN_KEY = 'console-e2e-admin-key-0123456789abcdef';
const WEBUI_SECRET = 'console-e2e-webui-secret-0123456789abcdef';
const GATEWAY_KEY = 'console-e2e-gateway-key-0123456789abcdef';
/** Session tokens must carry exp (JWT_REQUIRE_EXP defaults to true). */
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
const OPENROUTER_KEY = 'sk-or-console-e2e-upstream-0123456789abcdef';
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * The admin console in Debian's headless Chromium against the real built service on SQLite
 * (dist/src/main.js and dist/console, built by the jest global setup): each screen's main
 * flow as a site admin and as an organization admin, axe-core on every screen (light and
 * dark, 1280 and 360 px), keyboard use, no Content-Security-Policy violation, and a
 * screenshot of each screen in test/artifacts/console-*.png.
 */
describe('admin console in a browser', () => {
  let server: ServerProcess;
  let upstream: FakeOpenRouter;
  let browser: Browser;
  let dataDir: string;
  /** Console errors and page errors of every page: a CSP violation lands here. */
  const pageErrors: string[] = [];

  async function api(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await fetch(server.url + path, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status} ${text}`);
    }
    return text === '' ? undefined : JSON.parse(text);
  }

  async function newPage(
    options: { width?: number; dark?: boolean } = {},
  ): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({
      viewport: { width: options.width ?? 1280, height: 900 },
      colorScheme: options.dark ? 'dark' : 'light',
      acceptDownloads: true,
    });
    const page = await context.newPage();
    page.on('console', (message) => {
      // A refused API call is logged by Chromium as a failed resource; the console shows
      // its own message for those, and the flows below assert that message instead.
      if (
        message.type() === 'error' &&
        !/^Failed to load resource: the server responded with a status of 4\d\d/.test(
          message.text(),
        )
      ) {
        pageErrors.push(`${page.url()}: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
    return { context, page };
  }

  async function signIn(page: Page, token: string): Promise<void> {
    await page.goto(`${server.url}/admin`);
    await page.getByLabel('API key or web UI session token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Organizations' }).waitFor();
  }

  /** axe-core in the page (evaluated over DevTools, so the page's CSP stays as it is). */
  async function expectAccessible(page: Page, screen: string): Promise<void> {
    await page.evaluate(AXE_SOURCE);
    const result = (await page.evaluate("axe.run({ resultTypes: ['violations'] })")) as {
      violations: AxeViolation[];
    };
    const violations = result.violations;
    const serious = violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map(
        (v) =>
          `${screen}: ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`,
      );
    expect(serious).toEqual([]);
  }

  async function screenshot(page: Page, name: string): Promise<void> {
    const path = join(ARTIFACTS, `console-${name}.png`);
    await page.screenshot({ path, fullPage: true });
    expect(statSync(path).size).toBeGreaterThan(5_000);
  }

  async function noHorizontalScroll(page: Page): Promise<void> {
    const width = await page.evaluate('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(page.viewportSize()!.width);
  }

  function notice(page: Page, text: string | RegExp) {
    return page.locator('.notice, .field-error').filter({ hasText: text }).first();
  }

  beforeAll(async () => {
    requireChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    dataDir = mkdtempSync(join(tmpdir(), 'console-e2e-'));
    upstream = await FakeOpenRouter.start();
    server = await ServerProcess.start({
      DATABASE_URL: `sqlite:${join(dataDir, 'app.db')}`,
      ADMIN_API_KEYS: ADMIN_KEY,
      WEBUI_SECRET_KEY: WEBUI_SECRET,
      GATEWAY_API_KEYS: GATEWAY_KEY,
      OPENROUTER_BASE_URL: upstream.baseUrl,
      OPENROUTER_API_KEY: OPENROUTER_KEY,
      USAGE_FLUSH_INTERVAL_MS: '50',
    });
    await server.ready(60_000);
    await api('POST', '/api/v1/models/bulk', {
      models: [
        { id: 'openai/gpt-4o', name: 'GPT-4o' },
        { id: 'openai/gpt-4o-mini', name: 'GPT-4o mini' },
        { id: 'openai/o1', name: 'o1' },
        { id: 'anthropic/claude-3.5-sonnet', name: 'Claude 3.5 Sonnet' },
        { id: 'mistralai/mistral-large', name: 'Mistral Large' },
      ],
    });
    for (const [id, name, email] of [
      ['u-ada', 'Ada Lovelace', 'ada@acme.test'],
      ['u-olivia', 'Olivia Admin', 'olivia@acme.test'],
      ['u-carl', 'Carl', 'carl@acme.test'],
      ['u-dana', 'Dana', 'dana@acme.test'],
      ['u-erin', 'Erin Outsider', 'erin@elsewhere.test'],
      ['u-hana', 'Hana New', 'hana@acme.test'],
      ['u-gus', 'Gus Globex', 'gus@globex.test'],
    ]) {
      await api('PUT', `/api/v1/users/${id}`, { name, email, role: 'user' });
    }
    await api('POST', '/api/v1/organizations', {
      id: 'globex',
      name: 'Globex',
      external_user: 'mai_client_globex',
    });
    await api('PUT', '/api/v1/organizations/globex/members/u-gus', { role: 'admin' });
    browser = await launchChromium();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await upstream?.close();
    if (dataDir) {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  afterEach(() => {
    const errors = pageErrors.splice(0);
    expect(errors).toEqual([]);
  });

  describe('serving', () => {
    it('answers client routes with the app, hashed assets as immutable, missing assets with 404', async () => {
      const root = consoleRoot();
      const html = await fetch(`${server.url}/admin/organizations/acme/grants`);
      expect(html.status).toBe(200);
      expect(html.headers.get('content-type')).toContain('text/html');
      expect(html.headers.get('cache-control')).toBe('no-cache');
      const csp = html.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(html.headers.get('x-content-type-options')).toBe('nosniff');
      expect(html.headers.get('strict-transport-security')).toContain('max-age=');
      expect(await html.text()).toBe(readFileSync(join(root, 'index.html'), 'utf8'));

      const [script] = consoleFirstLoad(root).filter((a) => a.path.endsWith('.js'));
      const asset = await fetch(`${server.url}/admin/${script.path}`, {
        headers: { 'accept-encoding': 'gzip' },
      });
      expect(asset.status).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(asset.headers.get('content-type')).toContain('javascript');
      expect((await asset.arrayBuffer()).byteLength).toBe(script.bytes);

      const missing = await fetch(`${server.url}/admin/assets/index-missing.js`);
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toContain('application/problem+json');
      const escape = await fetch(`${server.url}/admin/assets/..%2f..%2f..%2fpackage.json`);
      expect(escape.status).toBe(404);
    });

    it('keeps the first load under 150 KB of gzipped JS and CSS', () => {
      const assets = consoleFirstLoad(consoleRoot());
      expect(assets.some((a) => a.path.endsWith('.js'))).toBe(true);
      expect(assets.some((a) => a.path.endsWith('.css'))).toBe(true);
      const total = assets.reduce((sum, a) => sum + a.gzipBytes, 0);
      expect(total).toBeLessThan(CONSOLE_BUDGET_BYTES);
    });

    it('explains every refusal reason the access check can give', async () => {
      const doc = (await (await fetch(`${server.url}/docs-json`)).json()) as {
        components: {
          schemas: Record<string, { properties: Record<string, { enum?: string[] }> }>;
        };
      };
      const reasons = doc.components.schemas.AccessCheckResponse.properties.reason.enum ?? [];
      expect(reasons.length).toBeGreaterThan(5);
      expect(reasons.filter((r) => !(r in REASONS))).toEqual([]);
    });
  });

  describe('as a site admin', () => {
    let context: BrowserContext;
    let page: Page;

    beforeAll(async () => {
      ({ context, page } = await newPage());
    });

    afterAll(async () => {
      await context?.close();
    });

    it('signs in, explaining a refused key first', async () => {
      await page.goto(`${server.url}/admin`);
      await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
      await expectAccessible(page, 'sign-in');
      await page
        .getByLabel('API key or web UI session token')
        .fill('not-the-right-key-0123456789abcdef');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await notice(page, 'did not accept these credentials').waitFor();
      await screenshot(page, 'sign-in');
      await page.getByLabel('API key or web UI session token').fill(ADMIN_KEY);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { level: 1, name: 'Organizations' }).waitFor();
      expect(await page.evaluate('Object.keys(localStorage).length')).toBe(0);
      expect(await context.cookies()).toEqual([]);
      expect(await page.evaluate('Object.values(sessionStorage)')).toEqual([ADMIN_KEY]);
    });

    it('creates an organization', async () => {
      await page.getByText('New organization').click();
      await page.getByLabel('Id', { exact: true }).fill('acme');
      await page.getByLabel('Name', { exact: true }).fill('Acme Sp. z o.o.');
      await expect(page.getByLabel('OpenRouter external user prefix').inputValue()).resolves.toBe(
        'mai_client_acme',
      );
      await page.getByRole('button', { name: 'Create organization' }).click();
      await notice(page, 'Created organization Acme Sp. z o.o. (acme)').waitFor();
      await page.getByRole('link', { name: 'Acme Sp. z o.o.' }).waitFor();
      await expect(page.getByRole('link', { name: 'Globex' }).isVisible()).resolves.toBe(true);
      await expectAccessible(page, 'organizations');
      await screenshot(page, 'organizations');
    });

    it('adds members by e-mail, by id and in bulk', async () => {
      await page.getByRole('link', { name: 'Acme Sp. z o.o.' }).click();
      await page.getByRole('heading', { level: 2, name: 'Members' }).waitFor();
      await page.getByLabel('User id or e-mail').fill('ada@acme.test');
      await page.getByRole('button', { name: 'Add member' }).click();
      await notice(page, 'Ada Lovelace is now a member.').waitFor();

      await page.getByLabel('User id or e-mail').fill('u-olivia');
      await page.getByLabel('Role', { exact: true }).first().selectOption('admin');
      await page.getByRole('button', { name: 'Add member' }).click();
      await notice(page, 'Olivia Admin is now an admin.').waitFor();

      await page.getByLabel('User id or e-mail').fill('u-nobody');
      await page.getByRole('button', { name: 'Add member' }).click();
      await notice(page, 'No user u-nobody').waitFor();

      await page.getByText('Add many at once').click();
      await page.getByLabel('User ids').fill('u-carl\nu-dana, u-ada');
      await page.getByRole('button', { name: 'Add all' }).click();
      await notice(page, 'Bulk add: 2 added, 0 updated, 1 unchanged.').waitFor();
      const rows = page.locator('table tbody tr');
      await expect(rows.count()).resolves.toBe(4);
      await expectAccessible(page, 'members');
      await screenshot(page, 'members');
    });

    it('previews what a pattern covers, grants it, and revokes in bulk', async () => {
      await page.getByRole('link', { name: 'Grants' }).click();
      await page.getByRole('heading', { level: 2, name: 'Grants' }).waitFor();
      const target = page.getByLabel('Model id or pattern');
      await target.fill('open*ai');
      await notice(page, 'A pattern has one * and only at the end').waitFor();
      await target.fill('openai/*');
      await page.getByText('covers 3 catalog models now').waitFor();
      const preview = page.getByRole('list', { name: 'Models covered by openai/*' });
      await expect(preview.locator('li').allTextContents()).resolves.toEqual([
        'openai/gpt-4o',
        'openai/gpt-4o-mini',
        'openai/o1',
      ]);
      await expectAccessible(page, 'grants');
      await screenshot(page, 'grants');
      await page.getByRole('button', { name: 'Grant', exact: true }).click();
      await notice(page, 'Granted openai/* (covers 3 models now).').waitFor();

      await page.getByText('Grant and revoke many at once').click();
      await page
        .getByLabel('Grant', { exact: true })
        .fill('anthropic/claude-3.5-sonnet\nmistralai/*');
      await page.getByRole('button', { name: 'Apply' }).click();
      await notice(page, 'Bulk change: 2 granted').waitFor();

      await page.getByLabel('Select anthropic/claude-3.5-sonnet').check();
      await page.getByLabel('Select mistralai/*').check();
      await page.getByRole('button', { name: 'Revoke selected (2)' }).click();
      const dialog = page.getByRole('dialog', { name: 'Revoke 2 grants?' });
      await dialog.waitFor();
      await expectAccessible(page, 'grants-confirm');
      await dialog.getByRole('button', { name: 'Revoke' }).click();
      await notice(page, '2 revoked').waitFor();
      await expect(page.locator('table tbody tr').count()).resolves.toBe(1);

      await page
        .getByLabel('Grant every model added to the catalog from now on (auto-grant)')
        .check();
      await notice(page, 'New catalog models will be granted automatically.').waitFor();
    });

    it("shows a user's effective access with reasons, and its change after a suspension", async () => {
      await page.goto(`${server.url}/admin/users/u-ada`);
      await page.getByRole('heading', { level: 1, name: 'Ada Lovelace' }).waitFor();
      const row = (id: string) =>
        page.locator('tr', { has: page.locator(`code:text-is("${id}")`) });
      await row('openai/gpt-4o').getByText('through Acme Sp. z o.o.').waitFor();
      await row('anthropic/claude-3.5-sonnet').getByText('no_grant').waitFor();
      await expectAccessible(page, 'user');
      await screenshot(page, 'user');

      await page.getByRole('link', { name: 'Acme Sp. z o.o.' }).click();
      await page.getByRole('button', { name: 'Suspend Ada Lovelace' }).click();
      await notice(page, 'Suspended Ada Lovelace.').waitFor();
      await page.goBack();
      await page.getByRole('heading', { level: 1, name: 'Ada Lovelace' }).waitFor();
      await row('openai/gpt-4o').getByText('membership_inactive').waitFor();
      await page.getByLabel('Model id', { exact: true }).fill('openai/o1');
      await page.getByRole('button', { name: 'Check', exact: true }).click();
      await page.getByText(/Refused: membership_inactive/).waitFor();
    });

    it('shows usage after gateway calls to the upstream: chart, top users and models, CSV', async () => {
      // Dana uses openai/gpt-4o twice through the gateway (the fake OpenRouter answers).
      const token = signWebUiToken({ id: 'u-dana', exp: inAnHour() }, WEBUI_SECRET);
      for (let i = 0; i < 2; i++) {
        const answer = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            model: 'openai/gpt-4o',
            messages: [{ role: 'user', content: 'Hello' }],
          }),
        });
        expect(answer.status).toBe(200);
        await answer.text();
      }
      // The ledger is written off the request path; wait until both rows are readable.
      for (;;) {
        const report = (await api('GET', '/api/v1/organizations/acme/usage?group_by=day')) as {
          totals: { requests: number };
        };
        if (report.totals.requests >= 2) {
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }

      await page.goto(`${server.url}/admin/organizations/acme/usage`);
      await page.getByRole('heading', { level: 2, name: 'Usage' }).waitFor();
      const requests = page.locator('.card', { hasText: 'Requests' }).locator('.value');
      await expect(requests.textContent()).resolves.toBe('2');
      const bars = page.locator('.chart rect.bar');
      await expect(bars.count()).resolves.toBe(30);
      const tall = await bars.evaluateAll((rects) =>
        rects.filter((r) => Number(r.getAttribute('height')) > 0).map((r) => r.textContent),
      );
      expect(tall).toHaveLength(1);
      expect(tall[0]).toContain(new Date().toISOString().slice(0, 10));
      const topUsers = page.getByRole('region', { name: 'Top users table' });
      await expect(topUsers.locator('tbody tr').count()).resolves.toBe(1);
      await expect(topUsers.locator('tbody tr td').first().textContent()).resolves.toBe('u-dana');
      const topModels = page.getByRole('region', { name: 'Top models table' });
      await expect(topModels.locator('tbody tr td').first().textContent()).resolves.toBe(
        'openai/gpt-4o',
      );
      await expectAccessible(page, 'usage');
      await screenshot(page, 'usage');

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'CSV by model' }).click(),
      ]);
      expect(download.suggestedFilename()).toMatch(/^usage-acme-model-\d{4}-\d{2}-\d{2}\.csv$/);
      const csv = readFileSync((await download.path())!, 'utf8')
        .trim()
        .split(/\r?\n/);
      expect(csv[0]).toBe('model,requests,prompt_tokens,completion_tokens,cost_usd');
      expect(csv[1]).toMatch(/^openai\/gpt-4o,2,/);
      expect(csv[2]).toMatch(/^total,2,/);
      expect(csv).toHaveLength(3);
    });

    it('edits settings: budget and limits, e-mail domains, name', async () => {
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByRole('heading', { level: 2, name: 'Settings' }).waitFor();
      await page.getByLabel('Budget (USD per period)').fill('25');
      await page.getByLabel('Period (UTC)').selectOption('weekly');
      await page.getByRole('button', { name: 'Save budget and limits' }).click();
      await notice(page, 'Saved the budget and limits.').waitFor();
      const budget = (await api('GET', '/api/v1/organizations/acme/budget')) as {
        budget_usd: number | null;
        budget_period: string;
      };
      expect(budget).toMatchObject({ budget_usd: 25, budget_period: 'weekly' });
      await page.getByRole('textbox', { name: 'Domains' }).fill('acme.pl, ACME.test');
      await page.getByRole('button', { name: 'Save domains' }).click();
      await notice(page, 'Saved the e-mail domains.').waitFor();
      const org = (await api('GET', '/api/v1/organizations/acme')) as { email_domains: string[] };
      expect([...org.email_domains].sort()).toEqual(['acme.pl', 'acme.test']);
      await page.getByLabel('Name', { exact: true }).fill('Acme Polska');
      await page.getByRole('button', { name: 'Save name' }).click();
      await notice(page, 'Saved the name.').waitFor();
      await page.getByRole('heading', { level: 1, name: 'Acme Polska' }).waitFor();
      await expectAccessible(page, 'settings');
      await screenshot(page, 'settings');
    });

    it('searches the catalog, deactivates a model and syncs from the upstream', async () => {
      await page.getByRole('link', { name: 'Catalog' }).click();
      await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor();
      await page.getByLabel('Search id or name').fill('gpt-4o');
      await page.getByText('1–2 of 2').waitFor();
      await page.getByLabel('Search id or name').fill('');
      await page.getByText('1–5 of 5').waitFor();
      await page.getByRole('button', { name: 'Deactivate openai/o1' }).click();
      await notice(page, 'Deactivated openai/o1').waitFor();
      await page.getByRole('button', { name: 'Activate openai/o1' }).waitFor();
      // The upstream serves the five catalog models and one new one.
      upstream.models = [
        fakeModel('openai/gpt-4o', 'GPT-4o'),
        fakeModel('openai/gpt-4o-mini', 'GPT-4o mini'),
        fakeModel('openai/o1', 'o1'),
        fakeModel('anthropic/claude-3.5-sonnet', 'Claude 3.5 Sonnet'),
        fakeModel('mistralai/mistral-large', 'Mistral Large'),
        fakeModel('google/gemini-2.0-flash', 'Gemini 2.0 Flash'),
      ];
      await page.getByRole('button', { name: 'Sync from upstream' }).click();
      await notice(page, /Synced from the upstream/).waitFor();
      await page.getByText('1–6 of 6').waitFor();
      await expectAccessible(page, 'catalog');
      await screenshot(page, 'catalog');
    });

    it('finds users', async () => {
      await page.getByRole('link', { name: 'Users' }).click();
      await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
      await page.getByLabel('Search by name or e-mail').fill('globex');
      await page.getByText('1–1 of 1').waitFor();
      await page.getByRole('link', { name: 'Gus Globex' }).waitFor();
      await expectAccessible(page, 'users');
      await screenshot(page, 'users');
    });

    it('reads, filters and downloads the audit log', async () => {
      await page.getByRole('link', { name: 'Audit log' }).click();
      await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
      await page.getByLabel('Action').fill('membership.update');
      await page.getByRole('button', { name: 'Apply filters' }).click();
      await page.getByText('1–1 of 1').waitFor();
      await page.getByRole('cell', { name: 'membership.update' }).waitFor();
      await expectAccessible(page, 'audit');
      await screenshot(page, 'audit');
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSV' }).click(),
      ]);
      const csv = readFileSync((await download.path())!, 'utf8');
      const lines = csv.trim().split(/\r?\n/);
      expect(lines[0]).toContain('action');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toContain('membership.update');
    });

    it('archives, restores, and deletes an organization after explaining the 409', async () => {
      await api('POST', '/api/v1/organizations', {
        id: 'doomed',
        name: 'Doomed',
        external_user: 'mai_doomed',
      });
      await api('PUT', '/api/v1/organizations/doomed/members/u-dana', { role: 'member' });
      await page.getByRole('link', { name: 'Organizations' }).click();
      await page.getByRole('button', { name: 'Archive Doomed' }).click();
      await page
        .getByRole('dialog', { name: 'Archive Doomed?' })
        .getByRole('button', { name: 'Archive' })
        .click();
      await notice(page, 'Archived Doomed.').waitFor();
      await page.getByRole('button', { name: 'Restore Doomed' }).click();
      await notice(page, 'Restored Doomed.').waitFor();

      await page.getByRole('button', { name: 'Delete Doomed' }).click();
      await page
        .getByRole('dialog', { name: 'Delete Doomed?' })
        .getByRole('button', { name: 'Delete' })
        .click();
      const refusal = page.getByRole('dialog', { name: 'Doomed still has members or grants' });
      await refusal.waitFor();
      await expect(refusal.textContent()).resolves.toContain('1 memberships and 0 grants');
      await refusal.getByRole('button', { name: 'Delete everything' }).click();
      await notice(page, 'Deleted Doomed with its memberships and grants.').waitFor();
      await page.getByRole('link', { name: 'Doomed' }).waitFor({ state: 'detached' });
    });
  });

  describe('as an organization admin', () => {
    let context: BrowserContext;
    let page: Page;

    beforeAll(async () => {
      ({ context, page } = await newPage());
      await signIn(page, signWebUiToken({ id: 'u-olivia', exp: inAnHour() }, WEBUI_SECRET));
    });

    afterAll(async () => {
      await context?.close();
    });

    it('sees only their organization, and no site admin pages', async () => {
      await page.getByRole('link', { name: 'Acme Polska' }).waitFor();
      await expect(page.getByRole('link', { name: 'Globex' }).count()).resolves.toBe(0);
      const nav = page.getByRole('navigation', { name: 'Main' });
      await expect(nav.getByRole('link').allTextContents()).resolves.toEqual(['Organizations']);
      await expect(page.getByRole('button', { name: /^Delete / }).count()).resolves.toBe(0);
      await expectAccessible(page, 'org-admin-organizations');
      await screenshot(page, 'org-admin-organizations');

      await page.goto(`${server.url}/admin/organizations/globex`);
      await page.getByRole('heading', { level: 1, name: 'Organization not found' }).waitFor();
      await page.goto(`${server.url}/admin/audit`);
      await page.getByText('This page is for site admins.').waitFor();
    });

    it('manages members, and is told whom it may not add', async () => {
      await page.goto(`${server.url}/admin/organizations/acme`);
      await page.getByRole('heading', { level: 2, name: 'Members' }).waitFor();
      await expect(page.getByLabel('User id or e-mail').count()).resolves.toBe(0);
      // Erin is outside the organization and its e-mail domains: answered like an unknown id.
      await page.getByLabel('User id', { exact: true }).fill('u-erin');
      await page.getByRole('button', { name: 'Add member' }).click();
      await notice(page, 'No user u-erin you may add').waitFor();
      // Hana's e-mail is in acme.test, one of the organization's domains.
      await page.getByLabel('User id', { exact: true }).fill('u-hana');
      await page.getByRole('button', { name: 'Add member' }).click();
      await notice(page, 'Hana New is now a member.').waitFor();
      // Olivia is the organization's only active admin: she may not demote herself.
      await page.getByLabel('Role of Olivia Admin').selectOption('member');
      await notice(page, 'An organization must keep at least one active admin').waitFor();
      await expect(page.getByLabel('Role of Olivia Admin').inputValue()).resolves.toBe('admin');
      await page.getByRole('button', { name: 'Suspend Carl' }).click();
      await notice(page, 'Suspended Carl.').waitFor();
      await page.getByRole('button', { name: 'Reactivate Carl' }).waitFor();
      await expectAccessible(page, 'org-admin-members');
      await screenshot(page, 'org-admin-members');
    });

    it('reads grants only as far as the API lets it', async () => {
      await page.getByRole('link', { name: 'Grants' }).click();
      await notice(page, 'Grants are managed by site admins.').waitFor();
      await expect(page.getByLabel('Model id or pattern').count()).resolves.toBe(0);
      await page.getByRole('link', { name: 'Settings' }).click();
      await page.getByText('Organization settings are changed by site admins').waitFor();
      await expect(page.getByRole('button', { name: 'Save name' }).count()).resolves.toBe(0);
      await expectAccessible(page, 'org-admin-settings');
    });
  });

  describe('narrow, dark and keyboard', () => {
    it('is usable at 360 px in dark mode on every screen', async () => {
      const { context, page } = await newPage({ width: 360, dark: true });
      try {
        await signIn(page, ADMIN_KEY);
        const screens: [string, string, string][] = [
          ['/admin/organizations', 'Organizations', 'narrow-dark-organizations'],
          ['/admin/organizations/acme', 'Acme Polska', 'narrow-dark-members'],
          ['/admin/organizations/acme/grants', 'Acme Polska', 'narrow-dark-grants'],
          ['/admin/organizations/acme/usage', 'Acme Polska', ''],
          ['/admin/organizations/acme/settings', 'Acme Polska', ''],
          ['/admin/users', 'Users', ''],
          ['/admin/users/u-ada', 'Ada Lovelace', 'narrow-dark-user'],
          ['/admin/models', 'Catalog', ''],
          ['/admin/audit', 'Audit log', ''],
        ];
        for (const [path, heading, shot] of screens) {
          await page.goto(server.url + path);
          await page.getByRole('heading', { level: 1, name: heading }).waitFor();
          await page.getByText('Loading…').waitFor({ state: 'detached' });
          await noHorizontalScroll(page);
          await expectAccessible(page, `${path} (360 px, dark)`);
          if (shot) {
            await screenshot(page, shot);
          }
        }
        const background = await page.evaluate('getComputedStyle(document.body).backgroundColor');
        expect(background).toBe('rgb(18, 20, 24)');
      } finally {
        await context.close();
      }
    });

    it('works from the keyboard: skip link, sign-in, navigation, dialogs', async () => {
      const { context, page } = await newPage();
      try {
        await page.goto(`${server.url}/admin`);
        await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
        await page.keyboard.press('Tab');
        await expect(page.evaluate('document.activeElement?.textContent')).resolves.toBe(
          'Skip to content',
        );
        await page.keyboard.press('Tab');
        await expect(page.evaluate('document.activeElement?.id')).resolves.toBe('token');
        await page.keyboard.type(ADMIN_KEY);
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { level: 1, name: 'Organizations' }).waitFor();
        // The heading of the new screen takes the focus, so a screen reader announces it.
        await expect(page.evaluate('document.activeElement?.tagName')).resolves.toBe('H1');

        await page.getByRole('link', { name: 'Catalog' }).focus();
        await page.keyboard.press('Enter');
        await page.getByRole('heading', { level: 1, name: 'Catalog' }).waitFor();
        await expect(page.evaluate('document.activeElement?.textContent')).resolves.toBe('Catalog');

        await page.goto(`${server.url}/admin/organizations`);
        const archive = page.getByRole('button', { name: 'Archive Globex' });
        await archive.focus();
        await page.keyboard.press('Enter');
        await page.getByRole('dialog', { name: 'Archive Globex?' }).waitFor();
        await page.keyboard.press('Escape');
        await expect(page.getByRole('dialog').count()).resolves.toBe(0);
        await expect(
          page.evaluate("document.activeElement?.getAttribute('aria-label')"),
        ).resolves.toBe('Archive Globex');
        await expect(
          page.getByRole('button', { name: 'Archive Globex' }).isVisible(),
        ).resolves.toBe(true);
      } finally {
        await context.close();
      }
    });
  });
  describe('at scale', () => {
    it('pages 10,000 users and previews a pattern over 2,000 models without rendering them all', async () => {
      // 10,000 web UI users straight into the database (as Open WebUI's sign-ups would arrive
      // over time), 2,000 catalog models through the bulk import.
      const db = new Database(join(dataDir, 'app.db'));
      try {
        const { created_at: at } = db
          .prepare("SELECT created_at FROM users WHERE id = 'u-ada'")
          .get() as { created_at: string };
        const insert = db.prepare(
          'INSERT INTO users (id, name, email, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
        );
        db.transaction(() => {
          for (let i = 0; i < 10_000; i++) {
            insert.run(`u-scale-${i}`, `Scale User ${i}`, `scale${i}@scale.test`, 'user', at, at);
          }
        })();
      } finally {
        db.close();
      }
      for (let batch = 0; batch < 2; batch++) {
        await api('POST', '/api/v1/models/bulk', {
          models: Array.from({ length: 1000 }, (_, i) => ({
            id: `scale/model-${String(batch * 1000 + i).padStart(4, '0')}`,
            name: `Scale model ${batch * 1000 + i}`,
          })),
        });
      }

      const { context, page } = await newPage();
      try {
        await signIn(page, ADMIN_KEY);
        await page.goto(`${server.url}/admin/users`);
        await page.getByText('1–50 of 10,007').waitFor();
        await expect(page.locator('table tbody tr').count()).resolves.toBe(50);
        await page.getByRole('button', { name: 'Next' }).click();
        await page.getByText('51–100 of 10,007').waitFor();
        await expect(page.locator('table tbody tr').count()).resolves.toBe(50);

        await page.goto(`${server.url}/admin/models`);
        await page.getByText('1–50 of 2,006').waitFor();
        await expect(page.locator('table tbody tr').count()).resolves.toBe(50);

        await page.goto(`${server.url}/admin/organizations/acme/grants`);
        await page.getByLabel('Model id or pattern').fill('scale/*');
        await page.getByText('covers 2,000 catalog models now').waitFor();
        const preview = page.getByRole('list', { name: 'Models covered by scale/*' });
        await expect(preview.locator('li').count()).resolves.toBe(25);
        await page.getByText('and 1,975 more.').waitFor();
      } finally {
        await context.close();
      }
    });
  });
});
