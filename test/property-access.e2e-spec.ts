import fc from 'fast-check';
import { usdToNanos } from '../src/budgets/budget-settings';
import { BudgetLedgerService } from '../src/budgets/budget-ledger.service';
import { periodOf } from '../src/budgets/budget-period';
import { Clock } from '../src/budgets/clock';
import {
  byCodeUnits,
  MemberRole,
  RefReason,
  ReferenceWorld,
  targetCovers,
  UserRole,
} from './support/reference-rule';
import { SeededRun, seedPlan } from './support/seeds';
import { FakeOpenRouter } from './support/fake-openrouter';
import { OPENROUTER_KEY } from './support/gateway';
import { enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * Property: in random worlds built and then mutated through the API, every user's answers from
 * every access path equal an independent reference implementation of the access rule, reasons
 * included (the one reason of the documented precedence, compared exactly).
 *
 * Seeds are pinned: each configuration runs a fixed list of seeds, and the default configuration
 * one more random seed, printed before it runs. A failure prints the command that replays it:
 * PROPERTY_SEED=<seed> PROPERTY_PATH=<path> PROPERTY_CONFIG=<default|tiny-cache>.
 * PROPERTY_RUNS sets the number of worlds (default 200, shared among the seeds).
 *
 * The generator is steered toward the cases that matter (vendor ids that are prefixes of each
 * other, patterns cut at and next to the `/`, allowed pairs, one model through several
 * organizations, revokes of grants the cache holds) and each run counts them: a run that
 * reaches too few of them fails, so a generator change that loses a case is noticed.
 */

/** One fixed instant: every world's spend falls in one monthly period. */
const CLOCK: Clock = { now: () => new Date('2026-05-14T09:00:00.000Z') };

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200);

/**
 * The catalog a world draws from: vendor ids that are prefixes of each other (`openai`,
 * `openaix`), a model whose id is a bare vendor (`openai`), and names that are prefixes of
 * each other (`gpt-4o`, `gpt-4o-mini`), with the characters real ids carry (`:`, `.`, `-`).
 */
const MODEL_IDS = [
  'openai/gpt-4o',
  'openai/gpt-4o-mini',
  'openai/gpt-4o:free',
  'openai',
  'openaix/gpt-4o',
  'openaix/o1.5-x:e',
  'openaix',
  'openai/o1',
  'anthropic/claude-3.5-sonnet:beta',
  'meta-llama/llama-3:8b',
];
const USER_SHAPES = ['u', 'u.dot', 'u/slash', 'u:colon@x', 'u%pct', 'u+plus'];

/**
 * How a grant names its model: the exact id, or a pattern cut from it: through the first `/`
 * (`openai/*`), just before it (`openai*`, which also covers `openaix/...` and `openai`), or
 * at any point.
 */
type Cut = 'exact' | 'slash' | 'vendor' | number;
interface TargetSpec {
  model: number;
  cut: Cut;
}

/**
 * `existing`: the write names something that exists in the world at the time (a created user,
 * a current membership or grant), chosen by `pick`; otherwise anything of the world, which may
 * answer 404 (kept, rarer: the API's 404 paths are compared too).
 */
type Op =
  | {
      op: 'member';
      org: number;
      user: number;
      existing: boolean;
      role?: MemberRole;
      active?: boolean;
    }
  | { op: 'unmember'; pick: number; existing: boolean }
  | { op: 'grant'; org: number; target: TargetSpec; active?: boolean }
  | { op: 'revoke'; pick: number; existing: boolean }
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
  models: { id: number; active: boolean; phase: 0 | 1 | 2 }[];
  memberships: { org: number; user: number; role: MemberRole; active: boolean }[];
  grants: { org: number; target: TargetSpec; active: boolean }[];
  batches: Op[][];
}

/** true with weight w against 1. */
const mostly = (w: number) => fc.constantFrom(...Array<boolean>(w).fill(true), false);
// Pending users use nothing (user_pending), so they are kept rare: a tenth of the users, enough to
// be checked in every run without starving the rounds of allowed pairs.
const roleArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant<UserRole>('user') },
  { weight: 3, arbitrary: fc.constant<UserRole>('admin') },
  { weight: 1, arbitrary: fc.constant<UserRole>('pending') },
);
const memberRoleArb = fc.constantFrom<MemberRole>('member', 'admin');
const cutArb: fc.Arbitrary<Cut> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Cut>('exact') },
  { weight: 4, arbitrary: fc.constant<Cut>('slash') },
  { weight: 2, arbitrary: fc.constant<Cut>('vendor') },
  { weight: 1, arbitrary: fc.nat() },
);
const targetArb: fc.Arbitrary<TargetSpec> = fc.record({ model: fc.nat(), cut: cutArb });
const opt = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('member' as const),
      org: fc.nat(),
      user: fc.nat(),
      existing: mostly(6),
      role: opt(memberRoleArb),
      active: opt(mostly(2)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('unmember' as const),
      pick: fc.nat(),
      existing: mostly(6),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('grant' as const),
      org: fc.nat(),
      target: targetArb,
      active: opt(mostly(2)),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('revoke' as const),
      pick: fc.nat(),
      existing: mostly(6),
    }),
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
      active: opt(mostly(2)),
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
);

const worldArb: fc.Arbitrary<WorldSpec> = fc.record({
  users: fc.array(fc.record({ role: roleArb, created: mostly(6) }), {
    minLength: 1,
    maxLength: 5,
  }),
  // two organizations at least, so one model can be allowed through several
  orgs: fc.array(fc.record({ active: mostly(4), autoGrant: fc.boolean() }), {
    minLength: 2,
    maxLength: 4,
  }),
  models: fc.uniqueArray(
    fc.record({
      id: fc.nat(MODEL_IDS.length - 1),
      active: mostly(4),
      phase: fc.constantFrom<0 | 1 | 2>(0, 1, 1, 2),
    }),
    { minLength: 2, maxLength: 8, selector: (m) => m.id },
  ),
  memberships: fc.array(
    fc.record({ org: fc.nat(), user: fc.nat(), role: memberRoleArb, active: mostly(4) }),
    { minLength: 2, maxLength: 12 },
  ),
  grants: fc.array(fc.record({ org: fc.nat(), target: targetArb, active: mostly(4) }), {
    minLength: 2,
    maxLength: 10,
  }),
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
    this.users = USER_SHAPES.slice(0, spec.users.length).map((shape, i) => `${shape}-${n}-${i}`);
    this.orgs = spec.orgs.map((_, i) => `o${n}-${i}`);
    this.models = spec.models.map((m) => `${this.prefix}${MODEL_IDS[m.id]}`);
  }

  user(i: number): string {
    return this.users[i % this.users.length];
  }
  org(i: number): string {
    return this.orgs[i % this.orgs.length];
  }
  model(i: number): string {
    return this.models[i % this.models.length];
  }
  target(t: TargetSpec): string {
    const id = this.model(t.model);
    const base = this.prefix.length;
    const slash = id.indexOf('/');
    switch (t.cut) {
      case 'exact':
        return id;
      // a bare vendor id has no `/`: its "slash" pattern names the vendor's models, not itself
      case 'slash':
        return slash < 0 ? `${id}/*` : `${id.slice(0, slash + 1)}*`;
      case 'vendor':
        return `${slash < 0 ? id : id.slice(0, slash)}*`;
      default:
        return `${id.slice(0, base + (t.cut % (id.length - base + 1)))}*`;
    }
  }
}

/** What a run reached; printed after each run, and held to minimum shares. */
interface Stats {
  worlds: number;
  writes: number;
  writes404: number;
  revokes: number;
  revokesThatRemoved: number;
  revokesOfCachedGrants: number;
  rounds: number;
  roundsWithAllowedPair: number;
  roundsWithModelThroughTwoOrgs: number;
  worldsWithPrefixVendors: number;
  checks: number;
  /** Refused checks that a pattern cut one character short (`openai*` for `openai/*`) would allow. */
  boundaryRefusals: number;
  reasons: Record<RefReason | 'granted', number>;
  listings: number;
  me: number;
  openai: number;
  health: number;
  /** Model calls through the gateway (one per user and comparison). */
  gateway: number;
}

function emptyStats(): Stats {
  return {
    worlds: 0,
    writes: 0,
    writes404: 0,
    revokes: 0,
    revokesThatRemoved: 0,
    revokesOfCachedGrants: 0,
    rounds: 0,
    roundsWithAllowedPair: 0,
    roundsWithModelThroughTwoOrgs: 0,
    worldsWithPrefixVendors: 0,
    checks: 0,
    boundaryRefusals: 0,
    reasons: {
      granted: 0,
      user_not_found: 0,
      user_pending: 0,
      model_not_found: 0,
      model_inactive: 0,
      no_membership: 0,
      membership_inactive: 0,
      organization_inactive: 0,
      grant_inactive: 0,
      no_grant: 0,
      budget_exhausted: 0,
    },
    listings: 0,
    me: 0,
    openai: 0,
    health: 0,
    gateway: 0,
  };
}

/** Below this many worlds (a replay) the shares are printed but not held to their minimums. */
const MIN_WORLDS_FOR_SHARES = 30;

/**
 * The minimum each run (50 worlds by default) must reach: about half the lowest value seen over
 * the pinned and several random seeds (re-measured once pending users and exhausted budgets
 * joined the rule), so that losing a case fails and chance does not. The issue's starting
 * point, for scale: 31% of rounds with an allowed pair, 2% with a model through two
 * organizations.
 */
function shortfalls(s: Stats): string[] {
  const share = (n: number, of: number) => (of === 0 ? 0 : n / of);
  const found: string[] = [];
  const atLeast = (what: string, value: number, min: number) => {
    if (!(value >= min)) {
      found.push(`${what}: ${value.toFixed(3)} < ${min}`);
    }
  };
  atLeast('rounds with an allowed pair', share(s.roundsWithAllowedPair, s.rounds), 0.35);
  atLeast(
    'rounds with a model allowed through two organizations',
    share(s.roundsWithModelThroughTwoOrgs, s.rounds),
    0.1,
  );
  atLeast(
    'worlds holding vendor ids that are prefixes of each other',
    share(s.worldsWithPrefixVendors, s.worlds),
    0.3,
  );
  atLeast('refusals at a pattern boundary, per world', share(s.boundaryRefusals, s.worlds), 0.07);
  atLeast('writes that did not answer 404', 1 - share(s.writes404, s.writes), 0.9);
  atLeast('revokes that removed a grant', share(s.revokesThatRemoved, s.revokes), 0.7);
  atLeast(
    'revokes of a grant the cache held, per world',
    share(s.revokesOfCachedGrants, s.worlds),
    0.1,
  );
  for (const [reason, n] of Object.entries(s.reasons)) {
    // budget_exhausted needs a budgeted organization to be the only grantor: rare by design,
    // and covered by its own specs (budgets, budgets-gateway); every other reason is held here
    if (reason !== 'budget_exhausted') {
      atLeast(`checks answering ${reason}, per world`, share(n, s.worlds), 0.05);
    }
  }
  return found;
}

/** The configurations the property runs on; each has its pinned seeds. */
const CONFIGS = {
  // the default configuration: access cache as deployed
  default: { env: {} as Record<string, string>, seeds: [1765100001, 1765100002], random: true },
  // an access cache of two users, so evictions and refills happen between every read of a world
  'tiny-cache': { env: { ACCESS_CACHE_SIZE: '2' }, seeds: [1765100003], random: false },
};
type ConfigName = keyof typeof CONFIGS;

/** Replay: PROPERTY_SEED (with PROPERTY_PATH) runs that one seed on PROPERTY_CONFIG only. */
const REPLAY_CONFIG = (process.env.PROPERTY_CONFIG ?? 'default') as ConfigName;
if (!(REPLAY_CONFIG in CONFIGS)) {
  throw new Error(`PROPERTY_CONFIG must be one of ${Object.keys(CONFIGS).join(', ')}`);
}
const REPLAY = process.env.PROPERTY_SEED !== undefined && process.env.PROPERTY_SEED !== '';
const PATH = process.env.PROPERTY_PATH;
/** PROPERTY_SHRINK=1 shrinks a failure to a smaller world (slower; off by default). */
const SHRINK = process.env.PROPERTY_SHRINK === '1';

const PLAN = (Object.keys(CONFIGS) as ConfigName[])
  .filter((name) => !REPLAY || name === REPLAY_CONFIG)
  .map((name) => ({
    name,
    env: CONFIGS[name].env,
    runs: seedPlan(
      'PROPERTY_SEED',
      process.env.PROPERTY_SEED,
      CONFIGS[name].seeds,
      CONFIGS[name].random,
    ),
  }));
const SEEDED_RUNS = PLAN.reduce((n, c) => n + c.runs.length, 0);
const WORLDS_PER_SEED = Math.max(1, Math.round(RUNS / SEEDED_RUNS));

function propertySuite(config: ConfigName, env: Record<string, string>, seeds: SeededRun[]): void {
  describe(`access rule, property-based (${config}): reference implementation vs every API path`, () => {
    let stats = emptyStats();
    let t: TestApp;
    let worldNumber = 0;
    /** Grants (org SEP target) that allowed some pair at the last comparison: the cache holds them. */
    let cachedGrants = new Set<string>();

    let fake: FakeOpenRouter;

    beforeAll(async () => {
      fake = await FakeOpenRouter.start();
      t = await startTestApp(
        { ...env, OPENROUTER_BASE_URL: fake.baseUrl, OPENROUTER_API_KEY: OPENROUTER_KEY },
        undefined,
        { clock: CLOCK },
      );
    });
    afterAll(async () => {
      await t.close();
      await fake.close();
    });

    function expectStatus(res: Reply, expected: number, what: string): void {
      if (res.status !== expected) {
        throw new Error(`${what}: expected ${expected}, got ${res.status}: ${res.text}`);
      }
    }

    /** A write: its status must be the reference's; 404s are counted (the generator avoids them). */
    function expectWrite(res: Reply, expected: number, what: string): void {
      stats.writes++;
      if (expected === 404) {
        stats.writes404++;
      }
      expectStatus(res, expected, what);
    }

    /** The i-th of the existing items (sorted), or undefined when there is none. */
    function pickExisting<T>(items: T[], pick: number): T | undefined {
      return items.length === 0 ? undefined : items[pick % items.length];
    }

    async function apply(ids: Ids, ref: ReferenceWorld, op: Op): Promise<void> {
      switch (op.op) {
        case 'member': {
          const org = ids.org(op.org);
          const user =
            (op.existing
              ? pickExisting(
                  ids.users.filter((u) => ref.users.has(u)),
                  op.user,
                )
              : undefined) ?? ids.user(op.user);
          const body = {
            ...(op.role ? { role: op.role } : {}),
            ...(op.active === undefined ? {} : { is_active: op.active }),
          };
          const res = await t.put(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`, body);
          return expectWrite(
            res,
            ref.putMember(org, user, { role: op.role, active: op.active }),
            `PUT member ${org} ${user} ${JSON.stringify(body)}`,
          );
        }
        case 'unmember': {
          const existing = op.existing
            ? pickExisting([...ref.memberships.keys()].sort(byCodeUnits), op.pick)
            : undefined;
          const [org, user] = existing
            ? ReferenceWorld.split(existing)
            : [ids.org(op.pick), ids.user(op.pick >> 2)];
          const res = await t.delete(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`);
          return expectWrite(res, ref.removeMember(org, user), `DELETE member ${org} ${user}`);
        }
        case 'grant': {
          const org = ids.org(op.org);
          const target = ids.target(op.target);
          const res = await t.put(
            `/api/v1/organizations/${enc(org)}/models/${enc(target)}`,
            op.active === undefined ? {} : { is_active: op.active },
          );
          return expectWrite(
            res,
            ref.putGrant(org, target, op.active ?? true),
            `PUT grant ${org} ${target}`,
          );
        }
        case 'revoke': {
          // Existing grants, those the cache holds first: a revoke must reach a cached answer.
          const grants = [...ref.grants.keys()].sort(
            (a, b) =>
              Number(cachedGrants.has(b)) - Number(cachedGrants.has(a)) || byCodeUnits(a, b),
          );
          const cachedCount = grants.filter((key) => cachedGrants.has(key)).length;
          const existing = op.existing
            ? pickExisting(cachedCount > 0 ? grants.slice(0, cachedCount) : grants, op.pick)
            : undefined;
          const [org, target] = existing
            ? ReferenceWorld.split(existing)
            : [ids.org(op.pick), ids.target({ model: op.pick >> 2, cut: 'exact' })];
          const cached = cachedGrants.has(ReferenceWorld.key(org, target));
          const res = await t.delete(`/api/v1/organizations/${enc(org)}/models/${enc(target)}`);
          const expected = ref.revokeGrant(org, target);
          stats.revokes++;
          if (expected === 204) {
            stats.revokesThatRemoved++;
            stats.revokesOfCachedGrants += cached ? 1 : 0;
          }
          return expectWrite(res, expected, `DELETE grant ${org} ${target}`);
        }
        case 'bulkGrant': {
          const org = ids.org(op.org);
          const grant = [...new Set(op.grant.map((g) => ids.target(g)))];
          const revoke = [...new Set(op.revoke.map((g) => ids.target(g)))];
          const res = await t.post(`/api/v1/organizations/${enc(org)}/models/bulk`, {
            grant,
            revoke,
          });
          return expectWrite(
            res,
            ref.bulkGrants(org, grant, revoke),
            `POST bulk grants ${org} ${JSON.stringify({ grant, revoke })}`,
          );
        }
        case 'bulkMembers': {
          const org = ids.org(op.org);
          const users = [...new Set(op.users.map((u) => ids.user(u)))];
          const res = await t.post(`/api/v1/organizations/${enc(org)}/members/bulk`, {
            user_ids: users,
            ...(op.role ? { role: op.role } : {}),
          });
          return expectWrite(
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
          return expectWrite(res, ref.putModel(id, op.active ?? true), `PUT model ${id}`);
        }
        case 'deleteModel': {
          const id = ids.model(op.model);
          return expectWrite(
            await t.delete(`/api/v1/models/${enc(id)}`),
            ref.deleteModel(id),
            `DELETE model ${id}`,
          );
        }
        case 'org': {
          const org = ids.org(op.org);
          const body = {
            ...(op.active === undefined ? {} : { is_active: op.active }),
            ...(op.autoGrant === undefined ? {} : { auto_grant_new_models: op.autoGrant }),
          };
          const res = await t.patch(`/api/v1/organizations/${enc(org)}`, body);
          return expectWrite(
            res,
            ref.patchOrg(org, { active: op.active, autoGrant: op.autoGrant }),
            `PATCH org ${org} ${JSON.stringify(body)}`,
          );
        }
        case 'user': {
          const id = ids.user(op.user);
          return expectWrite(
            await putUser(id, op.role),
            ref.putUser(id, op.role),
            `PUT user ${id}`,
          );
        }
        case 'deleteUser': {
          const id = ids.user(op.user);
          return expectWrite(
            await t.delete(`/api/v1/users/${enc(id)}`),
            ref.deleteUser(id),
            `DELETE user ${id}`,
          );
        }
        case 'budget': {
          const org = ids.org(op.org);
          const res = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, {
            budget_usd: op.usd,
          });
          return expectWrite(res, ref.setBudget(org, op.usd), `PATCH budget ${org} ${op.usd}`);
        }
        case 'spend': {
          // A gateway call's reservation and settlement, straight through the ledger.
          const org = ids.org(op.org);
          if (!ref.orgs.has(org)) {
            return; // the gateway spends only through an organization that exists
          }
          const ledger = t.app.get(BudgetLedgerService);
          const periodStart = periodOf('monthly', CLOCK.now()).start;
          const nanos = Math.round(op.usd * 1e9);
          // the budget as the gateway knows it (PostgreSQL reads the stored one instead)
          const budgetUsd = ref.orgs.get(org)!.budgetUsd;
          const held = await ledger.reserve(
            [{ organizationId: org, userId: '', periodStart }],
            nanos,
            [
              budgetUsd === undefined || budgetUsd === null
                ? Number.MAX_SAFE_INTEGER
                : usdToNanos(budgetUsd),
            ],
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
          const org = ids.org(op.org);
          return expectWrite(
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
            expectWrite(
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
              expectWrite(res, ref.putModel(id, m.active), `PUT model ${id}`);
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
          expectWrite(
            res,
            ref.createOrg(id, {
              name: `Org ${id} ✓`,
              externalUser: `ext_${id.replace(/-/g, '_')}`,
              active: true,
              autoGrant: o.autoGrant,
            }),
            `POST org ${id}`,
          );
          // Budgets without drawing from the generator (its statistics stay as they are): the
          // fourth organization of a world has a budget of 0, exhausted from the start.
          if (i === 3) {
            expectWrite(
              await t.patch(`/api/v1/organizations/${enc(id)}/budget`, { budget_usd: 0 }),
              ref.setBudget(id, 0),
              `budget ${id}`,
            );
          }
          if (!o.active) {
            expectWrite(
              await t.patch(`/api/v1/organizations/${enc(id)}`, { is_active: false }),
              ref.patchOrg(id, { active: false }),
              `archive ${id}`,
            );
          }
        }),
      );
      await addModels(1);
      // The initial memberships are of created users (later writes may name the others).
      for (const m of spec.memberships) {
        await apply(ids, ref, {
          op: 'member',
          org: m.org,
          user: m.user,
          existing: true,
          role: m.role,
          active: m.active,
        });
      }
      for (const g of spec.grants) {
        await apply(ids, ref, { op: 'grant', org: g.org, target: g.target, active: g.active });
      }
    }

    /** The reference's view of a round, counted before the service is asked. */
    function count(ids: Ids, ref: ReferenceWorld, modelIds: string[]): void {
      stats.rounds++;
      let allowed = false;
      let twoOrgs = false;
      cachedGrants = new Set();
      for (const userId of ids.users) {
        for (const modelId of modelIds) {
          const orgs = ref.grantingOrgs(userId, modelId);
          allowed ||= orgs.length > 0;
          twoOrgs ||= orgs.length > 1;
          for (const org of orgs) {
            for (const key of ref.grants.keys()) {
              const [grantOrg, target] = ReferenceWorld.split(key);
              if (
                grantOrg === org.id &&
                ref.grants.get(key)!.active &&
                targetCovers(target, modelId)
              ) {
                cachedGrants.add(key);
              }
            }
          }
          const facts = ref.facts(userId, modelId);
          if (
            !facts.granted &&
            facts.model?.active &&
            facts.mine?.some(
              (x) =>
                x.membership.active &&
                x.org.active &&
                [...ref.grants].some(([key, grant]) => {
                  const [grantOrg, target] = ReferenceWorld.split(key);
                  return (
                    grantOrg === x.orgId &&
                    grant.active &&
                    target.endsWith('*') &&
                    target.length > 1 &&
                    targetCovers(`${target.slice(0, -2)}*`, modelId)
                  );
                }),
            )
          ) {
            stats.boundaryRefusals++;
          }
        }
      }
      stats.roundsWithAllowedPair += allowed ? 1 : 0;
      stats.roundsWithModelThroughTwoOrgs += twoOrgs ? 1 : 0;
    }

    async function compare(ids: Ids, ref: ReferenceWorld): Promise<void> {
      const modelIds = [...ids.models, `${ids.prefix}nobody/unknown:model`];
      count(ids, ref, modelIds);
      await Promise.all(
        ids.users.map(async (userId) => {
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

          // The checks of one user run concurrently: they only read. The whole answer is
          // compared, the reason exactly (the one of the documented precedence).
          await Promise.all(
            modelIds.map(async (modelId) => {
              const res = await t.get(
                `/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`,
              );
              stats.checks++;
              expectStatus(res, 200, `${where} check ${modelId}`);
              const orgs = ref.grantingOrgs(userId, modelId);
              const reason = ref.reason(userId, modelId);
              stats.reasons[reason]++;
              expect({ where, modelId, ...res.body }).toEqual({
                where,
                modelId,
                user_id: userId,
                model_id: modelId,
                allowed: orgs.length > 0,
                organization_id: orgs[0]?.id ?? null,
                openrouter_user: orgs[0]?.openrouterUser ?? null,
                reason,
                ...ref.budgetReport(userId, modelId, periodOf('monthly', CLOCK.now()).end),
              });
            }),
          );

          // The gateway serves a model exactly when the check allows it, through the same
          // organization (one model per user and comparison, rotating through the catalog).
          const called = modelIds[(stats.checks + ids.users.indexOf(userId)) % modelIds.length];
          const sentBefore = fake.calls.length;
          const served = await t.request('POST', '/v1/chat/completions', {
            token: t.tokenFor(userId),
            body: { model: called, messages: [{ role: 'user', content: 'hi' }] },
          });
          stats.gateway++;
          const granting = ref.grantingOrgs(userId, called);
          if (!user || user.role === 'pending') {
            expectStatus(served, 401, `${where} gateway ${called}`);
          } else if (granting.length > 0) {
            expectStatus(served, 200, `${where} gateway ${called}`);
            const sent = fake.calls
              .slice(sentBefore)
              .some((c) => c.body.model === called && c.body.user === granting[0].openrouterUser);
            expect({ where, called, forwardedAsTheCheckSays: sent }).toEqual({
              where,
              called,
              forwardedAsTheCheckSays: true,
            });
          } else {
            const reason = ref.reason(userId, called);
            expect({
              where,
              called,
              status: served.status,
              code: served.body?.error?.code,
            }).toEqual({
              where,
              called,
              status: reason === 'model_not_found' ? 404 : 403,
              code: reason === 'model_not_found' ? 'model_not_found' : 'model_not_allowed',
            });
          }

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

          // A missing debug route answers 404 and fails here: it is never skipped.
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
        }),
      );
    }

    const world = (spec: WorldSpec) => async () => {
      const ids = new Ids(++worldNumber, spec);
      const ref = new ReferenceWorld();
      stats.worlds++;
      const vendors = new Set(spec.models.map((m) => MODEL_IDS[m.id].split('/')[0]));
      stats.worldsWithPrefixVendors += vendors.has('openai') && vendors.has('openaix') ? 1 : 0;
      cachedGrants = new Set();
      await build(ids, spec, ref);
      await compare(ids, ref);
      for (const batch of spec.batches) {
        for (const op of batch) {
          await apply(ids, ref, op);
        }
        await compare(ids, ref);
      }
    };

    for (const { seed, pinned } of seeds) {
      it(`agrees with the reference in ${WORLDS_PER_SEED} worlds of seed ${pinned ? seed : `${seed} (random)`}, before and after random writes${pinned ? ', and reaches the edge cases' : ''}`, async () => {
        stats = emptyStats();
        const details = await fc.check(
          fc.asyncProperty(worldArb, (spec) => world(spec)()),
          { numRuns: WORLDS_PER_SEED, seed, path: PATH, endOnFailure: !SHRINK },
        );
        process.stdout.write(`property (${config}, seed ${seed}): ${JSON.stringify(stats)}\n`);
        if (details.failed) {
          throw new Error(
            `${fc.defaultReportMessage(details)}\n\n${String(details.errorInstance)}\n\nReplay: PROPERTY_SEED=${details.seed} ` +
              `PROPERTY_PATH=${details.counterexamplePath ?? ''} PROPERTY_CONFIG=${config} ` +
              `npx jest --config jest.config.js test/property-access.e2e-spec.ts`,
          );
        }
        expect(stats.worlds).toBeGreaterThanOrEqual(PATH ? 1 : WORLDS_PER_SEED);
        if (!pinned) {
          // A random seed looks for disagreements with the reference. Its shares are not held:
          // the floors were set on the pinned seeds, and a fresh seed's first worlds (small,
          // as fast-check begins) fell below one of them by chance twice on 2026-12-02
          // (grant_inactive 0.04, two-organization rounds 0.097). The pinned seeds, which
          // every run repeats, are what fails when a case is lost.
          process.stdout.write(
            `property: seed ${seed} is random: shares printed above, held on the pinned seeds only\n`,
          );
        } else if (stats.worlds >= MIN_WORLDS_FOR_SHARES) {
          expect(shortfalls(stats)).toEqual([]);
        } else {
          process.stdout.write(
            `property: ${stats.worlds} worlds (fewer than ${MIN_WORLDS_FOR_SHARES}: a replay or a short run): shares printed above, not held to their minimums\n`,
          );
        }
      }, 900_000);
    }
  });
}

for (const config of PLAN) {
  propertySuite(config.name, config.env, config.runs);
}
