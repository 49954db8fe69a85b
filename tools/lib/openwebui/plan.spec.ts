import { epochToIso, parseActive, planMigration } from './plan';
import { layoutProblems } from './source';

const AT = '2026-11-28T00:00:00.000Z';

describe(planMigration.name, () => {
  it('makes non-pending users members, Open WebUI admins organization admins', () => {
    const sut = planMigration(
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
    expect(sut.members).toEqual([
      { userId: 'a', role: 'admin' },
      { userId: 'u', role: 'member' },
    ]);
    expect(sut.users[0].createdAt).toBe('2023-11-14T22:13:20.000Z');
    expect(sut.skipped).toEqual([]);
  });

  it('skips unusable user rows with the reason', () => {
    const ok = { name: 'N', email: 'n@example.com', role: 'user', created_at: 1 };
    const sut = planMigration(
      [
        { ...ok, id: '' },
        { ...ok, id: 'x'.repeat(256) },
        { ...ok, id: 'tab\there' },
        { ...ok, id: null },
        { ...ok, id: 'no-name', name: '' },
        { ...ok, id: 'ctrl-name', name: 'bad\u0007bell' },
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
      ['no-name', 'name is empty'],
      ['ctrl-name', 'name contains control characters'],
      ['bad-email', 'email does not look like name@domain'],
      ['bad-role', 'role "superuser" is not one of pending, user, admin'],
      ['dup', 'duplicate id (an earlier row with this id was used)'],
    ]);
  });

  it('keeps injection-looking and Unicode values verbatim', () => {
    const name = "Robert'); DROP TABLE users;-- 組織 Zażółć";
    const sut = planMigration(
      [{ id: "x' OR '1'='1", name, email: 'r@example.com', role: 'user', created_at: 5 }],
      [],
      AT,
    );
    expect(sut.users[0]).toMatchObject({ id: "x' OR '1'='1", name });
  });

  it('imports provider models with their is_active and reports custom ones', () => {
    const sut = planMigration(
      [],
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
        { id: 'star/*', name: 'S', base_model_id: null, is_active: 1 },
        { id: 'weird', name: 'W', base_model_id: null, is_active: 'maybe' },
      ],
      AT,
    );
    expect(sut.models).toEqual([
      { id: 'openai/gpt-4o', name: 'GPT-4o', isActive: true },
      { id: 'anthropic/claude-3.5-sonnet:beta', name: 'C', isActive: false },
    ]);
    expect(sut.customModels.map((c) => c.id)).toEqual(['my-helper', 'orphan']);
    const reasons = Object.fromEntries(sut.skipped.map((s) => [s.id, s.reason]));
    expect(reasons['my-helper']).toMatch(/custom model .*its base model is granted/);
    expect(reasons['orphan']).toMatch(/not a provider model of this source/);
    expect(reasons['star/*']).toMatch(/without \*/);
    expect(reasons['weird']).toMatch(/is_active "maybe" is not a boolean/);
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
        model: ['id', 'base_model_id', 'name', 'is_active'],
      }),
    ).toEqual([]);
  });
});
