import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Client } from 'pg';
import { AppConfig } from '../config/app-config';
import { decodeChanges } from './change-message';
import { CHANGE_CHANNEL, DatabaseService, EVERYTHING } from './database.service';

const RECONNECT_DELAY_MS = 250;
/** How often a SQLite server looks for commits made by other processes (e.g. the migration tool). */
export const SQLITE_POLL_MS = 250;
const KEEPALIVE_MS = 5000;

/**
 * Hears the writes of other processes and tells the DatabaseService, which tells the
 * caches. SQLite: polls PRAGMA data_version. PostgreSQL: LISTEN/NOTIFY; every write that
 * changes something commits a pg_notify naming the rows it wrote (change-message.ts), so a
 * replica learns of it within the notification latency (milliseconds; the documented
 * bound is one second) and forgets exactly what a local write of those rows would make it
 * forget: the change goes through the same DatabaseService.notifyChange. While the
 * listening connection is down, caching is switched off, and everything is dropped again
 * on reconnect, so a lost notification can never leave a stale answer behind.
 */
@Injectable()
export class ChangeFeedService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(ChangeFeedService.name);
  private client: Client | null = null;
  private keepalive: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly dead = new WeakSet<Client>();

  constructor(
    private readonly db: DatabaseService,
    private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.databaseKind !== 'postgres') {
      await this.watchSqliteFile();
      return;
    }
    await this.connect();
  }

  /**
   * SQLite has no NOTIFY. `PRAGMA data_version` changes when another connection (another
   * process, such as migrate:organizations) commits to the file, never for this process's
   * own writes, so polling it bounds how long such a change can go unseen.
   */
  private async watchSqliteFile(): Promise<void> {
    let last = await this.db.sqliteDataVersion();
    let busy = false;
    this.keepalive = setInterval(() => {
      if (busy) {
        return;
      }
      busy = true;
      this.db
        .sqliteDataVersion()
        .then((version) => {
          const changed = version !== null && version !== last;
          last = version;
          return changed ? this.db.externalSqliteChange() : undefined;
        })
        .catch(() => undefined)
        .finally(() => {
          busy = false;
        });
    }, SQLITE_POLL_MS);
    this.keepalive.unref();
  }

  private async connect(): Promise<void> {
    this.db.setChangeFeedHealthy(false);
    const client = new Client({ connectionString: this.config.databaseUrl });
    client.on('notification', (message) => {
      if (message.channel !== CHANGE_CHANNEL) {
        return;
      }
      const change = decodeChanges(message.payload ?? '');
      if (change === null) {
        // not a text this version writes (another version of the service): assume the worst
        this.db.notifyChange({ kind: 'external', tables: EVERYTHING });
        return;
      }
      // This process's own writes were applied when they ended.
      if (change.instanceId !== this.db.instanceId) {
        this.db.notifyChange({ kind: 'external', tables: change.tables });
      }
      this.db.heardRevision(change.revision);
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (error) {
      this.lost(client, error);
      return;
    }
    this.client = client;
    this.db.setChangeFeedHealthy(true);
    this.keepalive = setInterval(() => {
      client.query('SELECT 1').catch((error: unknown) => this.lost(client, error));
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  private lost(client: Client, error: unknown): void {
    if (this.stopped || this.dead.has(client)) {
      return;
    }
    this.dead.add(client);
    this.logger.warn(`change feed lost (${String(error)}); caching is off until it reconnects`);
    this.client = null;
    this.db.setChangeFeedHealthy(false);
    if (this.keepalive) {
      clearInterval(this.keepalive);
      this.keepalive = null;
    }
    client.removeAllListeners('end');
    client.end().catch(() => undefined);
    setTimeout(() => {
      if (!this.stopped && this.client === null) {
        void this.connect();
      }
    }, RECONNECT_DELAY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.keepalive) {
      clearInterval(this.keepalive);
    }
    const client = this.client;
    this.client = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
