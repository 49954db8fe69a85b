import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { AppConfig } from '../../../src/config/app-config';
import { runMigrations, withSchemaLock } from '../../../src/database/migrate';
import { bulkInsert } from '../batch';
import { ToolError } from '../cli';
import {
  EXIT_FAILED,
  EXIT_INVALID_OPTIONS,
  EXIT_TARGET_UNAVAILABLE,
  MIGRATION_ACTOR,
} from './report';
import { backupFileName, openTarget } from './target';
import { applyUndo, undoFileProblem, UndoFile } from './undo';

export interface RestoreReport {
  tool: 'migrate-organizations';
  status: 'restored';
  /** `sqlite-backup`: the whole file put back; `undo-file`: the rows a run changed put back. */
  kind: 'sqlite-backup' | 'undo-file';
  restored_from: string;
  target: string;
  /** The target as it was just before the restore (SQLite), so the restore can be undone too. */
  safety_backup: string | null;
  rows: { deleted: number; restored: number } | null;
}

function isSqliteFile(path: string): boolean {
  const header = Buffer.alloc(16);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  return header.toString('latin1') === 'SQLite format 3\u0000';
}

/** Puts a SQLite backup taken by this tool back in place of the target file. */
async function restoreSqliteBackup(
  file: string,
  config: AppConfig,
  backupDir: string | undefined,
): Promise<RestoreReport> {
  if (config.databaseKind !== 'sqlite' || config.sqlitePath === ':memory:') {
    throw new ToolError(
      `${file} is a SQLite backup, but the target (DATABASE_URL) is not a SQLite file`,
      EXIT_INVALID_OPTIONS,
    );
  }
  if (resolve(file) === resolve(config.sqlitePath)) {
    throw new ToolError('--restore names the service database itself', EXIT_INVALID_OPTIONS);
  }
  let backup: Database.Database;
  try {
    backup = new Database(file, { readonly: true, fileMustExist: true });
    const tables = (
      backup.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as {
        name: string;
      }[]
    ).map((t) => t.name);
    if (!tables.includes('users') || !tables.includes('organizations')) {
      backup.close();
      throw new Error('it holds no users and organizations tables of this service');
    }
  } catch (error) {
    throw new ToolError(
      `cannot restore ${file}: ${(error as Error).message}`,
      EXIT_INVALID_OPTIONS,
    );
  }
  let safety: string | null = null;
  try {
    if (existsSync(config.sqlitePath)) {
      const dir = backupDir ?? join(dirname(config.sqlitePath), 'backups');
      mkdirSync(dir, { recursive: true });
      safety = join(
        dir,
        backupFileName(config.sqlitePath, new Date()).replace(/\.db$/, '-before-restore.db'),
      );
      const current = new Database(config.sqlitePath, { fileMustExist: true });
      try {
        await current.backup(safety);
      } finally {
        current.close();
      }
    }
    // SQLite's backup API copies page by page under the proper locks, so running servers
    // see the restored contents (and drop their caches on the data_version change).
    await backup.backup(config.sqlitePath);
  } catch (error) {
    throw new ToolError(
      `restoring ${file} failed: ${(error as Error).message}`,
      EXIT_TARGET_UNAVAILABLE,
    );
  } finally {
    backup.close();
  }
  return {
    tool: 'migrate-organizations',
    status: 'restored',
    kind: 'sqlite-backup',
    restored_from: file,
    target: config.sqlitePath,
    safety_backup: safety,
    rows: null,
  };
}

/** Puts back, in one transaction, the rows a run recorded in its undo file. */
async function restoreUndoFile(file: string, config: AppConfig): Promise<RestoreReport> {
  let undo: UndoFile;
  try {
    undo = JSON.parse(readFileSync(file, 'utf8')) as UndoFile;
  } catch (error) {
    throw new ToolError(
      `cannot restore ${file}: neither a SQLite backup nor a readable undo file (${(error as Error).message})`,
      EXIT_INVALID_OPTIONS,
    );
  }
  const problem = undoFileProblem(undo);
  if (problem) {
    throw new ToolError(`cannot restore ${file}: ${problem}`, EXIT_INVALID_OPTIONS);
  }
  const target = await openTarget(config, false);
  try {
    await runMigrations(target.dataSource);
    const rows = await withSchemaLock(target.dataSource, () =>
      target.db.write(async (tx) => {
        const done = await applyUndo(tx, target.kind, undo);
        await bulkInsert(
          tx,
          target.kind,
          'audit_events',
          ['actor', 'action', 'target_type', 'target_id', 'before', 'after', 'created_at'],
          [
            [
              MIGRATION_ACTOR,
              'organization.migrate.undo',
              'organization',
              undo.organizations[0] ?? '',
              null,
              JSON.stringify({ undo_file: file, run_at: undo.created_at, ...done }),
              new Date().toISOString(),
            ],
          ],
        );
        return done;
      }),
    );
    return {
      tool: 'migrate-organizations',
      status: 'restored',
      kind: 'undo-file',
      restored_from: file,
      target: undo.target,
      safety_backup: null,
      rows,
    };
  } catch (error) {
    if (error instanceof ToolError) {
      throw error;
    }
    throw new ToolError(
      `restoring ${file} failed and changed nothing: ${(error as Error).message}`,
      EXIT_FAILED,
    );
  } finally {
    await target.cleanup();
  }
}

/**
 * `--restore <file>`: a SQLite backup this tool took is copied back over the target file
 * (after a safety copy of the current one); an undo file (written by a run on PostgreSQL)
 * has the rows that run created deleted and those it changed or removed put back.
 */
export async function restoreBackup(
  file: string,
  config: AppConfig,
  backupDir?: string,
): Promise<RestoreReport> {
  if (!existsSync(file)) {
    throw new ToolError(`--restore ${file}: no such file`, EXIT_INVALID_OPTIONS);
  }
  return isSqliteFile(file)
    ? restoreSqliteBackup(file, config, backupDir)
    : restoreUndoFile(file, config);
}
