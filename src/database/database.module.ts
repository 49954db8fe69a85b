import { Global, Logger, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ChangeFeedService } from './change-feed.service';
import { createDataSource, sqliteConnectionOf } from './data-source';
import { DatabaseService, SQLITE_READER } from './database.service';
import { runMigrations } from './migrate';
import { WalCheckpointer } from './wal-checkpointer';

/**
 * Opens the database, applies migrations before anything else starts, closes it on shutdown.
 * SQLite gets a second connection for reads (see SQLITE_READER) and, unless
 * SQLITE_CHECKPOINT_INTERVAL_MS is 0, a thread that checkpoints the WAL (see WalCheckpointer).
 */
@Global()
@Module({
  providers: [
    {
      provide: DataSource,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<DataSource> => {
        const dataSource = createDataSource(config);
        await dataSource.initialize();
        await runMigrations(dataSource);
        new Logger('Database').log(`ready (${config.databaseKind})`);
        return dataSource;
      },
    },
    {
      provide: SQLITE_READER,
      inject: [AppConfig, DataSource],
      useFactory: async (config: AppConfig): Promise<DataSource | null> => {
        if (config.databaseKind !== 'sqlite' || config.sqlitePath === ':memory:') {
          return null;
        }
        const reader = createDataSource(config);
        await reader.initialize();
        return reader;
      },
    },
    {
      provide: WalCheckpointer,
      inject: [AppConfig, DataSource, SQLITE_READER],
      useFactory: async (
        config: AppConfig,
        writer: DataSource,
        reader: DataSource | null,
      ): Promise<WalCheckpointer | null> => {
        if (!reader || config.sqliteCheckpointIntervalMs === 0) {
          return null; // PostgreSQL, :memory: (no WAL), or checkpoints left to SQLite
        }
        const checkpointer = new WalCheckpointer({
          file: config.sqlitePath,
          intervalMs: config.sqliteCheckpointIntervalMs,
          connections: [sqliteConnectionOf(writer), sqliteConnectionOf(reader)],
        });
        await checkpointer.start();
        return checkpointer;
      },
    },
    DatabaseService,
    ChangeFeedService,
  ],
  exports: [DataSource, DatabaseService, ChangeFeedService, WalCheckpointer],
})
export class DatabaseModule {}
