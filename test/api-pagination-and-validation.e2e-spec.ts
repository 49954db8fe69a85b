import { World } from './support/factories';
import { expectProblem, expectStatus } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

/** bounded pages, strict validation, problem+json for every error. */
describe('pagination and validation', () => {
  let t: TestApp;
  let w: World;
  let org: string;
  const LISTS = () => [
    '/api/v1/users',
    '/api/v1/models',
    '/api/v1/organizations',
    `/api/v1/organizations/${org}/members`,
    `/api/v1/organizations/${org}/models`,
    '/api/v1/audit',
  ];

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    org = await w.org('page-org');
    for (let i = 0; i < 6; i++) {
      await w.org(`page-org-${i}`);
    }
    for (let i = 0; i < 7; i++) {
      const user = await w.user(`page-user-${i}`);
      await w.member(org, user);
      const model = await w.model(`page/model-${i}`);
      await w.grant(org, model);
    }
  });
  afterAll(async () => t.close());

  describe('pagination', () => {
    it.each([
      ['limit', '0'],
      ['limit', '501'],
      ['limit', '-1'],
      ['limit', '1.5'],
      ['limit', 'abc'],
      ['limit', ''],
      ['offset', '-1'],
      ['offset', '0.5'],
      ['offset', 'x'],
    ])('refuses %s=%s on every list with a 400 naming the field', async (field, value) => {
      for (const url of LISTS()) {
        const res = await t.get(`${url}?${field}=${enc(value)}`);
        expectProblem(res, 400, [field]);
      }
    });

    it('accepts limit=500 and reports the paging fields beside data', async () => {
      for (const url of LISTS()) {
        const res = await t.get(`${url}?limit=500`);
        expectStatus(res, 200, url);
        expect(res.body).toMatchObject({ limit: 500, offset: 0, total: expect.any(Number) });
        expect(res.body.data.length).toBe(res.body.total);
      }
    });

    it('walks pages with correct totals, no duplicates and nothing missing', async () => {
      for (const url of LISTS()) {
        const all = await t.get(`${url}?limit=500`);
        const total = all.body.total as number;
        expect(total).toBeGreaterThanOrEqual(7);
        const key = (row: Record<string, unknown>) => JSON.stringify(row);
        const seen: string[] = [];
        for (let offset = 0; offset < total + 3; offset += 3) {
          const page = await t.get(`${url}?limit=3&offset=${offset}`);
          expectStatus(page, 200);
          expect(page.body).toMatchObject({ limit: 3, offset, total });
          expect(page.body.data.length).toBe(Math.max(0, Math.min(3, total - offset)));
          seen.push(...page.body.data.map(key));
        }
        expect(seen).toEqual(all.body.data.map(key));
      }
    });

    it('defaults to 50 rows from offset 0', async () => {
      const res = await t.get('/api/v1/models');
      expect(res.body).toMatchObject({ limit: 50, offset: 0 });
    });

    it('filters members by role and state with totals that match', async () => {
      await w.member(org, 'page-user-0', { role: 'admin' });
      await w.member(org, 'page-user-1', { is_active: false });
      const admins = await t.get(`/api/v1/organizations/${org}/members?role=admin`);
      expect(admins.body.data.map((m: { user_id: string }) => m.user_id)).toEqual(['page-user-0']);
      expect(admins.body.total).toBe(1);
      const inactive = await t.get(`/api/v1/organizations/${org}/members?is_active=false`);
      expect(inactive.body.data.map((m: { user_id: string }) => m.user_id)).toEqual([
        'page-user-1',
      ]);
      const active = await t.get(`/api/v1/organizations/${org}/members?is_active=true&limit=2`);
      expect(active.body.total).toBe(6);
      expectProblem(await t.get(`/api/v1/organizations/${org}/members?role=owner`), 400, ['role']);
      expectProblem(await t.get(`/api/v1/organizations/${org}/members?is_active=yes`), 400, [
        'is_active',
      ]);
    });
  });

  describe('validation', () => {
    it('rejects unknown body fields, naming each', async () => {
      const res = await t.put('/api/v1/users/v-user', {
        name: 'V',
        email: 'v@example.com',
        role: 'user',
        is_admin: true,
        password: 'x',
      });
      expectProblem(res, 400, ['is_admin', 'password']);
      expectProblem(await t.get('/api/v1/users/v-user'), 404);
      expectProblem(await t.put(`/api/v1/models/${enc('v/m')}`, { name: 'x', owner: 'y' }), 400, [
        'owner',
      ]);
      expectProblem(
        await t.put(`/api/v1/organizations/${org}/models/page%2Fmodel-0`, { x: 1 }),
        400,
        ['x'],
      );
      expectProblem(await t.patch(`/api/v1/organizations/${org}`, { id: 'new-id' }), 400, ['id']);
      expectProblem(
        await t.post('/api/v1/organizations', {
          id: 'v-org',
          name: 'V',
          external_user: 'v_org',
          is_active: false,
        }),
        400,
        ['is_active'],
      );
    });

    it('rejects unknown query parameters, naming them', async () => {
      expectProblem(await t.get('/api/v1/users?sort=name'), 400, ['sort']);
      expectProblem(await t.get('/api/v1/access/check?user_id=a&model_id=b&debug=1'), 400, [
        'debug',
      ]);
    });

    it('rejects wrong types field by field', async () => {
      const res = await t.put('/api/v1/users/v-user', { name: 42, email: ['a@b'], role: 'root' });
      expectProblem(res, 400, ['name', 'email', 'role']);
      expectProblem(
        await t.put(`/api/v1/models/${enc('v/m')}`, { name: 'x', is_active: 'true' }),
        400,
        ['is_active'],
      );
      expectProblem(
        await t.put(`/api/v1/organizations/${org}/members/page-user-2`, { is_active: 1 }),
        400,
        ['is_active'],
      );
      expectProblem(
        await t.put(`/api/v1/organizations/${org}/members/page-user-2`, { role: 'owner' }),
        400,
        ['role'],
      );
      expectProblem(
        await t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: [1, 2] }),
        400,
        ['user_ids'],
      );
      expectProblem(
        await t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: [] }),
        400,
        ['user_ids'],
      );
      expectProblem(
        await t.post('/api/v1/models/bulk', {
          models: [{ id: 'ok/1', name: 'x' }, { id: 'ok/2' }],
        }),
        400,
        ['models.1.name'],
      );
      expectProblem(
        await t.post(`/api/v1/organizations/${org}/models/bulk`, { grant: 'x/*' }),
        400,
        ['grant'],
      );
      expectProblem(await t.get('/api/v1/audit?since=yesterday'), 400, ['since']);
      expectProblem(await t.get('/api/v1/access/check?user_id=a'), 400, ['model_id']);
      expectProblem(await t.get('/api/v1/users?role=god'), 400, ['role']);
    });

    it('rejects an empty or missing body with the required fields', async () => {
      expectProblem(await t.put('/api/v1/users/v-user', {}), 400, ['name', 'email', 'role']);
      const none = await t.request('PUT', '/api/v1/users/v-user', {});
      expectProblem(none, 400, ['name']);
      expectProblem(await t.post('/api/v1/organizations', {}), 400, [
        'id',
        'name',
        'external_user',
      ]);
      expectProblem(await t.patch(`/api/v1/organizations/${org}`, {}), 400);
    });

    it.each([
      ['malformed JSON', '{"name": "x",'],
      ['a JSON array', '[1,2]'],
      ['a JSON string', '"text"'],
      ['JSON null', 'null'],
      ['a number', '42'],
      ['a prototype-polluting object', '{"__proto__": {"admin": true}, "name": "x"}'],
      ['a constructor-polluting object', '{"constructor": {"prototype": {"x": 1}}}'],
    ])('answers %s with a 400 problem, never 500', async (_what, raw) => {
      const res = await t.request('PUT', '/api/v1/users/v-raw', { rawBody: raw });
      expectProblem(res, 400);
      expectProblem(await t.get('/api/v1/users/v-raw'), 404);
    });

    it('answers a non-JSON media type with 415 and an oversized body with 413, as problems', async () => {
      const text = await t.request('PUT', '/api/v1/users/v-raw', {
        rawBody: '<user><name>x</name></user>',
        headers: { 'content-type': 'application/xml' },
      });
      expectProblem(text, 415);
      const huge = await t.request('PUT', '/api/v1/users/v-raw', {
        rawBody: JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) }),
      });
      expectProblem(huge, 413);
    });

    it('limits lengths: names over 255 and ids over their maximum are 400', async () => {
      expectProblem(
        await t.put('/api/v1/users/long-name', {
          name: 'n'.repeat(256),
          email: 'l@example.com',
          role: 'user',
        }),
        400,
        ['name'],
      );
      expectProblem(
        await t.put(`/api/v1/users/${'u'.repeat(256)}`, {
          name: 'n',
          email: 'l@example.com',
          role: 'user',
        }),
        400,
        ['user_id'],
      );
      expectProblem(await t.put(`/api/v1/models/${'m'.repeat(256)}`, { name: 'n' }), 400, [
        'model_id',
      ]);
      // 255 characters of 4-byte emoji fit: lengths are characters, not bytes
      const emoji = '🦊'.repeat(127);
      const ok = await t.put('/api/v1/users/emoji-long', {
        name: emoji,
        email: 'e@example.com',
        role: 'user',
      });
      expectStatus(ok, 201);
      expect(ok.body.name).toBe(emoji);
      expectProblem(await t.put(`/api/v1/users/${enc(' padded ')}`, {}), 400, ['user_id']);
    });

    it('sends every error as application/problem+json, including unknown routes', async () => {
      const missing = await t.get('/api/v1/no-such-route');
      expectProblem(missing, 404);
      const method = await t.request('PATCH', '/api/v1/users/x', { body: {} });
      expect([404, 405]).toContain(method.status);
      expectProblem(method, method.status);
    });
  });
});
