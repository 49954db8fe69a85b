import { AccessCacheService } from '../src/model-access/access-cache.service';
import { uniqueId, World } from './support/factories';
import { enc, Reply, startTestApp, TestApp } from './support/test-app';

/**
 * The access cache answers from memory; this proves that every kind of write is seen by
 * the very next read on the same process, with the cache warm (every read below done
 * twice, and the cache checked to hold the user) right before the write.
 */
describe('write visibility through the access cache', () => {
  let t: TestApp;
  let w: World;
  let cache: AccessCacheService;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    cache = t.app.get(AccessCacheService);
  });
  afterAll(async () => {
    await t.close();
  });

  interface Reads {
    check: { allowed: boolean; reason: string; organization_id: string | null };
    /** 200, or 404 for a user that does not exist. */
    listStatus: number;
    listed: boolean;
    /** 200, or 401 for a user that does not exist or is pending. */
    openAiStatus: number;
    openAiListed: boolean;
    myOrganizationsStatus: number;
    myOrganizations: {
      organization_id: string;
      is_active: boolean;
      organization_active: boolean;
    }[];
  }

  /** Fails on any status but the two a read may answer: an error is never read as a refusal. */
  function expectOneOf(res: Reply, statuses: number[], what: string): void {
    if (!statuses.includes(res.status)) {
      throw new Error(`${what}: expected ${statuses.join(' or ')}, got ${res.status}: ${res.text}`);
    }
  }

  /** The four reads the cache serves: check, /users/:id/models, /v1/models, /me/organizations. */
  async function read(userId: string, modelId: string): Promise<Reads> {
    const check = await t.get(
      `/api/v1/access/check?user_id=${enc(userId)}&model_id=${enc(modelId)}`,
    );
    expectOneOf(check, [200], 'check');
    const list = await t.get(`/api/v1/users/${enc(userId)}/models`);
    expectOneOf(list, [200, 404], 'user models');
    const token = t.tokenFor(userId);
    const openAi = await t.get('/v1/models', token);
    expectOneOf(openAi, [200, 401], '/v1/models');
    const mine = await t.get('/api/v1/me/organizations', token);
    expectOneOf(mine, [200, 401], '/me/organizations');
    return {
      check: check.body,
      listStatus: list.status,
      listed: list.status === 200 && list.body.data.some((m: { id: string }) => m.id === modelId),
      openAiStatus: openAi.status,
      openAiListed:
        openAi.status === 200 && openAi.body.data.some((m: { id: string }) => m.id === modelId),
      myOrganizationsStatus: mine.status,
      myOrganizations: mine.status === 200 ? mine.body.data : [],
    };
  }

  /** Reads twice so every layer of the cache holds the user, and checks it does. */
  async function warm(userId: string, modelId: string): Promise<Reads> {
    await read(userId, modelId);
    const reads = await read(userId, modelId);
    expect(cache.size).toBeGreaterThan(0);
    // Same object twice: served from the cache, not recomputed (compared by identity only).
    expect((await cache.view(userId)) === (await cache.view(userId))).toBe(true);
    return reads;
  }

  /** The user exists and may call: every read answered 200. */
  function expectAnswered(reads: Reads): void {
    expect([reads.listStatus, reads.openAiStatus, reads.myOrganizationsStatus]).toEqual([
      200, 200, 200,
    ]);
  }

  function expectAllowed(reads: Reads, organizationId: string): void {
    expectAnswered(reads);
    expect(reads.check).toMatchObject({ allowed: true, organization_id: organizationId });
    expect(reads.listed).toBe(true);
    expect(reads.openAiListed).toBe(true);
  }

  function expectRefused(reads: Reads, reason: string): void {
    expectAnswered(reads);
    expect(reads.check).toMatchObject({ allowed: false, reason });
    expect(reads.listed).toBe(false);
    expect(reads.openAiListed).toBe(false);
  }

  /** A user who may use a model through one organization. */
  async function granted(): Promise<{ user: string; model: string; org: string }> {
    const user = await w.user();
    const model = await w.model(uniqueId('vis/model'));
    const org = await w.org();
    await w.member(org, user);
    await w.grant(org, model);
    return { user, model, org };
  }

  describe('users', () => {
    it('sees a user created after "no such user" was cached', async () => {
      const user = uniqueId('user');
      const model = await w.model();
      expect((await warm(user, model)).check.reason).toBe('user_not_found');
      await w.user(user);
      const after = await read(user, model);
      expect(after.check.reason).toBe('no_membership');
      expectAnswered(after);
    });

    it('refuses a user demoted to pending and a deleted user on the next request', async () => {
      const { user, model, org } = await granted();
      expectAllowed(await warm(user, model), org);
      await w.user(user, { role: 'pending' });
      expect((await read(user, model)).openAiStatus).toBe(401);
      await w.user(user, { role: 'user' });
      expectAllowed(await warm(user, model), org);
      expect((await t.delete(`/api/v1/users/${enc(user)}`)).status).toBe(204);
      const after = await read(user, model);
      expect(after.check.reason).toBe('user_not_found');
      expect([after.listStatus, after.openAiStatus, after.myOrganizationsStatus]).toEqual([
        404, 401, 401,
      ]);
    });
  });

  describe('models', () => {
    it('sees a model added under a pattern grant, then deactivated, then deleted', async () => {
      const user = await w.user();
      const org = await w.org();
      const prefix = uniqueId('vispat');
      await w.member(org, user);
      await w.grant(org, `${prefix}/*`);
      const model = `${prefix}/new-model`;
      expect((await warm(user, model)).check.reason).toBe('model_not_found');
      await w.model(model);
      expectAllowed(await read(user, model), org);
      await warm(user, model);
      await w.setModelActive(model, false);
      expectRefused(await read(user, model), 'model_inactive');
      await w.setModelActive(model, true);
      expectAllowed(await warm(user, model), org);
      expect((await t.delete(`/api/v1/models/${enc(model)}`)).status).toBe(204);
      expectRefused(await read(user, model), 'model_not_found');
    });

    it('sees a model auto-granted to an organization that asked for new models', async () => {
      const user = await w.user();
      const org = await w.org(undefined, { auto_grant_new_models: true });
      await w.member(org, user);
      const model = uniqueId('auto/model');
      expect((await warm(user, model)).check.reason).toBe('model_not_found');
      await w.model(model);
      expectAllowed(await read(user, model), org);
    });
  });

  describe('organizations', () => {
    it('sees an archive and a restore', async () => {
      const { user, model, org } = await granted();
      expectAllowed(await warm(user, model), org);
      await w.archive(org);
      const archived = await read(user, model);
      expectRefused(archived, 'organization_inactive');
      expect(archived.myOrganizations).toEqual([
        expect.objectContaining({ organization_id: org, organization_active: false }),
      ]);
      await warm(user, model);
      await w.archive(org, false);
      expectAllowed(await read(user, model), org);
    });

    it('sees auto-grant switched on after the organization was cached', async () => {
      const user = await w.user();
      const org = await w.org();
      await w.member(org, user);
      const model = uniqueId('later/model');
      await warm(user, model);
      const patch = await t.patch(`/api/v1/organizations/${org}`, { auto_grant_new_models: true });
      expect(patch.status).toBe(200);
      await warm(user, model);
      await w.model(model);
      expectAllowed(await read(user, model), org);
    });
  });

  describe('memberships', () => {
    it('sees a membership added, suspended, restored and removed', async () => {
      const user = await w.user();
      const model = await w.model();
      const org = await w.org();
      await w.grant(org, model);
      expectRefused(await warm(user, model), 'no_membership');
      await w.member(org, user);
      const added = await read(user, model);
      expectAllowed(added, org);
      expect(added.myOrganizations.map((m) => m.organization_id)).toEqual([org]);
      await warm(user, model);
      await w.member(org, user, { is_active: false });
      const suspended = await read(user, model);
      expectRefused(suspended, 'membership_inactive');
      expect(suspended.myOrganizations[0].is_active).toBe(false);
      await warm(user, model);
      await w.member(org, user, { is_active: true });
      expectAllowed(await read(user, model), org);
      await warm(user, model);
      expect((await t.delete(`/api/v1/organizations/${org}/members/${enc(user)}`)).status).toBe(
        204,
      );
      const removed = await read(user, model);
      expectRefused(removed, 'no_membership');
      expect(removed.myOrganizations).toEqual([]);
    });

    it('sees members added in bulk', async () => {
      const users = [await w.user(), await w.user()];
      const model = await w.model();
      const org = await w.org();
      await w.grant(org, model);
      for (const user of users) {
        await warm(user, model);
      }
      const bulk = await t.post(`/api/v1/organizations/${org}/members/bulk`, { user_ids: users });
      expect(bulk.status).toBeLessThan(300);
      for (const user of users) {
        expectAllowed(await read(user, model), org);
      }
    });
  });

  describe('grants', () => {
    it('sees a grant put, suspended, restored and revoked', async () => {
      const user = await w.user();
      const model = await w.model();
      const org = await w.org();
      await w.member(org, user);
      expectRefused(await warm(user, model), 'no_grant');
      await w.grant(org, model);
      expectAllowed(await read(user, model), org);
      await warm(user, model);
      await w.grant(org, model, false);
      expectRefused(await read(user, model), 'grant_inactive');
      await warm(user, model);
      await w.grant(org, model, true);
      expectAllowed(await read(user, model), org);
      await warm(user, model);
      expect((await t.delete(`/api/v1/organizations/${org}/models/${enc(model)}`)).status).toBe(
        204,
      );
      expectRefused(await read(user, model), 'no_grant');
    });

    it('sees bulk grants and revocations of ids and patterns', async () => {
      const user = await w.user();
      const prefix = uniqueId('bulkpat');
      const byPattern = await w.model(`${prefix}/a`);
      const byId = await w.model();
      const org = await w.org();
      await w.member(org, user);
      await warm(user, byId);
      await warm(user, byPattern);
      const grant = await t.post(`/api/v1/organizations/${org}/models/bulk`, {
        grant: [byId, `${prefix}/*`],
      });
      expect(grant.status).toBe(200);
      expectAllowed(await read(user, byId), org);
      expectAllowed(await read(user, byPattern), org);
      await warm(user, byPattern);
      const revoke = await t.post(`/api/v1/organizations/${org}/models/bulk`, {
        revoke: [byId, `${prefix}/*`],
      });
      expect(revoke.status).toBe(200);
      expectRefused(await read(user, byId), 'no_grant');
      expectRefused(await read(user, byPattern), 'no_grant');
    });
  });

  it('never stores an answer read before a write that ends while reads keep arriving', async () => {
    const { user, model, org } = await granted();
    let reading = true;
    // Reads racing the writes: they fill the cache at every possible moment around them.
    const racers = Array.from({ length: 4 }, async () => {
      while (reading) {
        await t.get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`);
        // A cached answer completes without I/O: yield so the writes' I/O can progress.
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    try {
      for (let i = 0; i < 20; i++) {
        const active = i % 2 === 1;
        await Promise.all([w.member(org, user, { is_active: active }), read(user, model)]);
        const after = await read(user, model);
        expect(after.listStatus).toBe(200);
        expect(after.check.allowed).toBe(active);
        expect(after.listed).toBe(active);
      }
    } finally {
      reading = false;
      await Promise.all(racers);
    }
  });
});
