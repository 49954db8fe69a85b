import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { Client } from 'pg';
import { redactUrl, ToolError } from '../cli';

/** Exit codes for source problems (documented in the tool's --help). */
export const EXIT_SOURCE_UNREADABLE = 3;
export const EXIT_SOURCE_LAYOUT = 4;

/** The columns the migration reads; every other column of these tables is ignored. */
export const REQUIRED_COLUMNS = {
  user: ['id', 'name', 'email', 'role', 'created_at'],
  model: ['id', 'base_model_id', 'name', 'is_active'],
} as const;

export type SourceTable = keyof typeof REQUIRED_COLUMNS;

/** A row of Open WebUI's `user` table, values as the driver returned them. */
export interface SourceUser {
  id: unknown;
  name: unknown;
  email: unknown;
  role: unknown;
  created_at: unknown;
}

/** A row of Open WebUI's `model` table, values as the driver returned them. */
export interface SourceModel {
  id: unknown;
  base_model_id: unknown;
  name: unknown;
  is_active: unknown;
}

export interface SourceSnapshot {
  kind: 'sqlite' | 'postgres';
  /** File path, or URL with the password hidden. */
  location: string;
  users: SourceUser[];
  models: SourceModel[];
}

/** True when the --source value names a PostgreSQL database rather than a SQLite file. */
export function isPostgresSource(source: string): boolean {
  return /^postgres(ql)?:\/\//.test(source);
}

/** The SQLite file a --source value names (`sqlite:` prefix allowed). */
export function sqliteSourcePath(source: string): string {
  return source.startsWith('sqlite:') ? source.slice('sqlite:'.length) : source;
}

function layoutError(location: string, problems: string[]): ToolError {
  return new ToolError(
    `${location} does not look like an Open WebUI database:\n${problems
      .map((p) => `  - ${p}`)
      .join('\n')}`,
    EXIT_SOURCE_LAYOUT,
  );
}

/** Problems with the source's layout given the columns found per table (null: table missing). */
export function layoutProblems(columns: Record<SourceTable, string[] | null>): string[] {
  const problems: string[] = [];
  for (const table of Object.keys(REQUIRED_COLUMNS) as SourceTable[]) {
    const found = columns[table];
    if (found === null) {
      problems.push(`table "${table}" is missing`);
      continue;
    }
    const missing = REQUIRED_COLUMNS[table].filter((c) => !found.includes(c));
    if (missing.length > 0) {
      problems.push(
        `table "${table}" lacks column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (found: ${found.join(', ') || 'none'})`,
      );
    }
  }
  return problems;
}

const userQuery = `SELECT ${REQUIRED_COLUMNS.user.map((c) => `"${c}"`).join(', ')} FROM "user"`;
const modelQuery = `SELECT ${REQUIRED_COLUMNS.model.map((c) => `"${c}"`).join(', ')} FROM "model"`;

function readSqlite(source: string): SourceSnapshot {
  const path = sqliteSourcePath(source);
  if (!existsSync(path)) {
    throw new ToolError(`source file ${path} does not exist`, EXIT_SOURCE_UNREADABLE);
  }
  if (!statSync(path).isFile()) {
    throw new ToolError(`source ${path} is not a file`, EXIT_SOURCE_UNREADABLE);
  }
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new ToolError(
      `cannot open source ${path}: ${(error as Error).message}`,
      EXIT_SOURCE_UNREADABLE,
    );
  }
  try {
    const columns = {} as Record<SourceTable, string[] | null>;
    try {
      for (const table of Object.keys(REQUIRED_COLUMNS) as SourceTable[]) {
        const info = db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
        columns[table] = info.length === 0 ? null : info.map((c) => c.name);
      }
    } catch (error) {
      throw new ToolError(
        `cannot read source ${path} as SQLite: ${(error as Error).message}`,
        EXIT_SOURCE_UNREADABLE,
      );
    }
    const problems = layoutProblems(columns);
    if (problems.length > 0) {
      throw layoutError(path, problems);
    }
    // One read transaction: users and models come from the same snapshot.
    const read = db.transaction(() => ({
      users: db.prepare(userQuery).all() as SourceUser[],
      models: db.prepare(modelQuery).all() as SourceModel[],
    }));
    return { kind: 'sqlite', location: path, ...read() };
  } finally {
    db.close();
  }
}

async function readPostgres(source: string): Promise<SourceSnapshot> {
  const location = redactUrl(source);
  const client = new Client({ connectionString: source, connectionTimeoutMillis: 10000 });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new ToolError(
      `cannot connect to source ${location}: ${(error as Error).message}`,
      EXIT_SOURCE_UNREADABLE,
    );
  }
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const found = await client.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = ANY($1)
       ORDER BY ordinal_position`,
      [Object.keys(REQUIRED_COLUMNS)],
    );
    const columns = { user: null, model: null } as Record<SourceTable, string[] | null>;
    for (const row of found.rows) {
      const table = row.table_name as SourceTable;
      (columns[table] ??= []).push(row.column_name);
    }
    const problems = layoutProblems(columns);
    if (problems.length > 0) {
      throw layoutError(location, problems);
    }
    const users = await client.query<SourceUser>(userQuery);
    const models = await client.query<SourceModel>(modelQuery);
    await client.query('COMMIT');
    return { kind: 'postgres', location, users: users.rows, models: models.rows };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Reads the `user` and `model` tables of an Open WebUI database (a SQLite file opened
 * read-only, or a PostgreSQL URL inside a read-only transaction) after checking that the
 * tables and the columns the migration needs exist. Never writes to the source.
 */
export async function readOpenWebUi(source: string): Promise<SourceSnapshot> {
  return isPostgresSource(source) ? readPostgres(source) : readSqlite(source);
}
