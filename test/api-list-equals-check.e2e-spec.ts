import { createHash } from 'node:crypto';
import { World } from './support/factories';
import { expectStatus } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

/**
 * DESIGN section 2: the listing, the check and the OpenAI-style listing never disagree.
 * A seeded world covers every condition of the rule; an independent oracle computed
 * from the seed says what each user may use, and the three endpoints must all match it.
 */

interface SeedOrg {
  id: string;
  name: string;
  external_user: string;
  active: boolean;
  auto: boolean;
}
interface SeedModel {
  id: string;
  active: boolean;
  base?: string;
}
interface SeedMember {
  org: string;
  user: string;
  role: 'member' | 'admin';
  active: boolean;
}
interface SeedGrant {
  org: string;
  model: string;
  active: boolean;
}

const ORGS: SeedOrg[] = [
  {
    id: 'acme',
    name: 'Acme Sp. z o.o.',
    external_user: 'mai_client_acme',
    active: true,
    auto: false,
  },
  { id: 'beta', name: 'Beta GmbH', external_user: 'mai_client_beta', active: true, auto: false },
  {
    id: 'gone',
    name: 'Archived Ltd',
    external_user: 'mai_client_gone',
    active: false,
    auto: false,
  },
  { id: 'auto', name: 'Auto Inc', external_user: 'mai_client_auto', active: true, auto: true },
];

/** Created in this order; models after the first two are auto-granted to `auto`. */
const MODELS: SeedModel[] = [
  { id: 'openai/gpt-4o', active: true },
  { id: 'openai/gpt-4o-mini', active: true },
  { id: 'anthropic/claude-3.5-sonnet:beta', active: true },
  { id: 'anthropic/claude-3-haiku', active: true },
  { id: 'meta-llama/llama-3.1-70b-instruct:free', active: false },
  { id: 'mistralai/mistral-7b', active: true },
  { id: 'acme.custom/assistant:v1.2', active: true, base: 'openai/gpt-4o' },
  { id: 'openai/o1.preview', active: false },
];
/** Added after the grants: patterns and auto-grant must cover it too. */
const LATE_MODEL: SeedModel = { id: 'openai/gpt-5:2026.01', active: true };

const USERS: { id: string; role: 'user' | 'admin' | 'pending' }[] = [
  { id: 'alice', role: 'user' },
  { id: 'bob@example.com', role: 'user' },
  { id: 'carol:ldap/CN=Carol', role: 'user' },
  { id: 'dave.archived', role: 'user' },
  { id: 'erin', role: 'user' },
  { id: 'frank', role: 'user' },
  { id: 'gina-nobody', role: 'user' },
  { id: 'site-admin', role: 'admin' },
  { id: 'pending-paul', role: 'pending' },
];

const MEMBERS: SeedMember[] = [
  { org: 'acme', user: 'alice', role: 'member', active: true },
  { org: 'acme', user: 'bob@example.com', role: 'member', active: true },
  { org: 'beta', user: 'bob@example.com', role: 'member', active: false },
  { org: 'beta', user: 'carol:ldap/CN=Carol', role: 'admin', active: true },
  { org: 'acme', user: 'carol:ldap/CN=Carol', role: 'member', active: false },
  { org: 'gone', user: 'dave.archived', role: 'member', active: true },
  { org: 'auto', user: 'erin', role: 'member', active: false },
  { org: 'auto', user: 'frank', role: 'member', active: true },
  { org: 'acme', user: 'frank', role: 'admin', active: true },
  { org: 'gone', user: 'frank', role: 'member', active: true },
  { org: 'acme', user: 'pending-paul', role: 'member', active: true },
];

const GRANTS: SeedGrant[] = [
  { org: 'acme', model: 'openai/*', active: true },
  { org: 'acme', model: 'anthropic/claude-3.5-sonnet:beta', active: true },
  { org: 'acme', model: 'mistralai/mistral-7b', active: false },
  { org: 'acme', model: 'acme.custom/assistant:v1.2', active: true },
  { org: 'beta', model: 'anthropic/*', active: false },
  { org: 'beta', model: 'anthropic/claude-3-haiku', active: true },
  { org: 'beta', model: 'meta-llama/llama-3.1-70b-instruct:free', active: true },
  { org: 'beta', model: 'mistralai/*', active: true },
  { org: 'gone', model: 'mistralai/mistral-7b', active: true },
  { org: 'gone', model: 'openai/*', active: true },
  // suspends one auto-granted model in the auto-grant organization
  { org: 'auto', model: 'anthropic/claude-3-haiku', active: false },
];

function covers(grant: string, model: string): boolean {
  return grant.endsWith('*') ? model.startsWith(grant.slice(0, -1)) : grant === model;
}

/** The rule, written out independently of the service: model id -> granting org ids. */
function oracle(user: string, models: SeedModel[], grants: SeedGrant[]): Map<string, string[]> {
  const result = new Map<string, string[]>();
  // a pending user (awaiting approval in the web UI) uses nothing, whatever their memberships
  if (USERS.find((u) => u.id === user)?.role === 'pending') {
    return result;
  }
  for (const model of models.filter((m) => m.active)) {
    const orgs = ORGS.filter(
      (o) =>
        o.active &&
        MEMBERS.some((m) => m.org === o.id && m.user === user && m.active) &&
        grants.some((g) => g.org === o.id && g.active && covers(g.model, model.id)),
    )
      .map((o) => o.id)
      .sort();
    if (orgs.length > 0) {
      result.set(model.id, orgs);
    }
  }
  return result;
}

function routerUser(org: string, user: string): string {
  const ext = ORGS.find((o) => o.id === org)!.external_user;
  return `${ext}_user_${createHash('sha256').update(user).digest('hex').slice(0, 8)}`;
}

describe('list == check (DESIGN section 2)', () => {
  let t: TestApp;
  let w: World;
  let grants: SeedGrant[];
  const allModels = [...MODELS, LATE_MODEL];

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    for (const o of ORGS) {
      await w.org(o.id, {
        name: o.name,
        external_user: o.external_user,
        auto_grant_new_models: o.auto,
      });
    }
    // the auto-grant organization starts auto-granting only from the third model on
    const autoOff = await t.patch('/api/v1/organizations/auto', { auto_grant_new_models: false });
    expectStatus(autoOff, 200);
    for (const [i, m] of MODELS.entries()) {
      if (i === 2) {
        expectStatus(
          await t.patch('/api/v1/organizations/auto', { auto_grant_new_models: true }),
          200,
        );
      }
      await w.model(m.id, { is_active: m.active, base_model_id: m.base ?? null });
    }
    for (const u of USERS) {
      await w.user(u.id, { role: u.role });
    }
    for (const m of MEMBERS) {
      await w.member(m.org, m.user, { role: m.role, is_active: m.active });
    }
    for (const g of GRANTS) {
      await w.grant(g.org, g.model, g.active);
    }
    for (const o of ORGS.filter((x) => !x.active)) {
      await w.archive(o.id);
    }
    await w.model(LATE_MODEL.id, { is_active: LATE_MODEL.active });
    // what the service should hold now: seeded grants plus auto-grants of models 3..n and the late one
    const autoGranted = [...MODELS.slice(2), LATE_MODEL]
      .filter((m) => !GRANTS.some((g) => g.org === 'auto' && g.model === m.id))
      .map((m) => ({ org: 'auto', model: m.id, active: true }));
    grants = [...GRANTS, ...autoGranted];
  });
  afterAll(async () => t.close());

  it('holds the grants the oracle assumes (auto-grant only for models added while it was on)', async () => {
    const res = await t.get('/api/v1/organizations/auto/models?limit=500');
    expectStatus(res, 200);
    const held = (res.body.data as { model_id: string; is_active: boolean }[])
      .map((g) => `${g.model_id}=${g.is_active}`)
      .sort();
    const expected = grants
      .filter((g) => g.org === 'auto')
      .map((g) => `${g.model}=${g.active}`)
      .sort();
    expect(held).toEqual(expected);
    expect(held.some((g) => g.startsWith('openai/gpt-4o='))).toBe(false);
  });

  it('for every user and every model, check, the user listing, /v1/models and the debug endpoint agree with the rule', async () => {
    const modelIds = [...allModels.map((m) => m.id), 'no-such/model'];
    let allowedPairs = 0;
    for (const user of USERS) {
      const expected = oracle(user.id, allModels, grants);
      const listed = await t.get(`/api/v1/users/${enc(user.id)}/models`);
      expectStatus(listed, 200, `models of ${user.id}`);
      const listedIds = (listed.body.data as { id: string }[]).map((m) => m.id);
      expect({ user: user.id, models: listedIds }).toEqual({
        user: user.id,
        models: [...expected.keys()].sort(),
      });

      const openAi = await t.get('/v1/models', t.tokenFor(user.id));
      if (user.role === 'pending') {
        expectStatus(openAi, 401, `/v1/models of pending ${user.id}`);
      } else {
        expectStatus(openAi, 200, `/v1/models of ${user.id}`);
        expect(openAi.body.object).toBe('list');
        expect((openAi.body.data as { id: string }[]).map((m) => m.id)).toEqual(listedIds);
        for (const m of openAi.body.data as Record<string, unknown>[]) {
          expect(m).toMatchObject({ object: 'model', owned_by: expected.get(m.id as string)![0] });
          expect(Number.isInteger(m.created)).toBe(true);
        }
        const mine = await t.get('/api/v1/me/models', t.tokenFor(user.id));
        expectStatus(mine, 200);
        expect(mine.body.data).toEqual(listed.body.data);
      }

      // the debug endpoint explains the same list
      const debug = await t.get(`/health/model-access/${enc(user.id)}`);
      expectStatus(debug, 200, `debug of ${user.id}`);
      expect(debug.body.models).toEqual(
        [...expected.keys()].sort().map((id) => ({ id, organizations: expected.get(id) })),
      );
      expect(debug.body.status === 'healthy').toBe(expected.size > 0);

      for (const modelId of modelIds) {
        const check = await w.check(user.id, modelId);
        const shouldAllow = expected.has(modelId);
        expect({ user: user.id, model: modelId, allowed: check.allowed }).toEqual({
          user: user.id,
          model: modelId,
          allowed: shouldAllow,
        });
        expect(listedIds.includes(modelId)).toBe(check.allowed);
        if (shouldAllow) {
          allowedPairs++;
          const orgs = expected.get(modelId)!;
          expect(check.organization_id).toBe(orgs[0]);
          expect(check.openrouter_user).toBe(routerUser(orgs[0], user.id));
          expect(check.reason).toBe('granted');
        } else {
          expect(check.organization_id).toBeNull();
          expect(check.openrouter_user).toBeNull();
          expect(check.reason).not.toBe('granted');
          if (user.role === 'pending') {
            expect(check.reason).toBe('user_pending');
          }
        }
      }
    }
    // the world is not trivially empty or full
    expect(allowedPairs).toBeGreaterThan(8);
    expect(allowedPairs).toBeLessThan((USERS.length * modelIds.length) / 2);
  });

  it('lists, for each allowed model, exactly the organizations that grant it, with their OpenRouter user', async () => {
    for (const user of USERS) {
      const expected = oracle(user.id, allModels, grants);
      const listed = await t.get(`/api/v1/users/${enc(user.id)}/models`);
      for (const m of listed.body.data as {
        id: string;
        openrouter_user: string;
        organizations: { id: string; name: string; openrouter_user: string }[];
      }[]) {
        const orgs = expected.get(m.id)!;
        expect({ model: m.id, orgs: m.organizations.map((o) => o.id) }).toEqual({
          model: m.id,
          orgs,
        });
        for (const o of m.organizations) {
          expect(o.name).toBe(ORGS.find((x) => x.id === o.id)!.name);
          expect(o.openrouter_user).toBe(routerUser(o.id, user.id));
          expect(o.openrouter_user).not.toContain(user.id);
        }
        expect(m.openrouter_user).toBe(m.organizations[0].openrouter_user);
      }
    }
  });

  it('gives the multi-organization user models through two organizations at once', async () => {
    const listed = await t.get(`/api/v1/users/frank/models`);
    const sonnet = (listed.body.data as { id: string; organizations: { id: string }[] }[]).find(
      (m) => m.id === 'anthropic/claude-3.5-sonnet:beta',
    );
    expect(sonnet?.organizations.map((o) => o.id)).toEqual(['acme', 'auto']);
  });

  it('explains refusals with the condition that failed', async () => {
    const cases: [string, string, string][] = [
      ['gina-nobody', 'openai/gpt-4o', 'no_membership'],
      ['dave.archived', 'openai/gpt-4o', 'organization_inactive'],
      ['erin', 'mistralai/mistral-7b', 'membership_inactive'],
      ['alice', 'mistralai/mistral-7b', 'grant_inactive'],
      ['alice', 'openai/o1.preview', 'model_inactive'],
      ['alice', 'anthropic/claude-3-haiku', 'no_grant'],
      ['alice', 'no-such/model', 'model_not_found'],
      ['nobody-at-all', 'openai/gpt-4o', 'user_not_found'],
    ];
    for (const [user, model, reason] of cases) {
      expect({ user, model, reason: (await w.check(user, model)).reason }).toEqual({
        user,
        model,
        reason,
      });
    }
  });

  it('keeps agreeing after a write changes the world (no stale cache)', async () => {
    expect((await w.check('alice', 'anthropic/claude-3-haiku')).allowed).toBe(false);
    await w.member('beta', 'alice');
    expect((await w.check('alice', 'anthropic/claude-3-haiku')).allowed).toBe(true);
    expect(await w.modelsOf('alice')).toContain('anthropic/claude-3-haiku');
    await w.grant('beta', 'anthropic/claude-3-haiku', false);
    expect((await w.check('alice', 'anthropic/claude-3-haiku')).allowed).toBe(false);
    expect(await w.modelsOf('alice')).not.toContain('anthropic/claude-3-haiku');
    const openAi = await t.get('/v1/models', t.tokenFor('alice'));
    expect(openAi.body.data.map((m: { id: string }) => m.id)).not.toContain(
      'anthropic/claude-3-haiku',
    );
  });
});
