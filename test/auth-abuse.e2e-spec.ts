import { createHmac } from 'node:crypto';
import { signWebUiToken } from '../src/auth/jwt';
import { World } from './support/factories';
import { ADMIN_KEY, startTestApp, TestApp, WEBUI_SECRET } from './support/test-app';

/** Header and payload encoded as a JWT would be, with the given signature part. */
function rawJwt(header: object, payload: object, signature: string): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${h}.${p}.${signature}`;
}

function hs256(header: object, payload: object, secret: string): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url');
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`;
}

/** The same string with the character at index replaced by a different one. */
function flip(text: string, index: number): string {
  const c = text[index];
  const replacement = c === 'a' ? 'b' : 'a';
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

describe('authentication abuse', () => {
  let t: TestApp;
  let w: World;
  let userId: string;
  let pendingId: string;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    userId = await w.user();
    pendingId = await w.user(undefined, { role: 'pending' });
  });
  afterAll(async () => t.close());

  const now = () => Math.floor(Date.now() / 1000);

  function cases(): [string, Record<string, string>][] {
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const half = Math.floor(ADMIN_KEY.length / 2);
    return [
      ['no Authorization header', {}],
      ['alg none, no signature', bearer(rawJwt({ alg: 'none', typ: 'JWT' }, { id: userId }, ''))],
      [
        'alg none with a signature part',
        bearer(rawJwt({ alg: 'none', typ: 'JWT' }, { id: userId }, 'AAAA')),
      ],
      [
        'alg HS512 signed with the right secret',
        bearer(signWebUiToken({ id: userId }, WEBUI_SECRET, 'HS512')),
      ],
      ['wrong secret', bearer(signWebUiToken({ id: userId }, `${WEBUI_SECRET}x`))],
      ['expired', bearer(t.tokenFor(userId, { exp: now() - 10 }))],
      ['expired exactly now', bearer(t.tokenFor(userId, { exp: now() }))],
      ['exp as a string', bearer(t.tokenFor(userId, { exp: String(now() + 3600) }))],
      ['nbf in the future', bearer(t.tokenFor(userId, { nbf: now() + 3600 }))],
      ['no id claim', bearer(hs256({ alg: 'HS256', typ: 'JWT' }, { sub: userId }, WEBUI_SECRET))],
      ['empty id claim', bearer(hs256({ alg: 'HS256', typ: 'JWT' }, { id: '' }, WEBUI_SECRET))],
      ['numeric id claim', bearer(hs256({ alg: 'HS256', typ: 'JWT' }, { id: 42 }, WEBUI_SECRET))],
      ['id of an unknown user', bearer(t.tokenFor('nobody-knows-this-user'))],
      ['id of a pending user', bearer(t.tokenFor(pendingId))],
      [
        'signature of another token',
        bearer(
          `${t.tokenFor(userId).split('.').slice(0, 2).join('.')}.${t.tokenFor('x').split('.')[2]}`,
        ),
      ],
      ['truncated token', bearer(t.tokenFor(userId).slice(0, -3))],
      ['API key with first char changed', bearer(flip(ADMIN_KEY, 0))],
      ['API key with middle char changed', bearer(flip(ADMIN_KEY, half))],
      ['API key with last char changed', bearer(flip(ADMIN_KEY, ADMIN_KEY.length - 1))],
      ['API key with one char more', bearer(`${ADMIN_KEY}0`)],
      ['API key with one char less', bearer(ADMIN_KEY.slice(0, -1))],
      ['API key in other case', bearer(ADMIN_KEY.toUpperCase())],
      ['empty bearer', { authorization: 'Bearer ' }],
      ['bearer with only spaces', { authorization: 'Bearer    ' }],
      [
        'Basic scheme with the key',
        { authorization: `Basic ${Buffer.from(`admin:${ADMIN_KEY}`).toString('base64')}` },
      ],
      ['no scheme, just the key', { authorization: ADMIN_KEY }],
      ['two tokens', { authorization: `Bearer ${ADMIN_KEY} ${ADMIN_KEY}` }],
    ];
  }

  it('refuses every bad credential with 401 (problem+json on /api, OpenAI error shape on /v1), on an admin route and a user route', async () => {
    const seen: string[] = [];
    for (const [name, headers] of cases()) {
      for (const url of ['/api/v1/users', '/v1/models']) {
        const res = await t.app.inject({ method: 'GET', url, headers, remoteAddress: '10.0.0.1' });
        seen.push(`${res.statusCode} ${name} ${url}`);
        expect({ name, url, status: res.statusCode }).toEqual({ name, url, status: 401 });
        const body = JSON.parse(res.body);
        if (url.startsWith('/v1/')) {
          expect(res.headers['content-type']).toMatch(/^application\/json/);
          expect(body).toMatchObject({
            error: { type: 'authentication_error', code: 'invalid_api_key' },
          });
        } else {
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          expect(body).toMatchObject({ status: 401, title: 'Unauthorized' });
        }
        expect(res.body).not.toContain(ADMIN_KEY);
        expect(res.body).not.toContain(WEBUI_SECRET);
      }
    }
    // The good credentials still work, so the refusals above are about the credential.
    expect((await t.get('/api/v1/users')).status).toBe(200);
    expect((await t.get('/v1/models', t.tokenFor(userId))).status).toBe(200);
    expect(
      (await t.get('/v1/models', t.tokenFor(userId, { exp: now() + 3600, nbf: now() - 5 }))).status,
    ).toBe(200);
    process.stdout.write(`auth abuse: ${seen.length} refused requests checked\n`);
  });

  it('refuses a token that worked once, after its user became pending or was deleted', async () => {
    const id = await w.user();
    const token = t.tokenFor(id);
    expect((await t.get('/v1/models', token)).status).toBe(200);
    await w.user(id, { role: 'pending' });
    const pending = await t.get('/v1/models', token);
    expect(pending.status).toBe(401);
    expect(JSON.parse(pending.text).error.message).toMatch(/pending/);
    await w.user(id, { role: 'user' });
    expect((await t.get('/v1/models', token)).status).toBe(200);
    expect((await t.delete(`/api/v1/users/${encodeURIComponent(id)}`)).status).toBe(204);
    expect((await t.get('/v1/models', token)).status).toBe(401);
  });

  it('stops treating a web UI admin as a site admin once demoted', async () => {
    const id = await w.user(undefined, { role: 'admin' });
    const token = t.tokenFor(id);
    expect((await t.get('/api/v1/users', token)).status).toBe(200);
    await w.user(id, { role: 'user' });
    expect((await t.get('/api/v1/users', token)).status).toBe(403);
  });
});

describe('authentication failure rate limit', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ AUTH_FAILURE_LIMIT: '5', AUTH_FAILURE_WINDOW_SECONDS: '60' });
  });
  afterAll(async () => t.close());

  const call = (token: string, remoteAddress: string) =>
    t.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${token}` },
      remoteAddress,
    });

  it('answers 429 with Retry-After after repeated failures from one address, for good credentials too', async () => {
    const attacker = '192.0.2.7';
    for (let i = 0; i < 5; i++) {
      const res = await call(flip(ADMIN_KEY, i), attacker);
      expect(res.statusCode).toBe(401);
    }
    const blocked = await call(flip(ADMIN_KEY, 9), attacker);
    expect(blocked.statusCode).toBe(429);
    expect(blocked.headers['content-type']).toMatch(/^application\/problem\+json/);
    const retryAfter = Number(blocked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Documented behaviour: while an address is blocked, even a valid credential from it is
    // refused (the limiter runs before the credential is checked, so it is no oracle).
    const valid = await call(ADMIN_KEY, attacker);
    expect(valid.statusCode).toBe(429);
    expect(valid.headers['retry-after']).toBeDefined();
    // Another address is not affected.
    expect((await call(ADMIN_KEY, '192.0.2.8')).statusCode).toBe(200);
    expect((await call(flip(ADMIN_KEY, 3), '192.0.2.8')).statusCode).toBe(401);
  });

  it('counts credentials in the wrong form, but not requests without credentials', async () => {
    const raw = (remoteAddress: string, authorization?: string) =>
      t.app.inject({
        method: 'GET',
        url: '/api/v1/users',
        headers: authorization === undefined ? {} : { authorization },
        remoteAddress,
      });
    const anonymous = '192.0.2.30';
    for (let i = 0; i < 10; i++) {
      expect((await raw(anonymous)).statusCode).toBe(401);
    }
    expect((await call(ADMIN_KEY, anonymous)).statusCode).toBe(200);
    const malformed = '192.0.2.31';
    for (const header of ['Basic YWRtaW46YWRtaW4=', 'Bearer', '', 'Token abc', 'Bearer a b']) {
      expect((await raw(malformed, header)).statusCode).toBe(401);
    }
    expect((await call(ADMIN_KEY, malformed)).statusCode).toBe(429);
  });

  it('does not count successful authentications as failures', async () => {
    const address = '192.0.2.20';
    for (let i = 0; i < 20; i++) {
      expect((await call(ADMIN_KEY, address)).statusCode).toBe(200);
    }
  });
});

describe('authentication failure rate limit behind a trusted proxy (TRUST_PROXY=127.0.0.1)', () => {
  let t: TestApp;
  const proxy = '127.0.0.1';

  beforeAll(async () => {
    t = await startTestApp({
      AUTH_FAILURE_LIMIT: '5',
      AUTH_FAILURE_WINDOW_SECONDS: '60',
      TRUST_PROXY: proxy,
    });
  });
  afterAll(async () => t.close());

  /** A request as nginx forwards it: the client's own X-Forwarded-For, then its real address. */
  const viaProxy = (token: string, forwardedFor: string, remoteAddress = proxy) =>
    t.app.inject({
      method: 'GET',
      url: '/api/v1/users',
      headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': forwardedFor },
      remoteAddress,
    });

  it('counts the address the proxy saw, not one the client wrote, so no one can lock out a victim', async () => {
    const victim = '203.0.113.50';
    const attacker = '198.51.100.9';
    for (let i = 0; i < 5; i++) {
      expect((await viaProxy(flip(ADMIN_KEY, i), `${victim}, ${attacker}`)).statusCode).toBe(401);
    }
    // the victim, with a valid key, is unaffected; the attacker is blocked
    expect((await viaProxy(ADMIN_KEY, victim)).statusCode).toBe(200);
    expect((await viaProxy(ADMIN_KEY, `${victim}, ${attacker}`)).statusCode).toBe(429);
  });

  it('cannot be dodged by rotating a forged X-Forwarded-For', async () => {
    const attacker = '198.51.100.10';
    for (let i = 0; i < 5; i++) {
      expect((await viaProxy(flip(ADMIN_KEY, i), `192.0.2.${i + 1}, ${attacker}`)).statusCode).toBe(
        401,
      );
    }
    expect((await viaProxy(flip(ADMIN_KEY, 7), `192.0.2.99, ${attacker}`)).statusCode).toBe(429);
  });

  it('ignores X-Forwarded-For from an address that is not a trusted proxy', async () => {
    const direct = '192.0.2.200';
    for (let i = 0; i < 5; i++) {
      expect((await viaProxy(flip(ADMIN_KEY, i), `203.0.113.${i + 60}`, direct)).statusCode).toBe(
        401,
      );
    }
    expect((await viaProxy(ADMIN_KEY, '203.0.113.99', direct)).statusCode).toBe(429);
    expect((await viaProxy(ADMIN_KEY, '203.0.113.60')).statusCode).toBe(200);
  });
});
