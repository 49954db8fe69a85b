import { AuthFailureLimiter } from '../src/auth/auth-failure-limiter';
import { expectProblem } from './support/problems';
import { startTestApp, TestApp } from './support/test-app';

const UI = 'https://chat.example.com';

describe('Security headers, CORS, body limit and authentication failures', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      CORS_ORIGINS: `${UI}, https://admin.example.com`,
      BODY_LIMIT_BYTES: '2048',
      AUTH_FAILURE_LIMIT: '3',
    });
  });

  afterAll(async () => {
    await t.close();
  });

  it('sets the security headers of a JSON answer on API answers, errors and probes', async () => {
    for (const [url, token] of [
      ['/api/v1/users', undefined],
      ['/api/v1/users', null],
      ['/api/v1/access/check?user_id=u&model_id=m', undefined],
      ['/health', null],
    ] as const) {
      const res = await t.get(url, token);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['strict-transport-security']).toContain('max-age=');
      expect(res.headers['cross-origin-resource-policy']).toBe('same-origin');
      expect(res.headers['content-security-policy']).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      // headers that act on documents only are left out of JSON answers (BENCHMARKS.md)
      expect(res.headers['x-frame-options']).toBeUndefined();
      expect(res.headers['x-dns-prefetch-control']).toBeUndefined();
    }
  });

  it("sets helmet's full set on the Swagger console", async () => {
    const res = await t.get('/docs', null);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(res.headers['strict-transport-security']).toContain('max-age=');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toContain('upgrade-insecure-requests');
  });

  it('answers a CORS preflight from a configured origin, exposing X-Request-Id', async () => {
    const res = await t.request('OPTIONS', '/api/v1/access/check', {
      token: null,
      headers: {
        origin: UI,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(UI);
    expect(String(res.headers['access-control-allow-headers']).toLowerCase()).toContain(
      'authorization',
    );
    const simple = await t.request('GET', '/health', { token: null, headers: { origin: UI } });
    expect(simple.headers['access-control-allow-origin']).toBe(UI);
    expect(String(simple.headers['access-control-expose-headers'])).toContain('X-Request-Id');
  });

  it('gives no CORS grant to an origin that is not configured', async () => {
    const res = await t.request('GET', '/health', {
      token: null,
      headers: { origin: 'https://evil.example.net' },
    });
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a body above BODY_LIMIT_BYTES with 413 problem+json', async () => {
    const res = await t.request('PUT', '/api/v1/users/big', {
      rawBody: JSON.stringify({ name: 'x'.repeat(4096), email: 'big@example.com', role: 'user' }),
    });
    expectProblem(res, 413);
    expect(res.body.detail).toContain('BODY_LIMIT_BYTES');
    expect(res.headers['x-request-id']).toBe(res.body.request_id);
  });

  it('reads a body just under the limit (then validates it: 400, not 413)', async () => {
    const res = await t.put('/api/v1/users/small', {
      name: 'x'.repeat(1800),
      email: 'small@example.com',
      role: 'user',
    });
    expectProblem(res, 400, ['name']);
  });

  it(`answers 429 with Retry-After after AUTH_FAILURE_LIMIT failures (${AuthFailureLimiter.name})`, async () => {
    for (let i = 0; i < 3; i++) {
      expectProblem(await t.get('/api/v1/users', `wrong-key-${i}-0123456789abcdef`), 401);
    }
    const blocked = await t.get('/api/v1/users', 'wrong-key-again-0123456789abcdef');
    expectProblem(blocked, 429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    // The address is blocked, not the key: good credentials wait too, public routes do not.
    expectProblem(await t.get('/api/v1/users'), 429);
    expect((await t.get('/health', null)).status).toBe(200);
  });
});

describe('CORS when CORS_ORIGINS is empty', () => {
  it('sends no CORS headers at all', async () => {
    const t = await startTestApp();
    try {
      const res = await t.request('OPTIONS', '/api/v1/users', {
        token: null,
        headers: { origin: UI, 'access-control-request-method': 'GET' },
      });
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
    }
  });
});
