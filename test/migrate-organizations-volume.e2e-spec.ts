import { Logger } from '@nestjs/common';
import { join } from 'node:path';
import { loadConfig } from '../src/config/load-config';
import { migrateOrganizations, MigrateOptions } from '../tools/lib/openwebui/migrate';
import { manyModels, manyUsers, tempDir, writeOpenWebUiSqlite } from './support/openwebui';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Volume check of the migration tool: 50,000 users and 500 models (MIGRATE_VOLUME_USERS and
 * MIGRATE_VOLUME_MODELS override). Prints the timings; asserts the counts, not the time.
 */
const USERS = Number(process.env.MIGRATE_VOLUME_USERS ?? 50_000);
const MODELS = Number(process.env.MIGRATE_VOLUME_MODELS ?? 500);

describe('migrate-organizations volume', () => {
  let target: TestDatabase;
  let tmp: ReturnType<typeof tempDir>;
  let options: MigrateOptions;

  beforeAll(async () => {
    Logger.overrideLogger(['error']);
    target = await createTestDatabase();
    tmp = tempDir();
    const source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), {
      users: manyUsers(USERS),
      models: manyModels(MODELS),
    });
    options = {
      source,
      externalUser: 'mai_volume',
      name: 'Volume',
      config: loadConfig({ DATABASE_URL: target.url, LOG_LEVEL: 'error' }),
      backupDir: join(tmp.dir, 'backups'),
    };
  });
  afterAll(async () => {
    await target.drop();
    tmp.remove();
  });

  it(`migrates ${USERS} users and ${MODELS} models in one transaction, then finds nothing to do`, async () => {
    const first = await migrateOrganizations(options);
    const members = USERS - Math.ceil(USERS / 10); // every 10th user is pending
    expect(first.counts.users).toMatchObject({ source: USERS, created: USERS, skipped: 0 });
    expect(first.counts.memberships).toMatchObject({ expected: members, created: members });
    expect(first.counts.models).toMatchObject({ created: MODELS });
    expect(first.counts.grants).toMatchObject({ created: MODELS });

    const second = await migrateOrganizations(options);
    expect(second.changed).toBe(false);
    expect(second.totals.unchanged).toBe(1 + USERS + members + 2 * MODELS);

    process.stdout.write(
      `migrate-organizations volume (${target.kind} target): ${USERS} users + ${MODELS} models ` +
        `migrated in ${(first.duration_ms / 1000).toFixed(2)} s; ` +
        `re-run (nothing to change) in ${(second.duration_ms / 1000).toFixed(2)} s\n`,
    );
  });
});
