import { createHash } from 'node:crypto';
import { World } from './support/factories';
import { auditCount, expectProblem, expectStatus } from './support/problems';
import { ADMIN_KEY, enc, Reply, startTestApp, TestApp } from './support/test-app';

interface AuditEvent {
  id: number;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  before: unknown;
  after: unknown;
  created_at: string;
}

const API_KEY_ACTOR = `api-key:${createHash('sha256').update(ADMIN_KEY).digest('hex').slice(0, 12)}`;

/** DESIGN section 3: every write through the API appends one audit event, in the same transaction. */
describe('audit trail', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
  });
  afterAll(async () => t.close());

  async function latest(): Promise<AuditEvent> {
    const res = await t.get('/api/v1/audit?limit=1');
    return res.body.data[0] as AuditEvent;
  }

  /** Runs a write and asserts it appended exactly one event with this action and target. */
  async function expectOneEvent(
    write: () => Promise<Reply>,
    action: string,
    target: string,
    status: number | number[] = [200, 201, 204],
  ): Promise<AuditEvent> {
    const before = await auditCount(t);
    const res = await write();
    expectStatus(res, status, action);
    expect(await auditCount(t)).toBe(before + 1);
    const event = await latest();
    expect({ action: event.action, target: event.target_id }).toEqual({ action, target });
    return event;
  }

  it('appends exactly one event per write, naming the actor, action, target and change', async () => {
    const org = 'audit-org';
    const created = await expectOneEvent(
      () => t.post('/api/v1/organizations', { id: org, name: 'Audit', external_user: 'audit_ext' }),
      'organization.create',
      org,
    );
    expect(created.actor).toBe(API_KEY_ACTOR);
    expect(created.after).toMatchObject({ id: org, name: 'Audit', external_user: 'audit_ext' });
    expect(created.before).toBeNull();
    const renamed = await expectOneEvent(
      () => t.patch(`/api/v1/organizations/${org}`, { name: 'Audit 2' }),
      'organization.update',
      org,
    );
    expect(renamed.before).toMatchObject({ name: 'Audit' });
    expect(renamed.after).toMatchObject({ name: 'Audit 2' });

    const userUrl = `/api/v1/users/${enc('audit@user')}`;
    const userBody = { name: 'A', email: 'a@example.com', role: 'user' };
    await expectOneEvent(() => t.put(userUrl, userBody), 'user.create', 'audit@user');
    await expectOneEvent(
      () => t.put(userUrl, { ...userBody, role: 'admin' }),
      'user.update',
      'audit@user',
    );
    const modelUrl = `/api/v1/models/${enc('audit/model:1')}`;
    await expectOneEvent(() => t.put(modelUrl, { name: 'M' }), 'model.create', 'audit/model:1');
    await expectOneEvent(
      () => t.post('/api/v1/models/bulk', { models: [{ id: 'audit/b', name: 'B' }] }),
      'model.import',
      '1 models',
    );
    const memberUrl = `/api/v1/organizations/${org}/members/${enc('audit@user')}`;
    const joined = await expectOneEvent(
      () => t.put(memberUrl, {}),
      'membership.create',
      `${org}/audit@user`,
    );
    expect(joined.after).toEqual({ role: 'member', is_active: true });
    const suspended = await expectOneEvent(
      () => t.put(memberUrl, { is_active: false }),
      'membership.update',
      `${org}/audit@user`,
    );
    expect(suspended.before).toEqual({ role: 'member', is_active: true });
    expect(suspended.after).toEqual({ role: 'member', is_active: false });
    await expectOneEvent(
      () => t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: ['audit@user'] }),
      'membership.bulk_add',
      org,
    );
    const grantUrl = `/api/v1/organizations/${org}/models/${enc('audit/model:1')}`;
    await expectOneEvent(() => t.put(grantUrl, {}), 'grant.create', `${org}/audit/model:1`);
    await expectOneEvent(
      () => t.put(grantUrl, { is_active: false }),
      'grant.update',
      `${org}/audit/model:1`,
    );
    await expectOneEvent(
      () => t.post(`/api/v1/organizations/${org}/models/bulk`, { grant: ['audit/*'] }),
      'grant.bulk',
      org,
    );
    await expectOneEvent(() => t.delete(grantUrl), 'grant.delete', `${org}/audit/model:1`);
    await expectOneEvent(() => t.delete(memberUrl), 'membership.delete', `${org}/audit@user`);
    await expectOneEvent(() => t.delete(modelUrl), 'model.delete', 'audit/model:1');
    await expectOneEvent(() => t.delete(userUrl), 'user.delete', 'audit@user');
    const deleted = await expectOneEvent(
      () => t.delete(`/api/v1/organizations/${org}?cascade=true`),
      'organization.delete',
      org,
    );
    expect(deleted.before).toMatchObject({ id: org, cascade: true });
  });

  it('appends nothing for refused, invalid or failed writes (the write and its event are one)', async () => {
    const org = await w.org();
    const user = await w.user();
    await w.member(org, user);
    const before = await auditCount(t);
    const failed: Reply[] = [
      await t.post('/api/v1/organizations', { id: org, name: 'dup', external_user: 'dup_x' }),
      await t.delete(`/api/v1/organizations/${org}`),
      await t.put('/api/v1/users/bad', { name: 'x' }),
      await t.put(`/api/v1/organizations/${org}/models/${enc('missing/model')}`, {}),
      await t.post(`/api/v1/organizations/${org}/members/bulk`, {
        user_ids: [user, 'unknown-user'],
      }),
      await t.post(`/api/v1/organizations/${org}/models/bulk`, {
        grant: ['ok/*', 'missing/exact'],
      }),
      await t.post('/api/v1/models/bulk', {
        models: [
          { id: 'dup/x', name: 'x' },
          { id: 'dup/x', name: 'y' },
        ],
      }),
      await t.put(
        `/api/v1/users/${enc(user)}`,
        { name: 'x', email: 'x@example.com', role: 'user' },
        null,
      ),
      await t.put(
        `/api/v1/organizations/${org}/members/${enc(user)}`,
        { role: 'admin' },
        t.tokenFor(user),
      ),
    ];
    for (const res of failed) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    expect(await auditCount(t)).toBe(before);
    // the all-or-nothing bulk operations changed nothing either
    const grants = await t.get(`/api/v1/organizations/${org}/models`);
    expect(grants.body.total).toBe(0);
    expectProblem(await t.get('/api/v1/models/dup%2Fx'), 404);
  });

  it('records the web UI user as the actor of an organization admin write', async () => {
    const member = await w.user();
    // the organization takes in the member's email domain, so its admin may add them
    const org = await w.org(undefined, { email_domains: ['example.com'] });
    const admin = await w.user('audit-org-admin');
    await w.member(org, admin, { role: 'admin' });
    const res = await t.put(
      `/api/v1/organizations/${org}/members/${enc(member)}`,
      {},
      t.tokenFor(admin),
    );
    expectStatus(res, 201);
    const event = await latest();
    expect(event).toMatchObject({ actor: 'user:audit-org-admin', action: 'membership.create' });
  });

  it('filters by actor, target, action and time, newest first', async () => {
    const mark = new Date().toISOString();
    const other = await w.user();
    const org = await w.org('audit-filter-org', { email_domains: ['example.com'] });
    const admin = await w.user('audit-filter-admin', { email: 'admin@elsewhere.example' });
    await w.member(org, admin, { role: 'admin' });
    const token = t.tokenFor(admin);
    // a PUT that changes nothing writes no event
    await t.put(`/api/v1/organizations/${org}/members/${enc(admin)}`, { role: 'admin' }, token);
    await t.put(`/api/v1/organizations/${org}/members/${enc(other)}`, {}, token);
    await t.put(`/api/v1/organizations/${org}/members/${enc(other)}`, { role: 'admin' }, token);

    const byActor = await t.get(`/api/v1/audit?actor=${enc('user:audit-filter-admin')}`);
    expectStatus(byActor, 200);
    expect(byActor.body.total).toBe(2);
    expect(byActor.body.data.map((e: AuditEvent) => [e.target_id, e.action])).toEqual([
      [`${org}/${other}`, 'membership.update'],
      [`${org}/${other}`, 'membership.create'],
    ]);
    const byTarget = await t.get(
      `/api/v1/audit?target_type=membership&target_id=${enc(`${org}/${other}`)}`,
    );
    expect(byTarget.body.data.map((e: AuditEvent) => e.action)).toEqual([
      'membership.update',
      'membership.create',
    ]);
    const byAction = await t.get(
      `/api/v1/audit?action=organization.create&target_id=audit-filter-org`,
    );
    expect(byAction.body.total).toBe(1);

    const since = await t.get(`/api/v1/audit?since=${enc(mark)}&limit=500`);
    const ids = since.body.data.map((e: AuditEvent) => e.id);
    expect(ids).toEqual([...ids].sort((a: number, b: number) => b - a));
    for (const e of since.body.data as AuditEvent[]) {
      expect(e.created_at >= mark).toBe(true);
    }
    expect(since.body.total).toBeGreaterThanOrEqual(6);
    const until = await t.get(`/api/v1/audit?until=${enc(mark)}&limit=500`);
    for (const e of until.body.data as AuditEvent[]) {
      expect(e.created_at < mark).toBe(true);
    }
    const all = await t.get('/api/v1/audit?limit=1');
    expect(since.body.total + until.body.total).toBe(all.body.total);
    const future = await t.get('/api/v1/audit?since=2999-01-01T00:00:00Z');
    expect(future.body).toMatchObject({ data: [], total: 0 });
    // time zones are honoured: the same instant written with a +01:00 offset
    const offset = new Date(Date.parse(mark) + 3600_000).toISOString().replace('Z', '+01:00');
    const sameInstant = await t.get(`/api/v1/audit?since=${enc(offset)}&limit=1`);
    expect(sameInstant.body.total).toBe(since.body.total);
  });

  it('is for site admins only', async () => {
    const org = await w.org();
    const admin = await w.user();
    await w.member(org, admin, { role: 'admin' });
    expectProblem(await t.get('/api/v1/audit', t.tokenFor(admin)), 403);
    expectProblem(await t.get('/api/v1/audit', null), 401);
    const siteAdmin = await w.user(undefined, { role: 'admin' });
    expectStatus(await t.get('/api/v1/audit', t.tokenFor(siteAdmin)), 200);
  });
});
