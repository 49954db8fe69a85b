import { AuthGuard } from '../src/auth/auth.guard';
import { World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';

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
