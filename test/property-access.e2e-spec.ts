import fc from 'fast-check';
import { BudgetLedgerService } from '../src/budgets/budget-ledger.service';
import { periodOf } from '../src/budgets/budget-period';
import { Clock } from '../src/budgets/clock';
import { byCodeUnits, MemberRole, ReferenceWorld, UserRole } from './support/reference-rule';
import { enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * Property: in random worlds built and then mutated through the API, every user's answers from
 * every access path equal an independent reference implementation of DESIGN section 2.
 * Replay a failure with PROPERTY_SEED=<seed> PROPERTY_PATH=<path> (printed by fast-check);
 * PROPERTY_RUNS sets the number of worlds (default 200).
 */

/** One fixed instant: every world's spend falls in one monthly period. */
const CLOCK: Clock = { now: () => new Date('2026-05-14T09:00:00.000Z') };

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);
const SEED =
  process.env.PROPERTY_SEED === undefined ? undefined : Number(process.env.PROPERTY_SEED);
const PATH = process.env.PROPERTY_PATH;

const VENDORS = ['openai', 'anthropic', 'meta-llama'];
const NAMES = ['gpt-4o', 'gpt-4o:free', 'gpt-4o-mini', 'claude-3.5-sonnet:beta', 'o1', 'o1.5-x:e'];
const USER_SHAPES = ['u', 'u.dot', 'u/slash', 'u:colon@x', 'u%pct', 'u+plus'];

interface TargetSpec {
  model: number;
  /** null: the exact id; otherwise a prefix pattern cut from the id. */
  cut: number | null;
}

type Op =
  | { op: 'member'; org: number; user: number; role?: MemberRole; active?: boolean }
  | { op: 'unmember'; org: number; user: number }
  | { op: 'grant'; org: number; target: TargetSpec; active?: boolean }
  | { op: 'revoke'; org: number; target: TargetSpec }
  | { op: 'bulkGrant'; org: number; grant: TargetSpec[]; revoke: TargetSpec[] }
  | { op: 'bulkMembers'; org: number; users: number[]; role?: MemberRole }
  | { op: 'model'; model: number; active?: boolean }
  | { op: 'deleteModel'; model: number }
  | { op: 'org'; org: number; active?: boolean; autoGrant?: boolean }
  | { op: 'user'; user: number; role: UserRole }
  | { op: 'deleteUser'; user: number }
  | { op: 'deleteOrg'; org: number }
  | { op: 'budget'; org: number; usd: number | null }
  | { op: 'spend'; org: number; usd: number };

interface WorldSpec {
  users: { role: UserRole; created: boolean }[];
  orgs: { active: boolean; autoGrant: boolean }[];
  /** phase 0: added before the organizations, 1: after them, 2: not in the catalog at first. */
  models: { combo: number; active: boolean; phase: 0 | 1 | 2 }[];
  memberships: { org: number; user: number; role: MemberRole; active: boolean }[];
  grants: { org: number; target: TargetSpec; active: boolean }[];
  batches: Op[][];
}

const roleArb = fc.constantFrom<UserRole>('user', 'user', 'admin', 'pending');
const memberRoleArb = fc.constantFrom<MemberRole>('member', 'admin');
const targetArb: fc.Arbitrary<TargetSpec> = fc.record({
  model: fc.nat(),
  cut: fc.option(fc.nat(), { nil: null, freq: 2 }),
});
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('member' as const),
      org: fc.nat(),
      user: fc.nat(),
      role: opt(memberRoleArb),
      active: opt(fc.boolean()),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('unmember' as const), org: fc.nat(), user: fc.nat() }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('grant' as const),
      org: fc.nat(),
      target: targetArb,
      active: opt(fc.boolean()),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('revoke' as const), org: fc.nat(), target: targetArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('bulkGrant' as const),
      org: fc.nat(),
      grant: fc.array(targetArb, { maxLength: 3 }),
      revoke: fc.array(targetArb, { maxLength: 2 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('bulkMembers' as const),
      org: fc.nat(),
      users: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      role: opt(memberRoleArb),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('model' as const),
      model: fc.nat(),
      active: opt(fc.boolean()),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteModel' as const), model: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('org' as const),
      org: fc.nat(),
      active: opt(fc.boolean()),
      autoGrant: opt(fc.boolean()),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('user' as const), user: fc.nat(), role: roleArb }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteUser' as const), user: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deleteOrg' as const), org: fc.nat() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('budget' as const),
      org: fc.nat(),
      usd: fc.constantFrom<number | null>(null, 0, 0, 1, 2.5),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('spend' as const),
      org: fc.nat(),
      usd: fc.constantFrom(0.5, 1, 2),
    }),
  },
);

const worldArb: fc.Arbitrary<WorldSpec> = fc.record({
  users: fc.array(
    fc.record({ role: roleArb, created: fc.oneof(fc.constant(true), fc.boolean()) }),
    { minLength: 1, maxLength: 6 },
  ),
  orgs: fc.array(fc.record({ active: fc.boolean(), autoGrant: fc.boolean() }), {
    minLength: 1,
    maxLength: 4,
  }),
  models: fc.uniqueArray(
    fc.record({
      combo: fc.nat(VENDORS.length * NAMES.length - 1),
      active: fc.oneof(fc.constant(true), fc.boolean()),
      phase: fc.constantFrom<0 | 1 | 2>(0, 1, 1, 2),
    }),
    { minLength: 1, maxLength: 8, selector: (m) => m.combo },
  ),
  memberships: fc.array(
    fc.record({
      org: fc.nat(),
      user: fc.nat(),
      role: memberRoleArb,
      active: fc.oneof(fc.constant(true), fc.boolean()),
    }),
    { maxLength: 10 },
  ),
  grants: fc.array(
    fc.record({
      org: fc.nat(),
      target: targetArb,
      active: fc.oneof(fc.constant(true), fc.boolean()),
    }),
    { maxLength: 8 },
  ),
  batches: fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), {
    minLength: 1,
    maxLength: 3,
  }),
});

/** Ids of one world: unique per run so one app (and one database) serves every world. */
class Ids {
  readonly prefix: string;
  readonly users: string[];
  readonly orgs: string[];
  readonly models: string[];

  constructor(n: number, spec: WorldSpec) {
    this.prefix = `p${n}.`;
    this.users = USER_SHAPES.map((shape, i) => `${shape}-${n}-${i}`);
    this.orgs = [0, 1, 2, 3].map((i) => `o${n}-${i}`);
    this.models = spec.models.map(
      (m) =>
        `${this.prefix}${VENDORS[Math.floor(m.combo / NAMES.length)]}/${NAMES[m.combo % NAMES.length]}`,
    );
  }

  user(i: number, spec: WorldSpec): string {
    return this.users[i % spec.users.length];
  }
  org(i: number, spec: WorldSpec): string {
    return this.orgs[i % spec.orgs.length];
  }
  model(i: number): string {
    return this.models[i % this.models.length];
  }
  target(t: TargetSpec): string {
    const id = this.model(t.model);
    if (t.cut === null) {
      return id;
    }
    const base = this.prefix.length;
    return `${id.slice(0, base + (t.cut % (id.length - base + 1)))}*`;
  }
}

function propertySuite(title: string, env: Record<string, string>, runs: number): void {
  describe(title, () => {
    const stats = {
      worlds: 0,
      writes: 0,
      listings: 0,
      checks: 0,
      openai: 0,
      me: 0,
      health: 0,
      rounds: 0,
      budgetExhausted: 0,
    };
    let t: TestApp;
    let healthRoute = false;
    let worldNumber = 0;

    beforeAll(async () => {
      t = await startTestApp(env, undefined, { clock: CLOCK });
      const docs = await t.get('/docs-json', null);
      healthRoute = Object.keys(docs.body.paths ?? {}).some((p) =>
        p.startsWith('/health/model-access/'),
      );
      process.stdout.write(
        healthRoute
          ? 'property: /health/model-access/{userId} found in /docs-json; compared\n'
          : 'property: /health/model-access/{userId} is absent from /docs-json; that comparison is SKIPPED\n',
      );
    });
    afterAll(async () => {
      process.stdout.write(`property (${title}): ${JSON.stringify(stats)}\n`);
      await t.close();
    });

    function expectStatus(res: Reply, expected: number, what: string): void {
      if (res.status !== expected) {
        throw new Error(`${what}: expected ${expected}, got ${res.status}: ${res.text}`);
      }
    }

    async function apply(ids: Ids, spec: WorldSpec, ref: ReferenceWorld, op: Op): Promise<void> {
      stats.writes++;
      switch (op.op) {
        case 'member': {
          const org = ids.org(op.org, spec);
          const user = ids.user(op.user, spec);
          const body = {
            ...(op.role ? { role: op.role } : {}),
            ...(op.active === undefined ? {} : { is_active: op.active }),
          };
          const res = await t.put(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`, body);
          return expectStatus(
            res,
            ref.putMember(org, user, { role: op.role, active: op.active }),
            `PUT member ${org} ${user} ${JSON.stringify(body)}`,
          );
        }
        case 'unmember': {
          const org = ids.org(op.org, spec);
          const user = ids.user(op.user, spec);
          const res = await t.delete(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`);
          return expectStatus(res, ref.removeMember(org, user), `DELETE member ${org} ${user}`);
        }
        case 'grant': {
          const org = ids.org(op.org, spec);
          const target = ids.target(op.target);
          const res = await t.put(
            `/api/v1/organizations/${enc(org)}/models/${enc(target)}`,
            op.active === undefined ? {} : { is_active: op.active },
          );
          return expectStatus(
            res,
            ref.putGrant(org, target, op.active ?? true),
            `PUT grant ${org} ${target}`,
          );
        }
        case 'revoke': {
          const org = ids.org(op.org, spec);
          const target = ids.target(op.target);
          const res = await t.delete(`/api/v1/organizations/${enc(org)}/models/${enc(target)}`);
          return expectStatus(res, ref.revokeGrant(org, target), `DELETE grant ${org} ${target}`);
        }
        case 'bulkGrant': {
          const org = ids.org(op.org, spec);
          const grant = [...new Set(op.grant.map((g) => ids.target(g)))];
          const revoke = [...new Set(op.revoke.map((g) => ids.target(g)))];
          const res = await t.post(`/api/v1/organizations/${enc(org)}/models/bulk`, {
            grant,
            revoke,
          });
          return expectStatus(
            res,
            ref.bulkGrants(org, grant, revoke),
            `POST bulk grants ${org} ${JSON.stringify({ grant, revoke })}`,
          );
        }
        case 'bulkMembers': {
          const org = ids.org(op.org, spec);
          const users = [...new Set(op.users.map((u) => ids.user(u, spec)))];
          const res = await t.post(`/api/v1/organizations/${enc(org)}/members/bulk`, {
            user_ids: users,
            ...(op.role ? { role: op.role } : {}),
          });
          return expectStatus(
            res,
            ref.bulkAddMembers(org, users, op.role),
            `POST bulk members ${org} ${users.join(',')}`,
          );
        }
        case 'model': {
          const id = ids.model(op.model);
          const res = await t.put(`/api/v1/models/${enc(id)}`, {
            name: `Model ${id}`,
            ...(op.active === undefined ? {} : { is_active: op.active }),
          });
          return expectStatus(res, ref.putModel(id, op.active ?? true), `PUT model ${id}`);
        }
        case 'deleteModel': {
          const id = ids.model(op.model);
          return expectStatus(
            await t.delete(`/api/v1/models/${enc(id)}`),
            ref.deleteModel(id),
            `DELETE model ${id}`,
          );
        }
        case 'org': {
          const org = ids.org(op.org, spec);
          const body = {
            ...(op.active === undefined ? {} : { is_active: op.active }),
            ...(op.autoGrant === undefined ? {} : { auto_grant_new_models: op.autoGrant }),
          };
          const res = await t.patch(`/api/v1/organizations/${enc(org)}`, body);
          return expectStatus(
            res,
            ref.patchOrg(org, { active: op.active, autoGrant: op.autoGrant }),
            `PATCH org ${org} ${JSON.stringify(body)}`,
          );
        }
        case 'user': {
          const id = ids.user(op.user, spec);
          return expectStatus(
            await putUser(id, op.role),
            ref.putUser(id, op.role),
            `PUT user ${id}`,
          );
        }
        case 'deleteUser': {
          const id = ids.user(op.user, spec);
          return expectStatus(
            await t.delete(`/api/v1/users/${enc(id)}`),
            ref.deleteUser(id),
            `DELETE user ${id}`,
          );
        }
        case 'budget': {
          const org = ids.org(op.org, spec);
          const res = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, {
            budget_usd: op.usd,
          });
          return expectStatus(res, ref.setBudget(org, op.usd), `PATCH budget ${org} ${op.usd}`);
        }
        case 'spend': {
          // A gateway call's reservation and settlement, straight through the ledger.
          const org = ids.org(op.org, spec);
          if (!ref.orgs.has(org)) {
            return; // the gateway spends only through an organization that exists
          }
          const ledger = t.app.get(BudgetLedgerService);
          const periodStart = periodOf('monthly', CLOCK.now()).start;
          const nanos = Math.round(op.usd * 1e9);
          const held = await ledger.reserve(
            [{ organizationId: org, userId: '', periodStart }],
            nanos,
          );
          const expected = ref.spend(org, op.usd);
          if (held.held !== expected) {
            throw new Error(
              `spend ${op.usd} USD in ${org}: held ${held.held}, expected ${expected}`,
            );
          }
          if (held.held) {
            await ledger.settle(held.reservation, nanos);
          }
          return;
        }
        case 'deleteOrg': {
          const org = ids.org(op.org, spec);
          return expectStatus(
            await t.delete(`/api/v1/organizations/${enc(org)}?cascade=true`),
            ref.deleteOrgCascade(org),
            `DELETE org ${org}`,
          );
        }
      }
    }

    function putUser(id: string, role: UserRole): Promise<Reply> {
      return t.put(`/api/v1/users/${enc(id)}`, {
        name: `User ${id}`,
        email: `${id.replace(/[^A-Za-z0-9]/g, '')}@example.com`,
        role,
      });
    }

    async function build(ids: Ids, spec: WorldSpec, ref: ReferenceWorld): Promise<void> {
      // Users, organizations and each phase of models have distinct keys: created concurrently.
      await Promise.all(
        spec.users.map(async (u, i) => {
          if (u.created) {
            expectStatus(
              await putUser(ids.users[i], u.role),
              ref.putUser(ids.users[i], u.role),
              'PUT user',
            );
          }
        }),
      );
      const addModels = (phase: number) =>
        Promise.all(
          spec.models.map(async (m, i) => {
            if (m.phase === phase) {
              const id = ids.models[i];
              const res = await t.put(`/api/v1/models/${enc(id)}`, {
                name: `Model ${id}`,
                is_active: m.active,
              });
              expectStatus(res, ref.putModel(id, m.active), `PUT model ${id}`);
            }
          }),
        );
      await addModels(0);
      await Promise.all(
        spec.orgs.map(async (o, i) => {
          const id = ids.orgs[i];
          const res = await t.post('/api/v1/organizations', {
            id,
            name: `Org ${id} ✓`,
            external_user: `ext_${id.replace(/-/g, '_')}`,
            auto_grant_new_models: o.autoGrant,
          });
          expectStatus(
            res,
            ref.createOrg(id, {
              name: `Org ${id} ✓`,
              externalUser: `ext_${id.replace(/-/g, '_')}`,
              active: true,
              autoGrant: o.autoGrant,
            }),
            `POST org ${id}`,
          );
          if (!o.active) {
            expectStatus(
              await t.patch(`/api/v1/organizations/${enc(id)}`, { is_active: false }),
              ref.patchOrg(id, { active: false }),
              `archive ${id}`,
            );
          }
        }),
      );
      await addModels(1);
      for (const m of spec.memberships) {
        await apply(ids, spec, ref, {
          op: 'member',
          org: m.org,
          user: m.user,
          role: m.role,
          active: m.active,
        });
      }
      for (const g of spec.grants) {
        await apply(ids, spec, ref, {
          op: 'grant',
          org: g.org,
          target: g.target,
          active: g.active,
        });
      }
    }

    async function compare(ids: Ids, spec: WorldSpec, ref: ReferenceWorld): Promise<void> {
      stats.rounds++;
      const modelIds = [...ids.models, `${ids.prefix}nobody/unknown:model`];
      await Promise.all(
        ids.users.slice(0, spec.users.length).map(async (userId) => {
          const user = ref.users.get(userId);
          const expected = ref.modelsOf(userId);
          const where = `user ${userId}`;

          const listing = await t.get(`/api/v1/users/${enc(userId)}/models`);
          stats.listings++;
          if (!user) {
            expectStatus(listing, 404, `${where} listing`);
          } else {
            expectStatus(listing, 200, `${where} listing`);
            const got = (
              listing.body.data as {
                id: string;
                openrouter_user: string;
                organizations: { id: string; name: string; openrouter_user: string }[];
              }[]
            ).map((m) => ({
              id: m.id,
              openrouter_user: m.openrouter_user,
              organizations: m.organizations.map((o) => ({
                id: o.id,
                name: o.name,
                openrouterUser: o.openrouter_user,
              })),
            }));
            expect({ where, models: got }).toEqual({
              where,
              models: expected.map((m) => ({
                id: m.id,
                openrouter_user: m.organizations[0].openrouterUser,
                organizations: m.organizations,
              })),
            });
          }

          // The checks of one user run concurrently: they only read.
          await Promise.all(
            modelIds.map(async (modelId) => {
              const res = await t.get(
                `/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`,
              );
              stats.checks++;
              expectStatus(res, 200, `${where} check ${modelId}`);
              const orgs = ref.grantingOrgs(userId, modelId);
              const context = { where, modelId };
              if (orgs.length > 0) {
                expect({ ...context, ...res.body }).toMatchObject({
                  ...context,
                  allowed: true,
                  reason: 'granted',
                  organization_id: orgs[0].id,
                  openrouter_user: orgs[0].openrouterUser,
                });
              } else {
                expect({
                  ...context,
                  allowed: res.body.allowed,
                  organization_id: res.body.organization_id,
                }).toEqual({
                  ...context,
                  allowed: false,
                  organization_id: null,
                });
                if (res.body.reason === 'budget_exhausted') {
                  stats.budgetExhausted++;
                }
                const plausible = ref.plausibleReasons(userId, modelId);
                if (!plausible.includes(res.body.reason)) {
                  throw new Error(
                    `${where} check ${modelId}: reason ${res.body.reason} is not one of ${plausible.join(', ')}`,
                  );
                }
              }
            }),
          );

          const mine = await t.get('/api/v1/me/models', t.tokenFor(userId));
          stats.me++;
          if (!user || user.role === 'pending') {
            expectStatus(mine, 401, `${where} /api/v1/me/models`);
          } else {
            expectStatus(mine, 200, `${where} /api/v1/me/models`);
            expect({ where, me: (mine.body.data as { id: string }[]).map((m) => m.id) }).toEqual({
              where,
              me: expected.map((m) => m.id),
            });
          }

          const openai = await t.get('/v1/models', t.tokenFor(userId));
          stats.openai++;
          if (!user || user.role === 'pending') {
            expectStatus(openai, 401, `${where} /v1/models`);
          } else {
            expectStatus(openai, 200, `${where} /v1/models`);
            expect(openai.body.object).toBe('list');
            const got = (
              openai.body.data as {
                id: string;
                object: string;
                owned_by: string;
                created: number;
              }[]
            ).map((m) => {
              expect(m.object).toBe('model');
              expect(Number.isInteger(m.created)).toBe(true);
              return { id: m.id, owned_by: m.owned_by };
            });
            expect({ where, data: got }).toEqual({
              where,
              data: expected.map((m) => ({ id: m.id, owned_by: m.organizations[0].id })),
            });
          }

          if (healthRoute) {
            const health = await t.get(`/health/model-access/${enc(userId)}`);
            stats.health++;
            if (!user) {
              expectStatus(health, 404, `${where} health`);
            } else {
              expectStatus(health, 200, `${where} health`);
              expect({ where, status: health.body.status }).toEqual({
                where,
                status: ref.healthStatus(userId),
              });
              const models = (health.body.models ?? []) as (string | { id: string })[];
              expect({
                where,
                models: models.map((m) => (typeof m === 'string' ? m : m.id)).sort(byCodeUnits),
              }).toEqual({
                where,
                models: expected.map((m) => m.id),
              });
            }
          }
        }),
      );
    }

    it(`agrees with the reference in ${runs} random worlds, before and after random writes`, async () => {
      await fc.assert(
        fc.asyncProperty(worldArb, async (spec) => {
          const ids = new Ids(++worldNumber, spec);
          const ref = new ReferenceWorld();
          stats.worlds++;
          await build(ids, spec, ref);
          await compare(ids, spec, ref);
          for (const batch of spec.batches) {
            for (const op of batch) {
              await apply(ids, spec, ref, op);
            }
            await compare(ids, spec, ref);
          }
        }),
        { numRuns: runs, seed: SEED, path: PATH, endOnFailure: false, verbose: 1 },
      );
      expect(stats.worlds).toBeGreaterThanOrEqual(runs);
    }, 600_000);
  });
}

// Three quarters of the worlds on the default configuration, a quarter with an access cache of
// two users, so evictions and refills happen between every read of a world.
const cached = Math.ceil((RUNS * 3) / 4);
propertySuite(
  'access rule, property-based (reference implementation vs every API path)',
  {},
  cached,
);
propertySuite(
  'access rule, property-based, with a tiny access cache (ACCESS_CACHE_SIZE=2)',
  { ACCESS_CACHE_SIZE: '2' },
  RUNS - cached,
);
