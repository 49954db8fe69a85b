import { FakeOpenRouter, fakeModel } from './support/fake-openrouter';
import { uniqueId, World } from './support/factories';
import { GATEWAY_KEY, OPENROUTER_KEY } from './support/gateway';
import { expectProblem } from './support/problems';
import { ADMIN_KEY, enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * Every route of the OpenAPI document, called by every kind of caller, answers the expected
 * status (README, "Who may call what"). A route without an expectation here fails the test, and
 * so does an expectation for a route the server does not document: nothing is skipped.
 */

const CALLERS = [
  'anonymous',
  'plainUser',
  'otherOrgAdmin',
  'suspendedOrgAdmin',
  'orgAdmin',
  'siteAdminKey',
  'siteAdminUser',
  'gatewayKey',
] as const;
type Caller = (typeof CALLERS)[number];
type Expected = Record<Caller, number[]>;

interface Fixture {
  t: TestApp;
  w: World;
  /** The organization the org admin administers and the plain user belongs to. */
  orgA: string;
  /** The organization the other organization's admin administers. */
  orgB: string;
  plainUser: string;
  targetUser: string;
  model: string;
}

interface RouteCase {
  expected: Expected;
  /** Path parameter values; called before every request, so it may create what the call consumes. */
  params?: (f: Fixture) => Promise<Record<string, string>>;
  query?: (f: Fixture) => string;
  body?: (f: Fixture) => unknown;
}

const ok = (status: number | number[]) => (Array.isArray(status) ? status : [status]);

/** Public: anyone, without credentials. */
function publicRoute(status: number | number[]): Expected {
  const s = ok(status);
  return {
    anonymous: s,
    plainUser: s,
    otherOrgAdmin: s,
    suspendedOrgAdmin: s,
    orgAdmin: s,
    siteAdminKey: s,
    siteAdminUser: s,
    gatewayKey: s,
  };
}

/** A web UI user acting on their own data; an API key has no user behind it (403). */
function selfRoute(status: number): Expected {
  return {
    anonymous: [401],
    plainUser: [status],
    otherOrgAdmin: [status],
    suspendedOrgAdmin: [status],
    orgAdmin: [status],
    siteAdminKey: [403],
    siteAdminUser: [status],
    gatewayKey: [403],
  };
}

/**
 * The /v1 gateway: web UI users and gateway keys; an admin API key has no user (403).
 * `users` is what each user caller gets (the model is granted to organization A only).
 */
function gatewayRoute(
  users: Pick<
    Expected,
    'plainUser' | 'otherOrgAdmin' | 'suspendedOrgAdmin' | 'orgAdmin' | 'siteAdminUser'
  >,
  gatewayKey: number,
): Expected {
  // a suspended membership uses nothing: the suspended admin is answered like an outsider
  return {
    anonymous: [401],
    ...users,
    suspendedOrgAdmin: users.otherOrgAdmin,
    siteAdminKey: [403],
    gatewayKey: [gatewayKey],
  };
}

/** A model call: members of A may, others are refused by the rule (403), a bare gateway key names no user (400). */
const modelCall = (): Expected =>
  gatewayRoute(
    {
      plainUser: [200],
      orgAdmin: [200],
      otherOrgAdmin: [403],
      suspendedOrgAdmin: [403],
      siteAdminUser: [403],
    },
    400,
  );

/**
 * Site admins only. On a route of one organization, callers who cannot see that
 * organization (the other organization's admin) get 404, its members 403.
 */
function siteAdminRoute(status: number | number[], orgScoped = false): Expected {
  return {
    anonymous: [401],
    plainUser: [403],
    otherOrgAdmin: [orgScoped ? 404 : 403],
    suspendedOrgAdmin: [orgScoped ? 404 : 403],
    orgAdmin: [403],
    siteAdminKey: ok(status),
    siteAdminUser: ok(status),
    // a gateway key sees no organization: 404 on a route of one, 403 elsewhere
    gatewayKey: [orgScoped ? 404 : 403],
  };
}

/**
 * Site admins and the organization's admins; plain members 403, outsiders 404 (a suspended
 * admin of the organization is an outsider: a suspended membership shows nothing).
 */
function orgAdminRoute(status: number | number[]): Expected {
  return {
    anonymous: [401],
    plainUser: [403],
    otherOrgAdmin: [404],
    suspendedOrgAdmin: [404],
    orgAdmin: ok(status),
    siteAdminKey: ok(status),
    siteAdminUser: ok(status),
    gatewayKey: [404],
  };
}

async function freshUser(f: Fixture): Promise<string> {
  return f.w.user(uniqueId('matrix/user@x'));
}

/**
 * A new user outside A whose email domain A then takes in (set after the user exists, so
 * the user is not taken in at creation): A's admin may add them.
 */
async function userInDomainOfA(f: Fixture): Promise<string> {
  const domain = `${uniqueId('d')}.matrix.example`;
  const user = await f.w.user(uniqueId('matrix/domain-user'), { email: `u@${domain}` });
  await f.w.emailDomains(f.orgA, [domain]);
  return user;
}

/** A new organization laid out like A: the org admin administers it, the plain user is a member. */
async function organizationLikeA(f: Fixture): Promise<string> {
  const org = await f.w.org(uniqueId('matrix-org'));
  await f.w.member(org, orgAdminId, { role: 'admin' });
  await f.w.member(org, f.plainUser);
  return org;
}

const orgAdminId = 'matrix-org-admin';
const otherOrgAdminId = 'matrix-other-org-admin';
const siteAdminUserId = 'matrix-site-admin';
const suspendedOrgAdminId = 'matrix-suspended-org-admin';

const ROUTES: Record<string, RouteCase> = {
  'GET /health': { expected: publicRoute(200) },
  'GET /health/detailed': { expected: siteAdminRoute([200, 503]) },
  'GET /health/model-access/{userId}': {
    expected: siteAdminRoute(200),
    params: async (f) => ({ userId: f.plainUser }),
  },
  'GET /metrics': { expected: publicRoute(200) },

  'GET /api/v1/audit': { expected: siteAdminRoute(200) },

  'GET /api/v1/users': { expected: siteAdminRoute(200) },
  'PUT /api/v1/users/{id}': {
    expected: siteAdminRoute(201),
    params: async () => ({ id: uniqueId('matrix:new/user') }),
    body: () => ({ name: 'New', email: 'new@example.com', role: 'user' }),
  },
  'GET /api/v1/users/{id}': {
    expected: siteAdminRoute(200),
    params: async (f) => ({ id: f.targetUser }),
  },
  'DELETE /api/v1/users/{id}': {
    expected: siteAdminRoute(204),
    params: async (f) => ({ id: await freshUser(f) }),
  },
  'GET /api/v1/users/{id}/organizations': {
    expected: siteAdminRoute(200),
    params: async (f) => ({ id: f.plainUser }),
  },
  'GET /api/v1/users/{id}/models': {
    expected: siteAdminRoute(200),
    params: async (f) => ({ id: f.plainUser }),
  },

  'GET /api/v1/models': { expected: siteAdminRoute(200) },
  'POST /api/v1/models/bulk': {
    expected: siteAdminRoute(200),
    body: () => ({ models: [{ id: uniqueId('matrix/bulk'), name: 'Bulk' }] }),
  },
  'PUT /api/v1/models/{id}': {
    expected: siteAdminRoute(201),
    params: async () => ({ id: uniqueId('matrix/new:model.v1') }),
    body: () => ({ name: 'New model' }),
  },
  'POST /api/v1/models/sync': { expected: siteAdminRoute(200) },
  'GET /api/v1/models/{id}': {
    expected: siteAdminRoute(200),
    params: async (f) => ({ id: f.model }),
  },
  'DELETE /api/v1/models/{id}': {
    expected: siteAdminRoute(204),
    params: async (f) => ({ id: await f.w.model(uniqueId('matrix/doomed')) }),
  },

  'GET /api/v1/access/check': {
    expected: siteAdminRoute(200),
    query: (f) => `user_id=${enc(f.plainUser)}&model_id=${enc(f.model)}`,
  },
  'GET /api/v1/me/models': { expected: selfRoute(200) },
  'GET /api/v1/me/organizations': { expected: selfRoute(200) },
  'GET /api/v1/me/usage': { expected: selfRoute(200) },
  'GET /api/v1/organizations/{orgId}/usage': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
    query: () => 'group_by=user',
  },
  'GET /v1/models': {
    expected: gatewayRoute(
      {
        plainUser: [200],
        orgAdmin: [200],
        otherOrgAdmin: [200],
        suspendedOrgAdmin: [200],
        siteAdminUser: [200],
      },
      200,
    ),
  },
  'GET /v1/models/{id}': {
    expected: gatewayRoute(
      {
        plainUser: [200],
        orgAdmin: [200],
        otherOrgAdmin: [404],
        suspendedOrgAdmin: [404],
        siteAdminUser: [404],
      },
      200,
    ),
    params: async (f) => ({ id: f.model }),
  },
  'POST /v1/chat/completions': {
    expected: modelCall(),
    body: (f) => ({ model: f.model, messages: [{ role: 'user', content: 'Hi' }] }),
  },
  'POST /v1/completions': {
    expected: modelCall(),
    body: (f) => ({ model: f.model, prompt: 'Hi' }),
  },
  'POST /v1/embeddings': {
    expected: modelCall(),
    body: (f) => ({ model: f.model, input: 'Hi' }),
  },

  'POST /api/v1/organizations': {
    expected: siteAdminRoute(201),
    body: () => {
      const id = uniqueId('matrix-new-org');
      return {
        id,
        name: 'New org',
        external_user: id.replace(/-/g, '_'),
        email_domains: [`${id}.example`],
      };
    },
  },
  'GET /api/v1/organizations': {
    expected: {
      anonymous: [401],
      plainUser: [403],
      otherOrgAdmin: [200],
      // administers nothing while suspended
      suspendedOrgAdmin: [403],
      orgAdmin: [200],
      siteAdminKey: [200],
      siteAdminUser: [200],
      gatewayKey: [403],
    },
  },
  'GET /api/v1/organizations/{orgId}': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
  },
  'PATCH /api/v1/organizations/{orgId}': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA }),
    body: () => ({ name: 'Organization A', email_domains: [`${uniqueId('patched')}.example`] }),
  },
  'DELETE /api/v1/organizations/{orgId}': {
    expected: siteAdminRoute(204, true),
    params: async (f) => ({ orgId: await organizationLikeA(f) }),
    query: () => 'cascade=true',
  },

  'GET /api/v1/organizations/{orgId}/members': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
  },
  'POST /api/v1/organizations/{orgId}/members/bulk': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
    body: (f) => ({ user_ids: [f.targetUser] }),
  },
  'PUT /api/v1/organizations/{orgId}/members/{userId}': {
    expected: orgAdminRoute(201),
    // a user outside A whom its admin may add: A takes in their email domain
    params: async (f) => ({ orgId: f.orgA, userId: await userInDomainOfA(f) }),
    body: () => ({ role: 'member' }),
  },
  'DELETE /api/v1/organizations/{orgId}/members/{userId}': {
    expected: orgAdminRoute(204),
    params: async (f) => {
      const userId = await freshUser(f);
      await f.w.member(f.orgA, userId);
      return { orgId: f.orgA, userId };
    },
  },

  'GET /api/v1/organizations/{orgId}/budget': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
  },
  'PATCH /api/v1/organizations/{orgId}/budget': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA }),
    body: () => ({ budget_usd: 100, alert_thresholds: [0.8, 1] }),
  },
  'GET /api/v1/organizations/{orgId}/members/{userId}/budget': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA, userId: f.targetUser }),
  },
  'PATCH /api/v1/organizations/{orgId}/members/{userId}/budget': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA, userId: f.targetUser }),
    body: () => ({ rpm_limit: 60 }),
  },

  'GET /api/v1/organizations/{orgId}/models': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA }),
  },
  'POST /api/v1/organizations/{orgId}/models/bulk': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA }),
    body: (f) => ({ grant: [f.model, 'matrix-pattern/*'] }),
  },
  'PUT /api/v1/organizations/{orgId}/models/{modelId}': {
    expected: siteAdminRoute(201, true),
    params: async (f) => ({ orgId: f.orgA, modelId: await f.w.model(uniqueId('matrix/g')) }),
    body: () => ({ is_active: true }),
  },
  'DELETE /api/v1/organizations/{orgId}/models/{modelId}': {
    expected: siteAdminRoute(204, true),
    params: async (f) => {
      const modelId = await f.w.model(uniqueId('matrix/revoked'));
      await f.w.grant(f.orgA, modelId);
      return { orgId: f.orgA, modelId };
    },
  },
};

/** Existing resources for path parameters of calls that will be refused. */
function refusedParams(path: string, f: Fixture): Record<string, string> {
  return {
    orgId: f.orgA,
    userId: f.targetUser,
    modelId: f.model,
    id: path.startsWith('/api/v1/models/') ? f.model : f.targetUser,
  };
}

/**
 * How an answer differs from its documented response: a media type the document does not
 * declare for that status, a body where it declares none, or an error body whose status
 * differs. Null when it matches (or the status is undocumented, which is reported apart).
 */
function contractBreach(documented: unknown, res: Reply): string | null {
  if (documented === undefined) {
    return null;
  }
  const content = (documented as { content?: Record<string, unknown> }).content ?? {};
  const declared = Object.keys(content).map(mediaType);
  const sent = mediaType(String(res.headers['content-type'] ?? ''));
  if (declared.length === 0) {
    return res.text === '' ? null : `a ${sent} body where the document declares none`;
  }
  if (!declared.includes(sent)) {
    return `sent ${sent}, documented ${declared.join(' or ')}`;
  }
  if (sent === 'application/problem+json' && res.body?.status !== res.status) {
    return `problem body says status ${res.body?.status}`;
  }
  return null;
}

/** `application/problem+json; charset=utf-8` -> `application/problem+json`. */
function mediaType(header: string): string {
  return header.split(';')[0].trim().toLowerCase();
}

/** The /v1 routes answer errors in OpenAI's shape, which the OpenAI SDKs and Open WebUI read. */
function expectOpenAiError(res: Reply, status: number): void {
  expect(res.status).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  expect(res.body).toEqual({
    error: {
      message: expect.any(String),
      type: expect.any(String),
      code: res.body.error.code,
      param: res.body.error.param,
    },
  });
}

function fillPath(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (params[name] === undefined) {
      throw new Error(`no value for path parameter ${name} of ${path}`);
    }
    return enc(params[name]);
  });
}

describe('authorization matrix (every route of /docs-json x every caller)', () => {
  let t: TestApp;
  let f: Fixture;
  let fake: FakeOpenRouter;
  let documented: Map<string, Record<string, unknown>>;
  const tokens = {} as Record<Caller, string | null>;

  beforeAll(async () => {
    fake = await FakeOpenRouter.start();
    t = await startTestApp({
      GATEWAY_API_KEYS: GATEWAY_KEY,
      OPENROUTER_BASE_URL: fake.baseUrl,
      OPENROUTER_API_KEY: OPENROUTER_KEY,
    });
    const w = new World(t);
    const orgA = await w.org('matrix-org-a');
    const orgB = await w.org('matrix-org-b');
    const plainUser = await w.user('matrix-plain-user');
    const targetUser = await w.user('matrix-target/user@example.com');
    await w.user(orgAdminId);
    await w.user(otherOrgAdminId);
    await w.user(siteAdminUserId, { role: 'admin' });
    await w.member(orgA, plainUser);
    await w.member(orgA, targetUser);
    await w.member(orgA, orgAdminId, { role: 'admin' });
    await w.member(orgB, otherOrgAdminId, { role: 'admin' });
    await w.user(suspendedOrgAdminId);
    await w.member(orgA, suspendedOrgAdminId, { role: 'admin', is_active: false });
    const model = await w.model('matrix/model:v1.0');
    // what the catalog sync reads: the fixture's model stays listed (and active)
    fake.models = [fakeModel(model)];
    await w.grant(orgA, model);
    f = { t, w, orgA, orgB, plainUser, targetUser, model };
    tokens.anonymous = null;
    tokens.plainUser = t.tokenFor(plainUser);
    tokens.otherOrgAdmin = t.tokenFor(otherOrgAdminId);
    tokens.orgAdmin = t.tokenFor(orgAdminId);
    tokens.suspendedOrgAdmin = t.tokenFor(suspendedOrgAdminId);
    tokens.siteAdminKey = ADMIN_KEY;
    tokens.siteAdminUser = t.tokenFor(siteAdminUserId);
    tokens.gatewayKey = GATEWAY_KEY;

    const doc = await t.get('/docs-json', null);
    expect(doc.status).toBe(200);
    documented = new Map();
    for (const [path, operations] of Object.entries(
      doc.body.paths as Record<string, Record<string, Record<string, unknown>>>,
    )) {
      for (const [method, operation] of Object.entries(operations)) {
        if (['get', 'put', 'post', 'patch', 'delete'].includes(method)) {
          documented.set(`${method.toUpperCase()} ${path}`, operation);
        }
      }
    }
  });
  afterAll(async () => {
    await t.close();
    await fake.close();
  });

  it('has an expectation for every documented route', () => {
    const missing = [...documented.keys()].filter((route) => !ROUTES[route]);
    expect(missing).toEqual([]);
  });

  it('expects nothing of routes the server does not document', () => {
    const stale = Object.keys(ROUTES).filter((route) => !documented.has(route));
    expect(stale).toEqual([]);
    expect(documented.size).toBeGreaterThanOrEqual(30);
  });

  it('documents the bearer scheme and the 401 on every route that needs credentials', () => {
    const undocumented: string[] = [];
    for (const [route, operation] of documented) {
      const spec = ROUTES[route];
      if (!spec || !spec.expected.anonymous.includes(401)) {
        continue;
      }
      const security = (operation.security ?? []) as Record<string, unknown>[];
      const responses = (operation.responses ?? {}) as Record<string, unknown>;
      if (!security.some((s) => 'bearer' in s) || !('401' in responses)) {
        undocumented.push(route);
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('answers every route, for every caller, with the expected status', async () => {
    const mismatches: string[] = [];
    const undocumentedStatuses = new Set<string>();
    let calls = 0;
    for (const [route, spec] of Object.entries(ROUTES)) {
      const [method, path] = route.split(' ');
      if (!documented.has(route)) {
        // a route that is expected but missing fails here, never skipped
        mismatches.push(`${route}: expected, but not in /docs-json`);
        continue;
      }
      for (const caller of CALLERS) {
        // resources a successful call consumes are made only for callers expected to succeed;
        // refused callers aim at the shared fixture (the guard answers before any handler runs)
        const succeeds = spec.expected[caller].some((s) => s < 300);
        const params = !spec.params ? {} : succeeds ? await spec.params(f) : refusedParams(path, f);
        const query = spec.query ? `?${spec.query(f)}` : '';
        const url = `${fillPath(path, params)}${query}`;
        const body = spec.body?.(f);
        const res: Reply = await t.request(method, url, {
          token: tokens[caller],
          ...(body === undefined ? {} : { body }),
        });
        calls++;
        const expected = spec.expected[caller];
        const responses = (documented.get(route)?.responses ?? {}) as Record<string, unknown>;
        if (documented.has(route) && !(String(res.status) in responses)) {
          undocumentedStatuses.add(`${route} ${res.status}`);
        }
        const contract = contractBreach(responses[String(res.status)], res);
        if (documented.has(route) && contract !== null) {
          undocumentedStatuses.add(`${route} ${res.status}: ${contract}`);
        }
        if (!expected.includes(res.status)) {
          mismatches.push(
            `${route} as ${caller}: expected ${expected.join('|')}, got ${res.status} ${res.text.slice(0, 160)}`,
          );
        } else if ([400, 401, 403, 404].includes(res.status)) {
          if (path.startsWith('/v1/')) {
            expectOpenAiError(res, res.status);
          } else if (res.status !== 400) {
            expectProblem(res, res.status);
          }
        }
        if (res.status === 401) {
          expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
        }
      }
    }
    expect(mismatches).toEqual([]);
    // every status a caller can get is in the route's documented responses, with the
    // documented media type (no content declared: an empty body)
    expect([...undocumentedStatuses]).toEqual([]);
    expect(calls).toBeGreaterThanOrEqual(30 * CALLERS.length);
  });

  it('refuses pending, unknown and forged web UI tokens with 401 on a route users may call', async () => {
    const pending = await f.w.user(uniqueId('matrix-pending'), { role: 'pending' });
    for (const token of [
      t.tokenFor(pending),
      t.tokenFor('matrix-no-such-user'),
      `${t.tokenFor(f.plainUser).slice(0, -4)}AAAA`,
      'not-a-token',
    ]) {
      expectOpenAiError(await t.get('/v1/models', token), 401);
      expectProblem(await t.get(`/api/v1/organizations/${f.orgA}`, token), 401);
    }
  });
});

type Operation = {
  parameters?: { in: string; name: string }[];
  responses: Record<string, { content?: Record<string, { schema?: unknown; example?: unknown }> }>;
  security?: Record<string, unknown>[];
};

/** The operations of a served OpenAPI document, as `METHOD /path` -> operation. */
async function operationsOf(t: TestApp): Promise<{ doc: any; operations: Map<string, Operation> }> {
  const res = await t.get('/docs-json', null);
  expect(res.status).toBe(200);
  const operations = new Map<string, Operation>();
  for (const [path, item] of Object.entries(
    res.body.paths as Record<string, Record<string, Operation>>,
  )) {
    for (const [method, operation] of Object.entries(item)) {
      operations.set(`${method.toUpperCase()} ${path}`, operation);
    }
  }
  return { doc: res.body, operations };
}

/** Path parameters filled with a harmless value: these calls are refused before any lookup. */
function anyPath(path: string, value = 'contract-probe'): string {
  return path.replace(/\{\w+\}/g, value);
}

describe('OpenAPI contract (driven by /docs-json)', () => {
  const METRICS_TOKEN = 'contract-metrics-token-0123456789abcdef';

  it('declares every error as problem+json with an example of that status, bearer only as a scheme, security on every operation', async () => {
    const t = await startTestApp({ METRICS_TOKEN });
    try {
      const { doc, operations } = await operationsOf(t);
      expect(doc.servers?.length).toBeGreaterThan(0);
      expect(doc.info.license?.name).toMatch(/UNLICENSED/);
      expect(Object.keys(doc.components.securitySchemes)).toEqual(
        expect.arrayContaining(['bearer', 'metrics_token']),
      );
      const breaches: string[] = [];
      for (const [route, operation] of operations) {
        const path = route.split(' ')[1];
        if (operation.security === undefined) {
          breaches.push(`${route}: no security requirement (public routes say security: [])`);
        }
        for (const p of operation.parameters ?? []) {
          if (p.in === 'header' && /^authorization$/i.test(p.name)) {
            breaches.push(`${route}: Authorization as a header parameter`);
          }
        }
        for (const [status, response] of Object.entries(operation.responses)) {
          const problem = response.content?.['application/problem+json'];
          if (path.startsWith('/v1/')) {
            // the OpenAI-compatible routes answer errors in OpenAI's JSON shape
            if (Number(status) >= 400 && !response.content?.['application/json']) {
              breaches.push(`${route} ${status}: an OpenAI error not declared application/json`);
            }
          } else if (Number(status) >= 400 && Number(status) < 500) {
            if (problem === undefined || Object.keys(response.content ?? {}).length !== 1) {
              breaches.push(`${route} ${status}: not only application/problem+json`);
            } else if (
              (problem.example as { status?: number } | undefined)?.status !== Number(status)
            ) {
              breaches.push(`${route} ${status}: example of another status`);
            }
          }
        }
      }
      expect(breaches).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('answers public operations without credentials, and 401 problem+json as documented on the others', async () => {
    const t = await startTestApp({ METRICS_TOKEN });
    try {
      const { operations } = await operationsOf(t);
      const breaches: string[] = [];
      let checked = 0;
      for (const [route, operation] of operations) {
        const [method, path] = route.split(' ');
        const res = await t.request(method, anyPath(path), { token: null });
        const isPublic =
          (operation.security ?? []).length === 0 ||
          (operation.security ?? []).some((s) => Object.keys(s).length === 0);
        if (isPublic && route !== 'GET /metrics') {
          if (res.status === 401) {
            breaches.push(`${route}: documented public, answered 401`);
          }
          continue;
        }
        checked++;
        if (res.status !== 401 || !('401' in operation.responses)) {
          breaches.push(
            `${route}: anonymous call answered ${res.status}, documents 401: ${'401' in operation.responses}`,
          );
          continue;
        }
        const breach = contractBreach(operation.responses['401'], res);
        if (breach !== null) {
          breaches.push(`${route} 401: ${breach}`);
        }
      }
      expect(breaches).toEqual([]);
      expect(checked).toBeGreaterThanOrEqual(25);
    } finally {
      await t.close();
    }
  });

  it('answers 429 problem+json with Retry-After on every operation that documents it, once an address is blocked', async () => {
    const t = await startTestApp({ METRICS_TOKEN, AUTH_FAILURE_LIMIT: '1' });
    try {
      const { operations } = await operationsOf(t);
      const bad = 'contract-unknown-key-0123456789abcdef';
      for (let i = 0; i < 2; i++) {
        await t.get('/api/v1/users', bad);
      }
      const breaches: string[] = [];
      let checked = 0;
      for (const [route, operation] of operations) {
        if (!('429' in operation.responses)) {
          continue;
        }
        const [method, path] = route.split(' ');
        const res = await t.request(method, anyPath(path), { token: bad });
        checked++;
        const breach =
          res.status === 429
            ? contractBreach(operation.responses['429'], res)
            : `answered ${res.status}`;
        if (breach !== null || !/^\d+$/.test(String(res.headers['retry-after']))) {
          breaches.push(`${route} 429: ${breach ?? 'no Retry-After'}`);
        }
      }
      expect(breaches).toEqual([]);
      expect(checked).toBeGreaterThanOrEqual(25);
    } finally {
      await t.close();
    }
  });

  it('answers 400 problem+json as documented for a path parameter with a control character', async () => {
    const t = await startTestApp();
    try {
      const { operations } = await operationsOf(t);
      const breaches: string[] = [];
      let checked = 0;
      for (const [route, operation] of operations) {
        const [method, path] = route.split(' ');
        if (!(operation.parameters ?? []).some((p) => p.in === 'path') || path.startsWith('/v1/')) {
          continue;
        }
        const res = await t.request(method, anyPath(path, 'bad%01id'), {
          ...(['PUT', 'POST', 'PATCH'].includes(method) ? { body: {} } : {}),
        });
        checked++;
        const breach =
          res.status === 400 && '400' in operation.responses
            ? contractBreach(operation.responses['400'], res)
            : `answered ${res.status}, documents 400: ${'400' in operation.responses}`;
        if (breach !== null) {
          breaches.push(`${route}: ${breach}`);
        }
      }
      expect(breaches).toEqual([]);
      expect(checked).toBeGreaterThanOrEqual(15);
    } finally {
      await t.close();
    }
  });
});

/**
 * The rules an organization admin meets inside their own organization: users outside it
 * answer like unknown ids, an archived organization is read-only, and the last active
 * admin stays.
 */
describe('organization admins inside their organization', () => {
  let t: TestApp;
  let w: World;
  const org = 'rules-org';
  const other = 'rules-other';
  const admin = 'rules-admin';
  let token: string;

  /** The members of the organization as the site admin sees them. */
  async function members(orgId = org): Promise<unknown> {
    const res = await t.get(`/api/v1/organizations/${orgId}/members?limit=500`);
    expect(res.status).toBe(200);
    return res.body;
  }

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    await w.org(org);
    await w.org(other);
    await w.user(admin, { email: 'admin@rules.example' });
    await w.member(org, admin, { role: 'admin' });
    token = t.tokenFor(admin);
  });
  afterAll(async () => t.close());

  it('answers the same 404 for an unknown id and for every user outside the organization, and reveals no name or email', async () => {
    const outsider = await w.user('rules-outsider', {
      name: 'Olga Outsider',
      email: 'olga@other.example',
    });
    await w.member(other, outsider);
    await w.user('rules-site-admin', {
      name: 'Sam Site',
      email: 'sam@site.example',
      role: 'admin',
    });
    await w.user('rules-loner', { name: 'Lone Wolf', email: 'lone@nowhere.example' });
    // a pending user is refused even when the organization takes in their domain
    await w.emailDomains(org, ['pending.example']);
    await w.user('rules-pending', {
      name: 'Pat Pending',
      email: 'pat@pending.example',
      role: 'pending',
    });
    const before = await members();
    const detailFor = async (userId: string, body: unknown = {}): Promise<string> => {
      const res = await t.put(`/api/v1/organizations/${org}/members/${enc(userId)}`, body, token);
      expectProblem(res, 404);
      expect(res.text).not.toMatch(/Olga|olga@|Sam Site|sam@|Lone Wolf|lone@|Pat Pending|pat@/);
      return String(res.body.detail).replace(userId, '<id>');
    };
    const unknown = await detailFor('rules-no-such-user');
    for (const id of ['rules-outsider', 'rules-site-admin', 'rules-loner', 'rules-pending']) {
      expect({ id, detail: await detailFor(id) }).toEqual({ id, detail: unknown });
      expect({ id, detail: await detailFor(id, { role: 'admin' }) }).toEqual({
        id,
        detail: unknown,
      });
    }
    // bulk: outsiders are listed exactly like unknown ids, nothing is added
    const bulk = await t.post(
      `/api/v1/organizations/${org}/members/bulk`,
      { user_ids: ['rules-outsider', 'rules-no-such-user', 'rules-site-admin', admin] },
      token,
    );
    expectProblem(bulk, 400);
    expect(bulk.body.detail).toContain('3 user ids are unknown');
    expect(bulk.text).not.toMatch(/Olga|olga@|Sam Site|sam@/);
    expect(await members()).toEqual(before);
    // a site admin may add any of them
    expect((await t.put(`/api/v1/organizations/${org}/members/rules-loner`, {})).status).toBe(201);
    await t.delete(`/api/v1/organizations/${org}/members/rules-loner`);
  });

  it('lets the admin add users its email domains cover and manage existing members, suspended ones included', async () => {
    const covered = await w.user('rules-covered', { email: 'cora@covered.example' });
    await w.emailDomains(org, ['covered.example']);
    const added = await t.put(`/api/v1/organizations/${org}/members/${covered}`, {}, token);
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ user_id: covered, user_email: 'cora@covered.example' });
    const suspended = await w.user('rules-suspended', { email: 's@elsewhere.example' });
    await w.member(org, suspended, { is_active: false });
    const back = await t.put(
      `/api/v1/organizations/${org}/members/${suspended}`,
      { is_active: true },
      token,
    );
    expect(back.status).toBe(200);
    const bulk = await t.post(
      `/api/v1/organizations/${org}/members/bulk`,
      { user_ids: [covered, suspended] },
      token,
    );
    expect(bulk.status).toBe(200);
    expect(bulk.body).toEqual({ added: 0, updated: 0, unchanged: 2 });
  });

  it('keeps the last active admin: the organization admin gets 409 for demoting, suspending or removing them', async () => {
    const solo = await w.org('rules-solo');
    const soloAdmin = await w.user('rules-solo-admin');
    await w.member(solo, soloAdmin, { role: 'admin' });
    const soloToken = t.tokenFor(soloAdmin);
    const base = `/api/v1/organizations/${solo}/members`;
    const before = await members(solo);
    for (const res of [
      await t.put(`${base}/${soloAdmin}`, { role: 'member' }, soloToken),
      await t.put(`${base}/${soloAdmin}`, { is_active: false }, soloToken),
      await t.delete(`${base}/${soloAdmin}`, soloToken),
      await t.post(`${base}/bulk`, { user_ids: [soloAdmin], role: 'member' }, soloToken),
    ]) {
      expectProblem(res, 409);
      expect(res.body.detail).toContain('without an active admin');
    }
    expect(await members(solo)).toEqual(before);
    // with a second active admin the first may step down
    const second = await w.user('rules-solo-second');
    await w.member(solo, second, { role: 'admin' });
    expect((await t.put(`${base}/${soloAdmin}`, { role: 'member' }, soloToken)).status).toBe(200);
    // a suspended admin does not count as the active one
    expectProblem(await t.put(`${base}/${second}`, { is_active: false }, t.tokenFor(second)), 409);
    // a site admin may leave an organization without admins
    expect((await t.put(`${base}/${second}`, { role: 'member' })).status).toBe(200);
  });

  it('makes an archived organization read-only to its admins, not to site admins', async () => {
    const archived = await w.org('rules-archived');
    const archAdmin = await w.user('rules-archived-admin');
    const member = await w.user('rules-archived-member');
    await w.member(archived, archAdmin, { role: 'admin' });
    await w.member(archived, member);
    await w.archive(archived);
    const archToken = t.tokenFor(archAdmin);
    const base = `/api/v1/organizations/${archived}/members`;
    const before = await members(archived);
    expect((await t.get(`/api/v1/organizations/${archived}`, archToken)).status).toBe(200);
    expect((await t.get(base, archToken)).status).toBe(200);
    for (const res of [
      await t.put(`${base}/${member}`, { is_active: false }, archToken),
      await t.put(`${base}/${member}`, { role: 'admin' }, archToken),
      await t.delete(`${base}/${member}`, archToken),
      await t.post(`${base}/bulk`, { user_ids: [member] }, archToken),
    ]) {
      expectProblem(res, 403);
      expect(res.body.detail).toContain('archived');
    }
    expect(await members(archived)).toEqual(before);
    expect((await t.put(`${base}/${member}`, { is_active: false })).status).toBe(200);
  });
});
