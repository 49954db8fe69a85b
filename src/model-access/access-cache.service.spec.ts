import { EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DataChange, DatabaseService, TableChange } from '../database/database.service';
import { AccessCacheService } from './access-cache.service';
import {
  CATALOG,
  GRANTS_OF_ORGANIZATIONS,
  hotSql,
  MEMBERSHIPS_OF_USER,
  USER_BY_ID,
} from './hot-queries';

type Row = Record<string, unknown>;

/**
 * A database in memory that answers the four cached queries and reports changes the way
 * DatabaseService does; it counts the queries it answers by name.
 */
class FakeDatabase {
  readonly kind = 'sqlite' as const;
  changesObservable = true;
  readonly asked: string[] = [];
  readonly declared: [string, string, readonly string[]][] = [];
  /** Runs inside the next query, before it answers (e.g. a write ending meanwhile). */
  duringNextQuery: (() => void) | null = null;
  users: Row[] = [];
  members: Row[] = [];
  organizations: Row[] = [];
  grants: Row[] = [];
  models: Row[] = [];
  private readonly listeners: ((change: DataChange) => void)[] = [];

  onChange(listener: (change: DataChange) => void): void {
    this.listeners.push(listener);
  }

  read<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return fn({ query: (sql: string, params: string[] = []) => this.query(sql, params) } as never);
  }

  declareRows(_tx: EntityManager, table: string, column: string, keys: readonly string[]): void {
    this.declared.push([table, column, keys]);
  }

  /** A local write that changed these tables ended. */
  wrote(...tables: TableChange[]): void {
    this.listeners.forEach((listener) => listener({ kind: 'write', tables }));
  }

  external(): void {
    this.listeners.forEach((l) => l({ kind: 'external', tables: [{ table: '*' }] }));
  }

  private async query(sql: string, params: string[]): Promise<Row[]> {
    const during = this.duringNextQuery;
    this.duringNextQuery = null;
    during?.();
    if (sql === hotSql(USER_BY_ID, 'sqlite')) {
      this.asked.push(USER_BY_ID.name);
      return this.users.filter((u) => u.id === params[0]);
    }
    if (sql === hotSql(MEMBERSHIPS_OF_USER, 'sqlite')) {
      this.asked.push(MEMBERSHIPS_OF_USER.name);
      return this.members
        .filter((m) => m.user_id === params[0])
        .map((m) => {
          const o = this.organizations.find((org) => org.id === m.organization_id)!;
          return {
            ...m,
            organization_name: o.name,
            organization_active: o.is_active,
            external_user: o.external_user,
          };
        });
    }
    if (sql === hotSql(GRANTS_OF_ORGANIZATIONS, 'sqlite', params.length)) {
      this.asked.push(GRANTS_OF_ORGANIZATIONS.name);
      return this.grants.filter((g) => params.includes(String(g.organization_id)));
    }
    if (sql === hotSql(CATALOG, 'sqlite')) {
      this.asked.push(CATALOG.name);
      return this.models;
    }
    throw new Error(`unexpected SQL: ${sql}`);
  }
}

describe(AccessCacheService.name, () => {
  let db: FakeDatabase;
  let sut: AccessCacheService;

  const model = (id: string, isActive = true) => ({
    id,
    name: id,
    base_model_id: null,
    is_active: isActive ? 1 : 0,
    created_at: '2026-01-01T00:00:00.000Z',
  });
  const allowed = async (userId: string, modelId: string) =>
    (await sut.view(userId)).access.check(modelId).allowed;
  const USER_ROWS_AND_GRANTS = [
    'user_by_id',
    'memberships_by_user_id',
    'grants_by_organization_id_in',
  ];
  /** The queries answered while fn ran. */
  const asked = async (fn: () => unknown): Promise<string[]> => {
    const before = db.asked.length;
    await fn();
    return db.asked.slice(before);
  };

  beforeEach(() => {
    db = new FakeDatabase();
    db.users = ['u1', 'u2'].map((id) => ({
      id,
      name: id,
      email: `${id}@example.com`,
      role: 'user',
    }));
    db.organizations = [
      { id: 'o1', name: 'One', is_active: 1, external_user: 'ext_one' },
      { id: 'o2', name: 'Two', is_active: 1, external_user: 'ext_two' },
    ];
    db.members = [
      { organization_id: 'o1', user_id: 'u1', role: 'member', is_active: 1 },
      { organization_id: 'o2', user_id: 'u2', role: 'member', is_active: 1 },
    ];
    db.grants = [
      { organization_id: 'o1', model_id: 'openai/*', is_active: 1 },
      { organization_id: 'o2', model_id: 'openai/gpt-4o', is_active: 1 },
    ];
    db.models = [model('openai/gpt-4o'), model('openai/o3')];
    sut = new AccessCacheService(
      db as unknown as DatabaseService,
      { accessCacheSize: 100 } as AppConfig,
    );
  });

  it('applies the rule to the rows it reads', async () => {
    expect(await allowed('u1', 'openai/o3')).toBe(true);
    expect(await allowed('u2', 'openai/o3')).toBe(false);
    expect(await allowed('u2', 'openai/gpt-4o')).toBe(true);
    expect((await sut.view('nobody')).user).toBeNull();
  });

  it('answers a second time without a query', async () => {
    expect(await asked(() => sut.view('u1'))).toEqual([
      'user_by_id',
      'memberships_by_user_id',
      'catalog',
      'grants_by_organization_id_in',
    ]);
    expect(await asked(() => sut.view('u1'))).toEqual([]);
    expect(await asked(() => sut.serialized('k', 'u1', () => 'x'))).toEqual([]);
  });

  it('a membership write that names its users reads only their rows again', async () => {
    await sut.view('u1');
    await sut.view('u2');
    db.members[0].is_active = 0;
    db.wrote({ table: 'organization_members', rows: { column: 'user_id', keys: ['u1'] } });
    expect(await asked(() => sut.view('u2'))).toEqual([]);
    expect(await asked(() => sut.view('u1'))).toEqual(['user_by_id', 'memberships_by_user_id']);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it('a membership write that names nothing reads every user again, but not the grants', async () => {
    await sut.view('u1');
    await sut.view('u2');
    db.wrote({ table: 'organization_members' });
    expect(await asked(() => sut.view('u2'))).toEqual(['user_by_id', 'memberships_by_user_id']);
  });

  it('a grant write that names its organization reads only its grants again', async () => {
    await sut.view('u1');
    await sut.view('u2');
    db.grants[0].is_active = 0;
    db.wrote({ table: 'organization_models', rows: { column: 'organization_id', keys: ['o1'] } });
    expect(await asked(() => sut.view('u2'))).toEqual([]);
    expect(await asked(() => sut.view('u1'))).toEqual(['grants_by_organization_id_in']);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it('rows named by a column the cache is not keyed by empty the whole layer', async () => {
    await sut.view('u1');
    await sut.view('u2');
    db.wrote({ table: 'organization_members', rows: { column: 'organization_id', keys: ['o1'] } });
    expect(await asked(() => sut.view('u2'))).toEqual(['user_by_id', 'memberships_by_user_id']);
  });

  it('an organization write reads users and grants again (deletes cascade), not the catalog', async () => {
    await sut.view('u1');
    db.organizations[0].is_active = 0;
    db.wrote({ table: 'organizations' });
    expect(await asked(() => sut.view('u1'))).toEqual(USER_ROWS_AND_GRANTS);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it('a catalog write reads the catalog and the grants built on it again, not the users', async () => {
    await sut.view('u1');
    db.models[1].is_active = 0;
    db.wrote({ table: 'models' });
    expect(await asked(() => sut.view('u1'))).toEqual(['catalog', 'grants_by_organization_id_in']);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it('a write to a table no cached query reads keeps every answer', async () => {
    await sut.view('u1');
    await sut.serialized('k', 'u1', () => 'first');
    db.wrote({ table: 'audit_events' });
    expect(await asked(() => sut.view('u1'))).toEqual([]);
    expect(String(await sut.serialized('k', 'u1', () => 'second'))).toBe('first');
  });

  it('keeps a serialized answer as its UTF-8 bytes, in memory of its own', async () => {
    const text = '{"name":"Zoë – 模型"}';
    const bytes = await sut.serialized('k', 'u1', () => text);
    expect(bytes.equals(Buffer.from(text, 'utf8'))).toBe(true);
    // not a slice of the shared pool, which a kept entry would hold on to
    expect(bytes.buffer.byteLength).toBe(bytes.length);
    expect(await sut.serialized('k', 'u1', () => 'other')).toBe(bytes);
  });

  it('a statement it cannot read, or a change from elsewhere, empties everything', async () => {
    await sut.view('u1');
    db.wrote({ table: '*' });
    expect(await asked(() => sut.view('u1'))).toHaveLength(4);
    db.external();
    expect(await asked(() => sut.view('u1'))).toHaveLength(4);
  });

  it('serves an answer read while a write ended, but does not keep it', async () => {
    db.duringNextQuery = () => {
      db.members[0].is_active = 0;
      db.wrote({ table: 'organization_members', rows: { column: 'user_id', keys: ['u1'] } });
    };
    await sut.view('u1'); // read the old user rows, then the write ended
    // The rows the write emptied are not kept; o1's grants and the catalog, which it did
    // not touch, are.
    expect(await asked(() => sut.view('u1'))).toEqual(['user_by_id', 'memberships_by_user_id']);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it("keeps an answer read while a write of other users' rows ended", async () => {
    db.duringNextQuery = () => {
      db.wrote({ table: 'organization_members', rows: { column: 'user_id', keys: ['u2'] } });
    };
    await sut.view('u1');
    expect(await asked(() => sut.view('u1'))).toEqual([]);
  });

  it('does not keep grants read while a write of them ended', async () => {
    // the fourth query (user, memberships, catalog, grants) is the grants one
    const onGrantsQuery = () => {
      db.grants[0].is_active = 0;
      db.wrote({ table: 'organization_models', rows: { column: 'organization_id', keys: ['o1'] } });
    };
    db.duringNextQuery = () => {
      db.duringNextQuery = () => {
        db.duringNextQuery = () => {
          db.duringNextQuery = onGrantsQuery;
        };
      };
    };
    await sut.view('u1'); // a write of o1's grants ended while they were read
    expect(await asked(() => sut.view('u1'))).toEqual(['grants_by_organization_id_in']);
    expect(await allowed('u1', 'openai/o3')).toBe(false);
  });

  it("a grant write drops the views of its organization's members only", async () => {
    await sut.view('u1');
    await sut.view('u2');
    const u2 = await sut.view('u2');
    db.wrote({ table: 'organization_models', rows: { column: 'organization_id', keys: ['o1'] } });
    expect(await sut.view('u2')).toBe(u2);
    expect(await asked(() => sut.view('u1'))).toEqual(['grants_by_organization_id_in']);
  });

  it("a membership write drops the named users' serialized answers only", async () => {
    const build = (view: { user: { id: string } | null }) => `${view.user?.id}:${Math.random()}`;
    const u1 = await sut.serialized('models', 'u1', build);
    const u2 = await sut.serialized('models', 'u2', build);
    db.wrote({ table: 'organization_members', rows: { column: 'user_id', keys: ['u1'] } });
    expect(await sut.serialized('models', 'u2', build)).toBe(u2);
    expect(await sut.serialized('models', 'u1', build)).not.toBe(u1);
  });

  it('keeps nothing while changes from other replicas cannot be heard', async () => {
    db.changesObservable = false;
    await sut.view('u1');
    expect(await asked(() => sut.view('u1'))).toHaveLength(4);
  });

  it('an organization whose cached grants a write empties while the others are read still counts', async () => {
    // u1 is in o1 (no grant) and o2 (gpt-4o); o2's grants are cached by u2's view
    db.grants = [{ organization_id: 'o2', model_id: 'openai/gpt-4o', is_active: 1 }];
    db.members.push({ organization_id: 'o2', user_id: 'u1', role: 'member', is_active: 1 });
    await sut.view('u2');
    // u1's view reads its rows, then o1's grants; while it does, a write on o2 that changes
    // nothing for u1 ends and empties the o2 grants the view is about to use
    const onGrantsQuery = () => {
      db.wrote({ table: 'organization_models', rows: { column: 'organization_id', keys: ['o2'] } });
    };
    db.duringNextQuery = () => {
      db.duringNextQuery = () => {
        db.duringNextQuery = onGrantsQuery;
      };
    };
    let during: boolean | undefined;
    expect(
      await asked(async () => {
        during = await allowed('u1', 'openai/gpt-4o');
      }),
    ).toEqual(USER_ROWS_AND_GRANTS);
    expect(during).toBe(true);
    expect(await allowed('u1', 'openai/gpt-4o')).toBe(true);
  });

  it('declares the users and organizations a write narrows to, by the columns its queries key on', () => {
    const tx = {} as EntityManager;
    sut.narrowWritesTo(tx, { users: ['u1'], organizations: ['o2'] });
    expect(db.declared).toEqual([
      ['organization_members', MEMBERSHIPS_OF_USER.reads.organization_members, ['u1']],
      ['organization_models', GRANTS_OF_ORGANIZATIONS.reads.organization_models, ['o2']],
    ]);
  });
});
