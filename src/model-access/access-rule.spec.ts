import fc from 'fast-check';
import { ReferenceWorld } from '../../test/support/reference-rule';
import {
  Catalog,
  GrantRow,
  MembershipRow,
  membershipRow,
  NO_LIMITS,
  openrouterUser,
  OrganizationGrants,
  UserAccess,
  UNKNOWN_PRICES,
} from './access-rule';

interface Org {
  id: string;
  active: boolean;
}
interface Member {
  org: string;
  active: boolean;
}

/** A user's access from plain rows, as the access cache composes it. */
function accessOf(
  userId: string,
  members: Member[],
  orgs: Org[],
  grants: GrantRow[],
  models: { id: string; active: boolean }[],
): UserAccess {
  const catalog = new Catalog(
    models.map((m) => ({
      id: m.id,
      name: `Model ${m.id}`,
      baseModelId: null,
      isActive: m.active,
      createdAt: '2026-01-01T00:00:00.000Z',
      ...UNKNOWN_PRICES,
    })),
  );
  // rows as the membership query answers them (no budget columns set), read as the cache reads them
  const rows: MembershipRow[] = members.map((m) => {
    const org = orgs.find((o) => o.id === m.org)!;
    return membershipRow({
      organization_id: org.id,
      organization_name: `Org ${org.id}`,
      organization_active: org.active,
      external_user: `ext_${org.id}`,
      role: 'member',
      is_active: m.active,
    });
  });
  const byOrg = new Map(
    orgs.map((o) => [
      o.id,
      new OrganizationGrants(
        o.id,
        grants.filter((g) => g.organizationId === o.id),
        catalog,
      ),
    ]),
  );
  return new UserAccess(userId, rows, byOrg, catalog);
}

describe(UserAccess.name, () => {
  const orgs = [
    { id: 'a', active: true },
    { id: 'b', active: true },
    { id: 'z', active: false },
  ];
  const models = [
    { id: 'openai/gpt-4o', active: true },
    { id: 'openai/o3', active: true },
    { id: 'openai/old', active: false },
    { id: 'meta/llama', active: true },
  ];
  const grant = (org: string, modelId: string, isActive = true): GrantRow => ({
    organizationId: org,
    modelId,
    isActive,
  });

  it('allows through an active membership of an active organization with an active grant', () => {
    const sut = accessOf(
      'u',
      [{ org: 'a', active: true }],
      orgs,
      [grant('a', 'openai/o3')],
      models,
    );
    expect(sut.check('openai/o3')).toEqual({
      allowed: true,
      organizationId: 'a',
      openrouterUser: openrouterUser('ext_a', 'u'),
      reason: 'granted',
    });
    expect(sut.check('openai/gpt-4o')).toMatchObject({ allowed: false, reason: 'no_grant' });
  });

  it('covers every catalog model of a prefix pattern, active ones only', () => {
    const sut = accessOf('u', [{ org: 'a', active: true }], orgs, [grant('a', 'openai/*')], models);
    expect(sut.sortedModelIds()).toEqual(['openai/gpt-4o', 'openai/o3']);
    expect(sut.check('openai/old')).toMatchObject({ allowed: false, reason: 'model_inactive' });
    expect(sut.check('meta/llama').reason).toBe('no_grant');
    expect(sut.check('openai/unknown').reason).toBe('model_not_found');
  });

  it('answers through the lowest organization id when several grant, and lists them all', () => {
    const members = [
      { org: 'b', active: true },
      { org: 'a', active: true },
    ];
    const sut = accessOf(
      'u',
      members,
      orgs,
      [grant('b', 'meta/*'), grant('a', 'meta/llama')],
      models,
    );
    expect(sut.check('meta/llama').organizationId).toBe('a');
    expect(sut.models.get('meta/llama')!.map((o) => o.id)).toEqual(['a', 'b']);
  });

  it.each([
    [
      'membership_inactive',
      [
        { org: 'a', active: false },
        { org: 'b', active: true },
      ],
      grant('a', 'openai/o3'),
    ],
    ['organization_inactive', [{ org: 'z', active: true }], grant('z', 'openai/o3')],
    ['grant_inactive', [{ org: 'a', active: true }], grant('a', 'openai/o3', false)],
  ] as const)('names what blocks the grant: %s', (reason, members, blocked) => {
    const sut = accessOf('u', [...members], orgs, [blocked], models);
    expect(sut.check('openai/o3')).toEqual({
      allowed: false,
      organizationId: null,
      openrouterUser: null,
      reason,
    });
  });

  it('reads a membership row as either database answers it (SQLite: 0/1), without budget columns as unlimited', () => {
    const raw = {
      organization_id: 'o1',
      organization_name: 'Org 1',
      organization_active: 1,
      external_user: 'ext_o1',
      role: 'admin',
      is_active: 0,
    };
    expect(membershipRow(raw)).toMatchObject({
      organizationId: 'o1',
      organizationName: 'Org 1',
      organizationActive: true,
      externalUser: 'ext_o1',
      role: 'admin',
      isActive: false,
      limits: NO_LIMITS,
    });
  });

  it('refuses a user without memberships with no_membership', () => {
    expect(accessOf('u', [], orgs, [], models).check('openai/o3').reason).toBe('no_membership');
  });

  describe('against the reference rule', () => {
    const ORG_IDS = ['a', 'b', 'c', 'd'];
    const MODEL_IDS = ['x/1', 'x/2', 'x/10', 'y/1', 'y/1a', 'z'];
    const TARGETS = [...MODEL_IDS, 'x/*', 'x/1*', 'y/*', '*', 'w/*', 'x/3'];
    const USERS = ['u1', 'u2', 'u3'];
    const RUNS = 3000;

    const worldArb = fc.record({
      orgs: fc.uniqueArray(fc.record({ id: fc.constantFrom(...ORG_IDS), active: fc.boolean() }), {
        selector: (o) => o.id,
        minLength: 1,
      }),
      models: fc.uniqueArray(
        fc.record({ id: fc.constantFrom(...MODEL_IDS), active: fc.boolean() }),
        { selector: (m) => m.id },
      ),
      members: fc.uniqueArray(
        fc.record({
          user: fc.constantFrom(...USERS),
          org: fc.constantFrom(...ORG_IDS),
          active: fc.boolean(),
        }),
        { selector: (m) => `${m.user}/${m.org}`, maxLength: 8 },
      ),
      grants: fc.uniqueArray(
        fc.record({
          org: fc.constantFrom(...ORG_IDS),
          target: fc.constantFrom(...TARGETS),
          active: fc.boolean(),
        }),
        { selector: (g) => `${g.org}/${g.target}`, maxLength: 10 },
      ),
    });

    it('decides, explains and lists exactly as the reference in thousands of worlds', () => {
      let checks = 0;
      fc.assert(
        fc.property(worldArb, (world) => {
          const known = new Set(world.orgs.map((o) => o.id));
          const members = world.members.filter((m) => known.has(m.org));
          const grants = world.grants
            .filter((g) => known.has(g.org))
            .map((g) => grant(g.org, g.target, g.active));
          const ref = new ReferenceWorld();
          USERS.forEach((u) => ref.users.set(u, { role: 'user' }));
          world.orgs.forEach((o) =>
            ref.orgs.set(o.id, {
              name: `Org ${o.id}`,
              externalUser: `ext_${o.id}`,
              active: o.active,
              autoGrant: false,
            }),
          );
          world.models.forEach((m) => ref.models.set(m.id, { active: m.active }));
          members.forEach((m) =>
            ref.memberships.set(ReferenceWorld.key(m.org, m.user), {
              role: 'member',
              active: m.active,
            }),
          );
          grants.forEach((g) =>
            ref.grants.set(ReferenceWorld.key(g.organizationId, g.modelId), {
              active: g.isActive,
            }),
          );
          for (const user of USERS) {
            const sut = accessOf(
              user,
              members.filter((m) => m.user === user),
              world.orgs,
              grants,
              world.models,
            );
            // Plain comparisons: expect() per check would cost more than the rule itself.
            const listed = sut.sortedModelIds().map((id) => ({
              id,
              organizations: sut.models.get(id)!,
            }));
            const reference = ref.modelsOf(user);
            if (JSON.stringify(listed) !== JSON.stringify(reference)) {
              throw new Error(
                `${user} lists ${JSON.stringify(listed)}, reference ${JSON.stringify(reference)}`,
              );
            }
            for (const model of [...MODEL_IDS, 'x/3']) {
              const decision = sut.check(model);
              const granting = ref.grantingOrgs(user, model);
              checks++;
              const agrees =
                granting.length > 0
                  ? decision.allowed &&
                    decision.reason === 'granted' &&
                    decision.organizationId === granting[0].id &&
                    decision.openrouterUser === granting[0].openrouterUser
                  : !decision.allowed &&
                    decision.organizationId === null &&
                    decision.reason === ref.reason(user, model);
              if (!agrees) {
                throw new Error(
                  `${user} ${model}: ${JSON.stringify(decision)}, reference ${JSON.stringify(granting)} / ${ref.reason(user, model)}`,
                );
              }
            }
          }
        }),
        { numRuns: RUNS },
      );
      expect(checks).toBe(RUNS * USERS.length * (MODEL_IDS.length + 1));
    });
  });
});
