import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REFUSAL_REASONS } from '../src/model-access/access-rule';
import { REFERENCE_REFUSALS } from './support/reference-rule';
import { enc, startTestApp, TestApp } from './support/test-app';
import { World } from './support/factories';

describe('access rule (README, "The rule")', () => {
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

  describe('refusal reasons: one documented precedence', () => {
    it('is the same order in the service, the reference of the property tests and the README table', () => {
      const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
      const section = readme.slice(readme.indexOf('### Why a check is refused'));
      const table = [...section.matchAll(/^\| (\d+) \| `(\w+)` \|/gm)].map((m) => m[2]);
      expect(table.length).toBeGreaterThanOrEqual(8);
      expect(table).toEqual([...REFUSAL_REASONS]);
      expect(REFERENCE_REFUSALS.map((r) => r.reason)).toEqual([...REFUSAL_REASONS]);
    });

    /** A user with two memberships, each blocked differently; what does the check answer? */
    async function twoOrganizations(
      first: { member?: boolean; org?: boolean; grant?: boolean | null },
      second: { member?: boolean; org?: boolean; grant?: boolean | null },
    ) {
      const user = await w.user();
      const model = await w.model();
      for (const o of [first, second]) {
        const org = await w.org();
        await w.member(org, user, { is_active: o.member ?? true });
        if (o.grant !== null && o.grant !== undefined) {
          await w.grant(org, model, o.grant);
        }
        if (o.org === false) {
          await w.archive(org);
        }
      }
      return (await w.check(user, model)).reason;
    }

    it('a suspended membership where the model is granted comes before an inactive grant', async () => {
      expect(await twoOrganizations({ grant: false }, { member: false, grant: true })).toBe(
        'membership_inactive',
      );
    });

    it('an archived organization that grants the model comes before an inactive grant and no grant', async () => {
      expect(await twoOrganizations({ grant: false }, { org: false, grant: true })).toBe(
        'organization_inactive',
      );
      expect(await twoOrganizations({ grant: null }, { org: false, grant: true })).toBe(
        'organization_inactive',
      );
    });

    it('a suspended membership comes before an archived organization when both grant the model', async () => {
      expect(
        await twoOrganizations({ org: false, grant: true }, { member: false, grant: true }),
      ).toBe('membership_inactive');
    });

    it('an inactive grant comes before no grant, and nothing blocks through an organization that grants nothing', async () => {
      expect(await twoOrganizations({ grant: null }, { grant: false })).toBe('grant_inactive');
      expect(await twoOrganizations({ grant: null }, { member: false, grant: null })).toBe(
        'no_grant',
      );
      expect(await twoOrganizations({ grant: null }, { org: false, grant: null })).toBe('no_grant');
      expect(await twoOrganizations({ member: false }, { member: false })).toBe(
        'membership_inactive',
      );
      expect(await twoOrganizations({ org: false }, { member: false })).toBe(
        'organization_inactive',
      );
    });

    it('an active pattern grant allows what an inactive exact grant of the same organization names', async () => {
      const user = await w.user();
      const org = await w.org();
      const prefix = uniqueVendor();
      const model = await w.model(`${prefix}/m`);
      await w.member(org, user);
      await w.grant(org, model, false);
      await w.grant(org, `${prefix}/*`);
      expect(await w.check(user, model)).toMatchObject({ allowed: true, reason: 'granted' });
      await w.grant(org, `${prefix}/*`, false);
      expect(await w.check(user, model)).toMatchObject({
        allowed: false,
        reason: 'grant_inactive',
      });
    });
  });

  it('a pattern cut at the slash covers neither a longer vendor nor the bare vendor id', async () => {
    const user = await w.user();
    const org = await w.org();
    await w.member(org, user);
    const vendor = uniqueVendor();
    const inside = await w.model(`${vendor}/m`);
    const longer = await w.model(`${vendor}x/m`);
    const bare = await w.model(vendor);
    await w.grant(org, `${vendor}/*`);
    expect(await w.modelsOf(user)).toEqual([inside]);
    expect((await w.check(user, longer)).reason).toBe('no_grant');
    expect((await w.check(user, bare)).reason).toBe('no_grant');
    await w.grant(org, `${vendor}*`);
    expect(await w.modelsOf(user)).toEqual([bare, inside, longer].sort());
  });
});

let vendors = 0;
function uniqueVendor(): string {
  return `vendor${Date.now().toString(36)}${++vendors}`;
}
