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
import { Progress } from './lib/progress';
import { formatTable } from './lib/table';

export const COMMAND: CommandSpec = {
  usage:
    'npm run migrate:organizations -- --source <file|url> --external-user <id> --name <name> [options]',
  summary:
    "Moves an existing Open WebUI deployment into this service: reads Open WebUI's user and model " +
    'tables, creates (or reuses) the organization, upserts every user, makes every user whose role ' +
    'is not pending a member (Open WebUI admins become organization admins), upserts every provider ' +
    "model (base_model_id null) into the catalog and grants it, keeping the model's is_active. " +
    'Custom models (base_model_id set) are reported, not imported or granted. The target is the ' +
    "service's own database (DATABASE_URL, default sqlite:./data/app.db). On SQLite a backup is " +
    'taken first; everything else happens in one transaction whose counts are verified before ' +
    'commit. Re-running changes nothing that is already there.',
  options: [
    {
      name: 'source',
      type: 'string',
      valueName: '<file|url>',
      required: true,
      description:
        "Open WebUI's database: a SQLite file (e.g. webui.db, opened read-only) or a postgres:// URL.",
    },
    {
      name: 'external-user',
      type: 'string',
      valueName: '<id>',
      required: true,
      description:
        "The organization's OpenRouter external_user prefix: 1-64 letters, digits, _ or -, starting " +
        'with a letter or digit. The organization id is its lowercase form.',
    },
    {
      name: 'name',
      type: 'string',
      valueName: '<name>',
      required: true,
      description: "The organization's display name (any Unicode, up to 255 characters).",
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
      description: 'Where the SQLite backup goes (default: backups/ beside the database file).',
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
        `${EXIT_SOURCE_UNREADABLE}  the source cannot be read (missing file, not SQLite, cannot connect)`,
        `${EXIT_SOURCE_LAYOUT}  the source is not an Open WebUI database (missing user/model table or columns)`,
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
        '    --source postgres://webui@db:5432/openwebui --external-user mai_client_acme --name "ACME"',
      ],
    },
    {
      title: 'Notes',
      lines: [
        'Existing rows: users and catalog models are updated to match Open WebUI; memberships and',
        'grants that already exist are kept as they are (a warning counts those that differ).',
        `Every change is written to the audit log with actor ${MIGRATION_ACTOR}.`,
        'Running servers drop the access answers they cached within a second (SQLite: they watch',
        'PRAGMA data_version; PostgreSQL: they hear the change notification of this transaction).',
      ],
    },
  ],
};

/** The end-of-run text: summary table, skipped rows, warnings, backup and totals. */
export function formatSummary(report: MigrationReport): string {
  const c = report.counts;
  const org = report.organization;
  const lines: string[] = [];
  lines.push(
    `${report.dry_run ? 'Dry run (nothing written)' : 'Migrated'}: ${report.source.location} -> organization "${org.id}" (${org.name}, external_user ${org.external_user})`,
    '',
    formatTable(
      ['', 'source', 'created', 'updated', 'unchanged', 'skipped'],
      [
        ['organization', 1, ...outcomeCells(org.outcome), null],
        [
          'users',
          c.users.source,
          c.users.created,
          c.users.updated,
          c.users.unchanged,
          c.users.skipped,
        ],
        [
          'memberships',
          c.memberships.expected,
          c.memberships.created,
          null,
          c.memberships.unchanged,
          null,
        ],
        [
          'models (provider)',
          c.models.provider,
          c.models.created,
          c.models.updated,
          c.models.unchanged,
          c.models.skipped,
        ],
        ['models (custom)', c.models.custom, null, null, null, c.models.custom],
        ['grants', c.grants.expected, c.grants.created, null, c.grants.unchanged, null],
      ],
    ),
    '',
    `pending users (imported, not members): ${c.users.pending}`,
  );
  if (c.auto_grants > 0) {
    lines.push(`grants to auto-grant organizations: ${c.auto_grants}`);
  }
  const shown = report.skipped.slice(0, 20);
  if (shown.length > 0) {
    lines.push('', `Skipped rows (${report.skipped.length}):`);
    for (const s of shown) {
      lines.push(`  ${s.table} ${JSON.stringify(s.id)}: ${s.reason}`);
    }
    if (report.skipped.length > shown.length) {
      lines.push(`  ... and ${report.skipped.length - shown.length} more (see --report)`);
    }
  }
  for (const w of report.warnings) {
    lines.push(`warning: ${w}`);
  }
  lines.push('');
  if (report.backup_path) {
    lines.push(`Backup: ${report.backup_path}`);
  }
  const t = report.totals;
  const counts = `${t.created} created, ${t.updated} updated, ${t.unchanged} unchanged`;
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

function outcomeCells(outcome: MigrationReport['organization']['outcome']): (number | null)[] {
  return [
    outcome === 'created' ? 1 : 0,
    outcome === 'updated' ? 1 : 0,
    outcome === 'unchanged' ? 1 : 0,
  ];
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
  try {
    const report = await migrateOrganizations({
      source: args.source as string,
      externalUser: args['external-user'] as string,
      name: args.name as string,
      dryRun: args['dry-run'] === true,
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
