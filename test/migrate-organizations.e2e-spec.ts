import { Logger } from '@nestjs/common';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { MembershipEntity } from '../src/memberships/entities/membership.entity';
import { openrouterUser } from '../src/model-access/access-rule';
import {
  EXIT_CONFLICT,
  EXIT_FAILED,
  EXIT_INVALID_OPTIONS,
  EXIT_TARGET_UNAVAILABLE,
  EXIT_VERIFICATION,
  MIGRATION_ACTOR,
  MigrationFailure,
  MigrationReport,
  migrateOrganizations,
  PHASES,
} from '../tools/lib/openwebui/migrate';
import { EXIT_SOURCE_LAYOUT, EXIT_SOURCE_UNREADABLE } from '../tools/lib/openwebui/source';
import { formatSummary } from '../tools/migrate-organizations';
import { World } from './support/factories';
import {
  Fingerprint,
  fingerprint,
  INJECTION_NAME,
  SAMPLE_DEPLOYMENT,
  servingConfig,
  sqliteFingerprint,
  tempDir,
  writeOpenWebUiSqlite,
} from './support/openwebui';
import { enc, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, onPostgres, TestDatabase } from './support/test-database';
import Database from 'better-sqlite3';

const EXTERNAL_USER = 'mai_client_ACME';
const ORG = 'mai_client_acme';
const ORG_NAME = 'ACME Zażółć 組織 "quoted"';

describe('migrate-organizations (Open WebUI -> service database)', () => {
  let target: TestDatabase;
  let tmp: ReturnType<typeof tempDir>;
  let source: string;
  let t: TestApp | null = null;

  const config = () => loadConfig({ DATABASE_URL: target.url, LOG_LEVEL: 'error' });
  const run = (overrides: Partial<Parameters<typeof migrateOrganizations>[0]> = {}) =>
    migrateOrganizations({
      source,
      externalUser: EXTERNAL_USER,
      name: ORG_NAME,
      config: config(),
      backupDir: join(tmp.dir, 'backups'),
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
  const backups = () =>
    existsSync(join(tmp.dir, 'backups')) ? readdirSync(join(tmp.dir, 'backups')) : [];

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    target = await createTestDatabase();
    tmp = tempDir();
    source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), SAMPLE_DEPLOYMENT);
  });

  afterAll(async () => {
    await t?.app.close();
    await target.drop();
    tmp.remove();
  });

  async function boot(): Promise<TestApp> {
    t = await startTestApp({}, target);
    return t;
  }
  async function shutdown(): Promise<void> {
    await t?.app.close(); // keeps the database (TestApp.close would drop it)
    t = null;
  }

  describe('bad input: clear message, exit code, nothing written', () => {
    let before: Fingerprint | null;
    beforeAll(async () => {
      before = target.kind === 'sqlite' ? null : await fingerprint(target);
    });
    afterEach(async () => {
      expect(await fingerprint(target)).toEqual(before);
      expect(backups()).toEqual([]);
    });

    it('refuses a missing source file', async () => {
      const e = await failure(run({ source: join(tmp.dir, 'nope.db') }));
      expect(e.exitCode).toBe(EXIT_SOURCE_UNREADABLE);
      expect(e.message).toMatch(/nope\.db does not exist/);
      expect(e.report.status).toBe('failed');
      expect(e.report.error?.exit_code).toBe(EXIT_SOURCE_UNREADABLE);
    });

    it('refuses a file that is not SQLite', async () => {
      const e = await failure(run({ source: join(__dirname, 'support', 'openwebui.ts') }));
      expect(e.exitCode).toBe(EXIT_SOURCE_UNREADABLE);
      expect(e.message).toMatch(/cannot read source .* as SQLite/);
    });

    it('refuses a database without the Open WebUI tables', async () => {
      const file = join(tmp.dir, 'empty.db');
      new Database(file).exec('CREATE TABLE chat (id TEXT)').close();
      const e = await failure(run({ source: file }));
      expect(e.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(e.message).toContain('table "user" is missing');
      expect(e.message).toContain('table "model" is missing');
    });

    it('calls a 0-byte file "not a database" (exit 3)', async () => {
      const file = join(tmp.dir, 'zero.db');
      writeFileSync(file, '');
      const e = await failure(run({ source: file }));
      expect(e.exitCode).toBe(EXIT_SOURCE_UNREADABLE);
      expect(e.message).toContain('is not a database: the file is empty (0 bytes)');
    });

    it('tells an Open WebUI before 0.5 to upgrade first (exit 4)', async () => {
      const file = join(tmp.dir, 'owui-0.4.db');
      new Database(file)
        .exec(
          'CREATE TABLE "user" (id TEXT, name TEXT, email TEXT, role TEXT, profile_image_url TEXT, created_at INTEGER);' +
            'CREATE TABLE "model" (id TEXT, user_id TEXT, base_model_id TEXT, name TEXT, meta TEXT, params TEXT, created_at INTEGER);',
        )
        .close();
      const e = await failure(run({ source: file }));
      expect(e.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(e.message).toContain('too old: upgrade Open WebUI to 0.5 or later first');
      expect(e.message).not.toContain('does not look like an Open WebUI database');
    });

    it('refuses --source-schema for a SQLite source', async () => {
      const e = await failure(run({ sourceSchema: 'openwebui' }));
      expect(e.exitCode).toBe(EXIT_INVALID_OPTIONS);
      expect(e.message).toContain('--source-schema applies to a PostgreSQL source only');
    });

    it('refuses an unknown column layout, naming the missing columns', async () => {
      const file = join(tmp.dir, 'other.db');
      new Database(file)
        .exec(
          'CREATE TABLE "user" (id TEXT, name TEXT, mail TEXT, role TEXT, created_at INTEGER);' +
            'CREATE TABLE "model" (id TEXT, name TEXT, is_active BOOLEAN);',
        )
        .close();
      const e = await failure(run({ source: file }));
      expect(e.exitCode).toBe(EXIT_SOURCE_LAYOUT);
      expect(e.message).toContain('table "user" lacks column email');
      expect(e.message).toContain('table "model" lacks columns user_id, base_model_id');
    });

    it('a dry run on a database that was never migrated writes nothing', async () => {
      if (target.kind === 'sqlite') {
        // The file does not exist yet: the plan is computed on an empty in-memory copy.
        const sut = await run({ dryRun: true });
        expect(sut.status).toBe('dry_run');
        expect(sut.counts.users.created).toBe(4);
        expect(existsSync(target.file)).toBe(false);
      } else {
        const e = await failure(run({ dryRun: true }));
        expect(e.exitCode).toBe(EXIT_TARGET_UNAVAILABLE);
        expect(e.message).toContain('schema migrations that are not applied yet');
      }
    });

    it('refuses the service database itself as the source', async () => {
      const sameFile = target.kind === 'sqlite' ? target.file : source;
      const e = await failure(
        run({
          source: sameFile,
          config: loadConfig({ DATABASE_URL: `sqlite:${sameFile}`, LOG_LEVEL: 'error' }),
        }),
      );
      expect(e.exitCode).toBe(EXIT_INVALID_OPTIONS);
      expect(e.message).toContain('--source is the service database itself');
    });

    it.each([
      ['an empty --name', { name: '   ' }, /--name must not be empty/],
      ['a --name with control characters', { name: 'a\nb' }, /control characters/],
      ['an external_user with spaces', { externalUser: 'acme corp' }, /--external-user/],
      ['an external_user starting with _', { externalUser: '_acme' }, /--external-user/],
      ['an external_user over 64 characters', { externalUser: 'a'.repeat(65) }, /--external-user/],
    ])('refuses %s', async (_label, overrides, message) => {
      const e = await failure(run(overrides));
      expect(e.exitCode).toBe(EXIT_INVALID_OPTIONS);
      expect(e.message).toMatch(message);
    });
  });

  describe('on a service database that already holds data', () => {
    let before: Fingerprint | null;
    let report: MigrationReport;

    beforeAll(async () => {
      // The service has been running: a user Open WebUI also knows (renamed since), a catalog
      // model (with another name), and another organization that auto-grants new models.
      const w = new World(await boot());
      await w.user('owui-user-1', { name: 'Old Name', email: 'bobby@example.com' });
      await w.user('service-only');
      await w.model('openai/gpt-4o', { name: 'GPT-4o (old name)' });
      await w.org('auto', { external_user: 'mai_auto', auto_grant_new_models: true });
      await shutdown();
      before = await fingerprint(target);
    });

    it('dry run reports what would change and writes nothing, not even a backup', async () => {
      const sut = await run({ dryRun: true });
      expect(sut.status).toBe('dry_run');
      expect(sut.counts.users).toMatchObject({ created: 3, updated: 1, unchanged: 0 });
      expect(sut.counts.models).toMatchObject({ created: 2, updated: 1, unchanged: 0 });
      expect(sut.backup_path).toBeNull();
      expect(formatSummary(sut)).toMatch(/Would change: \d+ created, 2 updated, 0 unchanged/);
      expect(await fingerprint(target)).toEqual(before);
      expect(backups()).toEqual([]);
    });

    it('migrates users, memberships, provider models and grants in one go', async () => {
      report = await run();
      expect(report.status).toBe('migrated');
      expect(report.organization).toEqual({
        id: ORG,
        name: ORG_NAME,
        external_user: EXTERNAL_USER,
        outcome: 'created',
        is_active: true,
      });
      expect(report.counts.users).toEqual({
        source: 8,
        skipped: 4,
        pending: 1,
        deleted: 0,
        created: 3,
        updated: 1,
        unchanged: 0,
      });
      expect(report.counts.memberships).toEqual({
        expected: 3,
        differing: 0,
        removed: 0,
        created: 3,
        updated: 0,
        unchanged: 0,
      });
      expect(report.counts.models).toEqual({
        source: 6,
        provider: 3,
        custom: 2,
        skipped: 1,
        from_presets: 0,
        created: 2,
        updated: 1,
        unchanged: 0,
      });
      expect(report.counts.grants).toMatchObject({ expected: 3, created: 3 });
      expect(report.counts.auto_grants).toBe(2); // the two models new to the catalog
      expect(report.totals).toEqual({ created: 1 + 3 + 3 + 2 + 3, updated: 2, unchanged: 0 });
      const reasons = report.skipped.map((s) => `${s.table}:${s.id}:${s.reason}`);
      expect(reasons).toEqual(
        expect.arrayContaining([
          'user::user_id must be a non-empty string',
          'user:ctl\u0001id:user_id must not contain control characters',
          `user:long-${'x'.repeat(300)}:user_id must be at most 255 characters`,
          'user:bad-name:name must be at most 255 characters',
          'model:weird/*:model_id must be a model id without * (patterns are for grants only)',
        ]),
      );
      expect(reasons.filter((r) => r.includes('custom model'))).toHaveLength(2);
    });

    it('took a backup whose contents equal the database before the run', () => {
      if (target.kind === 'postgres') {
        // PostgreSQL: an undo file instead, written before the commit (the restore spec uses it).
        expect(report.backup_path).toMatch(/backups[/\\]undo-mai_client_acme-.*\.json$/);
        expect(existsSync(report.backup_path!)).toBe(true);
        return;
      }
      expect(report.backup_path).toMatch(/backups[/\\]app-\d{4}-\d\d-\d\dT[\d-]+Z\.db$/);
      expect(backups()).toHaveLength(1);
      expect(sqliteFingerprint(report.backup_path!)).toEqual(before);
      expect(formatSummary(report)).toContain(`Backup: ${report.backup_path}`);
    });

    it('gives access exactly as the rule says, through the API', async () => {
      const api = await boot();
      const w = new World(api);
      const all = ['anthropic/claude-3.5-sonnet:beta', 'openai/gpt-4o'];
      expect((await w.modelsOf('owui-admin')).sort()).toEqual(all);
      expect((await w.modelsOf('owui-user-1')).sort()).toEqual(all);
      expect((await w.modelsOf("x' OR '1'='1")).sort()).toEqual(all);
      expect(await w.modelsOf('owui-pending')).toEqual([]);
      expect(await w.modelsOf('service-only')).toEqual([]);
      const check = await w.check('owui-user-1', 'openai/gpt-4o');
      expect(check).toMatchObject({ allowed: true, organization_id: ORG });
      expect(check.openrouter_user).toBe(openrouterUser(EXTERNAL_USER, 'owui-user-1'));
      expect(await w.check('owui-user-1', 'meta-llama/llama-3.1-8b-instruct:free')).toMatchObject({
        allowed: false,
      });
      expect(await w.check('owui-admin', 'acme-helper')).toMatchObject({ allowed: false });

      const user = await api.get(`/api/v1/users/${enc('owui-user-1')}`);
      expect(user.body).toMatchObject({ name: INJECTION_NAME, role: 'user' });
      const admin = await api.get(`/api/v1/users/owui-admin`);
      expect(admin.body).toMatchObject({ name: 'Zażółć Gęślą 管理者', role: 'admin' });
      expect((await api.get(`/api/v1/users/owui-pending`)).body.role).toBe('pending');
      expect((await api.get(`/api/v1/users/bad-name`)).status).toBe(404);

      const members = await api.get(`/api/v1/organizations/${ORG}/members?limit=100`);
      expect(
        (members.body.data as { user_id: string; role: string; is_active: boolean }[])
          .map((m) => [m.user_id, m.role, m.is_active])
          .sort(),
      ).toEqual([
        ['owui-admin', 'admin', true],
        ['owui-user-1', 'member', true],
        ["x' OR '1'='1", 'member', true],
      ]);
      const grants = await api.get(`/api/v1/organizations/${ORG}/models?limit=100`);
      expect(
        (grants.body.data as { model_id: string; is_active: boolean }[])
          .map((g) => [g.model_id, g.is_active])
          .sort(),
      ).toEqual([
        ['anthropic/claude-3.5-sonnet:beta', true],
        ['meta-llama/llama-3.1-8b-instruct:free', false],
        ['openai/gpt-4o', true],
      ]);
      expect((await api.get(`/api/v1/models/acme-helper`)).status).toBe(404);
      const org = await api.get(`/api/v1/organizations/${ORG}`);
      expect(org.body).toMatchObject({ name: ORG_NAME, external_user: EXTERNAL_USER });

      const audit = await api.get(`/api/v1/audit?actor=${enc(MIGRATION_ACTOR)}&limit=500`);
      expect(audit.body.total).toBe(report.counts.audit_events);
      const actions = (audit.body.data as { action: string }[]).map((a) => a.action);
      expect(actions.filter((a) => a === 'user.create')).toHaveLength(3);
      expect(actions.filter((a) => a === 'user.update')).toHaveLength(1);
      expect(actions.filter((a) => a === 'membership.create')).toHaveLength(3);
      expect(actions).toContain('organization.create');
      expect(actions).toContain('organization.migrate');
      await shutdown();
    });

    it('changes nothing on a second run, and says so', async () => {
      const between = await fingerprint(target);
      const sut = await run();
      expect(sut.changed).toBe(false);
      expect(sut.totals).toEqual({ created: 0, updated: 0, unchanged: 1 + 4 + 3 + 3 + 3 });
      expect(sut.counts.audit_events).toBe(0);
      expect(formatSummary(sut)).toContain('Nothing changed: 0 created, 0 updated, 14 unchanged.');
      expect(await fingerprint(target)).toEqual(between);
    });

    describe('a run that fails leaves the database exactly as it was', () => {
      let changedSource: string;
      let start: Fingerprint | null;

      beforeAll(async () => {
        // New users, a renamed organization and a new model: the run would change things.
        changedSource = writeOpenWebUiSqlite(join(tmp.dir, 'webui-2.db'), {
          users: [
            ...SAMPLE_DEPLOYMENT.users,
            { id: 'late-1', name: 'Late', email: 'late@example.com', role: 'user' },
          ],
          models: [...SAMPLE_DEPLOYMENT.models, { id: 'mistral/new', name: 'New' }],
          config: servingConfig([
            'openai/gpt-4o',
            'anthropic/claude-3.5-sonnet:beta',
            'meta-llama/llama-3.1-8b-instruct:free',
            'mistral/new',
          ]),
        });
        start = await fingerprint(target);
      });

      it.each(PHASES)('rolls back a failure injected after the %s phase', async (phase) => {
        const e = await failure(
          run({ source: changedSource, name: 'Renamed', testHooks: { failAfter: phase } }),
        );
        expect(e.exitCode).toBe(EXIT_FAILED);
        expect(e.message).toContain(`injected failure after ${phase}`);
        expect(e.report.changed).toBe(false);
        expect(await fingerprint(target)).toEqual(start);
      });

      it('rolls back when the counts read back do not match', async () => {
        const e = await failure(
          run({
            source: changedSource,
            testHooks: {
              beforeVerify: async (tx) => {
                await tx.getRepository(MembershipEntity).delete({ userId: 'late-1' });
              },
            },
          }),
        );
        expect(e.exitCode).toBe(EXIT_VERIFICATION);
        expect(e.message).toMatch(/memberships: 3 of 4 expected members present/);
        expect(await fingerprint(target)).toEqual(start);
      });

      it('refuses an external_user owned by another organization', async () => {
        const e = await failure(run({ externalUser: 'mai_auto' }));
        expect(e.exitCode).toBe(EXIT_CONFLICT);
        expect(e.message).toContain('already belongs to organization "auto"');
        expect(await fingerprint(target)).toEqual(start);
      });

      (onPostgres() ? it.skip : it)(
        'takes the backup again when another process commits right after it',
        async () => {
          let afterWrite: Fingerprint | null = null;
          const backupsBefore = backups().length;
          const sut = await run({
            name: 'Renamed while backing up',
            testHooks: {
              afterBackup: (attempt) => {
                if (attempt === 1) {
                  const other = new Database(target.file);
                  other
                    .prepare(
                      `UPDATE users SET name = 'Renamed elsewhere' WHERE id = 'service-only'`,
                    )
                    .run();
                  other.close();
                  afterWrite = sqliteFingerprint(target.file);
                }
              },
            },
          });
          expect(afterWrite).not.toEqual(start);
          expect(backups()).toHaveLength(backupsBefore + 1); // the stale one was removed
          expect(sqliteFingerprint(sut.backup_path!)).toEqual(afterWrite);
        },
      );

      it('then applies the same change when nothing fails', async () => {
        const sut = await run({ source: changedSource, name: 'Renamed' });
        expect(sut.organization.outcome).toBe('updated');
        expect(sut.counts.users.created).toBe(1);
        expect(sut.counts.memberships.created).toBe(1);
        expect(sut.counts.models.created).toBe(1);
        expect(sut.counts.grants.created).toBe(1);
      });
    });

    // In one process only PostgreSQL can run two at once (better-sqlite3 waits for a lock
    // synchronously); two SQLite processes at once are covered by the command-line spec.
    (onPostgres() ? it : it.skip)(
      'runs twice at once without interleaving: one migrates, the other finds nothing to do',
      async () => {
        const both = await Promise.all([
          run({ externalUser: 'mai_twice', name: 'Twice' }),
          run({ externalUser: 'mai_twice', name: 'Twice' }),
        ]);
        expect(both.map((r) => r.changed).sort()).toEqual([false, true]);
        const second = both.find((r) => !r.changed)!;
        expect(second.totals).toEqual({ created: 0, updated: 0, unchanged: 1 + 4 + 3 + 3 + 3 });
      },
    );
    it('never undoes a suspension made through the API, and warns about it', async () => {
      const w = new World(await boot());
      await w.member(ORG, 'owui-user-1', { role: 'member', is_active: false });
      await shutdown();
      const before = await fingerprint(target);
      const sut = await run({ name: 'Renamed' });
      expect(sut.changed).toBe(false);
      expect(sut.counts.memberships).toMatchObject({ created: 0, unchanged: 3, differing: 1 });
      expect(sut.warnings).toEqual([
        expect.stringContaining('1 Open WebUI admin(s) saw every model there'),
        expect.stringContaining('1 existing membership(s) differ from Open WebUI'),
      ]);
      expect(await fingerprint(target)).toEqual(before);
    });
  });

  describe('reads the source without writing beside it', () => {
    const listing = (dir: string) => readdirSync(dir).sort();

    it("reads a WAL-mode source (Open WebUI's default) from a private copy", async () => {
      const dir = join(tmp.dir, 'wal-volume');
      mkdirSync(dir);
      const file = writeOpenWebUiSqlite(join(dir, 'webui.db'), SAMPLE_DEPLOYMENT);
      const before = listing(dir);
      const sut = await run({ source: file, dryRun: true });
      expect(sut.source.read_mode).toMatch(/^read from a private copy \(WAL mode/);
      expect(sut.counts.users.source).toBe(8);
      expect(listing(dir)).toEqual(before);
      expect(before).toEqual(['webui.db']);
    });

    it('sees what a running Open WebUI has only in its write-ahead log', async () => {
      const dir = join(tmp.dir, 'live-volume');
      mkdirSync(dir);
      const file = writeOpenWebUiSqlite(join(dir, 'webui.db'), SAMPLE_DEPLOYMENT);
      const live = new Database(file);
      try {
        live.pragma('wal_autocheckpoint = 0');
        live
          .prepare(
            `INSERT INTO "user" (id, name, email, role, created_at) VALUES ('late', 'Late', 'late@example.com', 'user', 1)`,
          )
          .run();
        const before = listing(dir);
        expect(before).toEqual(['webui.db', 'webui.db-shm', 'webui.db-wal']);
        const sut = await run({ source: file, dryRun: true });
        expect(sut.counts.users.source).toBe(9);
        expect(listing(dir)).toEqual(before);
      } finally {
        live.close();
      }
    });

    it('reads a rollback-journal source in place, read-only', async () => {
      const dir = join(tmp.dir, 'journal-volume');
      mkdirSync(dir);
      const file = writeOpenWebUiSqlite(join(dir, 'webui.db'), SAMPLE_DEPLOYMENT);
      const journal = new Database(file);
      journal.pragma('journal_mode = DELETE');
      journal.close();
      const before = listing(dir);
      const sut = await run({ source: file, dryRun: true });
      expect(sut.source.read_mode).toMatch(/^opened read-only in place/);
      expect(listing(dir)).toEqual(before);
    });
  });
});
