import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { prng } from '../../tools/lib/prng';
import { createPostgresDatabase } from './test-database';

/** A row of Open WebUI's `user` table (columns the tool reads; the rest get defaults). */
export interface OwuiUser {
  id: string;
  /** Open WebUI's name and email columns are nullable. */
  name: string | null;
  email: string | null;
  role: string;
  created_at?: number;
}

/**
 * Who may read a model in Open WebUI: `public` (access_control NULL / grant to user `*`),
 * `private` (owner only: `{}` / no grant), or the groups and users that may read it.
 */
export type OwuiAccess = 'public' | 'private' | { groups?: string[]; users?: string[] };

/** A row of Open WebUI's `model` table. */
export interface OwuiModel {
  id: string;
  name: string;
  base_model_id?: string | null;
  is_active?: boolean;
  /** Default public. */
  access?: OwuiAccess;
  /** The model's user_id (its owner); default `owner-1`. */
  owner?: string;
}

export interface OwuiGroup {
  id: string;
  name: string;
  members: string[];
}

export interface OwuiContent {
  users: OwuiUser[];
  models: OwuiModel[];
  groups?: OwuiGroup[];
  /** The `config` row's data (connections); none when absent. */
  config?: unknown;
}

/**
 * Which Open WebUI schema to create: `0.10` (access_grant, group_member; model without
 * access_control; group without user_ids) or `0.6` (access_control JSON on model, group.user_ids
 * JSON, no access_grant or group_member), the layout of 0.5-0.6.
 */
export type OwuiVersion = '0.10' | '0.6';

/** An injection-looking display name that must arrive verbatim. */
export const INJECTION_NAME = "Robert'); DROP TABLE users;--";

/** The config of a deployment whose one OpenAI-compatible connection lists the models it serves. */
export function servingConfig(modelIds: string[]): unknown {
  return {
    version: 0,
    ui: {},
    openai: {
      enable: true,
      api_base_urls: ['https://openrouter.ai/api/v1'],
      api_keys: ['sk-or-test'],
      api_configs: { '0': { enable: true, model_ids: modelIds } },
    },
    ollama: { enable: false, base_urls: [] },
  };
}

/**
 * A small Open WebUI deployment covering the cases the migration must handle: an admin with a
 * Unicode name, users with injection-looking values, a pending user, unusable rows (empty id,
 * control characters in an id, an over-long id, a name of 256 characters), active and inactive public
 * provider models, presets (one on a provider model of this source, one on a model no
 * connection serves) and a pattern-like id. Expected: 3 members (1 admin), 1 pending, 4 users
 * skipped; 3 provider models (1 inactive), 2 custom, 1 model skipped.
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
    { id: 'bad-name', name: 'n'.repeat(256), email: 'long-name@example.com', role: 'user' },
  ],
  models: [
    { id: 'openai/gpt-4o', name: 'GPT-4o' },
    { id: 'anthropic/claude-3.5-sonnet:beta', name: 'Claude 3.5 Sonnet (beta)' },
    { id: 'meta-llama/llama-3.1-8b-instruct:free', name: 'Llama (off)', is_active: false },
    { id: 'acme-helper', name: 'ACME helper', base_model_id: 'openai/gpt-4o' },
    { id: 'pirate', name: 'Pirate', base_model_id: 'gone/model' },
    { id: 'weird/*', name: 'Star' },
  ],
  config: servingConfig([
    'openai/gpt-4o',
    'anthropic/claude-3.5-sonnet:beta',
    'meta-llama/llama-3.1-8b-instruct:free',
    'weird/*',
  ]),
};

/**
 * Open WebUI's tables as its own models and alembic migrations create them (SQLite flavour;
 * `J` is the JSON type, TEXT on SQLite and JSON on PostgreSQL). Columns, nullability and
 * defaults follow backend/open_webui/models/{users,auths,models,groups,access_grants,chats,
 * config}.py and the migrations that added group_member (37f288994c47, dropping group.user_ids)
 * and access_grant (moving model.access_control into rows). Other tables are left out.
 */
function schemaSql(version: OwuiVersion, pg: boolean): string {
  const J = pg ? 'JSON' : 'TEXT';
  const BOOL_TRUE = pg ? 'TRUE' : '1';
  const BOOL_FALSE = pg ? 'FALSE' : '0';
  const user =
    version === '0.10'
      ? `CREATE TABLE "user" (
  id VARCHAR NOT NULL PRIMARY KEY,
  email VARCHAR,
  username VARCHAR(50),
  role VARCHAR,
  name VARCHAR,
  profile_image_url TEXT,
  profile_banner_image_url TEXT,
  bio TEXT,
  gender TEXT,
  date_of_birth DATE,
  timezone VARCHAR,
  presence_state VARCHAR,
  status_emoji VARCHAR,
  status_message TEXT,
  status_expires_at BIGINT,
  info ${J},
  settings ${J},
  oauth ${J},
  scim ${J},
  last_active_at BIGINT,
  updated_at BIGINT,
  created_at BIGINT
)`
      : `CREATE TABLE "user" (
  id VARCHAR NOT NULL PRIMARY KEY,
  name VARCHAR,
  email VARCHAR,
  role VARCHAR,
  profile_image_url TEXT NOT NULL,
  api_key VARCHAR UNIQUE,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_active_at BIGINT NOT NULL,
  settings ${J},
  info ${J},
  oauth_sub TEXT UNIQUE
)`;
  const model = `CREATE TABLE "model" (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT,
  base_model_id TEXT,
  name TEXT,
  params ${J},
  meta ${J},${version === '0.6' ? `\n  access_control ${J},` : ''}
  is_active BOOLEAN NOT NULL DEFAULT ${BOOL_TRUE},
  updated_at BIGINT,
  created_at BIGINT
)`;
  const group = `CREATE TABLE "group" (
  id TEXT NOT NULL PRIMARY KEY,
  user_id TEXT,
  name TEXT,
  description TEXT,
  data ${J},
  meta ${J},
  permissions ${J},${version === '0.6' ? `\n  user_ids ${J},` : ''}
  created_at BIGINT,
  updated_at BIGINT
)`;
  const tables = [
    user,
    `CREATE TABLE "auth" (
  id VARCHAR NOT NULL PRIMARY KEY,
  email VARCHAR,
  password TEXT,
  active BOOLEAN
)`,
    model,
    group,
    `CREATE TABLE "config" (
  id INTEGER NOT NULL PRIMARY KEY,
  data ${J} NOT NULL,
  version INTEGER NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
)`,
    `CREATE TABLE "chat" (
  id VARCHAR NOT NULL PRIMARY KEY,
  user_id VARCHAR,
  title TEXT,
  chat ${J},
  created_at BIGINT,
  updated_at BIGINT,
  share_id TEXT UNIQUE,
  archived BOOLEAN DEFAULT ${BOOL_FALSE},
  pinned BOOLEAN DEFAULT ${BOOL_FALSE},
  meta ${J} DEFAULT '{}',
  folder_id TEXT
)`,
  ];
  if (version === '0.10') {
    tables.push(
      `CREATE TABLE "group_member" (
  id TEXT NOT NULL PRIMARY KEY,
  group_id TEXT NOT NULL REFERENCES "group"(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES "user"(id) ON DELETE CASCADE,
  created_at BIGINT,
  updated_at BIGINT,
  CONSTRAINT uq_group_member_group_user UNIQUE (group_id, user_id)
)`,
      `CREATE TABLE "access_grant" (
  id TEXT NOT NULL PRIMARY KEY,
  resource_type TEXT NOT NULL,
  resource_id TEXT NOT NULL,
  principal_type TEXT NOT NULL,
  principal_id TEXT NOT NULL,
  permission TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  CONSTRAINT uq_access_grant_grant UNIQUE (resource_type, resource_id, principal_type, principal_id, permission)
)`,
    );
  }
  return `${tables.join(';\n')};`;
}

const EPOCH = 1_700_000_000;

/** The rows to insert, per table, for a version of the schema. */
function rowsFor(content: OwuiContent, version: OwuiVersion, pg: boolean) {
  const json = (v: unknown) => (v === undefined ? null : pg ? v : JSON.stringify(v));
  const bool = (b: boolean) => (pg ? b : b ? 1 : 0);
  const users = content.users.map((u, i) => {
    const at = u.created_at ?? EPOCH + i;
    return version === '0.10'
      ? {
          id: u.id,
          email: u.email,
          role: u.role,
          name: u.name,
          profile_image_url: '/user.png',
          info: null,
          settings: json({ ui: {} }),
          last_active_at: at,
          updated_at: at,
          created_at: at,
        }
      : {
          id: u.id,
          name: u.name,
          email: u.email,
          role: u.role,
          profile_image_url: '/user.png',
          api_key: null,
          created_at: at,
          updated_at: at,
          last_active_at: at,
          settings: json({ ui: {} }),
          info: null,
          oauth_sub: null,
        };
  });
  const accessControl = (a: OwuiAccess | undefined) =>
    a === undefined || a === 'public'
      ? null
      : a === 'private'
        ? json({})
        : json({
            read: { group_ids: a.groups ?? [], user_ids: a.users ?? [] },
            write: { group_ids: [], user_ids: [] },
          });
  const models = content.models.map((m, i) => ({
    id: m.id,
    user_id: m.owner ?? 'owner-1',
    base_model_id: m.base_model_id ?? null,
    name: m.name,
    params: json({}),
    meta: json({ description: null, profile_image_url: '/static/favicon.png' }),
    ...(version === '0.6' ? { access_control: accessControl(m.access) } : {}),
    is_active: bool(m.is_active ?? true),
    updated_at: EPOCH + i,
    created_at: EPOCH + i,
  }));
  const groups = (content.groups ?? []).map((g, i) => ({
    id: g.id,
    user_id: 'owner-1',
    name: g.name,
    description: '',
    data: null,
    meta: null,
    permissions: json({ workspace: { models: false } }),
    ...(version === '0.6' ? { user_ids: json(g.members) } : {}),
    created_at: EPOCH + i,
    updated_at: EPOCH + i,
  }));
  const tables: Record<string, Record<string, unknown>[]> = {
    user: users,
    model: models,
    group: groups,
    auth: [{ id: 'u-1', email: 'a@example.com', password: 'hash', active: bool(true) }],
    chat: [
      { id: 'c-1', user_id: 'u-1', title: 'hi', chat: json({}), created_at: 1, updated_at: 1 },
    ],
    config: content.config === undefined ? [] : [{ id: 1, data: json(content.config), version: 0 }],
  };
  if (version === '0.10') {
    tables.group_member = (content.groups ?? []).flatMap((g) =>
      g.members.map((userId, i) => ({
        id: `${g.id}-m-${i}`,
        group_id: g.id,
        user_id: userId,
        created_at: EPOCH,
        updated_at: EPOCH,
      })),
    );
    tables.access_grant = content.models.flatMap((m) => {
      const a = m.access ?? 'public';
      const principals: [string, string][] =
        a === 'public'
          ? [['user', '*']]
          : a === 'private'
            ? []
            : [
                ...(a.groups ?? []).map((g): [string, string] => ['group', g]),
                ...(a.users ?? []).map((u): [string, string] => ['user', u]),
              ];
      return principals.map(([type, id]) => ({
        id: `${m.id}|${type}|${id}`,
        resource_type: 'model',
        resource_id: m.id,
        principal_type: type,
        principal_id: id,
        permission: 'read',
        created_at: EPOCH,
      }));
    });
  }
  return tables;
}

/**
 * Writes an Open WebUI-shaped SQLite database (WAL, as Open WebUI runs it) and returns its
 * path. `version` picks the schema (default 0.10).
 */
export function writeOpenWebUiSqlite(
  file: string,
  content: OwuiContent,
  version: OwuiVersion = '0.10',
): string {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(schemaSql(version, false));
    db.pragma('foreign_keys = OFF'); // group_member may name users the fixture leaves out
    db.transaction(() => {
      for (const [table, rows] of Object.entries(rowsFor(content, version, false))) {
        for (const row of rows) {
          const cols = Object.keys(row);
          db.prepare(
            `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`,
          ).run(...Object.values(row));
        }
      }
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

/**
 * Creates a temporary PostgreSQL database holding an Open WebUI-shaped schema and content, in
 * `schema` when given (Open WebUI's DATABASE_SCHEMA) rather than public.
 */
export async function createOpenWebUiPostgres(
  content: OwuiContent,
  /** Replaces Open WebUI's schema (for sources with a wrong layout); content is then not inserted. */
  ddl?: string,
  options: { version?: OwuiVersion; schema?: string } = {},
): Promise<OwuiPostgres> {
  const db = await createPostgresDatabase('owui_src');
  const client = new Client({ connectionString: db.url });
  try {
    await client.connect();
    if (ddl !== undefined) {
      await client.query(ddl);
      return db;
    }
    if (options.schema) {
      await client.query(`CREATE SCHEMA "${options.schema}"`);
      await client.query(`SET search_path TO "${options.schema}"`);
    }
    const version = options.version ?? '0.10';
    await client.query(schemaSql(version, true));
    await client.query('SET session_replication_role = replica'); // no FK checks for fixtures
    for (const [table, rows] of Object.entries(rowsFor(content, version, true))) {
      if (rows.length === 0) {
        continue;
      }
      const cols = Object.keys(rows[0]);
      const values = rows.map((r) => cols.map((c) => r[c] as unknown));
      await insertRows(client, table, cols, values);
    }
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
  cols: string[],
  rows: unknown[][],
): Promise<void> {
  const columns = cols.length;
  const perStatement = Math.floor(60000 / columns);
  for (let start = 0; start < rows.length; start += perStatement) {
    const slice = rows.slice(start, start + perStatement);
    const placeholders = slice
      .map(
        (_, r) =>
          `(${Array.from({ length: columns }, (_, c) => `$${r * columns + c + 1}`).join(', ')})`,
      )
      .join(', ');
    await client.query(
      `INSERT INTO "${table}" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES ${placeholders}`,
      slice.flat().map((v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : v)),
    );
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
export function sqliteFingerprint(file: string, except: string[] = []): Fingerprint | null {
  if (!existsSync(file)) {
    return null;
  }
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const names = db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      .all()
      .filter((t) => !except.includes((t as { name: string }).name)) as { name: string }[];
    return digest(
      Object.fromEntries(names.map((t) => [t.name, db.prepare(`SELECT * FROM "${t.name}"`).all()])),
    );
  } finally {
    db.close();
  }
}

/** Fingerprint of every table in a PostgreSQL database's public schema. */
export async function postgresFingerprint(
  url: string,
  except: string[] = [],
): Promise<Fingerprint> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const names = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const tables: Record<string, unknown[]> = {};
    for (const t of names.rows.filter((r) => !except.includes(r.table_name))) {
      tables[t.table_name] = (await client.query(`SELECT * FROM "${t.table_name}"`)).rows;
    }
    return digest(tables);
  } finally {
    await client.end();
  }
}

/** Fingerprint of a test database (SQLite file or PostgreSQL). */
export async function fingerprint(
  db: { kind: string; url: string; file: string },
  except: string[] = [],
) {
  return db.kind === 'postgres'
    ? postgresFingerprint(db.url, except)
    : sqliteFingerprint(db.file, except);
}

/**
 * An Open WebUI deployment with awkward data and every kind of model access, generated from a
 * seed: `users` users (names with tabs, U+2028, 255 emoji, NULL names and emails, emails with
 * spaces, pending users, admins, a few unusable rows), five groups (one empty, one of pending
 * users only, overlapping members), and 26 model rows: public, group-restricted, private to
 * their owner, granted to single users, inactive, an override row no connection serves any more,
 * and presets on a provider model, on a base with no row of its own, on an inactive base, on an
 * unserved base, and an inactive preset.
 */
export function awkwardDeployment(users = 240, seed = 14): OwuiContent {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
  const list: OwuiUser[] = [];
  for (let i = 0; i < users; i++) {
    const id = i % 3 === 0 ? randomUuid(random) : `user-${i}`;
    const role = i === 0 ? 'admin' : i % 11 === 0 ? 'pending' : i % 29 === 0 ? 'admin' : 'user';
    const name = [
      `User ${i}`,
      `Tab\tName ${i}`,
      `Line\u2028Separator ${i}`,
      '🦊'.repeat(255),
      null,
      `Zażółć 管理者 ${i}`,
      INJECTION_NAME,
    ][i % 7];
    const email = [
      `user${i}@example.com`,
      `first last${i}@example.com`,
      null,
      `USER${i}@Example.COM`,
      `u${i}+tag@example.co.uk`,
    ][i % 5];
    list.push({ id, name, email, role });
  }
  list.push(
    { id: 'bad-name-user', name: 'n'.repeat(256), email: 'n@example.com', role: 'user' },
    { id: 'nul\u0000user', name: 'Nul Id', email: 'nul@example.com', role: 'user' },
  );
  const ids = list.slice(0, users).map((u) => u.id);
  const someOf = (share: number) => ids.filter(() => random() < share);
  const admin = ids[0];
  const groups: OwuiGroup[] = [
    { id: randomUuid(random), name: 'Sales', members: someOf(0.3) },
    { id: randomUuid(random), name: 'Engineering 工程', members: someOf(0.4) },
    { id: randomUuid(random), name: 'Contractors', members: someOf(0.1) },
    { id: randomUuid(random), name: 'Empty', members: [] },
    {
      id: randomUuid(random),
      name: 'Waiting room',
      members: ids.filter((_, i) => i % 11 === 0 && i > 0),
    },
  ];
  const [sales, eng, contractors, empty, waiting] = groups.map((g) => g.id);
  const single = () => [pick(ids), pick(ids)];
  const served = [
    'openai/gpt-4o',
    'openai/gpt-4o-mini',
    'anthropic/claude-3.5-sonnet:beta',
    'anthropic/claude-3-haiku',
    'google/gemini-1.5-pro',
    'meta-llama/llama-3.1-70b-instruct',
    'meta-llama/llama-3.1-8b-instruct:free',
    'mistralai/mistral-large',
    'mistralai/codestral',
    'deepseek/deepseek-chat',
    'qwen/qwen-2.5-72b-instruct',
    'cohere/command-r-plus',
    'x-ai/grok-2',
    'perplexity/sonar',
    'nousresearch/hermes-3',
    'microsoft/phi-3-medium',
    'openrouter/auto',
    'base/no-row-of-its-own',
  ];
  const models: OwuiModel[] = [
    { id: 'openai/gpt-4o', name: 'GPT-4o', access: 'public' },
    { id: 'openai/gpt-4o-mini', name: 'GPT-4o mini', access: 'public' },
    { id: 'anthropic/claude-3.5-sonnet:beta', name: 'Claude', access: { groups: [sales, eng] } },
    { id: 'anthropic/claude-3-haiku', name: 'Haiku', access: { groups: [eng] } },
    { id: 'google/gemini-1.5-pro', name: 'Gemini', access: { groups: [contractors] } },
    { id: 'meta-llama/llama-3.1-70b-instruct', name: 'Llama 70b', access: 'private', owner: admin },
    {
      id: 'meta-llama/llama-3.1-8b-instruct:free',
      name: 'Llama 8b',
      access: 'public',
      is_active: false,
    },
    { id: 'mistralai/mistral-large', name: 'Mistral', access: { users: single() } },
    { id: 'mistralai/codestral', name: 'Codestral', access: { groups: [eng], users: single() } },
    { id: 'deepseek/deepseek-chat', name: 'DeepSeek', access: { groups: [empty] } },
    { id: 'qwen/qwen-2.5-72b-instruct', name: 'Qwen', access: { groups: [waiting] } },
    {
      id: 'cohere/command-r-plus',
      name: 'Command R+',
      access: { groups: [sales], users: [admin] },
    },
    {
      id: 'x-ai/grok-2',
      name: 'Grok',
      access: { groups: [sales, eng, contractors, empty, waiting] },
    },
    { id: 'perplexity/sonar', name: 'Sonar', access: 'public' },
    { id: 'nousresearch/hermes-3', name: 'Hermes', access: { groups: ['deleted-group-id'] } },
    {
      id: 'microsoft/phi-3-medium',
      name: 'Phi',
      access: { groups: [contractors] },
      is_active: false,
    },
    { id: 'openrouter/auto', name: 'Auto', access: 'private', owner: pick(ids) },
    { id: 'retired/model-gone', name: 'Retired (not served)', access: 'public' },
    // Presets (base_model_id set)
    {
      id: 'sales-assistant',
      name: 'Sales assistant',
      base_model_id: 'openai/gpt-4o',
      access: { groups: [sales] },
    },
    {
      id: 'eng-reviewer',
      name: 'Reviewer',
      base_model_id: 'mistralai/mistral-large',
      access: { groups: [eng] },
    },
    {
      id: 'no-row-helper',
      name: 'Helper',
      base_model_id: 'base/no-row-of-its-own',
      access: { groups: [contractors] },
    },
    {
      id: 'off-base',
      name: 'On an inactive base',
      base_model_id: 'microsoft/phi-3-medium',
      access: 'public',
    },
    {
      id: 'unserved-base',
      name: 'On an unserved base',
      base_model_id: 'gone/away',
      access: 'public',
    },
    {
      id: 'sleeping-preset',
      name: 'Inactive preset',
      base_model_id: 'x-ai/grok-2',
      access: 'public',
      is_active: false,
    },
    {
      id: 'personal-preset',
      name: 'Mine',
      base_model_id: 'anthropic/claude-3-haiku',
      access: 'private',
      owner: pick(ids),
    },
    { id: 'preset-on-preset', name: 'Chained', base_model_id: 'sales-assistant', access: 'public' },
  ];
  return { users: list, models, groups, config: servingConfig(served) };
}

function randomUuid(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}
