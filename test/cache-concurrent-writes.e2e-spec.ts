import { DatabaseService } from '../src/database/database.service';
import { MembershipEntity } from '../src/memberships/entities/membership.entity';
import { AccessCacheService } from '../src/model-access/access-cache.service';
import { World } from './support/factories';
import { startTestApp, TestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

/**
 * Two write transactions overlapping on PostgreSQL: B changes a membership and stays
 * open while A (another table) commits; an answer read between A's end and B's commit
 * must not survive B's commit.
 */
describe('cache invalidation with overlapping transactions (PostgreSQL)', () => {
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp({}, await createTestDatabase('postgres'));
    w = new World(t);
  });
  afterAll(async () => t.close());

  it('empties what a transaction touched when it commits, even after another write ended first', async () => {
    const db = t.app.get(DatabaseService);
    const cache = t.app.get(AccessCacheService);
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user);
    await w.grant(org, model);
    expect((await cache.view(user)).access.models.has(model)).toBe(true);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let suspended!: () => void;
    const statementRan = new Promise<void>((resolve) => (suspended = resolve));
    const writeB = db.write(async (tx) => {
      await tx
        .getRepository(MembershipEntity)
        .update({ organizationId: org, userId: user }, { isActive: false });
      suspended();
      await gate;
    });
    await statementRan;

    await w.model(); // write A: commits while B is still open
    const between = await cache.view(user); // reads committed data: B not visible yet
    expect(between.access.models.has(model)).toBe(true);

    release();
    await writeB;
    expect((await cache.view(user)).access.models.has(model)).toBe(false);
    expect((await w.check(user, model)).reason).toBe('membership_inactive');
  });
});
