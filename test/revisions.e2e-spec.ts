import { World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';

/**
 * X-Access-Revision and min_revision on one server (SQLite by default, PostgreSQL with
 * E2E_DATABASE_URL); across replicas see replicas-revisions.e2e-spec.ts.
 */
describe('access revisions on one server', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  const revisionOf = (res: { status: number; headers: Record<string, unknown> }): bigint => {
    const value = res.headers['x-access-revision'];
    if (typeof value !== 'string' || !/^\d+$/.test(value)) {
      throw new Error(`answered ${res.status} without X-Access-Revision (${String(value)})`);
    }
    return BigInt(value);
  };

  it('every write answers a revision that grows; a write that changes nothing does not raise it', async () => {
    const org = await w.org();
    const model = await w.model();
    const user = await w.user();
    const created = revisionOf(
      await t.put(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`, {}),
    );
    const same = revisionOf(
      await t.put(`/api/v1/organizations/${enc(org)}/members/${enc(user)}`, {}),
    );
    expect(same).toBeGreaterThanOrEqual(created);
    const granted = revisionOf(
      await t.put(`/api/v1/organizations/${enc(org)}/models/${enc(model)}`, {}),
    );
    expect(granted).toBeGreaterThan(created);
    if (t.database.kind === 'sqlite') {
      expect(same).toBe(created);
    }
    const check = await t.get(
      `/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}&min_revision=${granted}`,
    );
    expect(check.status).toBe(200);
    expect(check.body.allowed).toBe(true);
    const revoked = revisionOf(
      await t.delete(`/api/v1/organizations/${enc(org)}/models/${enc(model)}`),
    );
    const after = await t.request('GET', `/v1/models`, {
      token: t.tokenFor(user),
      headers: { 'x-min-access-revision': String(revoked) },
    });
    expect(after.status).toBe(200);
    expect(after.body.data).toEqual([]);
  });

  it('a failed write answers no revision', async () => {
    const res = await t.put('/api/v1/organizations/no-such-org/members/nobody', {});
    expect(res.status).toBe(404);
    expect(res.headers['x-access-revision']).toBeUndefined();
  });

  it('a revision not reached within a second: 503 with Retry-After', async () => {
    const user = await w.user();
    const now = revisionOf(
      await t.put(`/api/v1/users/${enc(user)}`, {
        name: 'N',
        email: 'n@example.com',
        role: 'admin',
      }),
    );
    const started = Date.now();
    const res = await t.get(`/api/v1/users/${enc(user)}/models?min_revision=${now + 1000n}`);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('routes that read the database directly accept min_revision too', async () => {
    const org = await w.org();
    const res = await t.get(`/api/v1/organizations/${enc(org)}/members?min_revision=0`);
    expect(res.status).toBe(200);
  });

  it('documents the header and the parameter', async () => {
    const doc = (await t.get('/docs-json', null)).body;
    const check = doc.paths['/api/v1/access/check'].get;
    expect(check.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['min_revision', 'X-Min-Access-Revision']),
    );
    expect(check.responses['503']).toBeDefined();
    const put = doc.paths['/api/v1/organizations/{orgId}/members/{userId}'].put;
    expect(put.responses['200'].headers['X-Access-Revision']).toBeDefined();
  });
});
