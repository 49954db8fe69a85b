import {
  epochToIso,
  groupOrganization,
  parseActive,
  planMigration,
  readersFromAccessControl,
  servedModels,
} from './plan';
import { isTooOld, layoutProblems, SourceModel, SourceUser } from './source';

const AT = '2026-11-28T00:00:00.000Z';
const OPTIONS = { externalUser: 'acme', name: 'ACME', groupsAsOrganizations: false, at: AT };

/** A plan over users and models only, every model public (as access_control NULL says). */
function planOf(users: SourceUser[], models: Partial<SourceModel>[], at = AT) {
  return planMigration(
    {
      users,
      models: models.map((m) => ({ user_id: 'owner', access_control: null, ...m }) as SourceModel),
      groups: [],
      grants: null,
      config: null,
    },
    { ...OPTIONS, at },
  );
}

describe(planMigration.name, () => {
  it('makes non-pending users members, Open WebUI admins organization admins', () => {
    const sut = planOf(
      [
        { id: 'a', name: 'Ada', email: 'ada@example.com', role: 'admin', created_at: 1700000000 },
        { id: 'u', name: 'Uli', email: 'uli@example.com', role: 'user', created_at: 1700000000 },
        { id: 'p', name: 'Pat', email: 'pat@example.com', role: 'pending', created_at: 1 },
      ],
      [],
      AT,
    );
    expect(sut.users.map((u) => [u.id, u.role])).toEqual([
      ['a', 'admin'],
      ['u', 'user'],
      ['p', 'pending'],
    ]);
    expect(sut.organizations[0].members).toEqual([
      { userId: 'a', role: 'admin' },
      { userId: 'u', role: 'member' },
    ]);
    expect(sut.users[0].createdAt).toBe('2023-11-14T22:13:20.000Z');
    expect(sut.skipped).toEqual([]);
  });

  it('skips unusable user rows with the reason', () => {
    const ok = { name: 'N', email: 'n@example.com', role: 'user', created_at: 1 };
    const sut = planOf(
      [
        { ...ok, id: '' },
        { ...ok, id: 'x'.repeat(256) },
        { ...ok, id: 'tab\there' },
        { ...ok, id: null },
        { ...ok, id: 'long-name', name: 'n'.repeat(256) },
        { ...ok, id: 'nul-name', name: 'bad\u0000nul' },
        { ...ok, id: 'bad-email', email: 'nobody' },
        { ...ok, id: 'bad-role', role: 'superuser' },
        { ...ok, id: 'dup' },
        { ...ok, id: 'dup', name: 'Second' },
      ],
      [],
      AT,
    );
    expect(sut.users.map((u) => u.id)).toEqual(['dup']);
    expect(sut.skipped.map((s) => [s.id, s.reason])).toEqual([
      ['', 'user_id must be a non-empty string'],
      ['x'.repeat(256), 'user_id must be at most 255 characters'],
      ['tab\there', 'user_id must not contain control characters'],
      ['', 'user_id must be a non-empty string'],
      ['long-name', 'name must be at most 255 characters'],
      ['nul-name', 'name must not contain U+0000 (NUL)'],
      ['bad-email', 'email must be empty or look like name@domain'],
      ['bad-role', 'role "superuser" is not one of pending, user, admin'],
      ['dup', 'duplicate id (an earlier row with this id was used)'],
    ]);
  });

  it('keeps injection-looking and Unicode values verbatim', () => {
    const name = "Robert'); DROP TABLE users;-- 組織 Zażółć";
    const sut = planOf(
      [{ id: "x' OR '1'='1", name, email: 'r@example.com', role: 'user', created_at: 5 }],
      [],
      AT,
    );
    expect(sut.users[0]).toMatchObject({ id: "x' OR '1'='1", name });
  });

  it('imports provider models with their is_active; presets lend their base, never an inactive one', () => {
    const sut = planOf(
      [{ id: 'u', name: 'U', email: 'u@example.com', role: 'user', created_at: 1 }],
      [
        { id: 'openai/gpt-4o', name: 'GPT-4o', base_model_id: null, is_active: 1 },
        {
          id: 'anthropic/claude-3.5-sonnet:beta',
          name: 'C',
          base_model_id: null,
          is_active: false,
        },
        { id: 'my-helper', name: 'Helper', base_model_id: 'openai/gpt-4o', is_active: 1 },
        { id: 'orphan', name: 'O', base_model_id: 'gone/model', is_active: 1 },
        {
          id: 'on-off',
          name: 'X',
          base_model_id: 'anthropic/claude-3.5-sonnet:beta',
          is_active: 1,
        },
        { id: 'sleeping', name: 'Z', base_model_id: 'openai/gpt-4o', is_active: 0 },
        { id: 'star/*', name: 'S', base_model_id: null, is_active: 1 },
        { id: 'weird', name: 'W', base_model_id: null, is_active: 'maybe' },
      ],
    );
    expect(sut.models).toEqual([
      { id: 'openai/gpt-4o', name: 'GPT-4o', isActive: true, origin: 'row' },
      { id: 'anthropic/claude-3.5-sonnet:beta', name: 'C', isActive: false, origin: 'row' },
      { id: 'gone/model', name: 'gone/model', isActive: true, origin: 'preset-base' },
    ]);
    expect(sut.customModels.map((c) => c.id)).toEqual([
      'my-helper',
      'orphan',
      'on-off',
      'sleeping',
    ]);
    const reasons = Object.fromEntries(sut.skipped.map((s) => [s.id, s.reason]));
    expect(reasons['my-helper']).toMatch(/may use its base model "openai\/gpt-4o"/);
    expect(reasons['orphan']).toMatch(/may use its base model "gone\/model"/);
    expect(reasons['on-off']).toMatch(/is inactive in Open WebUI: grants nothing through it/);
    expect(reasons['sleeping']).toMatch(/inactive preset: grants nothing/);
    expect(reasons['star/*']).toMatch(/without \*/);
    expect(reasons['weird']).toMatch(/is_active "maybe" is not a boolean/);
    expect(sut.notes).toContainEqual({
      model_id: 'gone/model',
      note: expect.stringContaining('has no row of its own in Open WebUI'),
    });
  });

  it('grants nothing for models no connection serves, and says which', () => {
    const sut = planMigration(
      {
        users: [],
        models: [
          {
            id: 'a/served',
            user_id: 'o',
            base_model_id: null,
            name: 'A',
            is_active: 1,
            access_control: null,
          },
          {
            id: 'b/stale',
            user_id: 'o',
            base_model_id: null,
            name: 'B',
            is_active: 1,
            access_control: null,
          },
          {
            id: 'p',
            user_id: 'o',
            base_model_id: 'c/unserved',
            name: 'P',
            is_active: 1,
            access_control: null,
          },
        ],
        groups: [],
        grants: null,
        config: {
          openai: {
            enable: true,
            api_base_urls: ['x'],
            api_configs: { '0': { model_ids: ['a/served'] } },
          },
        },
      },
      OPTIONS,
    );
    expect(sut.models.map((m) => m.id)).toEqual(['a/served']);
    const reasons = Object.fromEntries(sut.skipped.map((x) => [x.id, x.reason]));
    expect(reasons['b/stale']).toMatch(/no Open WebUI connection serves any more/);
    expect(reasons['p']).toMatch(/"c\/unserved" is not served by any Open WebUI connection/);
    expect(sut.served.known).toBe(true);
  });
});

describe('planMigration access', () => {
  const users: SourceUser[] = ['ann', 'bob', 'cat', 'dan'].map((id, i) => ({
    id,
    name: id,
    email: `${id}@example.com`,
    role: i === 0 ? 'admin' : 'user',
    created_at: 1,
  }));
  const model = (id: string): SourceModel => ({
    id,
    user_id: 'ann',
    base_model_id: null,
    name: id,
    is_active: 1,
  });
  const snapshot = {
    users,
    models: ['m/public', 'm/sales', 'm/solo', 'm/private', 'm/all-groups'].map(model),
    groups: [
      { id: 'g-sales', name: 'Sales', members: ['bob', 'cat'] },
      { id: 'g-rest', name: 'Rest', members: ['ann', 'dan'] },
    ],
    grants: [
      { resource_id: 'm/public', principal_type: 'user', principal_id: '*' },
      { resource_id: 'm/sales', principal_type: 'group', principal_id: 'g-sales' },
      { resource_id: 'm/solo', principal_type: 'user', principal_id: 'dan' },
      { resource_id: 'm/all-groups', principal_type: 'group', principal_id: 'g-sales' },
      { resource_id: 'm/all-groups', principal_type: 'group', principal_id: 'g-rest' },
    ],
    config: null,
  };

  it('grants one organization only what every member could read', () => {
    const sut = planMigration(snapshot, OPTIONS);
    expect(sut.organizations).toHaveLength(1);
    expect(sut.organizations[0].grants.map((g) => g.modelId)).toEqual(['m/public', 'm/all-groups']);
    const lost = sut.notCarriedOver.map((n) => `${n.model_id}:${n.user_id}:${n.via}`).sort();
    expect(lost).toEqual([
      'm/private:ann:owner',
      'm/sales:ann:owner',
      'm/sales:bob:group "Sales"',
      'm/sales:cat:group "Sales"',
      'm/solo:ann:owner',
      'm/solo:dan:user grant',
    ]);
  });

  it('makes each group an organization with its members and models; single-user grants are reported', () => {
    const sut = planMigration(snapshot, { ...OPTIONS, groupsAsOrganizations: true });
    const byGroup = Object.fromEntries(sut.organizations.map((o) => [o.groupId ?? 'default', o]));
    expect(byGroup['g-sales'].members.map((m) => m.userId)).toEqual(['bob', 'cat']);
    expect(byGroup['g-sales'].grants.map((g) => g.modelId)).toEqual(['m/sales']);
    expect(byGroup['g-rest'].grants).toEqual([]); // m/all-groups already comes with the default one
    expect(byGroup['g-sales']).toMatchObject(groupOrganization('acme', 'g-sales'));
    expect(byGroup['g-sales'].id).toMatch(/^acme_grp_[0-9a-f]{8}$/);
    const lost = sut.notCarriedOver.map((n) => `${n.model_id}:${n.user_id}:${n.via}`).sort();
    expect(lost).toEqual([
      'm/private:ann:owner',
      'm/sales:ann:owner',
      'm/solo:ann:owner',
      'm/solo:dan:user grant',
    ]);
  });
});

describe(readersFromAccessControl.name, () => {
  it('reads NULL as public, {} as the owner only, and read lists', () => {
    expect(readersFromAccessControl(null, 'o')).toMatchObject({ public: true });
    expect(readersFromAccessControl('null', 'o')).toMatchObject({ public: true });
    const owner = readersFromAccessControl('{}', 'o')!;
    expect([owner.public, owner.groups.size, owner.users.size, owner.owner]).toEqual([
      false,
      0,
      0,
      'o',
    ]);
    const lists = readersFromAccessControl(
      { read: { group_ids: ['g'], user_ids: ['u'] }, write: { group_ids: ['w'], user_ids: [] } },
      'o',
    )!;
    expect([[...lists.groups], [...lists.users]]).toEqual([['g'], ['u']]);
    expect(readersFromAccessControl('{not json', 'o')).toBeNull();
  });
});

describe(servedModels.name, () => {
  it('knows the served models only when every enabled connection lists them', () => {
    expect(servedModels(null).ids).toBeNull();
    expect(
      servedModels({
        openai: { api_base_urls: ['a', 'b'], api_configs: { '0': { model_ids: ['x'] } } },
      }).ids,
    ).toBeNull();
    const known = servedModels({
      openai: {
        api_base_urls: ['a', 'b'],
        api_configs: { '0': { model_ids: ['x'], prefix_id: 'or' }, '1': { enable: false } },
      },
      ollama: { enable: false },
    });
    expect([...known.ids!]).toEqual(['or.x']);
  });
});

describe(isTooOld.name, () => {
  it('tells an Open WebUI before 0.5 from a database that is not Open WebUI at all', () => {
    const user = ['id', 'name', 'email', 'role', 'created_at'];
    expect(isTooOld({ user, model: ['id', 'name', 'base_model_id', 'user_id', 'is_active'] })).toBe(
      true,
    );
    expect(isTooOld({ user, model: null })).toBe(true);
    expect(isTooOld({ user, model: ['id', 'access_control'] })).toBe(false);
    expect(isTooOld({ user, model: ['id'], access_grant: ['id'] })).toBe(false);
    expect(isTooOld({ user: ['id', 'mail'], model: null })).toBe(false);
  });
});

describe(epochToIso.name, () => {
  it('reads seconds, milliseconds and numeric strings; refuses junk', () => {
    expect(epochToIso(1700000000)).toBe('2023-11-14T22:13:20.000Z');
    expect(epochToIso('1700000000')).toBe('2023-11-14T22:13:20.000Z');
    expect(epochToIso(1700000000123)).toBe('2023-11-14T22:13:20.123Z');
    expect(epochToIso(1700000000123456789n)).toBe('2023-11-14T22:13:20.123Z');
    expect(epochToIso(null)).toBeNull();
    expect(epochToIso('soon')).toBeNull();
    expect(epochToIso(-5)).toBeNull();
  });
});

describe(parseActive.name, () => {
  it('reads SQLite and PostgreSQL booleans; null is active', () => {
    expect([1, true, '1', 't', null].map(parseActive)).toEqual([true, true, true, true, true]);
    expect([0, false, '0', 'f'].map(parseActive)).toEqual([false, false, false, false]);
    expect(parseActive(2)).toBeNull();
  });
});

describe(layoutProblems.name, () => {
  it('names missing tables and missing columns', () => {
    expect(
      layoutProblems({
        user: ['id', 'name', 'mail', 'role', 'created_at'],
        model: null,
      }),
    ).toEqual([
      'table "user" lacks column email (found: id, name, mail, role, created_at)',
      'table "model" is missing',
    ]);
    expect(
      layoutProblems({
        user: ['id', 'name', 'email', 'role', 'created_at', 'extra'],
        model: ['id', 'user_id', 'base_model_id', 'name', 'is_active'],
      }),
    ).toEqual([]);
  });
});
