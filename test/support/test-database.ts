import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';

/**
 * A fresh, empty database for one test file: a temporary SQLite file by default,
 * or a new PostgreSQL database on the server named by E2E_DATABASE_URL, dropped after.
 */
export interface TestDatabase {
  kind: 'sqlite' | 'postgres';
  url: string;
  /** SQLite file path (empty for PostgreSQL). */
  file: string;
  drop(): Promise<void>;
}

export const POSTGRES_URL = process.env.E2E_DATABASE_URL ?? '';

export function onPostgres(): boolean {
  return POSTGRES_URL.startsWith('postgres');
}

/**
 * A new, empty database on the PostgreSQL server of E2E_DATABASE_URL (or the local default),
 * named `<prefix>_<time>_<random>`; drop() removes it, closing any connection left open.
 */
export async function createPostgresDatabase(
  prefix: string,
): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = new URL(POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test');
  const name = `${prefix}_${Date.now()}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: base.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base.toString());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new Client({ connectionString: base.toString() });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

export async function createTestDatabase(
  kind: 'sqlite' | 'postgres' = onPostgres() ? 'postgres' : 'sqlite',
): Promise<TestDatabase> {
  if (kind === 'postgres') {
    const db = await createPostgresDatabase('mas_test');
    return { kind, url: db.url, file: '', drop: db.drop };
  }
  const dir = mkdtempSync(join(tmpdir(), 'mas-test-'));
  const file = join(dir, 'app.db');
  return {
    kind,
    url: `sqlite:${file}`,
    file,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}
