import { ServiceUnavailableException } from '@nestjs/common';
import { existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EntityManager } from 'typeorm';
import { hasControlCharacters } from '../../../src/common/validators';
import { AppConfig } from '../../../src/config/app-config';
import { EXTERNAL_USER_PATTERN } from '../../../src/config/load-config';
import { isBusyError, sqliteDataVersion } from '../../../src/database/database.service';
import { runMigrations, withSchemaLock } from '../../../src/database/migrate';
import { redactUrl, ToolError } from '../cli';
import { Progress } from '../progress';
import { applyPlan } from './apply';
import { MigrationPlan, planMigration } from './plan';
import {
  ApplyResult,
  emptyOutcome,
  emptyReconciliation,
  EXIT_FAILED,
  EXIT_INVALID_OPTIONS,
  EXIT_TARGET_UNAVAILABLE,
  MigrationReport,
  Phase,
} from './report';
import { isPostgresSource, readOpenWebUi, sqliteSourcePath } from './source';
import { backupFileName, hasPendingMigrations, openTarget, rawSqlite, Target } from './target';
import { UndoLog } from './undo';

export * from './report';

export interface MigrateOptions {
  /** Open WebUI database: a SQLite file (optionally `sqlite:`-prefixed) or a postgres:// URL. */
  source: string;
  externalUser: string;
  name: string;
  /** The target: the service's own database (loadConfig(process.env) in the CLI). */
  config: AppConfig;
  dryRun?: boolean;
  /** Each Open WebUI group becomes an organization with its members and the models it reads. */
  groupsAsOrganizations?: boolean;
  /** Remove what Open WebUI no longer has (users, memberships, grants this tool made); else list it. */
  prune?: boolean;
  /** PostgreSQL source: the schema holding Open WebUI's tables (its DATABASE_SCHEMA). */
  sourceSchema?: string;
  /** Where SQLite backups (and PostgreSQL undo files) go; default `<database dir>/backups`, or ./backups. */
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
/** Another process committed between the backup and the transaction: back up again. */
class StaleBackup extends Error {}

/** Checks the flags that do not need a database: organization name and external_user. */
export function optionProblems(
  options: Pick<MigrateOptions, 'externalUser' | 'name' | 'source' | 'sourceSchema'>,
): string[] {
  const problems: string[] = [];
  if (options.sourceSchema !== undefined && !isPostgresSource(options.source)) {
    problems.push('--source-schema applies to a PostgreSQL source only');
  } else if (options.sourceSchema !== undefined && options.sourceSchema.trim() === '') {
    problems.push('--source-schema must not be empty');
  }
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
    source: { kind: null, location: redactUrl(options.source), read_mode: null, access: null },
    target: {
      kind: options.config.databaseKind,
      location:
        options.config.databaseKind === 'sqlite'
          ? options.config.sqlitePath
          : redactUrl(options.config.databaseUrl),
    },
    backup_path: null,
    backup_note: null,
    groups_as_organizations: options.groupsAsOrganizations === true,
    organization: {
      id: options.externalUser.toLowerCase(),
      name: options.name.trim(),
      external_user: options.externalUser,
      outcome: null,
      is_active: null,
    },
    organizations: [],
    counts: {
      users: { source: 0, skipped: 0, pending: 0, deleted: 0, ...emptyOutcome() },
      memberships: { expected: 0, differing: 0, removed: 0, ...emptyOutcome() },
      models: {
        source: 0,
        provider: 0,
        custom: 0,
        skipped: 0,
        from_presets: 0,
        ...emptyOutcome(),
      },
      grants: { expected: 0, differing: 0, removed: 0, ...emptyOutcome() },
      groups: 0,
      auto_grants: 0,
      audit_events: 0,
    },
    totals: emptyOutcome(),
    changed: false,
    skipped: [],
    model_notes: [],
    not_carried_over: [],
    reconcile: emptyReconciliation(options.prune === true),
    warnings: [],
  };
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
    const snapshot = await readOpenWebUi(options.source, options.sourceSchema);
    report.source = {
      kind: snapshot.kind,
      location: snapshot.location,
      read_mode: snapshot.readMode,
      access: snapshot.grants === null ? 'access_control' : 'access_grant',
    };
    options.progress?.advance(snapshot.users.length + snapshot.models.length);
    options.progress?.done();
    const plan = planMigration(snapshot, {
      externalUser: options.externalUser,
      name: options.name.trim(),
      groupsAsOrganizations: options.groupsAsOrganizations === true,
      at: startedAt.toISOString(),
    });
    fillPlanCounts(report, plan);
    const target = await openTarget(options.config, options.dryRun === true);
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
  report.counts.users.source = plan.sourceUsers;
  report.counts.users.skipped = plan.skipped.filter((s) => s.table === 'user').length;
  report.counts.users.pending = plan.users.filter((u) => u.role === 'pending').length;
  report.counts.memberships.expected = plan.organizations.reduce((n, o) => n + o.members.length, 0);
  report.counts.models.source = plan.sourceModels;
  report.counts.models.provider = plan.models.filter((m) => m.origin === 'row').length;
  report.counts.models.from_presets = plan.models.filter((m) => m.origin === 'preset-base').length;
  report.counts.models.custom = plan.customModels.length;
  report.counts.models.skipped =
    plan.skipped.filter((s) => s.table === 'model').length - plan.customModels.length;
  report.counts.grants.expected = plan.organizations.reduce((n, o) => n + o.grants.length, 0);
  report.counts.groups = plan.sourceGroups;
  report.skipped = plan.skipped;
  report.model_notes = plan.notes;
  report.not_carried_over = plan.notCarriedOver;
  report.warnings = [...plan.warnings];
}

/** The undo file path for a PostgreSQL run: `<dir>/undo-<organization>-<ISO timestamp>.json`. */
function undoFilePath(options: MigrateOptions, at: Date): string {
  const dir = resolve(options.backupDir ?? 'backups');
  return join(
    dir,
    `undo-${options.externalUser.toLowerCase()}-${at.toISOString().replace(/[:.]/g, '-')}.json`,
  );
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
  if (!options.dryRun && target.kind === 'sqlite' && !target.existingSqliteFile) {
    report.backup_note =
      'the target database did not exist before this run: there was nothing to back up';
  }
  for (let attempt = 1; ; attempt++) {
    let expectedVersion: number | null = null;
    if (target.existingSqliteFile) {
      expectedVersion = await sqliteDataVersion(dataSource);
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
    const undo = new UndoLog();
    try {
      const result = await withSchemaLock(dataSource, () =>
        db.write(async (tx) => {
          if (expectedVersion !== null && (await sqliteDataVersion(tx)) !== expectedVersion) {
            // Another process committed after the backup began: take it again.
            throw new StaleBackup();
          }
          const outcome = await applyPlan(
            tx,
            {
              kind: target.kind,
              dryRun: options.dryRun === true,
              prune: options.prune === true,
              progress: options.progress,
              undo,
              failAfter: options.testHooks?.failAfter,
              beforeVerify: options.testHooks?.beforeVerify,
            },
            plan,
          );
          if (options.dryRun) {
            throw new DryRunRollback(outcome);
          }
          if (target.kind === 'postgres' && outcome.changed) {
            // Written before the commit: if it cannot be written, nothing is committed.
            const path = undoFilePath(options, new Date());
            mkdirSync(dirname(path), { recursive: true });
            writeFileSync(
              path,
              `${JSON.stringify(
                undo.file(
                  redactUrl(options.config.databaseUrl),
                  plan.organizations.map((o) => o.id),
                ),
              )}\n`,
            );
            report.backup_path = path;
            report.backup_note = `undo with: --restore ${path}`;
          }
          return outcome;
        }),
      );
      Object.assign(report, result);
      if (target.kind === 'sqlite' && report.backup_path && !result.changed) {
        rmSync(report.backup_path, { force: true });
        report.backup_path = null;
        report.backup_note = 'nothing changed: the backup taken before the run was removed';
      } else if (target.kind === 'sqlite' && report.backup_path) {
        report.backup_note = `undo with: --restore ${report.backup_path}`;
      } else if (target.kind === 'postgres' && !result.changed) {
        report.backup_note = 'nothing changed: no undo file written';
      }
      return;
    } catch (error) {
      if (error instanceof DryRunRollback) {
        Object.assign(report, error.outcome);
        return;
      }
      if (error instanceof StaleBackup && attempt < 5) {
        continue;
      }
      if (report.backup_path && target.kind === 'postgres') {
        rmSync(report.backup_path, { force: true });
        report.backup_path = null;
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
