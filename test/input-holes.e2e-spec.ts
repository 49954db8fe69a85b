import { World } from './support/factories';
import { expectProblem, expectStatus } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

/** Small input holes: each refused cleanly (or, for an empty JSON body, accepted) and changing nothing. */
describe('input holes', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  it('prefixes "not valid JSON" only to bodies that do not parse, not to any 400 mentioning body or JSON', async () => {
    const bad = await t.request('PUT', '/api/v1/users/holes-json', { rawBody: '{"name":' });
    expectProblem(bad, 400);
    expect(bad.body.detail).toMatch(/^The request body is not valid JSON/);
    const org = await w.org();
    // a refusal whose text happens to hold "body", "JSON" and "Unexpected"
    const res = await t.post(`/api/v1/organizations/${org}/members/bulk`, {
      user_ids: ['Unexpected body JSON'],
    });
    expectProblem(res, 400);
    expect(res.body.detail).toMatch(/^No change made: 1 user ids are unknown/);
  });

  it('refuses form-encoded and other non-JSON bodies with 415 on every write route, changing nothing', async () => {
    const org = await w.org();
    for (const [method, url] of [
      ['PUT', '/api/v1/users/holes-form'],
      ['PUT', '/api/v1/models/holes%2Fform'],
      ['POST', '/api/v1/organizations'],
      ['PATCH', `/api/v1/organizations/${org}`],
      ['POST', `/api/v1/organizations/${org}/members/bulk`],
    ]) {
      for (const type of [
        'application/x-www-form-urlencoded',
        'text/plain',
        'multipart/form-data',
      ]) {
        const res = await t.request(method, url, {
          rawBody: 'name=Form&email=f%40x.example&role=user&id=holes-form-org&external_user=hf',
          headers: { 'content-type': type },
        });
        expectProblem(res, 415);
      }
    }
    expectProblem(await t.get('/api/v1/users/holes-form'), 404);
    expectProblem(await t.get('/api/v1/organizations/holes-form-org'), 404);
  });

  it.each(['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'refuses a field named %s in a query and in a body like any unknown field',
    async (name) => {
      const query = await t.get(`/api/v1/users?${name}=1`);
      expectProblem(query, 400, [name]);
      const body = await t.request('PUT', '/api/v1/users/holes-proto', {
        rawBody: `{"name":"P","email":"p@x.example","role":"user","${name}":1}`,
      });
      expect([400]).toContain(body.status);
      expectProblem(await t.get('/api/v1/users/holes-proto'), 404);
      const nested = await t.post('/api/v1/models/bulk', {
        models: [{ id: 'holes/nested', name: 'N', [name]: 1 }],
      });
      expect(nested.status).toBe(400);
      expectProblem(await t.get('/api/v1/models/holes%2Fnested'), 404);
    },
  );

  it('accepts an empty body sent with Content-Type: application/json on bodiless requests', async () => {
    const user = await w.user();
    for (const rawBody of ['', '  ']) {
      const get = await t.request('GET', `/api/v1/users/${enc(user)}`, { rawBody });
      expectStatus(get, 200);
    }
    const res = await t.request('DELETE', `/api/v1/users/${enc(user)}`, { rawBody: '' });
    expectStatus(res, 204);
    // a write that needs a body still says which fields are missing
    const put = await t.request('PUT', '/api/v1/users/holes-empty', { rawBody: '' });
    expectProblem(put, 400, ['name', 'email', 'role']);
  });

  it.each([
    ['a decomposed é (not NFC)', 'caf\u0065\u0301'],
    ['a zero-width space', 'ada\u200b'],
    ['a right-to-left override', 'ada\u202egnp.exe'],
    ['a byte order mark', '\ufeffada'],
    ['a left-to-right isolate', 'ada\u2066x'],
  ])('refuses a user id with %s, in a path and in a bulk body', async (_what, id) => {
    const res = await t.put(`/api/v1/users/${enc(id)}`, {
      name: 'Look-alike',
      email: 'l@x.example',
      role: 'user',
    });
    expectProblem(res, 400, ['user_id']);
    const org = await w.org();
    expectProblem(
      await t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: [id] }),
      400,
      ['user_ids.0'],
    );
    expectProblem(await t.put(`/api/v1/models/${enc(`x/${id}`)}`, { name: 'M' }), 400, [
      'model_id',
    ]);
    // the NFC form of the same text is an ordinary id
    const plain = id.normalize('NFC').replace(/[\u200b\u202e\ufeff\u2066]/g, '');
    expectStatus(
      await t.put(`/api/v1/users/${enc(plain)}`, {
        name: 'Plain',
        email: 'p@x.example',
        role: 'user',
      }),
      [200, 201],
    );
  });

  it('treats external_user values that differ only by case as one', async () => {
    await w.org('holes-case-a', { external_user: 'mai_Client_Case' });
    const res = await t.post('/api/v1/organizations', {
      id: 'holes-case-b',
      name: 'B',
      external_user: 'MAI_client_case',
    });
    expectProblem(res, 409);
    expect(res.body.detail).toContain('external_user');
    expectProblem(await t.get('/api/v1/organizations/holes-case-b'), 404);
  });
});
