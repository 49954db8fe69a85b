import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** Key of the PostgreSQL advisory lock held while a process migrates or seeds. */
export const SCHEMA_LOCK_KEY = 726_431_905;

const logger = new Logger('Migrations');

/**
 * Runs fn while holding a lock shared by every process on this database:
 * a PostgreSQL session advisory lock, or an immediate SQLite write lock
 * (taken and released around fn, retried while another process holds it).
 */
export async function withSchemaLock<T>(dataSource: DataSource, fn: () => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') {
    const runner = dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK_KEY]);
      return await fn();
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK_KEY]).catch(() => undefined);
      await runner.release();
    }
  }
  return fn();
}

/** Applies pending migrations once, even when several processes boot at the same moment. */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const attempts = dataSource.options.type === 'postgres' ? 1 : 20;
  for (let attempt = 1; ; attempt++) {
    try {
      const applied = await withSchemaLock(dataSource, () =>
        dataSource.runMigrations({ transaction: 'all' }),
      );
      for (const migration of applied) {
        logger.log(`applied ${migration.name}`);
      }
      return applied.map((m) => m.name);
    } catch (error) {
      // Two SQLite processes racing on a fresh file: the loser sees the winner's
      // tables or a busy lock; once the winner commits, a retry finds nothing to do.
      if (attempt >= attempts) {
        throw error;
      }
      logger.warn(`migration attempt ${attempt} failed (${String(error)}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
    }
  }
}
