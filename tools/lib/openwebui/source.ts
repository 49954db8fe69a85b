import Database from 'better-sqlite3';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Client } from 'pg';
import { redactUrl, ToolError } from '../cli';

/** Exit codes for source problems (documented in the tool's --help). */
export const EXIT_SOURCE_UNREADABLE = 3;
export const EXIT_SOURCE_LAYOUT = 4;

/** The message for an Open WebUI older than 0.5 (no per-model access control yet). */
export const TOO_OLD =
  'is too old: upgrade Open WebUI to 0.5 or later first (its own migrations then add per-model access control, which this tool needs)';

/** The columns the migration reads; every other column of these tables is ignored. */
export const REQUIRED_COLUMNS = {
  user: ['id', 'name', 'email', 'role', 'created_at'],
  model: ['id', 'user_id', 'base_model_id', 'name', 'is_active'],
} as const;

export type SourceTable = keyof typeof REQUIRED_COLUMNS;

/** Tables read when present, to learn who could read which model. */
const OPTIONAL_TABLES = ['group', 'group_member', 'access_grant', 'config'] as const;
type OptionalTable = (typeof OPTIONAL_TABLES)[number];
type Columns = Record<SourceTable | OptionalTable, string[] | null>;

/** A row of Open WebUI's `user` table, values as the driver returned them. */
export interface SourceUser {
  id: unknown;
  name: unknown;
  email: unknown;
  role: unknown;
  created_at: unknown;
}

/** A row of Open WebUI's `model` table (access_control only in versions before access_grant). */
export interface SourceModel {
  id: unknown;
  user_id: unknown;
  base_model_id: unknown;
  name: unknown;
  is_active: unknown;
  access_control?: unknown;
}

/** An Open WebUI group with its members (from group_member, or the older user_ids JSON). */
export interface SourceGroup {
  id: unknown;
  name: unknown;
  members: unknown[];
}

/** A read grant on a model from Open WebUI's access_grant table. */
export interface SourceGrant {
  resource_id: unknown;
  principal_type: unknown;
  principal_id: unknown;
}

export interface SourceSnapshot {
  kind: 'sqlite' | 'postgres';
  /** File path, or URL with the password hidden. */
  location: string;
  /** How the source was read without writing to it. */
  readMode: string;
  users: SourceUser[];
  models: SourceModel[];
  groups: SourceGroup[];
  /** Model read grants from access_grant; null when the source predates that table. */
  grants: SourceGrant[] | null;
  /** The newest `config` row's data (connections), null when absent or unreadable. */
  config: unknown;
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

/**
 * An Open WebUI before 0.5: its user table is there, but models carry no access control
 * (neither the access_control column nor the later access_grant table).
 */
export function isTooOld(columns: Partial<Columns>): boolean {
  const user = columns.user;
  if (!user || !REQUIRED_COLUMNS.user.every((c) => user.includes(c))) {
    return false;
  }
  return !columns.access_grant && !(columns.model ?? []).includes('access_control');
}

function checkLayout(location: string, columns: Columns): void {
  if (isTooOld(columns)) {
    throw new ToolError(`${location} ${TOO_OLD}`, EXIT_SOURCE_LAYOUT);
  }
  const problems = layoutProblems(columns);
  if (problems.length > 0) {
    throw layoutError(location, problems);
  }
}

const quote = (name: string) => `"${name}"`;

/** The statements that read a source of the given layout (same SQL on SQLite and PostgreSQL). */
function queries(columns: Columns) {
  const modelColumns: string[] = [...REQUIRED_COLUMNS.model];
  if (!columns.access_grant && columns.model?.includes('access_control')) {
    modelColumns.push('access_control');
  }
  const group = columns.group;
  return {
    users: `SELECT ${REQUIRED_COLUMNS.user.map(quote).join(', ')} FROM "user"`,
    models: `SELECT ${modelColumns.map(quote).join(', ')} FROM "model"`,
    groups:
      group && group.includes('id') && group.includes('name')
        ? `SELECT "id", "name"${
            !columns.group_member && group.includes('user_ids') ? ', "user_ids"' : ''
          } FROM "group"`
        : null,
    members:
      columns.group_member &&
      columns.group_member.includes('group_id') &&
      columns.group_member.includes('user_id')
        ? `SELECT "group_id", "user_id" FROM "group_member"`
        : null,
    grants: columns.access_grant
      ? `SELECT "resource_id", "principal_type", "principal_id" FROM "access_grant"
         WHERE "resource_type" = 'model' AND "permission" = 'read'`
      : null,
    config: columns.config?.includes('data')
      ? `SELECT "data" FROM "config" ORDER BY "id" DESC LIMIT 1`
      : null,
  };
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') {
    return value;
  }
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

/** Groups with their members, from group_member rows or each group's user_ids JSON. */
function assembleGroups(
  groups: Record<string, unknown>[],
  members: Record<string, unknown>[] | null,
): SourceGroup[] {
  const byGroup = new Map<unknown, unknown[]>();
  for (const m of members ?? []) {
    const list = byGroup.get(m.group_id) ?? [];
    list.push(m.user_id);
    byGroup.set(m.group_id, list);
  }
  return groups.map((g) => {
    const json = members === null ? parseJson(g.user_ids) : undefined;
    return {
      id: g.id,
      name: g.name,
      members: members !== null ? (byGroup.get(g.id) ?? []) : Array.isArray(json) ? json : [],
    };
  });
}

/** Whether a SQLite file is in WAL mode (header bytes 18-19 are 2), without opening it. */
function isWalFile(path: string): boolean {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  return header[18] === 2 && header[19] === 2;
}

function readSqlite(source: string): SourceSnapshot {
  const path = sqliteSourcePath(source);
  if (!existsSync(path)) {
    throw new ToolError(`source file ${path} does not exist`, EXIT_SOURCE_UNREADABLE);
  }
  const stat = statSync(path);
  if (!stat.isFile()) {
    throw new ToolError(`source ${path} is not a file`, EXIT_SOURCE_UNREADABLE);
  }
  if (stat.size === 0) {
    throw new ToolError(
      `source ${path} is not a database: the file is empty (0 bytes)`,
      EXIT_SOURCE_UNREADABLE,
    );
  }
  // Opening a WAL-mode file, even read-only, creates -shm and -wal files beside it (and fails
  // on a read-only volume). Such a source is copied, with its -wal if any, into a private
  // directory and read there; any other file is opened read-only in place, which writes nothing.
  let copyDir: string | null = null;
  let open = path;
  let readMode = 'opened read-only in place (rollback-journal mode: nothing is written beside it)';
  try {
    if (isWalFile(path) || existsSync(`${path}-wal`)) {
      copyDir = mkdtempSync(join(tmpdir(), 'migrate-organizations-source-'));
      open = join(copyDir, basename(path));
      copyFileSync(path, open);
      if (existsSync(`${path}-wal`)) {
        copyFileSync(`${path}-wal`, `${open}-wal`);
      }
      readMode =
        'read from a private copy (WAL mode: opening it in place would create -shm/-wal files beside it)';
    }
  } catch (error) {
    if (copyDir) {
      rmSync(copyDir, { recursive: true, force: true });
    }
    throw new ToolError(
      `cannot read source ${path}: ${(error as Error).message}`,
      EXIT_SOURCE_UNREADABLE,
    );
  }
  let db: Database.Database | null = null;
  try {
    try {
      db = new Database(open, { readonly: copyDir === null, fileMustExist: true });
    } catch (error) {
      throw new ToolError(
        `cannot open source ${path}: ${(error as Error).message}`,
        EXIT_SOURCE_UNREADABLE,
      );
    }
    const conn = db;
    const columns = {} as Columns;
    try {
      for (const table of [...Object.keys(REQUIRED_COLUMNS), ...OPTIONAL_TABLES] as (
        SourceTable | OptionalTable
      )[]) {
        const info = conn.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[];
        columns[table] = info.length === 0 ? null : info.map((c) => c.name);
      }
    } catch (error) {
      throw new ToolError(
        `cannot read source ${path} as SQLite: ${(error as Error).message}`,
        EXIT_SOURCE_UNREADABLE,
      );
    }
    checkLayout(path, columns);
    const q = queries(columns);
    const all = (sql: string | null) =>
      sql === null ? null : (conn.prepare(sql).all() as Record<string, unknown>[]);
    // One read transaction: every table comes from the same snapshot.
    const read = conn.transaction(() => ({
      users: all(q.users) as unknown as SourceUser[],
      models: all(q.models) as unknown as SourceModel[],
      groups: assembleGroups(all(q.groups) ?? [], all(q.members)),
      grants: all(q.grants) as unknown as SourceGrant[] | null,
      config: parseJson(all(q.config)?.[0]?.data) ?? null,
    }));
    return { kind: 'sqlite', location: path, readMode, ...read() };
  } finally {
    db?.close();
    if (copyDir) {
      rmSync(copyDir, { recursive: true, force: true });
    }
  }
}

async function readPostgres(source: string, schema: string | undefined): Promise<SourceSnapshot> {
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
    if (schema !== undefined) {
      const found = await client.query(
        'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
        [schema],
      );
      if (found.rowCount === 0) {
        throw new ToolError(
          `source ${location} has no schema "${schema}" (--source-schema; Open WebUI's DATABASE_SCHEMA)`,
          EXIT_SOURCE_LAYOUT,
        );
      }
      await client.query(`SET LOCAL search_path TO "${schema.replace(/"/g, '""')}"`);
    }
    const found = await client.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = current_schema() AND table_name = ANY($1)
       ORDER BY ordinal_position`,
      [[...Object.keys(REQUIRED_COLUMNS), ...OPTIONAL_TABLES]],
    );
    const columns = {
      user: null,
      model: null,
      group: null,
      group_member: null,
      access_grant: null,
      config: null,
    } as Columns;
    for (const row of found.rows) {
      (columns[row.table_name as keyof Columns] ??= []).push(row.column_name);
    }
    const where = schema === undefined ? location : `${location} (schema "${schema}")`;
    checkLayout(where, columns);
    const q = queries(columns);
    const all = async (sql: string | null) =>
      sql === null ? null : (await client.query<Record<string, unknown>>(sql)).rows;
    const users = (await all(q.users)) as unknown as SourceUser[];
    const models = (await all(q.models)) as unknown as SourceModel[];
    const groups = assembleGroups((await all(q.groups)) ?? [], await all(q.members));
    const grants = (await all(q.grants)) as unknown as SourceGrant[] | null;
    const config = parseJson((await all(q.config))?.[0]?.data) ?? null;
    await client.query('COMMIT');
    return {
      kind: 'postgres',
      location: where,
      readMode: 'read in one read-only transaction (REPEATABLE READ READ ONLY)',
      users,
      models,
      groups,
      grants,
      config,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Reads an Open WebUI database (a SQLite file, never written to, or a PostgreSQL URL inside a
 * read-only transaction, optionally in a schema) after checking its version and layout: users,
 * models, groups with their members, per-model read access, and the connections' config.
 */
export async function readOpenWebUi(source: string, schema?: string): Promise<SourceSnapshot> {
  return isPostgresSource(source) ? readPostgres(source, schema) : readSqlite(source);
}
