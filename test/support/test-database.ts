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

export async function createTestDatabase(
  kind: 'sqlite' | 'postgres' = onPostgres() ? 'postgres' : 'sqlite',
): Promise<TestDatabase> {
  if (kind === 'postgres') {
    const base = new URL(POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/test');
    const name = `mas_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
    const admin = new Client({ connectionString: base.toString() });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(base.toString());
    url.pathname = `/${name}`;
    return {
      kind,
      url: url.toString(),
      file: '',
      drop: async () => {
        const client = new Client({ connectionString: base.toString() });
        await client.connect();
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await client.end();
      },
    };
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
