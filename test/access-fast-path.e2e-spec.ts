import { request, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { AuthGuard, RequestAuthenticator } from '../src/auth/auth.guard';
import { DoorRequest } from '../src/common/front-door';
import { World } from './support/factories';
import { HttpApi } from './support/http-api';
import { ADMIN_KEY, enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * The access check and the two model lists are answered by the fast path
 * (src/model-access/access-fast-path.ts), never by Nest's router. Nest's router runs the one
 * guard for every request it handles, so a GET that reached it would show here.
 */
describe('access fast path', () => {
  let t: TestApp;
  let w: World;
  let guardCalls: jest.SpyInstance;

  beforeAll(async () => {
    guardCalls = jest.spyOn(AuthGuard.prototype, 'canActivate');
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => {
    guardCalls.mockRestore();
    await t.close();
  });

  it('serves its three GET routes without the router, HEAD through it', async () => {
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user);
    await w.grant(org, model);
    const urls = [
      `/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`,
      `/api/v1/users/${enc(user)}/models`,
    ];
    guardCalls.mockClear();
    for (const url of urls) {
      expect((await t.get(url)).status).toBe(200);
    }
    const openAi = await t.get('/v1/models', t.tokenFor(user));
    expect(openAi.status).toBe(200);
    expect(openAi.body.data.map((m: { id: string }) => m.id)).toEqual([model]);
    expect(guardCalls).not.toHaveBeenCalled();

    // The same spy sees a request that does go through Nest's router.
    expect((await t.request('HEAD', urls[1])).status).toBe(200);
    expect(guardCalls).toHaveBeenCalledTimes(1);
  });

  it('answers errors of the fast routes as the guard and pipes would, without the router', async () => {
    guardCalls.mockClear();
    expect((await t.get('/api/v1/access/check?user_id=u', null)).status).toBe(401);
    const bad = await t.get('/api/v1/access/check?user_id=u&other=1');
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['other', 'model_id']);
    expect((await t.get('/v1/models')).status).toBe(403);
    expect(guardCalls).not.toHaveBeenCalled();
  });
});

/**
 * Over HTTP, plain GETs of the fast routes are answered by the front door on the HTTP server,
 * before Fastify; the rest of the fast routes' requests go on to Fastify's preHandler entrance.
 * Both must answer byte for byte alike but for the request id and the date.
 */
describe('access fast path: the front door', () => {
  let t: TestApp;
  let w: World;
  let http: HttpApi;
  let decide: jest.SpyInstance;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.getHttpServer().address() as AddressInfo;
    http = new HttpApi(`http://127.0.0.1:${address.port}`);
    decide = jest.spyOn(RequestAuthenticator.prototype, 'decide');
  });
  afterAll(async () => {
    decide.mockRestore();
    (t.app.getHttpServer() as Server).closeAllConnections();
    await t.close();
  });

  /** Whether the last authenticated request was answered by the front door. */
  const byFrontDoor = (): boolean => decide.mock.lastCall?.[1] instanceof DoorRequest;

  /** The parts of an answer both entrances must agree on. */
  const comparable = (reply: Reply) => {
    const { date, 'x-request-id': id, ...headers } = reply.headers;
    expect(typeof id).toBe('string');
    expect(date).toBeDefined();
    return { status: reply.status, headers, text: reply.text.replace(String(id), '<id>') };
  };

  it('answers each fast route as Fastify would, successes and problems alike', async () => {
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user);
    await w.grant(org, model);
    const token = t.tokenFor(user);
    const cases: [string, string | null][] = [
      [`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`, ADMIN_KEY],
      [`/api/v1/access/check?user_id=${enc(user)}&model_id=nobody%2Fnothing`, ADMIN_KEY],
      [`/api/v1/access/check?user_id=${enc(user)}&other=1`, ADMIN_KEY],
      [`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`, null],
      [`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`, token],
      [`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`, 'not-a-key'],
      [`/api/v1/users/${enc(user)}/models`, ADMIN_KEY],
      ['/api/v1/users/nobody-at-all/models', ADMIN_KEY],
      ['/v1/models', token],
      ['/v1/models', ADMIN_KEY],
    ];
    for (const [url, key] of cases) {
      decide.mockClear();
      const door = await http.request('GET', url, { token: key });
      expect({ url, door: byFrontDoor() }).toEqual({ url, door: true });
      // A minimum revision (here 0, always reached) sends the request on to Fastify.
      decide.mockClear();
      const fastify = await http.request('GET', url, {
        token: key,
        headers: { 'x-min-access-revision': '0' },
      });
      expect({ url, door: byFrontDoor() }).toEqual({ url, door: false });
      expect({ url, ...comparable(door) }).toEqual({ url, ...comparable(fastify) });
    }
  });

  it("keeps the caller's request id, and counts what it answers", async () => {
    const before = await t.get('/metrics');
    const count = (text: string): number =>
      Number(
        /http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/users\/:id\/models",status_class="4xx"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    const reply = await http.request('GET', '/api/v1/users/nobody-here/models', {
      headers: { 'x-request-id': 'trace-me-42' },
    });
    expect(byFrontDoor()).toBe(true);
    expect(reply.status).toBe(404);
    expect(reply.headers['x-request-id']).toBe('trace-me-42');
    expect(reply.body.request_id).toBe('trace-me-42');
    expect(count((await t.get('/metrics')).text)).toBe(count(before.text) + 1);
  });

  it('passes on what only Fastify handles: other methods, escaped ids, bodies', async () => {
    const user = await w.user();
    decide.mockClear();
    expect((await http.request('HEAD', `/api/v1/users/${enc(user)}/models`)).status).toBe(200);
    expect(byFrontDoor()).toBe(false);
    decide.mockClear();
    expect((await http.get(`/api/v1/users/${encodeURIComponent(user)}%2D/models`)).status).toBe(
      404,
    );
    expect(byFrontDoor()).toBe(false);
    decide.mockClear();
    // fetch() refuses a GET with a body; node:http sends one.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${http.base}/api/v1/users/${enc(user)}/models`,
        {
          method: 'GET',
          agent: false,
          headers: {
            authorization: `Bearer ${ADMIN_KEY}`,
            'content-type': 'application/json',
            'content-length': '2',
          },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end('{}');
    });
    expect(status).toBeLessThan(500);
    expect(byFrontDoor()).toBe(false);
  });
});
