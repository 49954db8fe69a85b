import { AccessCacheService } from '../src/model-access/access-cache.service';
import { World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';

/**
 * Membership and grant writes declare their keys: they empty only the rows of the users
 * and the grants of the organizations they change, and the next read still sees them.
 */
describe('narrowed cache invalidation', () => {
  let t: TestApp;
  let w: World;
  let layers: { userRows: Map<string, unknown>; organizations: Map<string, unknown> };

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    layers = t.app.get(AccessCacheService) as unknown as typeof layers;
  });
  afterAll(async () => t.close());

  it('a membership write drops only that user, and the next check sees it', async () => {
    const [a, b] = [await w.org(), await w.org()];
    const model = await w.model();
    const [u1, u2] = [await w.user(), await w.user()];
    await w.member(a, u1);
    await w.member(a, u2);
    await w.grant(a, model);
    await w.grant(b, model);
    expect((await w.check(u1, model)).allowed).toBe(true);
    expect((await w.check(u2, model)).allowed).toBe(true);
    expect(layers.userRows.has(u2)).toBe(true);

    await w.member(a, u1, { is_active: false });
    expect(layers.userRows.has(u1)).toBe(false);
    expect(layers.userRows.has(u2)).toBe(true);
    expect(await w.check(u1, model)).toMatchObject({
      allowed: false,
      reason: 'membership_inactive',
    });
    expect((await w.check(u2, model)).allowed).toBe(true);

    const removed = await t.delete(`/api/v1/organizations/${enc(a)}/members/${enc(u2)}`);
    expect(removed.status).toBe(204);
    expect(await w.check(u2, model)).toMatchObject({ allowed: false, reason: 'no_membership' });

    const bulk = await t.post(`/api/v1/organizations/${enc(b)}/members/bulk`, {
      user_ids: [u1, u2],
    });
    expect(bulk.status).toBe(200);
    expect(await w.check(u1, model)).toMatchObject({ allowed: true, organization_id: b });
    expect(await w.check(u2, model)).toMatchObject({ allowed: true, organization_id: b });
  });

  it('a grant write drops only that organization, and the next check sees it', async () => {
    const [a, b] = [await w.org(), await w.org()];
    const model = await w.model();
    const [ua, ub] = [await w.user(), await w.user()];
    await w.member(a, ua);
    await w.member(b, ub);
    await w.grant(a, model);
    await w.grant(b, model);
    expect((await w.check(ua, model)).allowed).toBe(true);
    expect((await w.check(ub, model)).allowed).toBe(true);

    await w.grant(b, model, false);
    expect(layers.organizations.has(b)).toBe(false);
    expect(layers.organizations.has(a)).toBe(true);
    expect(await w.check(ub, model)).toMatchObject({ allowed: false, reason: 'grant_inactive' });
    expect((await w.check(ua, model)).allowed).toBe(true);

    const revoked = await t.delete(`/api/v1/organizations/${enc(a)}/models/${enc(model)}`);
    expect(revoked.status).toBe(204);
    expect(await w.check(ua, model)).toMatchObject({ allowed: false, reason: 'no_grant' });

    const prefix = model.split('/')[0];
    const bulk = await t.post(`/api/v1/organizations/${enc(b)}/models/bulk`, {
      grant: [`${prefix}/*`],
    });
    expect(bulk.status).toBe(200);
    expect((await w.check(ub, model)).allowed).toBe(true);
  });
});
