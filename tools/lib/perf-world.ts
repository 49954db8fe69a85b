import { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/load-config';
import { createDataSource } from '../../src/database/data-source';
import { runMigrations } from '../../src/database/migrate';
import { prng } from './prng';

/** Sizes of a benchmark world. */
export interface WorldSize {
  users: number;
  organizations: number;
  models: number;
}

export const SMALL_WORLD: WorldSize = { users: 10_000, organizations: 100, models: 500 };
export const SCALE_WORLD: WorldSize = { users: 100_000, organizations: 1_000, models: 2_000 };

/** What the seeder wrote, kept in memory so the load can pick real ids. */
export interface World {
  size: WorldSize;
  userIds: string[];
  modelIds: string[];
  organizationIds: string[];
  /** Per user index: the organization indexes they belong to. */
  membershipsOf: number[][];
  /** Per organization index: exact model ids granted (active or not). */
  grantsOf: string[][];
  /** Per organization index: pattern grants (`provider-03/*`). */
  patternsOf: string[][];
  counts: { users: number; models: number; organizations: number; members: number; grants: number };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/**
 * Builds the world in memory: users in 1 to 3 organizations (a few suspended, a few
 * organization admins), organizations with a dozen exact grants and, for a third of
 * them, a provider pattern grant; a few archived organizations, inactive models and
 * inactive grants, so every refusal reason occurs.
 */
export function buildWorld(size: WorldSize, seed = 42): World {
  const random = prng(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
  const providers = Math.max(4, Math.round(size.models / 25));
  const modelIds: string[] = [];
  for (let i = 0; i < size.models; i++) {
    const provider = i % providers;
    modelIds.push(
      i % 10 === 9
        ? `workspace/custom-${pad(i, 5)}:latest`
        : `provider-${pad(provider, 3)}/model-${pad(i, 5)}-v1.5`,
    );
  }
  const organizationIds = Array.from({ length: size.organizations }, (_, i) => `org-${pad(i, 5)}`);
  const grantsOf: string[][] = [];
  const patternsOf: string[][] = [];
  for (let o = 0; o < size.organizations; o++) {
    const grants = new Set<string>();
    while (grants.size < Math.min(12, size.models)) {
      grants.add(pick(modelIds));
    }
    grantsOf.push([...grants]);
    patternsOf.push(o % 3 === 0 ? [`provider-${pad(o % providers, 3)}/*`] : []);
  }
  const userIds = Array.from({ length: size.users }, (_, i) => `user-${pad(i, 7)}`);
  const membershipsOf: number[][] = [];
  for (let u = 0; u < size.users; u++) {
    const r = random();
    const count = r < 0.7 ? 1 : r < 0.95 ? 2 : 3;
    const orgs = new Set<number>();
    while (orgs.size < count) {
      orgs.add(Math.floor(random() * size.organizations));
    }
    membershipsOf.push([...orgs]);
  }
  const members = membershipsOf.reduce((n, m) => n + m.length, 0);
  const grants = grantsOf.reduce((n, g) => n + g.length, 0) + patternsOf.flat().length;
  return {
    size,
    userIds,
    modelIds,
    organizationIds,
    membershipsOf,
    grantsOf,
    patternsOf,
    counts: {
      users: size.users,
      models: size.models,
      organizations: size.organizations,
      members,
      grants,
    },
  };
}

/**
 * Writes the world into an empty database through the service's own data source and
 * migrations, with multi-row INSERTs in one transaction (seconds even at --scale).
 */
export async function seedWorld(databaseUrl: string, world: World): Promise<void> {
  const config = loadConfig({ DATABASE_URL: databaseUrl, LOG_LEVEL: 'error' });
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
    await insertWorld(dataSource, world, config.databaseKind === 'postgres');
  } finally {
    await dataSource.destroy();
  }
}

async function insertWorld(ds: DataSource, world: World, postgres: boolean): Promise<void> {
  const bool = (value: boolean): boolean | number => (postgres ? value : value ? 1 : 0);
  const now = new Date('2026-01-01T00:00:00.000Z').toISOString();
  const runner = ds.createQueryRunner();
  await runner.connect();
  const insert = async (table: string, columns: string[], rows: unknown[][]): Promise<void> => {
    const perStatement = Math.max(1, Math.floor(30_000 / columns.length));
    for (let i = 0; i < rows.length; i += perStatement) {
      const chunk = rows.slice(i, i + perStatement);
      const params: unknown[] = [];
      const tuples = chunk.map((row) => {
        const marks = row.map((value) => {
          params.push(value);
          return postgres ? `$${params.length}` : '?';
        });
        return `(${marks.join(', ')})`;
      });
      await runner.query(
        `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${tuples.join(', ')}`,
        params,
      );
    }
  };
  try {
    await runner.startTransaction();
    await insert(
      'users',
      ['id', 'name', 'email', 'role', 'created_at', 'updated_at'],
      world.userIds.map((id, i) => [
        id,
        `User ${i}`,
        `${id}@example.com`,
        i % 200 === 0 ? 'admin' : 'user',
        now,
        now,
      ]),
    );
    await insert(
      'models',
      ['id', 'name', 'base_model_id', 'is_active', 'created_at', 'updated_at'],
      world.modelIds.map((id, i) => [
        id,
        `Model ${i}`,
        id.startsWith('workspace/') ? world.modelIds[i - 1] : null,
        bool(i % 50 !== 7),
        now,
        now,
      ]),
    );
    await insert(
      'organizations',
      [
        'id',
        'name',
        'external_user',
        'is_active',
        'auto_grant_new_models',
        'created_at',
        'updated_at',
      ],
      world.organizationIds.map((id, i) => [
        id,
        `Organization ${i} — Ünïcode`,
        `mai_client_${id.replace(/-/g, '_')}`,
        bool(i % 50 !== 13),
        bool(false),
        now,
        now,
      ]),
    );
    const members: unknown[][] = [];
    world.membershipsOf.forEach((orgs, u) => {
      for (const o of orgs) {
        members.push([
          world.organizationIds[o],
          world.userIds[u],
          u % 97 === 0 ? 'admin' : 'member',
          bool(u % 33 !== 5),
          now,
          now,
        ]);
      }
    });
    await insert(
      'organization_members',
      ['organization_id', 'user_id', 'role', 'is_active', 'joined_at', 'updated_at'],
      members,
    );
    const grants: unknown[][] = [];
    world.organizationIds.forEach((orgId, o) => {
      [...world.grantsOf[o], ...world.patternsOf[o]].forEach((modelId, g) => {
        grants.push([orgId, modelId, bool((o + g) % 31 !== 3), now, now]);
      });
    });
    await insert(
      'organization_models',
      ['organization_id', 'model_id', 'is_active', 'created_at', 'updated_at'],
      grants,
    );
    await runner.commitTransaction();
  } catch (error) {
    await runner.rollbackTransaction();
    throw error;
  } finally {
    await runner.release();
  }
}
