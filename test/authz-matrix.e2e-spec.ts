import { uniqueId, World } from './support/factories';
import { expectProblem } from './support/problems';
import { ADMIN_KEY, enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * DESIGN section 4, issue 2: every route of the OpenAPI document, called by every kind of
 * caller, answers the expected status. A route without an expectation here fails the test,
 * and so does an expectation for a route that no longer exists (except the three routes a
 * later issue adds, which may be absent).
 */

const CALLERS = [
  'anonymous',
  'plainUser',
  'otherOrgAdmin',
  'orgAdmin',
  'siteAdminKey',
  'siteAdminUser',
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
    orgAdmin: s,
    siteAdminKey: s,
    siteAdminUser: s,
  };
}

/** A web UI user acting on their own data; an API key has no user behind it (403). */
function selfRoute(status: number): Expected {
  return {
    anonymous: [401],
    plainUser: [status],
    otherOrgAdmin: [status],
    orgAdmin: [status],
    siteAdminKey: [403],
    siteAdminUser: [status],
  };
}

/**
 * Site admins only. On a route of one organization, callers who cannot see that
 * organization (the other organization's admin) get 404, its members 403.
 */
function siteAdminRoute(status: number | number[], orgScoped = false): Expected {
  return {
    anonymous: [401],
    plainUser: [403],
    otherOrgAdmin: [orgScoped ? 404 : 403],
    orgAdmin: [403],
    siteAdminKey: ok(status),
    siteAdminUser: ok(status),
  };
}

/** Site admins and the organization's admins; plain members 403, outsiders 404. */
function orgAdminRoute(status: number | number[]): Expected {
  return {
    anonymous: [401],
    plainUser: [403],
    otherOrgAdmin: [404],
    orgAdmin: ok(status),
    siteAdminKey: ok(status),
    siteAdminUser: ok(status),
  };
}

async function freshUser(f: Fixture): Promise<string> {
  return f.w.user(uniqueId('matrix/user@x'));
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

/** Routes a later issue adds; present or not, their expectations hold when they are. */
const OPTIONAL_ROUTES = new Set([
  'GET /health/detailed',
  'GET /health/model-access/{userId}',
  'GET /metrics',
]);

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
  'GET /v1/models': { expected: selfRoute(200) },

  'POST /api/v1/organizations': {
    expected: siteAdminRoute(201),
    body: () => {
      const id = uniqueId('matrix-new-org');
      return { id, name: 'New org', external_user: id.replace(/-/g, '_') };
    },
  },
  'GET /api/v1/organizations': {
    expected: {
      anonymous: [401],
      plainUser: [403],
      otherOrgAdmin: [200],
      orgAdmin: [200],
      siteAdminKey: [200],
      siteAdminUser: [200],
    },
  },
  'GET /api/v1/organizations/{orgId}': {
    expected: orgAdminRoute(200),
    params: async (f) => ({ orgId: f.orgA }),
  },
  'PATCH /api/v1/organizations/{orgId}': {
    expected: siteAdminRoute(200, true),
    params: async (f) => ({ orgId: f.orgA }),
    body: () => ({ name: 'Organization A' }),
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
    params: async (f) => ({ orgId: f.orgA, userId: await freshUser(f) }),
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
  let documented: Map<string, Record<string, unknown>>;
  const tokens = {} as Record<Caller, string | null>;

  beforeAll(async () => {
    t = await startTestApp();
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
    const model = await w.model('matrix/model:v1.0');
    await w.grant(orgA, model);
    f = { t, w, orgA, orgB, plainUser, targetUser, model };
    tokens.anonymous = null;
    tokens.plainUser = t.tokenFor(plainUser);
    tokens.otherOrgAdmin = t.tokenFor(otherOrgAdminId);
    tokens.orgAdmin = t.tokenFor(orgAdminId);
    tokens.siteAdminKey = ADMIN_KEY;
    tokens.siteAdminUser = t.tokenFor(siteAdminUserId);

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
  afterAll(async () => t.close());

  it('has an expectation for every documented route', () => {
    const missing = [...documented.keys()].filter((route) => !ROUTES[route]);
    expect(missing).toEqual([]);
  });

  it('expects nothing of routes that no longer exist (three later routes may be absent)', () => {
    const stale = Object.keys(ROUTES).filter(
      (route) => !documented.has(route) && !OPTIONAL_ROUTES.has(route),
    );
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
        // one of the optional later routes: check it only when the server has it
        const probe = await t.request(method, path.replace(/\{\w+\}/g, 'probe'), {
          token: ADMIN_KEY,
        });
        if (probe.status === 404 && /No route/.test(String(probe.body?.detail))) {
          continue;
        }
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
        } else if ([401, 403, 404].includes(res.status)) {
          expectProblem(res, res.status);
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
      expectProblem(await t.get('/v1/models', token), 401);
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
          if (Number(status) >= 400 && Number(status) < 500) {
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
        if (!(operation.parameters ?? []).some((p) => p.in === 'path')) {
          continue;
        }
        const [method, path] = route.split(' ');
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
