import type { Database as SqliteConnection } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
import { AppConfig } from '../config/app-config';
import { ENTITIES } from './entities';

/**
 * Options for the one data source of a process, from the validated config.
 * SQLite: better-sqlite3, WAL, foreign keys on, busy timeout. PostgreSQL: pg pool.
 * The schema comes only from migrations (never synchronize).
 */
export function buildDataSourceOptions(config: AppConfig): DataSourceOptions {
  const common = {
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    logging: false as const,
  };
  if (config.databaseKind === 'postgres') {
    return {
      ...common,
      type: 'postgres',
      url: config.databaseUrl,
      poolSize: config.databasePoolSize,
      extra: {
        max: config.databasePoolSize,
        connectionTimeoutMillis: 5000,
        // Every write transaction runs READ COMMITTED (DatabaseService relies on it), set once
        // per connection so that BEGIN needs no second statement (a round trip per write).
        options: '-c default_transaction_isolation=read\\ committed',
        // Statements are sent as soon as they are issued, not after the previous one's answer:
        // a write's BEGIN, and its last statements with COMMIT, cost one wait for an answer
        // each (DatabaseService.postgresAttempt). Sequential code behaves as before.
        pipeline: true,
      },
    };
  }
  if (config.sqlitePath !== ':memory:') {
    mkdirSync(dirname(config.sqlitePath), { recursive: true });
  }
  return {
    ...common,
    type: 'better-sqlite3',
    database: config.sqlitePath,
    enableWAL: config.sqlitePath !== ':memory:',
    timeout: config.sqliteBusyTimeoutMs,
    prepareDatabase: (db: {
      pragma: (sql: string) => unknown;
      function: (
        name: string,
        options: { deterministic: boolean },
        fn: (value: unknown) => unknown,
      ) => unknown;
    }) => {
      db.pragma('foreign_keys = ON');
      db.pragma(`busy_timeout = ${config.sqliteBusyTimeoutMs}`);
      db.pragma('synchronous = NORMAL');
      // SQLite's LOWER folds ASCII only; searches must fold Ż, Ć, Ω... as PostgreSQL does.
      db.function('lower', { deterministic: true }, (value) =>
        typeof value === 'string' ? value.toLowerCase() : value,
      );
    },
  };
}

export function createDataSource(config: AppConfig): DataSource {
  return new DataSource(buildDataSourceOptions(config));
}

/** The better-sqlite3 connection under a SQLite data source (TypeORM keeps one per source). */
export function sqliteConnectionOf(dataSource: DataSource): SqliteConnection {
  return (dataSource.driver as unknown as { databaseConnection: SqliteConnection })
    .databaseConnection;
}
