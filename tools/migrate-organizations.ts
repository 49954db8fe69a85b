import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { CommandSpec, formatHelp, parseArgs, UsageError } from './lib/args';
import { loadEnvFile } from '../src/config/env-file';
import { runMain, StderrLogger, ToolError } from './lib/cli';
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
} from './lib/openwebui/migrate';
import { EXIT_SOURCE_LAYOUT, EXIT_SOURCE_UNREADABLE } from './lib/openwebui/source';
import { restoreBackup } from './lib/openwebui/restore';
import { Progress } from './lib/progress';
import { formatTable } from './lib/table';

export const COMMAND: CommandSpec = {
  usage:
    'npm run migrate:organizations -- --source <file|url> --external-user <id> --name <name> [options]\n' +
    '       npm run migrate:organizations -- --restore <backup.db|undo.json>',
  summary:
    'Moves an existing Open WebUI (0.5 or later) deployment into this service and keeps what Open ' +
    "WebUI allowed: it reads Open WebUI's users, models, groups and per-model read access " +
    '(access_grant, or the older access_control column), creates (or reuses) the organization, ' +
    'upserts every user, makes every user whose role is not pending a member (Open WebUI admins ' +
    'become organization admins), upserts the provider models (base_model_id null) into the ' +
    'catalog, and grants the organization only the models every member could read there (public ' +
    'ones, in practice). With --groups-as-organizations each Open WebUI group also becomes an ' +
    'organization with its members and the models the group could read. A preset (base_model_id ' +
    'set) lends its readers its base model, unless that base is inactive or not served. What ' +
    'cannot be expressed (a model granted to single users, or owned) is listed per model and ' +
    "user, never widened. The target is the service's own database (DATABASE_URL, default " +
    'sqlite:./data/app.db). SQLite: a backup is taken first; PostgreSQL: an undo file is written ' +
    'before the commit; either is put back with --restore. Everything else happens in one ' +
    'transaction whose counts are verified before commit. A re-run changes nothing that is ' +
    'already there, applies role changes made in Open WebUI, and lists (removes with --prune) ' +
    'what Open WebUI no longer has.',
  options: [
    {
      name: 'source',
      type: 'string',
      valueName: '<file|url>',
      description:
        "Open WebUI's database: a SQLite file (e.g. webui.db; never written to: a WAL-mode file is " +
        'read from a private copy, any other is opened read-only in place) or a postgres:// URL ' +
        '(read in one read-only transaction). Required unless --restore.',
    },
    {
      name: 'external-user',
      type: 'string',
      valueName: '<id>',
      description:
        "The organization's OpenRouter external_user prefix: 1-64 letters, digits, _ or -, starting " +
        'with a letter or digit. The organization id is its lowercase form. Required unless --restore.',
    },
    {
      name: 'name',
      type: 'string',
      valueName: '<name>',
      description:
        "The organization's display name (any Unicode, up to 255 characters). Required unless --restore.",
    },
    {
      name: 'groups-as-organizations',
      type: 'boolean',
      description:
        'Also make each Open WebUI group an organization (id and external_user <external-user>_grp_<8 hex ' +
        "of the group id's sha256>, named like the group) with its members and the models the group " +
        'could read; public models stay with the main organization.',
    },
    {
      name: 'prune',
      type: 'boolean',
      description:
        'Remove what this tool brought in earlier and Open WebUI no longer has: users deleted there ' +
        '(with their memberships), memberships of users sent back to pending or out of the group, ' +
        'grants of models whose row is gone or no longer readable. Without it they are only listed.',
    },
    {
      name: 'source-schema',
      type: 'string',
      valueName: '<schema>',
      description:
        "PostgreSQL source only: the schema holding Open WebUI's tables (its DATABASE_SCHEMA; default: the search_path).",
    },
    {
      name: 'restore',
      type: 'string',
      valueName: '<file>',
      description:
        'Undo a run: a SQLite backup this tool took is copied back over DATABASE_URL (the current ' +
        'file is kept as <name>-before-restore.db first); an undo file of a PostgreSQL run has the ' +
        'rows that run created deleted and those it changed or removed put back, in one transaction.',
    },
    {
      name: 'dry-run',
      type: 'boolean',
      description:
        'Do everything, verify, then roll back: prints what would change and writes nothing (no backup).',
    },
    {
      name: 'report',
      type: 'string',
      valueName: '<file>',
      description:
        'Write a JSON report (counts, skipped rows and why, warnings, duration, backup path), also on failure.',
    },
    {
      name: 'backup-dir',
      type: 'string',
      valueName: '<dir>',
      description:
        'Where the SQLite backup or the PostgreSQL undo file goes (default: backups/ beside the ' +
        'SQLite file; ./backups for PostgreSQL).',
    },
    {
      name: 'progress',
      type: 'boolean',
      description:
        'Show progress on stderr even when it is not a terminal (it is shown on a terminal).',
    },
  ],
  sections: [
    {
      title: 'Environment',
      lines: [
        'DATABASE_URL  the target, as for the server (sqlite:<file> or postgres://...).',
        '              Other server variables are validated the same way but not needed.',
      ],
    },
    {
      title: 'Exit codes',
      lines: [
        `0  migrated, or nothing to change, or dry run done`,
        `${EXIT_FAILED}  the migration failed and was rolled back (the message says why)`,
        `${EXIT_INVALID_OPTIONS}  bad command line: unknown or missing flag, empty --name, bad --external-user`,
        `${EXIT_SOURCE_UNREADABLE}  the source cannot be read (missing file, empty file: not a database, not SQLite, cannot connect)`,
        `${EXIT_SOURCE_LAYOUT}  the source is not an Open WebUI database (missing user/model table or columns), is too old (before 0.5), or lacks the --source-schema`,
        `${EXIT_CONFLICT}  the external_user belongs to another organization (or the id to another external_user)`,
        `${EXIT_VERIFICATION}  the counts read back inside the transaction did not match; rolled back`,
        `${EXIT_TARGET_UNAVAILABLE}  the target database cannot be opened, is busy, or is not migrated (PostgreSQL dry run)`,
        'Unless the exit code is 0 (and it was not a dry run) the data is exactly as before;',
        'a failed run may leave its backup file, and schema migrations it applied first.',
      ],
    },
    {
      title: 'Examples',
      lines: [
        'npm run migrate:organizations -- --source ./webui.db --external-user mai_client_acme \\',
        '    --name "ACME Corp" --dry-run',
        'DATABASE_URL=sqlite:./data/app.db npm run migrate:organizations -- --source ./webui.db \\',
        '    --external-user mai_client_acme --name "ACME Corp" --report migration-report.json',
        'DATABASE_URL=postgres://svc@db:5432/access npm run migrate:organizations -- \\',
        '    --source postgres://webui@db:5432/openwebui --source-schema openwebui \\',
        '    --external-user mai_client_acme --name "ACME" --groups-as-organizations',
        'npm run migrate:organizations -- --restore data/backups/app-2026-12-01T10-00-00-000Z.db',
      ],
    },
    {
      title: 'Notes',
      lines: [
        'Existing rows: users and catalog models are updated to match Open WebUI; memberships and',
        'grants that already exist are kept as they are (a warning counts those that differ), except',
        "that a membership's role follows a role change made in Open WebUI since the last run.",
        'Open WebUI admins see every model there (admin bypass); here they use what their',
        'organizations grant. A run that changes nothing leaves no backup or undo file.',
        `Every change is written to the audit log with actor ${MIGRATION_ACTOR}.`,
        'Running servers drop the access answers they cached within a second (SQLite: they watch',
        'PRAGMA data_version; PostgreSQL: they hear the change notification of this transaction).',
      ],
    },
  ],
};

/** The end-of-run text: summary table, what was not carried over, reconciliation, backup, totals. */
export function formatSummary(report: MigrationReport): string {
  const c = report.counts;
  const org = report.organization;
  const lines: string[] = [];
  const orgs = report.organizations;
  const orgCount = (o: 'created' | 'updated' | 'unchanged') =>
    orgs.length > 0 ? orgs.filter((x) => x.outcome === o).length : org.outcome === o ? 1 : 0;
  lines.push(
    `${report.dry_run ? 'Dry run (nothing written)' : 'Migrated'}: ${report.source.location} -> organization "${org.id}" (${org.name}, external_user ${org.external_user})`,
  );
  if (report.source.read_mode) {
    lines.push(`Source ${report.source.read_mode}; per-model access from ${report.source.access}.`);
  }
  lines.push(
    '',
    formatTable(
      ['', 'source', 'created', 'updated', 'unchanged', 'skipped', 'removed'],
      [
        [
          'organizations',
          Math.max(orgs.length, 1),
          orgCount('created'),
          orgCount('updated'),
          orgCount('unchanged'),
          null,
          null,
        ],
        [
          'users',
          c.users.source,
          c.users.created,
          c.users.updated,
          c.users.unchanged,
          c.users.skipped,
          c.users.deleted,
        ],
        [
          'memberships',
          c.memberships.expected,
          c.memberships.created,
          c.memberships.updated,
          c.memberships.unchanged,
          null,
          c.memberships.removed,
        ],
        [
          'models (provider)',
          c.models.provider + c.models.from_presets,
          c.models.created,
          c.models.updated,
          c.models.unchanged,
          c.models.skipped,
          null,
        ],
        ['models (custom)', c.models.custom, null, null, null, c.models.custom, null],
        [
          'grants',
          c.grants.expected,
          c.grants.created,
          null,
          c.grants.unchanged,
          null,
          c.grants.removed,
        ],
      ],
    ),
    '',
    `pending users (imported, not members): ${c.users.pending}`,
  );
  if (orgs.length > 1) {
    lines.push(`organizations from Open WebUI groups: ${orgs.length - 1} (of ${c.groups} groups)`);
    for (const o of orgs.slice(1, 11)) {
      lines.push(`  ${o.id} "${o.name}": ${o.members} members, ${o.grants} grants (${o.outcome})`);
    }
    if (orgs.length > 11) {
      lines.push(`  ... and ${orgs.length - 11} more (see --report)`);
    }
  }
  if (c.auto_grants > 0) {
    lines.push(`grants to auto-grant organizations: ${c.auto_grants}`);
  }
  const list = <T>(title: string, items: T[], line: (item: T) => string, max = 20) => {
    if (items.length === 0) {
      return;
    }
    lines.push('', `${title} (${items.length}):`);
    items.slice(0, max).forEach((item) => lines.push(`  ${line(item)}`));
    if (items.length > max) {
      lines.push(`  ... and ${items.length - max} more (see --report)`);
    }
  };
  list('Skipped rows', report.skipped, (s) => `${s.table} ${JSON.stringify(s.id)}: ${s.reason}`);
  list('Models', report.model_notes, (n) =>
    `${n.model_id ? JSON.stringify(n.model_id) : ''} ${n.note}`.trim(),
  );
  list(
    'Not carried over (Open WebUI allowed it; no organization of the user grants it here)',
    report.not_carried_over,
    (n) => `${JSON.stringify(n.model_id)} for user ${JSON.stringify(n.user_id)} (${n.via})`,
  );
  const r = report.reconcile;
  const verb = r.pruned ? 'removed' : 'kept; --prune removes it';
  list(
    'Users deleted in Open WebUI',
    r.users_deleted_in_openwebui,
    (u) => `${JSON.stringify(u.user_id)}: ${verb}`,
  );
  list(
    'Memberships Open WebUI no longer has',
    r.memberships,
    (m) => `${m.organization_id}/${JSON.stringify(m.user_id)}: ${m.reason}; ${verb}`,
  );
  list(
    'Grants Open WebUI no longer has',
    r.grants,
    (g) => `${g.organization_id}/${JSON.stringify(g.model_id)}: ${g.reason}; ${verb}`,
  );
  list(
    'Role changes from Open WebUI',
    r.role_changes,
    (x) => `${x.organization_id}/${JSON.stringify(x.user_id)}: ${x.from} -> ${x.to}`,
  );
  for (const w of report.warnings) {
    lines.push(`warning: ${w}`);
  }
  lines.push('');
  if (report.backup_path) {
    lines.push(`Backup: ${report.backup_path}`);
  }
  if (report.backup_note) {
    lines.push(`Backup: ${report.backup_note}`);
  }
  const t = report.totals;
  const removed = c.users.deleted + c.memberships.removed + c.grants.removed;
  const counts = `${t.created} created, ${t.updated} updated, ${t.unchanged} unchanged${
    removed > 0 ? `, ${removed} removed` : ''
  }`;
  if (report.dry_run) {
    lines.push(`Would change: ${counts} (dry run, nothing written).`);
  } else if (report.changed) {
    lines.push(`Done: ${counts}; ${c.audit_events} audit events.`);
  } else {
    lines.push(`Nothing changed: ${counts}.`);
  }
  lines.push(`Duration: ${(report.duration_ms / 1000).toFixed(2)} s`);
  return `${lines.join('\n')}\n`;
}

function writeReport(path: string | undefined, report: MigrationReport): void {
  if (path) {
    try {
      writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
    } catch (error) {
      throw new ToolError(
        `cannot write the report ${path}: ${(error as Error).message} (the run itself ${
          report.status === 'failed' ? 'failed' : 'succeeded, see above'
        })`,
        EXIT_FAILED,
      );
    }
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(COMMAND, argv);
  if (args.help) {
    process.stdout.write(formatHelp(COMMAND));
    return 0;
  }
  const reportPath = args.report as string | undefined;
  const restore = args.restore as string | undefined;
  const needed = ['source', 'external-user', 'name'].filter((o) => args[o] === undefined);
  if (restore === undefined && needed.length > 0) {
    throw new UsageError(
      `missing required option${needed.length > 1 ? 's' : ''} ${needed.map((o) => `--${o}`).join(', ')}`,
    );
  }
  if (restore !== undefined && needed.length < 3) {
    throw new UsageError('--restore takes no --source, --external-user or --name');
  }
  if (reportPath !== undefined && !existsSync(dirname(resolve(reportPath)))) {
    throw new UsageError(
      `--report ${reportPath}: directory ${dirname(resolve(reportPath))} does not exist`,
    );
  }
  // The target database is chosen exactly as for the server, .env included.
  loadEnvFile();
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    throw new ToolError((error as Error).message, EXIT_TARGET_UNAVAILABLE);
  }
  Logger.overrideLogger(new StderrLogger(config.logLevel));
  const progress = new Progress({
    stream: process.stderr,
    enabled: process.stderr.isTTY === true || args.progress === true,
  });
  if (restore !== undefined) {
    const done = await restoreBackup(restore, config, args['backup-dir'] as string | undefined);
    process.stdout.write(
      done.kind === 'sqlite-backup'
        ? `Restored ${done.target} from ${done.restored_from}.\n` +
            (done.safety_backup ? `The database as it was before: ${done.safety_backup}\n` : '')
        : `Undid the run recorded in ${done.restored_from}: ${done.rows!.deleted} created row(s) deleted, ${done.rows!.restored} row(s) put back.\n`,
    );
    if (reportPath) {
      writeFileSync(reportPath, `${JSON.stringify(done, null, 2)}\n`);
    }
    return 0;
  }
  try {
    const report = await migrateOrganizations({
      source: args.source as string,
      externalUser: args['external-user'] as string,
      name: args.name as string,
      dryRun: args['dry-run'] === true,
      groupsAsOrganizations: args['groups-as-organizations'] === true,
      prune: args.prune === true,
      sourceSchema: args['source-schema'] as string | undefined,
      backupDir: args['backup-dir'] as string | undefined,
      config,
      progress,
    });
    process.stdout.write(formatSummary(report));
    writeReport(reportPath, report);
    if (reportPath) {
      process.stdout.write(`Report: ${reportPath}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof MigrationFailure) {
      writeReport(reportPath, error.report);
    }
    throw error;
  }
}

if (require.main === module) {
  runMain('migrate-organizations', () => main(process.argv.slice(2)));
}
