import { World } from './support/factories';
import { expectProblem, expectStatus } from './support/problems';
import { enc, Reply, startTestApp, TestApp } from './support/test-app';

/** A user of one organization never sees, and its admin never touches, another. */
describe('isolation between two organizations', () => {
  let t: TestApp;
  let w: World;
  const A = 'iso-a';
  const B = 'iso-b';
  const aUser = 'a-user';
  const aAdmin = 'a-admin';
  const bUser = 'b-user';
  const bAdmin = 'b-admin';
  const shared = 'shared/model-1';

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    await w.org(A);
    await w.org(B);
    for (const id of [aUser, aAdmin, bUser, bAdmin]) {
      await w.user(id);
    }
    // a user A's admin may add: A takes in their email domain (set after they were created)
    await w.user('loose-user', { email: 'loose@iso-a.example' });
    await w.emailDomains(A, ['iso-a.example']);
    await w.member(A, aUser);
    await w.member(A, aAdmin, { role: 'admin' });
    await w.member(B, bUser);
    await w.member(B, bAdmin, { role: 'admin' });
    await w.model('a-vendor/a-only');
    await w.model('b-vendor/b-only');
    await w.model('b-vendor/b-two');
    await w.model(shared);
    await w.grant(A, 'a-vendor/a-only');
    await w.grant(A, shared);
    await w.grant(B, 'b-vendor/*');
    await w.grant(B, shared);
  });
  afterAll(async () => t.close());

  /** Everything about organization B that an outsider must not change. */
  async function snapshotOf(orgId: string): Promise<unknown> {
    const org = await t.get(`/api/v1/organizations/${orgId}`);
    const members = await t.get(`/api/v1/organizations/${orgId}/members?limit=500`);
    const grants = await t.get(`/api/v1/organizations/${orgId}/models?limit=500`);
    expectStatus(org, 200);
    expectStatus(members, 200);
    expectStatus(grants, 200);
    return { org: org.body, members: members.body, grants: grants.body };
  }

  it('never shows a user of A the models of B, through any listing or check', async () => {
    const token = t.tokenFor(aUser);
    const openAi = await t.get('/v1/models', token);
    expectStatus(openAi, 200);
    expect(openAi.body.data.map((m: { id: string }) => m.id)).toEqual(['a-vendor/a-only', shared]);
    const mine = await t.get('/api/v1/me/models', token);
    expect(mine.body.data.map((m: { id: string }) => m.id)).toEqual(['a-vendor/a-only', shared]);
    const sharedEntry = mine.body.data.find((m: { id: string }) => m.id === shared);
    expect(sharedEntry.organizations.map((o: { id: string }) => o.id)).toEqual([A]);
    expect((await w.check(aUser, 'b-vendor/b-only')).allowed).toBe(false);
    const orgs = await t.get('/api/v1/me/organizations', token);
    expect(orgs.body.data.map((o: { organization_id: string }) => o.organization_id)).toEqual([A]);
  });

  it("gives A's admin 404 on every route of B, and leaves B unchanged", async () => {
    const before = await snapshotOf(B);
    const token = t.tokenFor(aAdmin);
    const attempts: [string, () => Promise<Reply>][] = [
      ['get org', () => t.get(`/api/v1/organizations/${B}`, token)],
      ['list members', () => t.get(`/api/v1/organizations/${B}/members`, token)],
      ['add member', () => t.put(`/api/v1/organizations/${B}/members/${aUser}`, {}, token)],
      [
        'suspend member',
        () => t.put(`/api/v1/organizations/${B}/members/${bUser}`, { is_active: false }, token),
      ],
      [
        'promote self',
        () => t.put(`/api/v1/organizations/${B}/members/${aAdmin}`, { role: 'admin' }, token),
      ],
      ['remove member', () => t.delete(`/api/v1/organizations/${B}/members/${bUser}`, token)],
      [
        'bulk add',
        () => t.post(`/api/v1/organizations/${B}/members/bulk`, { user_ids: [aUser] }, token),
      ],
    ];
    for (const [what, call] of attempts) {
      const res = await call();
      expect({ what, status: res.status }).toEqual({ what, status: 404 });
      expectProblem(res, 404);
    }
    // the same answer as for an organization that does not exist: no existence leak
    const missing = await t.get('/api/v1/organizations/no-such-org', token);
    expectProblem(missing, 404);
    expect(missing.body.detail.replace('no-such-org', B)).toBe(
      (await t.get(`/api/v1/organizations/${B}`, token)).body.detail,
    );
    expect(await snapshotOf(B)).toEqual(before);
  });

  it("lets A's admin manage A's members but no grants: 403 in A, 404 in B", async () => {
    const token = t.tokenFor(aAdmin);
    expectStatus(await t.get(`/api/v1/organizations/${A}`, token), 200);
    expectStatus(await t.put(`/api/v1/organizations/${A}/members/loose-user`, {}, token), 201);
    expectStatus(await t.delete(`/api/v1/organizations/${A}/members/loose-user`, token), 204);
    const beforeA = await snapshotOf(A);
    const beforeB = await snapshotOf(B);
    for (const org of [A, B]) {
      const grantCalls: Reply[] = [
        await t.get(`/api/v1/organizations/${org}/models`, token),
        await t.put(`/api/v1/organizations/${org}/models/${enc('b-vendor/b-only')}`, {}, token),
        await t.delete(`/api/v1/organizations/${org}/models/${enc(shared)}`, token),
        await t.post(`/api/v1/organizations/${org}/models/bulk`, { grant: ['b-vendor/*'] }, token),
        await t.patch(`/api/v1/organizations/${org}`, { name: 'Renamed' }, token),
        await t.delete(`/api/v1/organizations/${org}?cascade=true`, token),
      ];
      // known but not allowed in A (403); B cannot be seen at all (404)
      const status = org === A ? 403 : 404;
      for (const res of grantCalls) {
        expectProblem(res, status);
      }
    }
    expect(await snapshotOf(A)).toEqual(beforeA);
    expect(await snapshotOf(B)).toEqual(beforeB);
  });

  it('lists only the organizations an org admin administers', async () => {
    const res = await t.get('/api/v1/organizations', t.tokenFor(aAdmin));
    expectStatus(res, 200);
    expect(res.body.data.map((o: { id: string }) => o.id)).toEqual([A]);
    expect(res.body.total).toBe(1);
  });

  it("refuses A's plain members B's routes with 404 and A's admin routes with 403", async () => {
    const token = t.tokenFor(aUser);
    expectProblem(await t.get(`/api/v1/organizations/${B}`, token), 404);
    expectProblem(await t.get(`/api/v1/organizations/${A}/members`, token), 403);
    expectProblem(await t.get(`/api/v1/organizations`, token), 403);
    expectProblem(await t.get(`/api/v1/users/${bUser}/models`, token), 403);
    expectProblem(await t.get(`/api/v1/access/check?user_id=${bUser}&model_id=x`, token), 403);
  });

  it('treats a suspended admin as an outsider', async () => {
    const suspended = 'a-admin-suspended';
    await w.user(suspended);
    await w.member(A, suspended, { role: 'admin', is_active: false });
    const token = t.tokenFor(suspended);
    expectProblem(await t.get(`/api/v1/organizations/${A}`, token), 404);
    expectProblem(await t.put(`/api/v1/organizations/${A}/members/${aUser}`, {}, token), 404);
  });
});

/** DESIGN section 1: a person may belong to several organizations. */
describe('multi-organization users', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  it('uses the models of both organizations, each listed with its granting organizations', async () => {
    const user = await w.user();
    const x = await w.org('multi-x', { name: 'X Corp' });
    const y = await w.org('multi-y', { name: 'Y Corp' });
    await w.member(x, user);
    await w.member(y, user, { role: 'admin' });
    const onlyX = await w.model('x/only');
    const onlyY = await w.model('y/only');
    const both = await w.model('both/model:v1.0');
    await w.grant(x, onlyX);
    await w.grant(y, onlyY);
    await w.grant(x, both);
    await w.grant(y, 'both/*');

    const listed = await t.get(`/api/v1/users/${enc(user)}/models`);
    expect(
      listed.body.data.map((m: { id: string; organizations: { id: string }[] }) => [
        m.id,
        m.organizations.map((o) => o.id),
      ]),
    ).toEqual([
      [both, [x, y]],
      [onlyX, [x]],
      [onlyY, [y]],
    ]);
    const orgs = await t.get(`/api/v1/users/${enc(user)}/organizations`);
    expectStatus(orgs, 200);
    expect(
      orgs.body.data.map((o: { organization_id: string; role: string; is_active: boolean }) => [
        o.organization_id,
        o.role,
        o.is_active,
      ]),
    ).toEqual([
      [x, 'member', true],
      [y, 'admin', true],
    ]);
    const values = orgs.body.data.map((o: { openrouter_user: string }) => o.openrouter_user);
    expect(new Set(values).size).toBe(2);

    // suspended in X: X's models go, Y's stay, and `both` is now granted through Y only
    await w.member(x, user, { is_active: false });
    const after = await t.get('/v1/models', t.tokenFor(user));
    expect(
      after.body.data.map((m: { id: string; owned_by: string }) => [m.id, m.owned_by]),
    ).toEqual([
      [both, y],
      [onlyY, y],
    ]);
    expect(await w.check(user, both)).toMatchObject({ allowed: true, organization_id: y });
    expect(await w.check(user, onlyX)).toMatchObject({
      allowed: false,
      reason: 'membership_inactive',
    });
    const mine = await t.get('/api/v1/me/organizations', t.tokenFor(user));
    expect(
      mine.body.data.map((o: { organization_id: string; is_active: boolean }) => [
        o.organization_id,
        o.is_active,
      ]),
    ).toEqual([
      [x, false],
      [y, true],
    ]);

    // archiving Y leaves nothing; restoring the X membership brings X's models back
    await w.archive(y);
    expect(await w.modelsOf(user)).toEqual([]);
    await w.member(x, user, { is_active: true });
    expect(await w.modelsOf(user)).toEqual([both, onlyX]);
  });

  it('an admin of one organization and member of another administers only the first', async () => {
    const user = await w.user();
    const admins = await w.org();
    const plain = await w.org();
    await w.member(admins, user, { role: 'admin' });
    await w.member(plain, user);
    const token = t.tokenFor(user);
    expectStatus(await t.get(`/api/v1/organizations/${admins}/members`, token), 200);
    expectProblem(await t.get(`/api/v1/organizations/${plain}/members`, token), 403);
    expectProblem(await t.put(`/api/v1/organizations/${plain}/members/${user}`, {}, token), 403);
    const listed = await t.get('/api/v1/organizations', token);
    expect(listed.body.data.map((o: { id: string }) => o.id)).toEqual([admins]);
  });

  it('deleting a user removes every membership of theirs', async () => {
    const user = await w.user();
    const one = await w.org();
    const two = await w.org();
    await w.member(one, user);
    await w.member(two, user);
    expectStatus(await t.delete(`/api/v1/users/${enc(user)}`), 204);
    for (const org of [one, two]) {
      const members = await t.get(`/api/v1/organizations/${org}/members`);
      expect(members.body.total).toBe(0);
    }
    expectProblem(await t.get(`/api/v1/users/${enc(user)}/organizations`), 404);
  });

  it('a suspended organization admin administers nothing and sees nothing of the organization', async () => {
    const user = await w.user();
    const org = await w.org();
    await w.member(org, user, { role: 'admin', is_active: false });
    const token = t.tokenFor(user);
    expectProblem(await t.get(`/api/v1/organizations/${org}`, token), 404);
    expectProblem(await t.get(`/api/v1/organizations/${org}/members`, token), 404);
    expectProblem(await t.put(`/api/v1/organizations/${org}/members/${enc(user)}`, {}, token), 404);
    expectProblem(await t.get(`/api/v1/organizations/${org}/models`, token), 404);
    expectProblem(await t.get('/api/v1/organizations', token), 403);
    // restored, the same token administers it again
    await w.member(org, user, { is_active: true });
    expectStatus(await t.get(`/api/v1/organizations/${org}/members`, token), 200);
  });

  it('an admin API key has no user behind it: 403 on the routes that answer for a web UI user', async () => {
    for (const path of ['/api/v1/me/models', '/api/v1/me/organizations', '/v1/models']) {
      expectProblem(await t.get(path), 403);
    }
  });
});
