import Database from 'better-sqlite3';
import { World } from './support/factories';
import { startTestApp, TestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

/**
 * Another process committing to the SQLite file (migrate:organizations, an operator's
 * sqlite3 shell) is noticed through PRAGMA data_version within the documented bound.
 */
describe('SQLite changes made by another process', () => {
  const BOUND_MS = 1000;
  let t: TestApp;
  let w: World;

  beforeAll(async () => {
    t = await startTestApp({}, await createTestDatabase('sqlite'));
    w = new World(t);
  });
  afterAll(async () => t.close());

  it('drops cached answers after another connection commits', async () => {
    const user = await w.user();
    const org = await w.org();
    const model = await w.model();
    await w.member(org, user);
    await w.grant(org, model);
    expect((await w.check(user, model)).allowed).toBe(true);
    expect((await w.check(user, model)).allowed).toBe(true); // served from the cache

    const other = new Database(t.database.file);
    other.pragma('busy_timeout = 5000');
    other
      .prepare(
        'UPDATE organization_members SET is_active = 0 WHERE organization_id = ? AND user_id = ?',
      )
      .run(org, user);
    other.close();

    const started = Date.now();
    for (;;) {
      const check = await w.check(user, model);
      if (!check.allowed) {
        expect(check.reason).toBe('membership_inactive');
        break;
      }
      expect(Date.now() - started).toBeLessThan(BOUND_MS);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});
