import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, extname, join } from 'node:path';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../../src/config/app-config';
import { createDataSource } from '../../../src/database/data-source';
import { DatabaseService } from '../../../src/database/database.service';
import { redactUrl, ToolError } from '../cli';
import { EXIT_TARGET_UNAVAILABLE } from './report';

/** `<stem>-<ISO timestamp>.db`, e.g. `app-2026-11-28T17-33-07-545Z.db`. */
export function backupFileName(sqlitePath: string, at: Date): string {
  const stem = basename(sqlitePath, extname(sqlitePath)) || 'app';
  return `${stem}-${at.toISOString().replace(/[:.]/g, '-')}.db`;
}

export interface Target {
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
export async function openTarget(config: AppConfig, dryRun: boolean): Promise<Target> {
  let effective = config;
  let tempDir: string | null = null;
  const sqliteExists =
    config.databaseKind === 'sqlite' &&
    config.sqlitePath !== ':memory:' &&
    existsSync(config.sqlitePath);
  if (config.databaseKind === 'sqlite' && dryRun) {
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
    existingSqliteFile: sqliteExists && !dryRun ? config.sqlitePath : null,
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
export async function hasPendingMigrations(dataSource: DataSource): Promise<boolean> {
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

/** The better-sqlite3 connection under a SQLite data source (for its backup API). */
export function rawSqlite(dataSource: DataSource): Database.Database {
  return (dataSource.driver as unknown as { databaseConnection: Database.Database })
    .databaseConnection;
}
