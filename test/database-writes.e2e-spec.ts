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

  it('runs the statements queued for the commit after everything fn does, in order', async () => {
    const user = await w.user();
    const changes: DataChange[] = [];
    db.onChange((change) => changes.push(change));
    await db.write(async (tx) => {
      const users = () => tx.getRepository(UserEntity).createQueryBuilder();
      db.writeAtCommit(
        tx,
        users().update().set({ name: 'First' }).where({ id: user }).getQueryAndParameters(),
      );
      db.writeAtCommit(
        tx,
        users().update().set({ name: 'Second' }).where({ id: user }).getQueryAndParameters(),
      );
      // runs first, although issued after the queued statements
      await tx.getRepository(UserEntity).update({ id: user }, { name: 'Immediate' });
    });
    expect(await nameOf(user)).toBe('Second');
    expect(changes).toEqual([{ kind: 'write', tables: [{ table: 'users' }] }]);
  });

  it('rolls the whole write back when a statement queued for the commit fails', async () => {
    const user = await w.user();
    const before = await nameOf(user);
    await expect(
      db.write(async (tx) => {
        await tx.getRepository(UserEntity).update({ id: user }, { name: 'Changed' });
        db.writeAtCommit(
          tx,
          tx
            .getRepository(UserEntity)
            .createQueryBuilder()
            .update()
            .set({ name: null as unknown as string })
            .where({ id: user })
            .getQueryAndParameters(),
        );
        db.insertAtCommit(tx, 'audit_events', {
          actor: 'test',
          action: 'never.written',
          target_type: 'user',
          target_id: user,
          created_at: new Date().toISOString(),
        });
      }),
    ).rejects.toThrow(/null|NOT NULL/i);
    expect(await nameOf(user)).toBe(before);
    const audit = await db.read((m) =>
      m.query(`SELECT COUNT(*) AS n FROM audit_events WHERE action = 'never.written'`),
    );
    expect(Number((audit as { n: number | string }[])[0].n)).toBe(0);
  });

  it('refuses to queue a statement outside a write', () => {
    expect(() => db.writeAtCommit(ds.manager, ['SELECT 1', []])).toThrow(/inside/);
  });

  it('refuses to declare rows outside a write', () => {
    expect(() => db.declareRows(ds.manager, 'users', 'id', ['x'])).toThrow(/inside/);
  });
});
