import { World } from './support/factories';
import { expectProblem, expectStatus, listAll } from './support/problems';
import { enc, Reply, startTestApp, TestApp } from './support/test-app';

/** PUT is an idempotent upsert; creates conflict with 409; delete refuses without cascade. */
describe('idempotent upserts and conflicts', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  /** PUT twice: 201 then 200 with the same representation, and one row. */
  async function putTwice(url: string, body: unknown): Promise<[Reply, Reply]> {
    const first = await t.put(url, body);
    const second = await t.put(url, body);
    expectStatus(first, 201, `first PUT ${url}`);
    expectStatus(second, 200, `second PUT ${url}`);
    expect(second.body).toEqual(first.body);
    return [first, second];
  }

  it('upserts a user: 201, then 200 with the same body, one row', async () => {
    const id = 'upsert-user@example.com';
    const body = { name: 'Ada', email: 'ada@example.com', role: 'user' };
    await putTwice(`/api/v1/users/${enc(id)}`, body);
    const found = await t.get(`/api/v1/users?search=${enc('ada@example.com')}`);
    expect(found.body.total).toBe(1);
    const changed = await t.put(`/api/v1/users/${enc(id)}`, { ...body, name: 'Ada L.' });
    expectStatus(changed, 200);
    expect(changed.body.name).toBe('Ada L.');
    expect((await t.get(`/api/v1/users/${enc(id)}`)).body.name).toBe('Ada L.');
  });

  it('upserts a model, a membership, a grant and a pattern grant the same way', async () => {
    const modelUrl = `/api/v1/models/${enc('upsert/model:v1.0')}`;
    await putTwice(modelUrl, { name: 'M', is_active: true });
    const org = await w.org();
    const user = await w.user();
    await putTwice(`/api/v1/organizations/${org}/members/${enc(user)}`, { role: 'member' });
    await putTwice(`/api/v1/organizations/${org}/models/${enc('upsert/model:v1.0')}`, {
      is_active: true,
    });
    await putTwice(`/api/v1/organizations/${org}/models/${enc('upsert/*')}`, {});
    const orgBody = (await t.get(`/api/v1/organizations/${org}`)).body;
    expect(orgBody).toMatchObject({ member_count: 1, grant_count: 2 });
  });

  it('keeps bulk operations idempotent', async () => {
    const org = await w.org();
    const users = [await w.user(), await w.user()];
    const url = `/api/v1/organizations/${org}/members/bulk`;
    const first = await t.post(url, { user_ids: users });
    expectStatus(first, 200);
    expect(first.body).toEqual({ added: 2, updated: 0, unchanged: 0 });
    expect((await t.post(url, { user_ids: users })).body).toEqual({
      added: 0,
      updated: 0,
      unchanged: 2,
    });
    const models = [
      { id: 'bulkimp/a', name: 'A' },
      { id: 'bulkimp/b:free', name: 'B' },
    ];
    const imported = await t.post('/api/v1/models/bulk', { models });
    expectStatus(imported, 200);
    expect(imported.body).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
    expect((await t.post('/api/v1/models/bulk', { models })).body).toMatchObject({
      created: 0,
      unchanged: 2,
    });
    const grants = `/api/v1/organizations/${org}/models/bulk`;
    expect((await t.post(grants, { grant: ['bulkimp/a', 'other/*'] })).body).toMatchObject({
      granted: 2,
      unchanged: 0,
    });
    expect((await t.post(grants, { grant: ['bulkimp/a', 'other/*'] })).body).toMatchObject({
      granted: 0,
      unchanged: 2,
    });
    expect((await t.get(`/api/v1/organizations/${org}`)).body.grant_count).toBe(2);
  });

  it('answers concurrent identical upserts with one 201 and the rest 200, never 409 or 500', async () => {
    const org = await w.org();
    const model = await w.model();
    const targets: [string, unknown][] = [
      ['/api/v1/users/concurrent-user', { name: 'C', email: 'c@example.com', role: 'user' }],
      [`/api/v1/models/${enc('concurrent/model')}`, { name: 'C' }],
      [`/api/v1/organizations/${org}/members/concurrent-user`, {}],
      [`/api/v1/organizations/${org}/models/${enc(model)}`, {}],
    ];
    for (const [url, body] of targets) {
      const replies = await Promise.all(Array.from({ length: 6 }, () => t.put(url, body)));
      const statuses = replies.map((r) => r.status).sort();
      expect({ url, statuses }).toEqual({ url, statuses: [200, 200, 200, 200, 200, 201] });
    }
    const members = await t.get(`/api/v1/organizations/${org}/members`);
    expect(members.body.total).toBe(1);
  });

  it('refuses a second organization with the same id or external_user with 409', async () => {
    await w.org('conflict-org', { external_user: 'conflict_ext' });
    const sameId = await t.post('/api/v1/organizations', {
      id: 'conflict-org',
      name: 'Other',
      external_user: 'other_ext',
    });
    expectProblem(sameId, 409);
    expect(sameId.body.detail).toContain('conflict-org');
    const sameExternal = await t.post('/api/v1/organizations', {
      id: 'conflict-org-2',
      name: 'Other',
      external_user: 'conflict_ext',
    });
    expectProblem(sameExternal, 409);
    expect(sameExternal.body.detail).toContain('conflict_ext');
    expectProblem(await t.get('/api/v1/organizations/conflict-org-2'), 404);
    expect((await t.get('/api/v1/organizations/conflict-org')).body.name).toBe('Org conflict-org');
  });

  it('answers concurrent creates of one organization with one 201 and the rest 409', async () => {
    const replies = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        t.post('/api/v1/organizations', {
          id: 'race-org',
          name: `Race ${i}`,
          external_user: i % 2 === 0 ? 'race_ext' : `race_ext_${i}`,
        }),
      ),
    );
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409]);
    for (const r of replies.filter((x) => x.status === 409)) {
      expectProblem(r, 409);
    }
  });

  it('refuses to delete an organization with members or grants unless asked to cascade', async () => {
    const withMember = await w.org();
    const withGrant = await w.org();
    const user = await w.user();
    const model = await w.model();
    await w.member(withMember, user);
    await w.grant(withGrant, model);
    for (const org of [withMember, withGrant]) {
      const res = await t.delete(`/api/v1/organizations/${org}`);
      expectProblem(res, 409);
      expect(res.body.detail).toMatch(/cascade/);
      expectProblem(await t.delete(`/api/v1/organizations/${org}?cascade=false`), 409);
      expectStatus(await t.get(`/api/v1/organizations/${org}`), 200);
    }
    expectProblem(await t.delete(`/api/v1/organizations/${withMember}?cascade=maybe`), 400, [
      'cascade',
    ]);

    await w.member(withGrant, user);
    expect(await w.modelsOf(user)).toEqual([model]);
    expectStatus(await t.delete(`/api/v1/organizations/${withGrant}?cascade=true`), 204);
    expectProblem(await t.get(`/api/v1/organizations/${withGrant}`), 404);
    expect(await w.modelsOf(user)).toEqual([]);
    const orgs = await t.get(`/api/v1/users/${enc(user)}/organizations`);
    expect(orgs.body.data.map((o: { organization_id: string }) => o.organization_id)).toEqual([
      withMember,
    ]);
    // user and model survive the cascade; the id can be reused with no leftover rows
    expectStatus(await t.get(`/api/v1/users/${enc(user)}`), 200);
    expectStatus(await t.get(`/api/v1/models/${enc(model)}`), 200);
    await w.org(withGrant);
    expect((await t.get(`/api/v1/organizations/${withGrant}`)).body).toMatchObject({
      member_count: 0,
      grant_count: 0,
    });

    const empty = await w.org();
    expectStatus(await t.delete(`/api/v1/organizations/${empty}`), 204);
    expectProblem(await t.delete(`/api/v1/organizations/${empty}`), 404);
  });

  it('404s deletes and updates of things that do not exist', async () => {
    const org = await w.org();
    expectProblem(await t.delete('/api/v1/users/never-existed'), 404);
    expectProblem(await t.delete(`/api/v1/models/${enc('never/existed')}`), 404);
    expectProblem(await t.delete(`/api/v1/organizations/${org}/members/never-existed`), 404);
    expectProblem(await t.delete(`/api/v1/organizations/${org}/models/${enc('never/x')}`), 404);
    expectProblem(await t.put(`/api/v1/organizations/${org}/members/never-existed`, {}), 404);
    expectProblem(await t.put(`/api/v1/organizations/${org}/models/${enc('never/x')}`, {}), 404);
    expectProblem(await t.patch('/api/v1/organizations/never-existed', { name: 'x' }), 404);
    expectProblem(await t.put('/api/v1/organizations/never-existed/members/u', {}), 404);
    const bulk = await t.post(`/api/v1/organizations/${org}/members/bulk`, {
      user_ids: ['never-existed'],
    });
    expectProblem(bulk, 400);
    expect((await t.get(`/api/v1/organizations/${org}`)).body.member_count).toBe(0);
  });

  it('deleting a catalog model removes its exact grants but keeps patterns', async () => {
    const org = await w.org();
    await w.model('delvendor/one');
    await w.grant(org, 'delvendor/one');
    await w.grant(org, 'delvendor/*');
    expectStatus(await t.delete(`/api/v1/models/${enc('delvendor/one')}`), 204);
    const grants = await listAll<{ model_id: string }>(t, `/api/v1/organizations/${org}/models`);
    expect(grants.map((g) => g.model_id)).toEqual(['delvendor/*']);
  });
});
