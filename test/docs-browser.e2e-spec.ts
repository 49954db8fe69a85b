import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Browser } from 'playwright-core';
import { launchChromium, requireChromium } from './support/chromium';
import { startTestApp, TestApp } from './support/test-app';

const SCREENSHOT = join(__dirname, 'artifacts', 'docs.png');

/**
 * Opens the Swagger console in Debian's headless Chromium, as an operator would:
 * every tag of the OpenAPI document must render (the Content-Security-Policy set by
 * helmet must not break the UI), and a screenshot is kept in test/artifacts.
 */
describe('Swagger console in a browser', () => {
  let t: TestApp;
  let browser: Browser;
  let baseUrl: string;

  beforeAll(async () => {
    requireChromium();
    t = await startTestApp();
    await t.app.listen(0, '127.0.0.1');
    baseUrl = await t.app.getUrl();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('renders every tag of /docs-json without a Content-Security-Policy violation', async () => {
    const openapi = (await t.get('/docs-json', null)).body as {
      paths: Record<string, Record<string, { tags?: string[] }>>;
    };
    const tags = new Set<string>();
    for (const operations of Object.values(openapi.paths)) {
      for (const operation of Object.values(operations)) {
        operation.tags?.forEach((tag) => tags.add(tag));
      }
    }
    expect(tags.size).toBeGreaterThanOrEqual(6);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const refused: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') {
        refused.push(message.text());
      }
    });
    page.on('pageerror', (error) => refused.push(error.message));

    const response = await page.goto(`${baseUrl}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.waitForFunction(`document.querySelectorAll('.opblock-tag').length >= ${tags.size}`, {
      timeout: 20000,
    });
    const rendered = await page.$$eval('.opblock-tag', (elements) =>
      elements.map((e) => e.getAttribute('data-tag')),
    );
    expect(new Set(rendered)).toEqual(tags);
    expect(refused).toEqual([]);

    mkdirSync(join(__dirname, 'artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
  });
});
