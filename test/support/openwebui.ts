import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createPostgresDatabase } from './test-database';

/** A row of Open WebUI's `user` table (columns the tool reads; the rest get defaults). */
export interface OwuiUser {
  id: string;
  name: string;
  email: string;
  role: string;
  created_at?: number;
}

/** A row of Open WebUI's `model` table. */
export interface OwuiModel {
  id: string;
  name: string;
  base_model_id?: string | null;
  is_active?: boolean;
}

export interface OwuiContent {
  users: OwuiUser[];
  models: OwuiModel[];
}

/** An injection-looking display name that must arrive verbatim. */
export const INJECTION_NAME = "Robert'); DROP TABLE users;--";

/**
 * A small Open WebUI deployment covering the cases the migration must handle: an admin with a
 * Unicode name, users with injection-looking values, a pending user, unusable rows (empty id,
 * control characters, an over-long id), active and inactive provider models, custom models
 * (one on a provider model of this source, one on an unknown base) and a pattern-like id.
 * Expected: 3 members (1 admin), 1 pending, 4 users skipped; 3 provider models (1 inactive),
 * 2 custom, 1 model skipped.
 */
export const SAMPLE_DEPLOYMENT: OwuiContent = {
  users: [
    { id: 'owui-admin', name: 'Zażółć Gęślą 管理者', email: 'admin@example.com', role: 'admin' },
    { id: 'owui-user-1', name: INJECTION_NAME, email: 'bobby@example.com', role: 'user' },
    { id: "x' OR '1'='1", name: 'Quote Id', email: 'q+tag@example.com', role: 'user' },
    { id: 'owui-pending', name: 'Pat Pending', email: 'pat@example.com', role: 'pending' },
    { id: '', name: 'Empty Id', email: 'empty@example.com', role: 'user' },
    { id: 'ctl\u0001id', name: 'Control Id', email: 'ctl@example.com', role: 'user' },
    { id: 'long-' + 'x'.repeat(300), name: 'Long Id', email: 'long@example.com', role: 'user' },
    { id: 'bad-name', name: 'Bell\u0007', email: 'bell@example.com', role: 'user' },
  ],
  models: [
    { id: 'openai/gpt-4o', name: 'GPT-4o' },
    { id: 'anthropic/claude-3.5-sonnet:beta', name: 'Claude 3.5 Sonnet (beta)' },
    { id: 'meta-llama/llama-3.1-8b-instruct:free', name: 'Llama (off)', is_active: false },
    { id: 'acme-helper', name: 'ACME helper', base_model_id: 'openai/gpt-4o' },
    { id: 'pirate', name: 'Pirate', base_model_id: 'gone/model' },
    { id: 'weird/*', name: 'Star' },
  ],
};

/**
 * Open WebUI's schema (v0.6, SQLite flavour): the real column names and constraints of
 * `user` and `model`, plus `auth` and `chat`, which the migration must ignore.
 */
const SQLITE_SCHEMA = `
CREATE TABLE "user" (
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  profile_image_url TEXT NOT NULL,
  api_key VARCHAR(255) UNIQUE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  last_active_at INTEGER NOT NULL,
  settings TEXT,
  info TEXT,
  oauth_sub TEXT UNIQUE
);
CREATE TABLE "model" (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT NOT NULL,
  base_model_id TEXT,
  name TEXT NOT NULL,
  meta TEXT NOT NULL,
  params TEXT NOT NULL,
  access_control TEXT,
  is_active BOOLEAN NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE "auth" (
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  email VARCHAR(255) NOT NULL,
  password TEXT NOT NULL,
  active INTEGER NOT NULL
);
CREATE TABLE "chat" (
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  user_id VARCHAR(255) NOT NULL,
  title TEXT NOT NULL,
  chat TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  share_id VARCHAR(255) UNIQUE,
  archived INTEGER NOT NULL DEFAULT 0
);
`;

const POSTGRES_SCHEMA = `
CREATE TABLE "user" (
  id VARCHAR NOT NULL PRIMARY KEY,
  name VARCHAR NOT NULL,
  email VARCHAR NOT NULL,
  role VARCHAR NOT NULL,
  profile_image_url TEXT NOT NULL,
  api_key VARCHAR UNIQUE,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_active_at BIGINT NOT NULL,
  settings JSON,
  info JSON,
  oauth_sub TEXT UNIQUE
);
CREATE TABLE "model" (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT NOT NULL,
  base_model_id TEXT,
  name TEXT NOT NULL,
  meta JSON NOT NULL,
  params JSON NOT NULL,
  access_control JSON,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE TABLE "auth" (
  id VARCHAR NOT NULL PRIMARY KEY,
  email VARCHAR NOT NULL,
  password TEXT NOT NULL,
  active BOOLEAN NOT NULL
);
CREATE TABLE "chat" (
  id VARCHAR NOT NULL PRIMARY KEY,
  user_id VARCHAR NOT NULL,
  title TEXT NOT NULL,
  chat JSON NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  share_id VARCHAR UNIQUE,
  archived BOOLEAN NOT NULL DEFAULT FALSE
);
`;

const EPOCH = 1_700_000_000;

function userValues(u: OwuiUser, i: number): unknown[] {
  const at = u.created_at ?? EPOCH + i;
  return [u.id, u.name, u.email, u.role, '/user.png', null, at, at, at, '{"ui":{}}', null, null];
}

function modelValues(m: OwuiModel, i: number, forSqlite: boolean): unknown[] {
  const active = m.is_active ?? true;
  return [
    m.id,
    'owner-1',
    m.base_model_id ?? null,
    m.name,
    '{"description":null}',
    '{}',
    null,
    forSqlite ? (active ? 1 : 0) : active,
    EPOCH + i,
    EPOCH + i,
  ];
}

/** Writes an Open WebUI-shaped SQLite database (WAL, as Open WebUI runs it) and returns its path. */
export function writeOpenWebUiSqlite(file: string, content: OwuiContent): string {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(SQLITE_SCHEMA);
    const insertUser = db.prepare(`INSERT INTO "user" VALUES (${'?,'.repeat(11)}?)`);
    const insertModel = db.prepare(`INSERT INTO "model" VALUES (${'?,'.repeat(9)}?)`);
    db.transaction(() => {
      content.users.forEach((u, i) => insertUser.run(...userValues(u, i)));
      content.models.forEach((m, i) => insertModel.run(...modelValues(m, i, true)));
      db.prepare(`INSERT INTO "auth" VALUES ('u-1', 'a@example.com', 'hash', 1)`).run();
      db.prepare(
        `INSERT INTO "chat" (id, user_id, title, chat, created_at, updated_at) VALUES ('c-1', 'u-1', 'hi', '{}', 1, 1)`,
      ).run();
    })();
  } finally {
    db.close();
  }
  return file;
}

/** A temporary directory for source files, removed by the returned function. */
export function tempDir(prefix = 'owui-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface OwuiPostgres {
  url: string;
  drop(): Promise<void>;
}

/** Creates a temporary PostgreSQL database holding an Open WebUI-shaped schema and content. */
export async function createOpenWebUiPostgres(
  content: OwuiContent,
  /** Replaces Open WebUI's schema (for sources with a wrong layout); content is then not inserted. */
  ddl?: string,
): Promise<OwuiPostgres> {
  const db = await createPostgresDatabase('owui_src');
  const client = new Client({ connectionString: db.url });
  try {
    await client.connect();
    if (ddl !== undefined) {
      await client.query(ddl);
      return db;
    }
    await client.query(POSTGRES_SCHEMA);
    await insertRows(client, 'user', 12, content.users.map(userValues));
    await insertRows(
      client,
      'model',
      10,
      content.models.map((m, i) => modelValues(m, i, false)),
    );
  } catch (error) {
    await client.end().catch(() => undefined);
    await db.drop();
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
  return db;
}

async function insertRows(
  client: Client,
  table: string,
  columns: number,
  rows: unknown[][],
): Promise<void> {
  const perStatement = Math.floor(60000 / columns);
  for (let start = 0; start < rows.length; start += perStatement) {
    const slice = rows.slice(start, start + perStatement);
    const placeholders = slice
      .map(
        (_, r) =>
          `(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(', ')})`,
      )
      .join(', ');
    await client.query(`INSERT INTO "${table}" VALUES ${placeholders}`, slice.flat());
  }
}

/** Many plain users for volume tests: every 10th pending, every 50th admin. */
export function manyUsers(count: number, prefix = 'bulk'): OwuiUser[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `${prefix}-${i.toString().padStart(6, '0')}-${randomBytes(4).toString('hex')}`,
    name: `User ${i}`,
    email: `${prefix}${i}@example.com`,
    role: i % 10 === 0 ? 'pending' : i % 50 === 1 ? 'admin' : 'user',
  }));
}

/** Many provider models: `provider-k/model-i`, every 7th inactive. */
export function manyModels(count: number): OwuiModel[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `provider-${i % 20}/model-${i}:beta`,
    name: `Model ${i}`,
    is_active: i % 7 !== 0,
  }));
}

/** Row counts per table and one hash over every row: equal fingerprints mean equal contents. */
export interface Fingerprint {
  counts: Record<string, number>;
  hash: string;
}

function digest(tables: Record<string, unknown[]>): Fingerprint {
  const hash = createHash('sha256');
  const counts: Record<string, number> = {};
  for (const table of Object.keys(tables).sort()) {
    const rows = tables[table].map((r) => JSON.stringify(r)).sort();
    counts[table] = rows.length;
    hash.update(`${table}\n${rows.join('\n')}\n`);
  }
  return { counts, hash: hash.digest('hex') };
}

/** Fingerprint of a SQLite file (opened read-only); an absent file has none. */
export function sqliteFingerprint(file: string): Fingerprint | null {
  if (!existsSync(file)) {
    return null;
  }
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const names = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .all() as { name: string }[];
    return digest(
      Object.fromEntries(names.map((t) => [t.name, db.prepare(`SELECT * FROM "${t.name}"`).all()])),
    );
  } finally {
    db.close();
  }
}

/** Fingerprint of every table in a PostgreSQL database's public schema. */
export async function postgresFingerprint(url: string): Promise<Fingerprint> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const names = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const tables: Record<string, unknown[]> = {};
    for (const t of names.rows) {
      tables[t.table_name] = (await client.query(`SELECT * FROM "${t.table_name}"`)).rows;
    }
    return digest(tables);
  } finally {
    await client.end();
  }
}

/** Fingerprint of a test database (SQLite file or PostgreSQL). */
export async function fingerprint(db: { kind: string; url: string; file: string }) {
  return db.kind === 'postgres' ? postgresFingerprint(db.url) : sqliteFingerprint(db.file);
}
