import { Logger } from '@nestjs/common';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import {
  MigrationFailure,
  MigrationReport,
  migrateOrganizations,
} from '../tools/lib/openwebui/migrate';
import { EXIT_INVALID_OPTIONS } from '../tools/lib/openwebui/report';
import { restoreBackup } from '../tools/lib/openwebui/restore';
import { groupOrganization } from '../tools/lib/openwebui/plan';
import { World } from './support/factories';
import {
  Fingerprint,
  fingerprint,
  OwuiContent,
  servingConfig,
  tempDir,
  writeOpenWebUiSqlite,
} from './support/openwebui';
import { startTestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

const EXTERNAL_USER = 'mai_client_recon';
const ORG = EXTERNAL_USER;
const GROUP_ORG = groupOrganization(EXTERNAL_USER, 'g-team').id;

/** The deployment at the first run. */
const FIRST: OwuiContent = {
  users: [
    { id: 'ann', name: 'Ann', email: 'ann@example.com', role: 'admin' },
    { id: 'bob', name: 'Bob', email: 'bob@example.com', role: 'user' },
    { id: 'cat', name: 'Cat', email: 'cat@example.com', role: 'user' },
    { id: 'dan', name: 'Dan', email: 'dan@example.com', role: 'user' },
    { id: 'eve', name: 'Eve', email: 'eve@example.com', role: 'user' },
  ],
  groups: [{ id: 'g-team', name: 'Team', members: ['bob', 'cat'] }],
  models: [
    { id: 'p/one', name: 'One' },
    { id: 'p/gone', name: 'Gone later' },
    { id: 'g/team-only', name: 'Team only', access: { groups: ['g-team'] } },
  ],
  config: servingConfig(['p/one', 'p/gone', 'g/team-only']),
};

/** The same deployment later: Dan deleted, Eve back to pending, Ann demoted, Cat out of the team, p/gone's row deleted. */
const LATER: OwuiContent = {
  ...FIRST,
  users: [
    { id: 'ann', name: 'Ann', email: 'ann@example.com', role: 'user' },
    { id: 'bob', name: 'Bob', email: 'bob@example.com', role: 'user' },
    { id: 'cat', name: 'Cat', email: 'cat@example.com', role: 'user' },
    { id: 'eve', name: 'Eve', email: 'eve@example.com', role: 'pending' },
  ],
  groups: [{ id: 'g-team', name: 'Team', members: ['bob'] }],
  models: FIRST.models.filter((m) => m.id !== 'p/gone'),
};

describe('migrate-organizations re-runs reconcile, and --restore undoes a run', () => {
  let target: TestDatabase;
  let tmp: ReturnType<typeof tempDir>;
  let later: string;
  let beforePrune: Fingerprint | null;
  let beforePruneNoAudit: Fingerprint | null;
  let pruned: MigrationReport;

  const run = (source: string, prune = false) =>
    migrateOrganizations({
      source,
      externalUser: EXTERNAL_USER,
      name: 'Reconcile',
      groupsAsOrganizations: true,
      prune,
      config: loadConfig({ DATABASE_URL: target.url, LOG_LEVEL: 'error' }),
      backupDir: join(tmp.dir, 'backups'),
    });

  async function members(orgId: string): Promise<string[]> {
    const t = await startTestApp({}, target);
    try {
      const res = await t.get(`/api/v1/organizations/${orgId}/members?limit=100`);
      return (res.body.data as { user_id: string; role: string }[])
        .map((m) => `${m.user_id}:${m.role}`)
        .sort();
    } finally {
      await t.app.close();
    }
  }

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    target = await createTestDatabase();
    tmp = tempDir();
    const first = writeOpenWebUiSqlite(join(tmp.dir, 'first.db'), FIRST);
    later = writeOpenWebUiSqlite(join(tmp.dir, 'later.db'), LATER);
    await run(first);
  });
  afterAll(async () => {
    await target.drop();
    tmp.remove();
  });

  it('lists what Open WebUI no longer has, applies the demotion, and removes nothing without --prune', async () => {
    const sut = await run(later);
    expect(sut.reconcile.pruned).toBe(false);
    expect(sut.reconcile.users_deleted_in_openwebui).toEqual([{ user_id: 'dan', removed: false }]);
    expect(sut.reconcile.memberships).toEqual(
      expect.arrayContaining([
        {
          organization_id: ORG,
          user_id: 'dan',
          reason: 'user deleted in Open WebUI',
          removed: false,
        },
        {
          organization_id: ORG,
          user_id: 'eve',
          reason: 'user sent back to pending in Open WebUI',
          removed: false,
        },
        {
          organization_id: GROUP_ORG,
          user_id: 'cat',
          reason: 'user no longer in the Open WebUI group',
          removed: false,
        },
      ]),
    );
    expect(sut.reconcile.memberships).toHaveLength(3);
    expect(sut.reconcile.grants).toEqual([
      {
        organization_id: ORG,
        model_id: 'p/gone',
        reason: 'its Open WebUI row is gone, or no longer served or usable',
        removed: false,
      },
    ]);
    expect(sut.reconcile.role_changes).toEqual([
      { organization_id: ORG, user_id: 'ann', from: 'admin', to: 'member' },
    ]);
    expect(await members(ORG)).toEqual([
      'ann:member',
      'bob:member',
      'cat:member',
      'dan:member',
      'eve:member',
    ]);
    expect(await members(GROUP_ORG)).toEqual(['bob:member', 'cat:member']);
  });

  it('with --prune removes them, audited, and keeps a backup of the state before', async () => {
    beforePrune = await fingerprint(target);
    beforePruneNoAudit = await fingerprint(target, ['audit_events']);
    pruned = await run(later, true);
    expect(pruned.changed).toBe(true);
    expect(pruned.reconcile.users_deleted_in_openwebui).toEqual([
      { user_id: 'dan', removed: true },
    ]);
    expect(pruned.counts.users.deleted).toBe(1);
    expect(pruned.counts.memberships.removed).toBe(2); // eve, cat (dan's went with dan)
    expect(pruned.counts.grants.removed).toBe(1);
    expect(pruned.backup_path).not.toBeNull();
    expect(existsSync(pruned.backup_path!)).toBe(true);
    expect(await members(ORG)).toEqual(['ann:member', 'bob:member', 'cat:member']);
    expect(await members(GROUP_ORG)).toEqual(['bob:member']);
    const t = await startTestApp({}, target);
    try {
      expect((await t.get('/api/v1/users/dan')).status).toBe(404);
      expect((await t.get('/api/v1/users/eve')).body.role).toBe('pending');
      const w = new World(t);
      expect(await w.modelsOf('bob')).toEqual(expect.arrayContaining(['p/one', 'g/team-only']));
      expect(await w.modelsOf('cat')).toEqual(['p/one']);
      const audit = await t.get('/api/v1/audit?action=user.delete&limit=10');
      expect(audit.body.data.map((a: { target_id: string }) => a.target_id)).toEqual(['dan']);
    } finally {
      await t.app.close();
    }
  });

  it('a run that changes nothing leaves no backup and lists nothing', async () => {
    const sut = await run(later, true);
    expect(sut.changed).toBe(false);
    expect(sut.backup_path).toBeNull();
    expect(sut.reconcile.memberships).toEqual([]);
    expect(sut.reconcile.grants).toEqual([]);
    expect(sut.reconcile.users_deleted_in_openwebui).toEqual([]);
  });

  it('--restore puts the database back as it was before the pruning run', async () => {
    const sut = await restoreBackup(pruned.backup_path!, loadConfig({ DATABASE_URL: target.url }));
    if (target.kind === 'sqlite') {
      expect(sut.kind).toBe('sqlite-backup');
      expect(sut.safety_backup).toMatch(/-before-restore\.db$/);
      expect(await fingerprint(target)).toEqual(beforePrune);
    } else {
      // The undo file puts the rows back; the audit log keeps the run and records the undo.
      expect(sut.kind).toBe('undo-file');
      expect(sut.rows).toEqual({ deleted: 0, restored: expect.any(Number) });
      expect(await fingerprint(target, ['audit_events'])).toEqual(beforePruneNoAudit);
    }
    expect(await members(ORG)).toEqual([
      'ann:member',
      'bob:member',
      'cat:member',
      'dan:member',
      'eve:member',
    ]);
    expect(await members(GROUP_ORG)).toEqual(['bob:member', 'cat:member']);
  });

  it('refuses to restore a file that is no backup of this tool, changing nothing', async () => {
    const before = await fingerprint(target);
    const error = await restoreBackup(later, loadConfig({ DATABASE_URL: target.url })).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ exitCode: EXIT_INVALID_OPTIONS });
    expect((error as Error).message).toMatch(
      target.kind === 'sqlite'
        ? /cannot restore .*later\.db: it holds no users and organizations tables of this service/
        : /is a SQLite backup, but the target \(DATABASE_URL\) is not a SQLite file/,
    );
    expect(await fingerprint(target)).toEqual(before);
    expect(error).not.toBeInstanceOf(MigrationFailure);
  });
});
