import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { AccessCacheService } from '../src/model-access/access-cache.service';
import { World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Two replicas on one PostgreSQL database, in this process so their cache layers can be
 * looked at: a change heard from the other replica empties exactly what the same write
 * made locally would (the rows the notification names), and the next read is fresh.
 */
describe('replicas forget only what changed', () => {
  let db: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  let w: World;
  let layersOfB: { userRows: Map<string, unknown>; organizations: Map<string, unknown> };

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // A server whose default is stricter: the service still writes READ COMMITTED.
    const admin = new Client({ connectionString: db.url });
    await admin.connect();
    const name = new URL(db.url).pathname.slice(1);
    await admin.query(`ALTER DATABASE ${name} SET default_transaction_isolation TO 'serializable'`);
    await admin.end();
    a = await startTestApp({}, db);
    b = await startTestApp({}, db);
    w = new World(a);
    layersOfB = b.app.get(AccessCacheService) as unknown as typeof layersOfB;
  });

  afterAll(async () => {
    await b?.app.close();
    await a?.close();
  });

  const checkOnB = async (user: string, model: string) => {
    const res = await b.get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`);
    expect(res.status).toBe(200);
    return res.body as { allowed: boolean; reason: string };
  };

  /** Waits (up to 2 s) until B's layers no longer hold `key`. */
  const forgottenByB = async (layer: Map<string, unknown>, key: string) => {
    const started = Date.now();
    while (layer.has(key)) {
      if (Date.now() - started > 2000) {
        throw new Error(`replica B still holds ${key} 2 s after the write`);
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  };

  it('runs its transactions READ COMMITTED whatever the server default', async () => {
    const rows = await b.app.get(DataSource).query('SHOW default_transaction_isolation');
    expect(rows).toEqual([{ default_transaction_isolation: 'read committed' }]);
  });

  it('a membership or grant write on A empties only the named users and organizations on B', async () => {
    const [o1, o2] = [await w.org(), await w.org()];
    const model = await w.model();
    const [u1, u2, u3] = [await w.user(), await w.user(), await w.user()];
    await w.member(o1, u1);
    await w.member(o1, u2);
    await w.member(o2, u3);
    await w.grant(o1, model);
    await w.grant(o2, model);
    await new Promise((resolve) => setTimeout(resolve, 300)); // B hears those writes
    for (const u of [u1, u2, u3]) {
      expect((await checkOnB(u, model)).allowed).toBe(true);
    }
    expect([u1, u2, u3].every((u) => layersOfB.userRows.has(u))).toBe(true);
    expect(layersOfB.organizations.has(o1) && layersOfB.organizations.has(o2)).toBe(true);

    await w.member(o1, u1, { is_active: false });
    await forgottenByB(layersOfB.userRows, u1);
    expect(layersOfB.userRows.has(u2)).toBe(true);
    expect(layersOfB.userRows.has(u3)).toBe(true);
    expect(layersOfB.organizations.has(o1)).toBe(true);
    expect(await checkOnB(u1, model)).toMatchObject({
      allowed: false,
      reason: 'membership_inactive',
    });

    const revoked = await a.delete(`/api/v1/organizations/${enc(o1)}/models/${enc(model)}`);
    expect(revoked.status).toBe(204);
    await forgottenByB(layersOfB.organizations, o1);
    expect(layersOfB.organizations.has(o2)).toBe(true);
    expect(layersOfB.userRows.has(u2)).toBe(true);
    expect(layersOfB.userRows.has(u3)).toBe(true);
    expect((await checkOnB(u2, model)).allowed).toBe(false);
    expect((await checkOnB(u3, model)).allowed).toBe(true);
  });

  it('a write naming too many rows for one notification empties the whole table it wrote', async () => {
    const org = await w.org();
    const model = await w.model();
    await w.grant(org, model);
    // 200 ids of 60 characters do not fit in one notification (8,000 bytes)
    const ids = Array.from({ length: 200 }, (_, i) => `bulk-${i}-${'x'.repeat(60)}`.slice(0, 60));
    for (let i = 0; i < ids.length; i += 25) {
      await Promise.all(ids.slice(i, i + 25).map((id) => w.user(id)));
    }
    // after the user writes (which empty every user's rows): B caches `other` again
    const other = await w.user();
    await w.member(org, other);
    await new Promise((resolve) => setTimeout(resolve, 300)); // B hears those writes
    expect((await checkOnB(other, model)).allowed).toBe(true);
    expect(layersOfB.userRows.has(other)).toBe(true);
    const bulk = await a.post(`/api/v1/organizations/${enc(org)}/members/bulk`, {
      user_ids: ids,
    });
    expect(bulk.status).toBe(200);
    expect(bulk.body.added).toBe(200);
    await forgottenByB(layersOfB.userRows, other);
    expect(layersOfB.organizations.has(org)).toBe(true);
    expect((await checkOnB(ids[199], model)).allowed).toBe(true);
  });
});
