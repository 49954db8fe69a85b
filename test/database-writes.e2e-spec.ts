import { DataSource } from 'typeorm';
import {
  DataChange,
  DatabaseService,
  WriteOutsideTransactionError,
} from '../src/database/database.service';
import { MembershipEntity } from '../src/memberships/entities/membership.entity';
import { UserEntity } from '../src/users/entities/user.entity';
import { World } from './support/factories';
import { startTestApp, TestApp } from './support/test-app';

/**
 * Every write goes through DatabaseService.write: it is how caches and replicas learn of
 * changes, so a write through the raw data source must be refused, not merely rare.
 */
describe('writes only through DatabaseService.write', () => {
  let t: TestApp;
  let w: World;
  let ds: DataSource;
  let db: DatabaseService;

  beforeAll(async () => {
    t = await startTestApp();
    w = new World(t);
    ds = t.app.get(DataSource);
    db = t.app.get(DatabaseService);
  });
  afterAll(async () => t.close());

  const nameOf = async (id: string) =>
    (await db.read((m) => m.getRepository(UserEntity).findOneByOrFail({ id }))).name;

  it('refuses raw SQL and repository writes on the data source, and changes nothing', async () => {
    const user = await w.user();
    const before = await nameOf(user);
    await expect(
      ds.query(`UPDATE users SET name = 'raw' WHERE id = '${user}'`),
    ).rejects.toBeInstanceOf(WriteOutsideTransactionError);
    await expect(
      ds.getRepository(UserEntity).update({ id: user }, { name: 'repo' }),
    ).rejects.toThrow(/outside DatabaseService\.write\(\)/);
    await expect(
      db.read((m) => m.getRepository(UserEntity).delete({ id: user })),
    ).rejects.toBeInstanceOf(WriteOutsideTransactionError);
    expect(await nameOf(user)).toBe(before);
  });

  it('reports the tables a write changed, with the rows it declared, when it ends', async () => {
    const user = await w.user();
    const org = await w.org();
    await w.member(org, user);
    const changes: DataChange[] = [];
    db.onChange((change) => changes.push(change));
    await db.write(async (tx) => {
      db.declareRows(tx, 'organization_members', 'user_id', [user]);
      await tx
        .getRepository(MembershipEntity)
        .update({ organizationId: org, userId: user }, { isActive: false });
      await tx.getRepository(UserEntity).update({ id: user }, { name: 'Renamed' });
    });
    expect(changes).toEqual([
      {
        kind: 'write',
        tables: [
          { table: 'organization_members', rows: { column: 'user_id', keys: [user] } },
          { table: 'users' },
        ],
      },
    ]);
    expect(await nameOf(user)).toBe('Renamed');
  });

  it('refuses to declare rows outside a write', () => {
    expect(() => db.declareRows(ds.manager, 'users', 'id', ['x'])).toThrow(/inside/);
  });
});
