import { ADMIN_KEY } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';
import { ServerProcess } from './support/server-process';

/**
 * Fresh enough on demand, across replicas: a write answers X-Access-Revision, and a read
 * on another replica passing it as min_revision (or X-Min-Access-Revision) never sees the
 * state before that write. Built server processes on one PostgreSQL database.
 */
describe('access revisions across replicas (PostgreSQL)', () => {
  let db: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  const call = async (
    server: ServerProcess,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      body: text ? JSON.parse(text) : undefined,
    };
  };

  const revisionOf = (res: { status: number; headers: Headers }): string => {
    const revision = res.headers.get('x-access-revision');
    if (![200, 201, 204].includes(res.status) || revision === null || !/^\d+$/.test(revision)) {
      throw new Error(`write answered ${res.status} with X-Access-Revision ${revision}`);
    }
    return revision;
  };

  const CHECK = '/api/v1/access/check?user_id=rev-user&model_id=openai%2Fgpt-4o';
  const GRANT = '/api/v1/organizations/rev-org/models/openai%2Fgpt-4o';

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const env = { DATABASE_URL: db.url, ADMIN_API_KEYS: ADMIN_KEY };
    [a, b] = await Promise.all([ServerProcess.start(env), ServerProcess.start(env)]);
    await Promise.all([a.ready(), b.ready()]);
    const setup: [string, string, unknown][] = [
      ['PUT', '/api/v1/users/rev-user', { name: 'R', email: 'r@example.com', role: 'user' }],
      ['PUT', '/api/v1/models/openai%2Fgpt-4o', { name: 'GPT-4o' }],
      ['POST', '/api/v1/organizations', { id: 'rev-org', name: 'Rev', external_user: 'mai_rev' }],
      ['PUT', '/api/v1/organizations/rev-org/members/rev-user', {}],
    ];
    for (const [method, path, body] of setup) {
      revisionOf(await call(a, method, path, body));
    }
  });

  afterAll(async () => {
    await Promise.all([a, b].filter(Boolean).map((r) => r.stop()));
    await db?.drop();
  });

  it('revoked through A, checked through B with the revision: never allowed', async () => {
    const ITERATIONS = 150;
    let previous = 0n;
    for (let i = 0; i < ITERATIONS; i++) {
      // B caches the allowed answer first, so a stale cache would show
      const granted = revisionOf(await call(a, 'PUT', GRANT, {}));
      const allowed = await call(b, 'GET', `${CHECK}&min_revision=${granted}`);
      expect(allowed.body).toMatchObject({ allowed: true });
      await call(b, 'GET', CHECK);
      const revoked = revisionOf(await call(a, 'DELETE', GRANT));
      expect(BigInt(revoked)).toBeGreaterThan(BigInt(granted));
      expect(BigInt(granted)).toBeGreaterThan(previous);
      previous = BigInt(revoked);
      const check =
        i % 2 === 0
          ? await call(b, 'GET', `${CHECK}&min_revision=${revoked}`)
          : await call(b, 'GET', CHECK, undefined, { 'x-min-access-revision': revoked });
      expect(check.status).toBe(200);
      if (check.body.allowed !== false) {
        throw new Error(`iteration ${i}: B allowed after the revoke of revision ${revoked}`);
      }
    }
  });

  it('the model lists honour the revision too', async () => {
    const granted = revisionOf(await call(a, 'PUT', GRANT, {}));
    const list = await call(b, 'GET', `/api/v1/users/rev-user/models?min_revision=${granted}`);
    expect(list.status).toBe(200);
    expect(list.body.data.map((m: { id: string }) => m.id)).toEqual(['openai/gpt-4o']);
    const revoked = revisionOf(await call(a, 'DELETE', GRANT));
    const after = await call(b, 'GET', '/api/v1/users/rev-user/models', undefined, {
      'x-min-access-revision': revoked,
    });
    expect(after.body.data).toEqual([]);
  });

  it('a write that changes nothing still answers a revision, no older than the state it saw', async () => {
    const first = revisionOf(
      await call(a, 'PUT', '/api/v1/organizations/rev-org/members/rev-user', {}),
    );
    const again = revisionOf(
      await call(b, 'PUT', '/api/v1/organizations/rev-org/members/rev-user', {}),
    );
    expect(BigInt(again)).toBeGreaterThanOrEqual(BigInt(first));
    expect((await call(a, 'GET', `${CHECK}&min_revision=${again}`)).status).toBe(200);
  });

  it('a revision the database has not reached: 503 with Retry-After after about a second', async () => {
    const started = Date.now();
    const res = await call(b, 'GET', `${CHECK}&min_revision=9000000000000000000`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it.each([
    ['min_revision=abc'],
    ['min_revision=-1'],
    ['min_revision=1.5'],
    ['min_revision='],
    ['min_revision=99999999999999999999'],
    ['min_revision=1&min_revision=2'],
  ])('a bad %s is a 400 problem naming the parameter', async (query) => {
    const res = await call(a, 'GET', `${CHECK}&${query}`);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
    expect(res.body.errors[0].field).toBe('min_revision');
  });

  it('a bad X-Min-Access-Revision is a 400 too, in OpenAI shape on /v1', async () => {
    const api = await call(a, 'GET', CHECK, undefined, { 'x-min-access-revision': 'x' });
    expect(api.status).toBe(400);
    expect(api.body.errors[0].field).toBe('x-min-access-revision');
    const openAi = await call(a, 'GET', '/v1/models', undefined, { 'x-min-access-revision': 'x' });
    expect(openAi.status).toBe(400);
    expect(openAi.body.error.param).toBe('x-min-access-revision');
  });
});
