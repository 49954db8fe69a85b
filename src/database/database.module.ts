import { Global, Logger, Module } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { ChangeFeedService } from './change-feed.service';
import { createDataSource } from './data-source';
import { DatabaseService, SQLITE_READER } from './database.service';
import { runMigrations } from './migrate';

/**
 * Opens the database, applies migrations before anything else starts, closes it on shutdown.
 * SQLite gets a second connection for reads (see SQLITE_READER).
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
    DatabaseService,
    ChangeFeedService,
  ],
  exports: [DataSource, DatabaseService, ChangeFeedService],
})
export class DatabaseModule {}
