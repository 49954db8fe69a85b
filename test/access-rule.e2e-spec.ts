import { createHash } from 'node:crypto';
import { enc, startTestApp, TestApp } from './support/test-app';
import { World } from './support/factories';

describe('access rule (DESIGN section 2)', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  async function grantedWorld() {
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user);
    await w.grant(org, model);
    return { user, org, model };
  }

  it('allows a model when all four conditions hold, with the OpenRouter user value', async () => {
    const { user, org, model } = await grantedWorld();
    const check = await w.check(user, model);
    const hash = createHash('sha256').update(user).digest('hex').slice(0, 8);
    expect(check).toMatchObject({ allowed: true, organization_id: org, reason: 'granted' });
    expect(check.openrouter_user).toBe(`ext_${org.replace(/[^A-Za-z0-9]/g, '_')}_user_${hash}`);
    expect(await w.modelsOf(user)).toEqual([model]);
  });

  it('refuses a pending user in the check, every listing and the debug route, whatever their memberships', async () => {
    const { user, org, model } = await grantedWorld();
    const admin = await w.user(undefined, { role: 'admin' });
    await w.member(org, admin);
    for (const id of [user, admin]) {
      await w.user(id, { role: 'pending' });
      expect(await w.check(id, model)).toMatchObject({
        allowed: false,
        organization_id: null,
        openrouter_user: null,
        reason: 'user_pending',
      });
      // user_pending comes right after user_not_found: before anything about the model
      expect((await w.check(id, 'no-such/model')).reason).toBe('user_pending');
      expect(await w.modelsOf(id)).toEqual([]);
      const debug = await t.get(`/health/model-access/${enc(id)}`);
      expect(debug.status).toBe(200);
      expect(debug.body).toMatchObject({ status: 'pending', models: [] });
      expect(debug.body.memberships).toEqual([
        expect.objectContaining({ organization_id: org, is_active: true, usable: false }),
      ]);
      // the session is refused too, so /v1/models and /me/models never answer for them
      expect((await t.get('/v1/models', t.tokenFor(id))).status).toBe(401);
      expect((await t.get('/api/v1/me/models', t.tokenFor(id))).status).toBe(401);
    }
    await w.user(user, { role: 'user' });
    expect(await w.check(user, model)).toMatchObject({ allowed: true, reason: 'granted' });
    expect(await w.modelsOf(user)).toEqual([model]);
  });

  it('refuses a suspended member', async () => {
    const { user, org, model } = await grantedWorld();
    await w.member(org, user, { is_active: false });
    expect(await w.check(user, model)).toMatchObject({
      allowed: false,
      reason: 'membership_inactive',
    });
    expect(await w.modelsOf(user)).toEqual([]);
  });

  it('refuses a member of an archived organization', async () => {
    const { user, org, model } = await grantedWorld();
    await w.archive(org);
    expect(await w.check(user, model)).toMatchObject({
      allowed: false,
      reason: 'organization_inactive',
    });
    expect(await w.modelsOf(user)).toEqual([]);
    await w.archive(org, false);
    expect(await w.check(user, model)).toMatchObject({ allowed: true });
  });

  it('refuses a suspended grant', async () => {
    const { user, org, model } = await grantedWorld();
    await w.grant(org, model, false);
    expect(await w.check(user, model)).toMatchObject({ allowed: false, reason: 'grant_inactive' });
    expect(await w.modelsOf(user)).toEqual([]);
  });

  it('refuses an inactive catalog model', async () => {
    const { user, model } = await grantedWorld();
    await w.setModelActive(model, false);
    expect(await w.check(user, model)).toMatchObject({ allowed: false, reason: 'model_inactive' });
    expect(await w.modelsOf(user)).toEqual([]);
  });

  it('explains unknown users, unknown models and missing grants', async () => {
    const { user } = await grantedWorld();
    const other = await w.model();
    expect(await w.check('nobody-at-all', other)).toMatchObject({
      allowed: false,
      reason: 'user_not_found',
    });
    expect(await w.check(user, 'no/such-model')).toMatchObject({
      allowed: false,
      reason: 'model_not_found',
    });
    expect(await w.check(user, other)).toMatchObject({ allowed: false, reason: 'no_grant' });
    const loner = await w.user();
    expect(await w.check(loner, other)).toMatchObject({ allowed: false, reason: 'no_membership' });
  });

  it('a pattern grant covers present and later models with the prefix, and nothing else', async () => {
    const user = await w.user();
    const org = await w.org();
    await w.member(org, user);
    const prefix = `vendor${Date.now()}`;
    const before = await w.model(`${prefix}/alpha:beta`);
    const outside = await w.model(`${prefix}x/alpha`);
    await w.grant(org, `${prefix}/*`);
    const later = await w.model(`${prefix}/v2.5-turbo`);
    expect(await w.modelsOf(user)).toEqual([before, later].sort());
    expect((await w.check(user, outside)).allowed).toBe(false);
  });

  it('auto-grant organizations receive models added to the catalog later', async () => {
    const user = await w.user();
    const org = await w.org(undefined, { auto_grant_new_models: true });
    await w.member(org, user);
    const model = await w.model();
    expect(await w.check(user, model)).toMatchObject({ allowed: true, organization_id: org });
    const grants = await t.get(`/api/v1/organizations/${enc(org)}/models`);
    expect(grants.body.data.map((g: { model_id: string }) => g.model_id)).toContain(model);
  });

  it('site admins use models only through memberships', async () => {
    const admin = await w.user(undefined, { role: 'admin' });
    const model = await w.model();
    const res = await t.get('/v1/models', t.tokenFor(admin));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ object: 'list', data: [] });
    expect((await w.check(admin, model)).allowed).toBe(false);
  });
});
