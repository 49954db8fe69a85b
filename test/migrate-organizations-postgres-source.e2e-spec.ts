import { Logger } from '@nestjs/common';
import { loadConfig } from '../src/config/load-config';
import {
  MigrateOptions,
  MigrationFailure,
  migrateOrganizations,
} from '../tools/lib/openwebui/migrate';
import { EXIT_SOURCE_LAYOUT, EXIT_SOURCE_UNREADABLE } from '../tools/lib/openwebui/source';
import { World } from './support/factories';
import {
  createOpenWebUiPostgres,
  fingerprint,
  INJECTION_NAME,
  OwuiPostgres,
  SAMPLE_DEPLOYMENT,
} from './support/openwebui';
import { startTestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Open WebUI on PostgreSQL as the source (a temporary database on the local server); the
 * target is the suite's database (SQLite, or PostgreSQL when E2E_DATABASE_URL is set).
 */
describe('migrate-organizations from an Open WebUI PostgreSQL database', () => {
  let source: OwuiPostgres;
  let target: TestDatabase;

  const run = (overrides: Partial<MigrateOptions> = {}) =>
    migrateOrganizations({
      source: source.url,
      externalUser: 'mai_client_pg',
      name: 'PG Client',
      config: loadConfig({ DATABASE_URL: target.url, LOG_LEVEL: 'error' }),
      ...overrides,
    });
  const failure = async (promise: Promise<unknown>): Promise<MigrationFailure> => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationFailure);
    return error as MigrationFailure;
  };

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    source = await createOpenWebUiPostgres(SAMPLE_DEPLOYMENT);
    target = await createTestDatabase();
  });
  afterAll(async () => {
    await source.drop();
    await target.drop();
  });

  it('refuses a PostgreSQL source without the Open WebUI tables, writing nothing', async () => {
    const empty = await createOpenWebUiPostgres(
      { users: [], models: [] },
      'CREATE TABLE chat (id text)',
    );
    try {
      const e = await failure(run({ source: empty.url }));
      expect(e.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(e.message).toContain('table "user" is missing');
      expect(await fingerprint(target)).toEqual(
        target.kind === 'sqlite' ? null : expect.objectContaining({ counts: {} }),
      );
    } finally {
      await empty.drop();
    }
  });

  it('refuses a PostgreSQL source whose columns differ', async () => {
    const odd = await createOpenWebUiPostgres(
      { users: [], models: [] },
      'CREATE TABLE "user" (id text, name text, email text, created_at bigint);' +
        'CREATE TABLE "model" (id text, base_model_id text, name text, is_active boolean);',
    );
    try {
      const e = await failure(run({ source: odd.url }));
      expect(e.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(e.message).toMatch(
        /table "user" lacks column role \(found: id, name, email, created_at\)/,
      );
    } finally {
      await odd.drop();
    }
  });

  it('refuses an unreachable source without printing its password', async () => {
    const e = await failure(run({ source: 'postgres://owui:s3cret@127.0.0.1:1/openwebui' }));
    expect(e.exitCode).toBe(EXIT_SOURCE_UNREADABLE);
    expect(e.message).toContain(
      'cannot connect to source postgres://owui:***@127.0.0.1:1/openwebui',
    );
    expect(e.message).not.toContain('s3cret');
    expect(JSON.stringify(e.report)).not.toContain('s3cret');
  });

  it('migrates the same deployment as from SQLite, and a second run changes nothing', async () => {
    const sut = await run();
    expect(sut.source).toEqual({
      kind: 'postgres',
      location: source.url,
      read_mode: 'read in one read-only transaction (REPEATABLE READ READ ONLY)',
      access: 'access_grant',
    });
    expect(sut.counts.users).toMatchObject({ source: 8, created: 4, skipped: 4, pending: 1 });
    expect(sut.counts.memberships).toMatchObject({ expected: 3, created: 3 });
    expect(sut.counts.models).toMatchObject({ source: 6, provider: 3, custom: 2, created: 3 });
    expect(sut.counts.grants).toMatchObject({ expected: 3, created: 3 });

    const again = await run();
    expect(again.changed).toBe(false);
    expect(again.totals).toEqual({ created: 0, updated: 0, unchanged: 1 + 4 + 3 + 3 + 3 });
  });

  it('reads an Open WebUI that keeps its tables in a schema (DATABASE_SCHEMA) with --source-schema', async () => {
    const inSchema = await createOpenWebUiPostgres(SAMPLE_DEPLOYMENT, undefined, {
      schema: 'open webui',
    });
    try {
      const without = await failure(run({ source: inSchema.url, externalUser: 'mai_schema' }));
      expect(without.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(without.message).toContain('table "user" is missing');
      const missing = await failure(
        run({ source: inSchema.url, externalUser: 'mai_schema', sourceSchema: 'nope' }),
      );
      expect(missing.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(missing.message).toContain('has no schema "nope"');
      const sut = await run({
        source: inSchema.url,
        externalUser: 'mai_schema',
        sourceSchema: 'open webui',
        dryRun: true,
      });
      expect(sut.source.location).toContain('(schema "open webui")');
      expect(sut.counts.users).toMatchObject({ source: 8, skipped: 4 });
      expect(sut.counts.grants).toMatchObject({ expected: 3 });
    } finally {
      await inSchema.drop();
    }
  });

  it('reads the older layout (access_control JSON, group.user_ids JSON) from PostgreSQL', async () => {
    const older = await createOpenWebUiPostgres(
      {
        ...SAMPLE_DEPLOYMENT,
        groups: [{ id: 'g1', name: 'Team', members: ['owui-user-1'] }],
        models: [
          ...SAMPLE_DEPLOYMENT.models,
          { id: 'openai/o1', name: 'o1', access: { groups: ['g1'] } },
        ],
        config: undefined,
      },
      undefined,
      { version: '0.6' },
    );
    try {
      const sut = await run({
        source: older.url,
        externalUser: 'mai_older',
        groupsAsOrganizations: true,
        dryRun: true,
      });
      expect(sut.source.access).toBe('access_control');
      const team = sut.organizations.find((o) => o.name === 'Team')!;
      expect(team).toMatchObject({ members: 1, grants: 1 });
    } finally {
      await older.drop();
    }
  });

  it('gives the migrated users their models through the API', async () => {
    const t = await startTestApp({}, target);
    try {
      const w = new World(t);
      const granted = ['anthropic/claude-3.5-sonnet:beta', 'openai/gpt-4o'];
      expect((await w.modelsOf('owui-admin')).sort()).toEqual(granted);
      expect((await w.modelsOf('owui-user-1')).sort()).toEqual(granted);
      expect(await w.modelsOf('owui-pending')).toEqual([]);
      expect((await t.get('/api/v1/users/owui-user-1')).body.name).toBe(INJECTION_NAME);
      const members = await t.get('/api/v1/organizations/mai_client_pg/members?role=admin');
      expect(members.body.data.map((m: { user_id: string }) => m.user_id)).toEqual(['owui-admin']);
    } finally {
      await t.app.close();
    }
  });
});
