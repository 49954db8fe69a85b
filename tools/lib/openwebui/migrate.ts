import { ServiceUnavailableException } from '@nestjs/common';
import Database from 'better-sqlite3';
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { DataSource, EntityManager, In } from 'typeorm';
import { AuditEventEntity } from '../../../src/audit/entities/audit-event.entity';
import { ModelEntity } from '../../../src/catalog/entities/model.entity';
import { toModelResponse } from '../../../src/catalog/catalog.service';
import { hasControlCharacters } from '../../../src/common/validators';
import { AppConfig } from '../../../src/config/app-config';
import { EXTERNAL_USER_PATTERN } from '../../../src/config/load-config';
import { createDataSource } from '../../../src/database/data-source';
import { DatabaseService, isBusyError } from '../../../src/database/database.service';
import { runMigrations, withSchemaLock } from '../../../src/database/migrate';
import { MembershipEntity } from '../../../src/memberships/entities/membership.entity';
import { GrantEntity } from '../../../src/model-access/entities/grant.entity';
import { OrganizationEntity } from '../../../src/organizations/entities/organization.entity';
import { toOrganizationResponse } from '../../../src/organizations/organizations.service';
import { UserEntity } from '../../../src/users/entities/user.entity';
import { toUserResponse } from '../../../src/users/users.service';
import { bulkInsert, chunk, rowsPerStatement, selectIn } from '../batch';
import { redactUrl, ToolError } from '../cli';
import { Progress } from '../progress';
import { MigrationPlan, planMigration, SkippedRow } from './plan';
import { isPostgresSource, readOpenWebUi, sqliteSourcePath } from './source';

/** The audit actor of every event this tool writes. */
export const MIGRATION_ACTOR = 'tool:migrate-organizations';

/** Exit codes beyond the source ones (3, 4) and usage (2); documented in --help. */
export const EXIT_FAILED = 1;
export const EXIT_INVALID_OPTIONS = 2;
export const EXIT_CONFLICT = 5;
export const EXIT_VERIFICATION = 6;
export const EXIT_TARGET_UNAVAILABLE = 7;

export const PHASES = [
  'organization',
  'users',
  'memberships',
  'models',
  'grants',
  'audit',
] as const;
export type Phase = (typeof PHASES)[number];

export interface MigrateOptions {
  /** Open WebUI database: a SQLite file (optionally `sqlite:`-prefixed) or a postgres:// URL. */
  source: string;
  externalUser: string;
  name: string;
  /** The target: the service's own database (loadConfig(process.env) in the CLI). */
  config: AppConfig;
  dryRun?: boolean;
  /** Where SQLite backups go; default `<database dir>/backups`. */
  backupDir?: string;
  progress?: Progress;
  /** Test-only hooks (not exposed by the CLI): fail after a phase, or tamper before verifying. */
  testHooks?: {
    failAfter?: Phase;
    beforeVerify?: (tx: EntityManager) => Promise<void>;
    /** Runs after each SQLite backup (attempt counts from 1), before the transaction. */
    afterBackup?: (attempt: number) => void;
  };
}

export interface Outcome {
  created: number;
  updated: number;
  unchanged: number;
}

export interface MigrationReport {
  tool: 'migrate-organizations';
  status: 'migrated' | 'dry_run' | 'failed';
  dry_run: boolean;
  started_at: string;
  finished_at: string;
  duration_ms: number;
  source: { kind: 'sqlite' | 'postgres' | null; location: string };
  target: { kind: 'sqlite' | 'postgres'; location: string };
  backup_path: string | null;
  organization: {
    id: string;
    name: string;
    external_user: string;
    outcome: 'created' | 'updated' | 'unchanged' | null;
    is_active: boolean | null;
  };
  counts: {
    users: Outcome & { source: number; skipped: number; pending: number };
    memberships: Outcome & { expected: number; differing: number };
    models: Outcome & { source: number; provider: number; custom: number; skipped: number };
    grants: Outcome & { expected: number; differing: number };
    auto_grants: number;
    audit_events: number;
  };
  /** Sum over the organization, users, memberships, models and grants. */
  totals: Outcome;
  changed: boolean;
  skipped: SkippedRow[];
  warnings: string[];
  error?: { message: string; exit_code: number };
}

/** Carries the (partial) report of a run that failed, so the CLI can still write it. */
export class MigrationFailure extends ToolError {
  constructor(
    message: string,
    exitCode: number,
    readonly report: MigrationReport,
  ) {
    super(message, exitCode);
    this.name = 'MigrationFailure';
  }
}

/** Thrown at the end of a dry run's transaction to roll it back, carrying what it did. */
class DryRunRollback extends Error {
  constructor(readonly outcome: ApplyResult) {
    super('dry run: rolled back');
  }
}
class StaleBackup extends Error {}

function emptyOutcome(): Outcome {
  return { created: 0, updated: 0, unchanged: 0 };
}

/** Checks the flags that do not need a database: organization name and external_user. */
export function optionProblems(options: Pick<MigrateOptions, 'externalUser' | 'name'>): string[] {
  const problems: string[] = [];
  if (options.name.trim() === '') {
    problems.push('--name must not be empty');
  } else if (options.name.length > 255) {
    problems.push('--name must be at most 255 characters');
  } else if (hasControlCharacters(options.name)) {
    problems.push('--name must not contain control characters');
  }
  if (!EXTERNAL_USER_PATTERN.test(options.externalUser)) {
    problems.push(
      `--external-user "${options.externalUser}" must be 1-64 letters, digits, _ or -, starting with a letter or digit`,
    );
  }
  return problems;
}

function sameSqliteFile(options: MigrateOptions): boolean {
  if (options.config.databaseKind !== 'sqlite' || isPostgresSource(options.source)) {
    return false;
  }
  const real = (path: string) => (existsSync(path) ? realpathSync(path) : resolve(path));
  return real(sqliteSourcePath(options.source)) === real(options.config.sqlitePath);
}

function newReport(options: MigrateOptions, startedAt: Date): MigrationReport {
  return {
    tool: 'migrate-organizations',
    status: 'failed',
    dry_run: options.dryRun === true,
    started_at: startedAt.toISOString(),
    finished_at: startedAt.toISOString(),
    duration_ms: 0,
    source: { kind: null, location: redactUrl(options.source) },
    target: {
      kind: options.config.databaseKind,
      location:
        options.config.databaseKind === 'sqlite'
          ? options.config.sqlitePath
          : redactUrl(options.config.databaseUrl),
    },
    backup_path: null,
    organization: {
      id: options.externalUser.toLowerCase(),
      name: options.name.trim(),
      external_user: options.externalUser,
      outcome: null,
      is_active: null,
    },
    counts: {
      users: { source: 0, skipped: 0, pending: 0, ...emptyOutcome() },
      memberships: { expected: 0, differing: 0, ...emptyOutcome() },
      models: { source: 0, provider: 0, custom: 0, skipped: 0, ...emptyOutcome() },
      grants: { expected: 0, differing: 0, ...emptyOutcome() },
      auto_grants: 0,
      audit_events: 0,
    },
    totals: emptyOutcome(),
    changed: false,
    skipped: [],
    warnings: [],
  };
}

function backupFileName(sqlitePath: string, at: Date): string {
  const stem = basename(sqlitePath, extname(sqlitePath)) || 'app';
  return `${stem}-${at.toISOString().replace(/[:.]/g, '-')}.db`;
}

interface Target {
  dataSource: DataSource;
  db: DatabaseService;
  kind: 'sqlite' | 'postgres';
  /** SQLite file that existed before this run (and so gets a backup), else null. */
  existingSqliteFile: string | null;
  cleanup: () => Promise<void>;
}

/**
 * Opens the target. A dry run on SQLite works on a temporary copy (or an empty in-memory
 * database when the file does not exist yet), so it cannot write to the real file at all.
 */
async function openTarget(options: MigrateOptions): Promise<Target> {
  const config = options.config;
  let effective = config;
  let tempDir: string | null = null;
  const sqliteExists =
    config.databaseKind === 'sqlite' &&
    config.sqlitePath !== ':memory:' &&
    existsSync(config.sqlitePath);
  if (config.databaseKind === 'sqlite' && options.dryRun) {
    let copyPath = ':memory:';
    if (sqliteExists) {
      tempDir = mkdtempSync(join(tmpdir(), 'migrate-organizations-dry-run-'));
      copyPath = join(tempDir, 'copy.db');
      const source = new Database(config.sqlitePath, { readonly: true, fileMustExist: true });
      try {
        await source.backup(copyPath);
      } finally {
        source.close();
      }
    }
    effective = Object.assign(new AppConfig(), config, {
      sqlitePath: copyPath,
      databaseUrl: `sqlite:${copyPath}`,
    });
  }
  const dataSource = createDataSource(effective);
  try {
    await dataSource.initialize();
  } catch (error) {
    if (tempDir) {
      rmSync(tempDir, { recursive: true, force: true });
    }
    throw new ToolError(
      `cannot open the target database ${redactUrl(config.databaseUrl)}: ${(error as Error).message}`,
      EXIT_TARGET_UNAVAILABLE,
    );
  }
  return {
    dataSource,
    db: new DatabaseService(dataSource, effective),
    kind: config.databaseKind,
    existingSqliteFile: sqliteExists && !options.dryRun ? config.sqlitePath : null,
    cleanup: async () => {
      if (dataSource.isInitialized) {
        await dataSource.destroy();
      }
      if (tempDir) {
        rmSync(tempDir, { recursive: true, force: true });
      }
    },
  };
}

/** Whether migrations are pending, found by reading only (showMigrations would create its table). */
async function hasPendingMigrations(dataSource: DataSource): Promise<boolean> {
  const table = dataSource.options.migrationsTableName ?? 'migrations';
  const runner = dataSource.createQueryRunner();
  try {
    if (!(await runner.hasTable(table))) {
      return dataSource.migrations.length > 0;
    }
    const rows: { name: string }[] = await runner.query(`SELECT name FROM "${table}"`);
    const applied = new Set(rows.map((r) => r.name));
    return dataSource.migrations.some((m) => !applied.has(m.name ?? m.constructor.name));
  } finally {
    await runner.release();
  }
}

function rawSqlite(dataSource: DataSource): Database.Database {
  return (dataSource.driver as unknown as { databaseConnection: Database.Database })
    .databaseConnection;
}

async function dataVersion(manager: EntityManager | DataSource): Promise<number> {
  const rows: { data_version: number }[] = await manager.query('PRAGMA data_version');
  return Number(rows[0].data_version);
}

/**
 * Migrates an Open WebUI deployment's users and provider models into one organization of
 * the service's database. See the tool's --help and README for the rules. Resolves with the
 * report (also for a dry run); rejects with a MigrationFailure carrying a report otherwise.
 */
export async function migrateOrganizations(options: MigrateOptions): Promise<MigrationReport> {
  const startedAt = new Date();
  const report = newReport(options, startedAt);
  const finish = (status: MigrationReport['status']) => {
    const end = new Date();
    report.status = status;
    report.finished_at = end.toISOString();
    report.duration_ms = end.getTime() - startedAt.getTime();
    return report;
  };
  try {
    const problems = optionProblems(options);
    if (sameSqliteFile(options)) {
      problems.push(
        '--source is the service database itself (DATABASE_URL); name the Open WebUI one',
      );
    }
    if (problems.length > 0) {
      throw new ToolError(problems.join('; '), EXIT_INVALID_OPTIONS);
    }
    options.progress?.start('reading source');
    const snapshot = await readOpenWebUi(options.source);
    report.source = { kind: snapshot.kind, location: snapshot.location };
    options.progress?.advance(snapshot.users.length + snapshot.models.length);
    options.progress?.done();
    const plan = planMigration(snapshot.users, snapshot.models, startedAt.toISOString());
    fillPlanCounts(report, plan);
    const target = await openTarget(options);
    try {
      await runTarget(options, target, plan, report);
    } finally {
      await target.cleanup();
    }
    return finish(options.dryRun ? 'dry_run' : 'migrated');
  } catch (error) {
    options.progress?.done();
    const busy = isBusyError(error) || error instanceof ServiceUnavailableException;
    const failure =
      error instanceof ToolError
        ? error
        : new ToolError(
            `migration failed; the target database was left as it was: ${
              busy ? 'the database is busy (another process holds the write lock)' : String(error)
            }`,
            busy ? EXIT_TARGET_UNAVAILABLE : EXIT_FAILED,
          );
    report.error = { message: failure.message, exit_code: failure.exitCode };
    report.totals = emptyOutcome();
    report.changed = false;
    throw new MigrationFailure(failure.message, failure.exitCode, finish('failed'));
  }
}

function fillPlanCounts(report: MigrationReport, plan: MigrationPlan): void {
  const skippedUsers = plan.skipped.filter((s) => s.table === 'user').length;
  report.counts.users.source = plan.sourceUsers;
  report.counts.users.skipped = skippedUsers;
  report.counts.users.pending = plan.users.filter((u) => u.role === 'pending').length;
  report.counts.memberships.expected = plan.members.length;
  report.counts.models.source = plan.sourceModels;
  report.counts.models.provider = plan.models.length;
  report.counts.models.custom = plan.customModels.length;
  report.counts.models.skipped = plan.skipped.filter(
    (s) => s.table === 'model' && !plan.customModels.some((c) => c.id === s.id),
  ).length;
  report.counts.grants.expected = plan.models.length;
  report.skipped = plan.skipped;
}

async function runTarget(
  options: MigrateOptions,
  target: Target,
  plan: MigrationPlan,
  report: MigrationReport,
): Promise<void> {
  const { dataSource, db } = target;
  if (options.dryRun && target.kind === 'postgres' && (await hasPendingMigrations(dataSource))) {
    throw new ToolError(
      'the target database has schema migrations that are not applied yet; a dry run does not apply them. Start the service once (or run without --dry-run).',
      EXIT_TARGET_UNAVAILABLE,
    );
  }
  for (let attempt = 1; ; attempt++) {
    let expectedVersion: number | null = null;
    if (target.existingSqliteFile) {
      expectedVersion = await dataVersion(dataSource);
      const dir = options.backupDir ?? join(dirname(target.existingSqliteFile), 'backups');
      mkdirSync(dir, { recursive: true });
      const path = join(dir, backupFileName(target.existingSqliteFile, new Date()));
      options.progress?.start('backing up target');
      await rawSqlite(dataSource).backup(path);
      options.progress?.done();
      if (report.backup_path && report.backup_path !== path) {
        rmSync(report.backup_path, { force: true });
      }
      report.backup_path = path;
      options.testHooks?.afterBackup?.(attempt);
    }
    await runMigrations(dataSource);
    try {
      const result = await withSchemaLock(dataSource, () =>
        db.write(async (tx) => {
          if (expectedVersion !== null && (await dataVersion(tx)) !== expectedVersion) {
            // Another process committed after the backup began: take it again.
            throw new StaleBackup();
          }
          const outcome = await applyPlan(tx, target.kind, options, plan);
          if (options.dryRun) {
            throw new DryRunRollback(outcome);
          }
          return outcome;
        }),
      );
      Object.assign(report, result);
      return;
    } catch (error) {
      if (error instanceof DryRunRollback) {
        Object.assign(report, error.outcome);
        return;
      }
      if (error instanceof StaleBackup && attempt < 5) {
        continue;
      }
      if (error instanceof StaleBackup) {
        throw new ToolError(
          'other processes kept writing to the database while the backup was taken; stop the service or retry',
          EXIT_TARGET_UNAVAILABLE,
        );
      }
      throw error;
    }
  }
}

type ApplyResult = Pick<
  MigrationReport,
  'organization' | 'counts' | 'totals' | 'changed' | 'warnings' | 'skipped'
>;

interface AuditRow {
  action: string;
  targetType: string;
  targetId: string;
  before: unknown;
  after: unknown;
}

/** Everything that writes, inside the one transaction; returns what it did. */
async function applyPlan(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  options: MigrateOptions,
  plan: MigrationPlan,
): Promise<ApplyResult> {
  const at = new Date().toISOString();
  const progress = options.progress;
  const orgId = options.externalUser.toLowerCase();
  const name = options.name.trim();
  const audit: AuditRow[] = [];
  const warnings: string[] = [];
  const checkpoint = (phase: Phase) => {
    if (options.testHooks?.failAfter === phase) {
      throw new Error(`injected failure after ${phase}`);
    }
  };
  const idChunk = rowsPerStatement(kind, 1, 5000);
  const auditActorCountBefore = await tx
    .getRepository(AuditEventEntity)
    .count({ where: { actor: MIGRATION_ACTOR } });

  // Organization: created, renamed, or reused as it is.
  const orgs = tx.getRepository(OrganizationEntity);
  const existingOrg = await orgs.findOne({ where: { id: orgId } });
  const holder = await orgs.findOne({ where: { externalUser: options.externalUser } });
  if (holder && holder.id !== orgId) {
    throw new ToolError(
      `external_user "${options.externalUser}" already belongs to organization "${holder.id}"`,
      EXIT_CONFLICT,
    );
  }
  if (existingOrg && existingOrg.externalUser !== options.externalUser) {
    throw new ToolError(
      `organization "${orgId}" already exists with external_user "${existingOrg.externalUser}", not "${options.externalUser}"`,
      EXIT_CONFLICT,
    );
  }
  let orgOutcome: 'created' | 'updated' | 'unchanged';
  let org: OrganizationEntity;
  if (!existingOrg) {
    org = orgs.create({
      id: orgId,
      name,
      externalUser: options.externalUser,
      isActive: true,
      autoGrantNewModels: false,
      createdAt: at,
      updatedAt: at,
    });
    await orgs.insert(org);
    orgOutcome = 'created';
    audit.push({
      action: 'organization.create',
      targetType: 'organization',
      targetId: orgId,
      before: null,
      after: toOrganizationResponse(org, { members: 0, grants: 0 }),
    });
  } else if (existingOrg.name !== name) {
    org = { ...existingOrg, name, updatedAt: at };
    await orgs.update({ id: orgId }, { name, updatedAt: at });
    orgOutcome = 'updated';
    audit.push({
      action: 'organization.update',
      targetType: 'organization',
      targetId: orgId,
      before: { name: existingOrg.name },
      after: { name },
    });
  } else {
    org = existingOrg;
    orgOutcome = 'unchanged';
  }
  if (!org.isActive) {
    warnings.push(
      `organization "${orgId}" is archived (is_active false): its members get no models until it is reactivated`,
    );
  }
  checkpoint('organization');

  // Users: insert new ones, update those whose name, email or role changed.
  const users = emptyOutcome();
  progress?.start('users', plan.users.length);
  const existingUsers = new Map<string, UserEntity>(
    (
      await selectUsers(
        tx,
        kind,
        plan.users.map((u) => u.id),
      )
    ).map((u) => [u.id, u]),
  );
  const userRows: UserEntity[] = [];
  for (const u of plan.users) {
    const existing = existingUsers.get(u.id);
    if (!existing) {
      users.created++;
      const row = { ...u, createdAt: u.createdAt, updatedAt: at };
      userRows.push(row);
      audit.push({
        action: 'user.create',
        targetType: 'user',
        targetId: u.id,
        before: null,
        after: toUserResponse(row),
      });
    } else if (existing.name !== u.name || existing.email !== u.email || existing.role !== u.role) {
      users.updated++;
      const row = { ...existing, name: u.name, email: u.email, role: u.role, updatedAt: at };
      userRows.push(row);
      audit.push({
        action: 'user.update',
        targetType: 'user',
        targetId: u.id,
        before: toUserResponse(existing),
        after: toUserResponse(row),
      });
    } else {
      users.unchanged++;
    }
  }
  progress?.advance(users.unchanged);
  await bulkInsert(
    tx,
    kind,
    'users',
    ['id', 'name', 'email', 'role', 'created_at', 'updated_at'],
    userRows.map((u) => [u.id, u.name, u.email, u.role, u.createdAt, u.updatedAt]),
    {
      onConflict: { target: ['id'], update: ['name', 'email', 'role', 'updated_at'] },
      onChunk: (n) => progress?.advance(n),
    },
  );
  progress?.done();
  checkpoint('users');

  // Memberships: every non-pending user joins; existing memberships are kept as they are.
  const memberships = emptyOutcome();
  let differingMembers = 0;
  progress?.start('memberships', plan.members.length);
  const memberRepo = tx.getRepository(MembershipEntity);
  const existingMembers = new Map(
    (await memberRepo.find({ where: { organizationId: orgId } })).map((m) => [m.userId, m]),
  );
  const memberRows: MembershipEntity[] = [];
  for (const m of plan.members) {
    const existing = existingMembers.get(m.userId);
    if (existing) {
      memberships.unchanged++;
      if (existing.role !== m.role || !existing.isActive) {
        differingMembers++;
      }
      continue;
    }
    memberships.created++;
    memberRows.push({
      organizationId: orgId,
      userId: m.userId,
      role: m.role,
      isActive: true,
      joinedAt: at,
      updatedAt: at,
    });
    audit.push({
      action: 'membership.create',
      targetType: 'membership',
      targetId: `${orgId}/${m.userId}`,
      before: null,
      after: { role: m.role, is_active: true },
    });
  }
  progress?.advance(memberships.unchanged);
  await bulkInsert(
    tx,
    kind,
    'organization_members',
    ['organization_id', 'user_id', 'role', 'is_active', 'joined_at', 'updated_at'],
    memberRows.map((m) => [
      m.organizationId,
      m.userId,
      m.role,
      m.isActive,
      m.joinedAt,
      m.updatedAt,
    ]),
    {
      onConflict: { target: ['organization_id', 'user_id'], ignore: true },
      onChunk: (n) => progress?.advance(n),
    },
  );
  if (differingMembers > 0) {
    warnings.push(
      `${differingMembers} existing membership(s) of "${orgId}" differ from Open WebUI (role or suspension) and were kept as they are; change them through the API if needed`,
    );
  }
  progress?.done();
  checkpoint('memberships');

  // Provider models: into the catalog, new ones also to auto-grant organizations.
  const models = emptyOutcome();
  progress?.start('models', plan.models.length);
  const existingModels = new Map<string, ModelEntity>(
    (
      await selectModels(
        tx,
        kind,
        plan.models.map((m) => m.id),
      )
    ).map((m) => [m.id, m]),
  );
  const modelRows: ModelEntity[] = [];
  const createdModelIds: string[] = [];
  for (const m of plan.models) {
    const existing = existingModels.get(m.id);
    if (!existing) {
      models.created++;
      createdModelIds.push(m.id);
      const row = {
        id: m.id,
        name: m.name,
        baseModelId: null,
        isActive: m.isActive,
        createdAt: at,
        updatedAt: at,
      };
      modelRows.push(row);
      audit.push({
        action: 'model.create',
        targetType: 'model',
        targetId: m.id,
        before: null,
        after: toModelResponse(row),
      });
    } else if (
      existing.name !== m.name ||
      existing.isActive !== m.isActive ||
      existing.baseModelId !== null
    ) {
      models.updated++;
      const row = {
        ...existing,
        name: m.name,
        isActive: m.isActive,
        baseModelId: null,
        updatedAt: at,
      };
      modelRows.push(row);
      audit.push({
        action: 'model.update',
        targetType: 'model',
        targetId: m.id,
        before: toModelResponse(existing),
        after: toModelResponse(row),
      });
    } else {
      models.unchanged++;
    }
  }
  progress?.advance(models.unchanged);
  await bulkInsert(
    tx,
    kind,
    'models',
    ['id', 'name', 'base_model_id', 'is_active', 'created_at', 'updated_at'],
    modelRows.map((m) => [m.id, m.name, m.baseModelId, m.isActive, m.createdAt, m.updatedAt]),
    {
      onConflict: {
        target: ['id'],
        update: ['name', 'base_model_id', 'is_active', 'updated_at'],
      },
      onChunk: (n) => progress?.advance(n),
    },
  );
  progress?.done();
  checkpoint('models');

  // Grants of this organization, keeping each model's is_active; existing grants are kept.
  const grants = emptyOutcome();
  let differingGrants = 0;
  progress?.start('grants', plan.models.length);
  const grantRepo = tx.getRepository(GrantEntity);
  const existingGrants = new Map(
    (await grantRepo.find({ where: { organizationId: orgId } })).map((g) => [g.modelId, g]),
  );
  const grantRows: GrantEntity[] = [];
  for (const m of plan.models) {
    const existing = existingGrants.get(m.id);
    if (existing) {
      grants.unchanged++;
      if (existing.isActive !== m.isActive) {
        differingGrants++;
      }
      continue;
    }
    grants.created++;
    grantRows.push({
      organizationId: orgId,
      modelId: m.id,
      isActive: m.isActive,
      createdAt: at,
      updatedAt: at,
    });
    audit.push({
      action: 'grant.create',
      targetType: 'grant',
      targetId: `${orgId}/${m.id}`,
      before: null,
      after: { is_active: m.isActive },
    });
  }
  // As the catalog does for any new model: grant it to organizations that auto-grant.
  const autoOrgs = (
    await orgs.find({ where: { autoGrantNewModels: true }, select: { id: true } })
  ).filter((o) => o.id !== orgId);
  let autoGrants = 0;
  for (const auto of autoOrgs) {
    const held = new Set<string>();
    for (const ids of chunk(createdModelIds, idChunk)) {
      for (const g of await grantRepo.find({
        where: { organizationId: auto.id, modelId: In(ids) },
        select: { modelId: true },
      })) {
        held.add(g.modelId);
      }
    }
    for (const modelId of createdModelIds.filter((id) => !held.has(id))) {
      autoGrants++;
      grantRows.push({
        organizationId: auto.id,
        modelId,
        isActive: true,
        createdAt: at,
        updatedAt: at,
      });
      audit.push({
        action: 'grant.create',
        targetType: 'grant',
        targetId: `${auto.id}/${modelId}`,
        before: null,
        after: { is_active: true, auto_granted: true },
      });
    }
  }
  progress?.advance(grants.unchanged);
  await bulkInsert(
    tx,
    kind,
    'organization_models',
    ['organization_id', 'model_id', 'is_active', 'created_at', 'updated_at'],
    grantRows.map((g) => [g.organizationId, g.modelId, g.isActive, g.createdAt, g.updatedAt]),
    {
      onConflict: { target: ['organization_id', 'model_id'], ignore: true },
      onChunk: (n) => progress?.advance(n),
    },
  );
  if (differingGrants > 0) {
    warnings.push(
      `${differingGrants} existing grant(s) of "${orgId}" differ from the model's is_active in Open WebUI and were kept as they are`,
    );
  }
  progress?.done();
  checkpoint('grants');

  const totals: Outcome = {
    created:
      (orgOutcome === 'created' ? 1 : 0) +
      users.created +
      memberships.created +
      models.created +
      grants.created,
    updated: (orgOutcome === 'updated' ? 1 : 0) + users.updated + models.updated,
    unchanged:
      (orgOutcome === 'unchanged' ? 1 : 0) +
      users.unchanged +
      memberships.unchanged +
      models.unchanged +
      grants.unchanged,
  };
  const changed = totals.created + totals.updated + autoGrants > 0;

  // Audit: one event per changed row, plus a summary, in the same transaction.
  if (changed) {
    audit.push({
      action: 'organization.migrate',
      targetType: 'organization',
      targetId: orgId,
      before: null,
      after: {
        dry_run: options.dryRun === true,
        users: users,
        memberships: memberships,
        models: models,
        grants: grants,
        auto_grants: autoGrants,
        skipped: plan.skipped.length,
      },
    });
  }
  progress?.start('audit events', audit.length);
  const auditRows = audit.map((a) => [
    MIGRATION_ACTOR,
    a.action,
    a.targetType,
    a.targetId,
    a.before === null || a.before === undefined ? null : JSON.stringify(a.before),
    a.after === null || a.after === undefined ? null : JSON.stringify(a.after),
    at,
  ]);
  await bulkInsert(
    tx,
    kind,
    'audit_events',
    ['actor', 'action', 'target_type', 'target_id', 'before', 'after', 'created_at'],
    auditRows,
    { onChunk: (n) => progress?.advance(n) },
  );
  progress?.done();
  checkpoint('audit');

  await options.testHooks?.beforeVerify?.(tx);
  progress?.start('verifying');
  await verify(tx, kind, {
    orgId,
    name,
    externalUser: options.externalUser,
    plan,
    membersBefore: existingMembers.size,
    membersCreated: memberships.created,
    grantsBefore: existingGrants.size,
    grantsCreated: grants.created,
    auditBefore: auditActorCountBefore,
    auditWritten: auditRows.length,
  });
  progress?.done();

  return {
    organization: {
      id: orgId,
      name,
      external_user: options.externalUser,
      outcome: orgOutcome,
      is_active: org.isActive,
    },
    counts: {
      users: {
        source: plan.sourceUsers,
        skipped: plan.skipped.filter((s) => s.table === 'user').length,
        pending: plan.users.filter((u) => u.role === 'pending').length,
        ...users,
      },
      memberships: { expected: plan.members.length, differing: differingMembers, ...memberships },
      models: {
        source: plan.sourceModels,
        provider: plan.models.length,
        custom: plan.customModels.length,
        skipped: plan.skipped.filter((s) => s.table === 'model').length - plan.customModels.length,
        ...models,
      },
      grants: { expected: plan.models.length, differing: differingGrants, ...grants },
      auto_grants: autoGrants,
      audit_events: auditRows.length,
    },
    totals,
    changed,
    warnings,
    skipped: plan.skipped,
  };
}

/** Users by id, read with plain set-based SELECTs (no entity hydration on 50,000 rows). */
async function selectUsers(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  ids: string[],
): Promise<UserEntity[]> {
  const rows = await selectIn<Record<string, unknown>>(
    tx,
    kind,
    (list) =>
      `SELECT id, name, email, role, created_at, updated_at FROM users WHERE id IN (${list})`,
    ids,
  );
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    email: String(r.email),
    role: String(r.role) as UserEntity['role'],
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  }));
}

async function selectModels(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  ids: string[],
): Promise<ModelEntity[]> {
  const rows = await selectIn<Record<string, unknown>>(
    tx,
    kind,
    (list) =>
      `SELECT id, name, base_model_id, is_active, created_at, updated_at FROM models WHERE id IN (${list})`,
    ids,
  );
  return rows.map((r) => ({
    id: String(r.id),
    name: String(r.name),
    baseModelId: r.base_model_id === null ? null : String(r.base_model_id),
    isActive: r.is_active === true || Number(r.is_active) === 1,
    createdAt: String(r.created_at),
    updatedAt: String(r.updated_at),
  }));
}

interface Expectations {
  orgId: string;
  name: string;
  externalUser: string;
  plan: MigrationPlan;
  membersBefore: number;
  membersCreated: number;
  grantsBefore: number;
  grantsCreated: number;
  auditBefore: number;
  auditWritten: number;
}

/**
 * Reads back what the transaction wrote and compares it with the plan; any difference
 * throws, which rolls the whole transaction back.
 */
async function verify(
  tx: EntityManager,
  kind: 'sqlite' | 'postgres',
  e: Expectations,
): Promise<void> {
  const problems: string[] = [];
  const org = await tx.getRepository(OrganizationEntity).findOne({ where: { id: e.orgId } });
  if (!org || org.externalUser !== e.externalUser || org.name !== e.name) {
    problems.push(`organization "${e.orgId}" is missing or differs`);
  }
  let usersFound = 0;
  const wanted = new Map(e.plan.users.map((u) => [u.id, u]));
  for (const u of await selectUsers(tx, kind, [...wanted.keys()])) {
    const w = wanted.get(u.id)!;
    if (u.name === w.name && u.email === w.email && u.role === w.role) {
      usersFound++;
    }
  }
  if (usersFound !== wanted.size) {
    problems.push(`users: ${usersFound} of ${wanted.size} present with the source's values`);
  }
  const memberIds = new Set(
    (
      await tx
        .getRepository(MembershipEntity)
        .find({ where: { organizationId: e.orgId }, select: { userId: true } })
    ).map((m) => m.userId),
  );
  const membersPresent = e.plan.members.filter((m) => memberIds.has(m.userId)).length;
  if (membersPresent !== e.plan.members.length) {
    problems.push(
      `memberships: ${membersPresent} of ${e.plan.members.length} expected members present`,
    );
  }
  if (memberIds.size !== e.membersBefore + e.membersCreated) {
    problems.push(
      `memberships: ${memberIds.size} in "${e.orgId}", expected ${e.membersBefore} before + ${e.membersCreated} created`,
    );
  }
  let modelsFound = 0;
  const wantedModels = new Map(e.plan.models.map((m) => [m.id, m]));
  for (const m of await selectModels(tx, kind, [...wantedModels.keys()])) {
    const w = wantedModels.get(m.id)!;
    if (m.name === w.name && m.isActive === w.isActive && m.baseModelId === null) {
      modelsFound++;
    }
  }
  if (modelsFound !== wantedModels.size) {
    problems.push(
      `models: ${modelsFound} of ${wantedModels.size} present with the source's values`,
    );
  }
  const grantIds = new Set(
    (
      await tx
        .getRepository(GrantEntity)
        .find({ where: { organizationId: e.orgId }, select: { modelId: true } })
    ).map((g) => g.modelId),
  );
  const grantsPresent = e.plan.models.filter((m) => grantIds.has(m.id)).length;
  if (grantsPresent !== e.plan.models.length) {
    problems.push(`grants: ${grantsPresent} of ${e.plan.models.length} expected grants present`);
  }
  if (grantIds.size !== e.grantsBefore + e.grantsCreated) {
    problems.push(
      `grants: ${grantIds.size} in "${e.orgId}", expected ${e.grantsBefore} before + ${e.grantsCreated} created`,
    );
  }
  const auditAfter = await tx
    .getRepository(AuditEventEntity)
    .count({ where: { actor: MIGRATION_ACTOR } });
  if (auditAfter !== e.auditBefore + e.auditWritten) {
    problems.push(
      `audit events: ${auditAfter - e.auditBefore} written, expected ${e.auditWritten}`,
    );
  }
  if (problems.length > 0) {
    throw new ToolError(
      `verification failed; everything was rolled back:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      EXIT_VERIFICATION,
    );
  }
}
