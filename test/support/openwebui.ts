import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { POSTGRES_URL } from './test-database';

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
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL,
  role VARCHAR(255) NOT NULL,
  profile_image_url TEXT NOT NULL,
  api_key VARCHAR(255) UNIQUE,
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
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  email VARCHAR(255) NOT NULL,
  password TEXT NOT NULL,
  active BOOLEAN NOT NULL
);
CREATE TABLE "chat" (
  id VARCHAR(255) NOT NULL PRIMARY KEY,
  user_id VARCHAR(255) NOT NULL,
  title TEXT NOT NULL,
  chat JSON NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  share_id VARCHAR(255) UNIQUE,
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
export async function createOpenWebUiPostgres(content: OwuiContent): Promise<OwuiPostgres> {
  const base = new URL(POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test');
  const name = `owui_src_${Date.now()}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: base.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    await client.query(POSTGRES_SCHEMA);
    await insertRows(client, 'user', 12, content.users.map(userValues));
    await insertRows(
      client,
      'model',
      10,
      content.models.map((m, i) => modelValues(m, i, false)),
    );
  } finally {
    await client.end();
  }
  return {
    url: url.toString(),
    drop: async () => {
      const c = new Client({ connectionString: base.toString() });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
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
