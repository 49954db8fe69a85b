import { World } from './support/factories';
import { expectProblem, expectStatus } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';

interface AuditEvent {
  id: number;
  actor: string;
  action: string;
  target_id: string;
  after: Record<string, unknown> | null;
}

/** Organizations with email_domains take in matching users; only site admins set them. */
describe('organization email domains', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp({ OPENROUTER_EXTERNAL_USER: 'mai_default_org' });
    w = new World(t);
  });
  afterAll(async () => t.close());

  async function orgsOf(userId: string): Promise<[string, string, boolean][]> {
    const res = await t.get(`/api/v1/users/${enc(userId)}/organizations`);
    expectStatus(res, 200);
    return res.body.data.map((m: { organization_id: string; role: string; is_active: boolean }) => [
      m.organization_id,
      m.role,
      m.is_active,
    ]);
  }

  async function eventsFor(target: string): Promise<AuditEvent[]> {
    const res = await t.get(`/api/v1/audit?target_id=${enc(target)}&limit=500`);
    expectStatus(res, 200);
    return res.body.data;
  }

  it('takes in a new user whose email domain matches, with its own audit event in the same transaction as the user', async () => {
    await w.org('acme-pl', { email_domains: ['acme.pl'] });
    await w.org('acme-eu', { email_domains: ['acme.eu', 'acme.pl'] });
    await w.org('acme-archived', { email_domains: ['acme.pl'] });
    await w.archive('acme-archived');
    const user = await w.user('ed-ada', { email: 'Ada.Lovelace@ACME.pl' });
    expect(await orgsOf(user)).toEqual([
      ['acme-eu', 'member', true],
      ['acme-pl', 'member', true],
      ['mai_default_org', 'member', true],
    ]);
    const [capture] = await eventsFor(`acme-pl/${user}`);
    expect(capture).toMatchObject({
      action: 'membership.create',
      after: { role: 'member', is_active: true, via: 'email_domain', domain: 'acme.pl' },
    });
    // auto-join into the default organization is its own event too, not hidden in user.create
    const [autoJoin] = await eventsFor(`mai_default_org/${user}`);
    expect(autoJoin).toMatchObject({ action: 'membership.create', after: { via: 'auto_join' } });
    const [created] = await eventsFor(user);
    expect(created.action).toBe('user.create');
    expect(created.after).not.toHaveProperty('joined_organization');
    expect(created.id).toBeLessThan(capture.id);
  });

  it('leaves pending users out until they are approved, and takes in on an email change', async () => {
    await w.org('beta', { email_domains: ['beta.example'] });
    const pending = await w.user('ed-pending', { email: 'p@beta.example', role: 'pending' });
    expect((await orgsOf(pending)).map(([o]) => o)).toEqual(['mai_default_org']);
    await w.user(pending, { email: 'p@beta.example', role: 'user' });
    expect((await orgsOf(pending)).map(([o]) => o)).toEqual(['beta', 'mai_default_org']);

    const mover = await w.user('ed-mover', { email: 'm@elsewhere.example' });
    expect((await orgsOf(mover)).map(([o]) => o)).toEqual(['mai_default_org']);
    await w.user(mover, { email: 'm@beta.example' });
    expect((await orgsOf(mover)).map(([o]) => o)).toEqual(['beta', 'mai_default_org']);
    // a suspension stays: an email change does not undo it, nor does a later one re-add
    await w.member('beta', mover, { is_active: false });
    await w.user(mover, { email: 'other@beta.example' });
    expect(await orgsOf(mover)).toContainEqual(['beta', 'member', false]);
    const events = await eventsFor(`beta/${mover}`);
    expect(events.map((e) => e.action)).toEqual(['membership.update', 'membership.create']);
  });

  it('matches the domain exactly: no subdomains, no look-alikes', async () => {
    await w.org('gamma', { email_domains: ['gamma.example'] });
    for (const [id, email] of [
      ['ed-sub', 'a@mail.gamma.example'],
      ['ed-suffix', 'a@notgamma.example'],
      ['ed-local', 'gamma.example@other.example'],
    ]) {
      await w.user(id, { email });
      expect({ id, orgs: (await orgsOf(id)).map(([o]) => o) }).toEqual({
        id,
        orgs: ['mai_default_org'],
      });
    }
  });

  it('is set only by site admins, read by the organization admins, and validated', async () => {
    const org = await w.org('delta');
    const admin = await w.user('ed-delta-admin');
    await w.member(org, admin, { role: 'admin' });
    const token = t.tokenFor(admin);
    expectProblem(
      await t.patch(`/api/v1/organizations/${org}`, { email_domains: ['delta.example'] }, token),
      403,
    );
    const set = await t.patch(`/api/v1/organizations/${org}`, {
      email_domains: ['delta.example', 'xn--bcher-kva.example'],
    });
    expectStatus(set, 200);
    const read = await t.get(`/api/v1/organizations/${org}`, token);
    expect(read.body.email_domains).toEqual(['delta.example', 'xn--bcher-kva.example']);
    const before = await t.get(`/api/v1/organizations/${org}`);
    for (const bad of [
      ['Delta.example'],
      ['delta.example', 'delta.example'],
      ['@delta.example'],
      ['*.delta.example'],
      ['delta'],
      ['delta.example.'],
      ['-delta.example'],
      ['a b.example'],
      [`${'a'.repeat(64)}.example`],
      Array.from({ length: 51 }, (_, i) => `d${i}.example`),
      'delta.example',
      [7],
      null,
    ]) {
      const res = await t.patch(`/api/v1/organizations/${org}`, { email_domains: bad });
      expectProblem(res, 400, ['email_domains']);
      const created = await t.post('/api/v1/organizations', {
        id: 'delta-bad',
        name: 'Bad',
        external_user: 'delta_bad',
        email_domains: bad,
      });
      expectProblem(created, 400, ['email_domains']);
    }
    expect((await t.get(`/api/v1/organizations/${org}`)).body).toEqual(before.body);
    expectProblem(await t.get('/api/v1/organizations/delta-bad'), 404);
  });
});
