import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  Optional,
  ServiceUnavailableException,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { Mutex, Semaphore } from './mutex';

/**
 * Why listeners are told: a local write transaction starts or ends (committed or not),
 * or data may have changed elsewhere (another replica, the change feed's state).
 */
export type DataChange = 'write-start' | 'write-end' | 'external';

type ChangeListener = (change: DataChange) => void;

/**
 * A second SQLite connection to the same file, used only for reads outside transactions.
 * In WAL mode it reads the last committed state while a write is open on the main
 * connection, so readers neither wait for writers nor see a write that may still roll back.
 */
export const SQLITE_READER = Symbol('SQLITE_READER');

/** PostgreSQL NOTIFY channel on which every committed write is announced to all replicas. */
export const CHANGE_CHANNEL = 'model_access_changes';

/**
 * Serialization failures and deadlocks, and unique / foreign-key violations: under READ COMMITTED
 * two requests can both see "no row" and insert the same key (or refer to a row deleted meanwhile);
 * the retry sees the committed row, so an idempotent PUT answers 200 and a create answers 409.
 */
const RETRYABLE_PG_CODES = new Set(['40001', '40P01', '23505', '23503']);
const MAX_ATTEMPTS = 5;

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * SQLite's `PRAGMA data_version`: it changes when another connection (another process)
 * commits to the file, never for this connection's own writes.
 */
export async function sqliteDataVersion(manager: EntityManager | DataSource): Promise<number> {
  const rows: { data_version: number }[] = await manager.query('PRAGMA data_version');
  return Number(rows[0]?.data_version);
}

/** True when the database refused because another writer held a lock too long. */
export function isBusyError(error: unknown): boolean {
  const code = errorCode(error) ?? '';
  return code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED');
}

/**
 * The one way the services read and write. Writes run in one transaction each
 * (SQLite: BEGIN IMMEDIATE under an in-process lock, since better-sqlite3 shares one
 * connection; PostgreSQL: READ COMMITTED, retried on serialization failures and
 * deadlocks). Every finished write, committed or not, tells the change listeners,
 * which is how caches learn that the data moved.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown {
  private readonly logger = new Logger(DatabaseService.name);
  private readonly sqliteLock = new Mutex();
  private readonly listeners: ChangeListener[] = [];
  private readonly closeHooks: (() => Promise<void>)[] = [];
  private writesInFlight = 0;
  private changeFeedHealthy = true;
  /** Identifies this process in change notifications sent to other replicas. */
  readonly instanceId = randomUUID();

  /** PostgreSQL: write transactions allowed at once, so reads always find a free connection. */
  private readonly writeSlots: Semaphore;

  constructor(
    readonly dataSource: DataSource,
    private readonly config: AppConfig,
    @Optional() @Inject(SQLITE_READER) private readonly reader?: DataSource | null,
  ) {
    this.writeSlots = new Semaphore(Math.max(1, config.databasePoolSize - 2));
  }

  get kind(): 'sqlite' | 'postgres' {
    return this.config.databaseKind;
  }

  /** Write transactions open in this process right now. */
  get activeWrites(): number {
    return this.writesInFlight;
  }

  /** False while changes made by other replicas could go unnoticed: nothing may be cached. */
  get changesObservable(): boolean {
    return this.changeFeedHealthy;
  }

  /** Set by the change feed: false while it cannot hear other replicas' writes. */
  setChangeFeedHealthy(healthy: boolean): void {
    this.changeFeedHealthy = healthy;
    this.notifyChange();
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** Tells every listener that data may have changed (also used for changes made elsewhere). */
  notifyChange(change: DataChange = 'external'): void {
    for (const listener of this.listeners) {
      listener(change);
    }
  }

  /** Runs reads that must not see another request's uncommitted SQLite transaction. */
  async read<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.reader?.isInitialized) {
      return fn(this.reader.manager);
    }
    if (this.kind === 'sqlite' && this.sqliteLock.locked) {
      // One connection only (e.g. :memory:): wait for the open write to finish.
      return this.sqliteLock.run(() => fn(this.dataSource.manager));
    }
    return fn(this.dataSource.manager);
  }

  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  async write<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    this.writesInFlight++;
    this.notifyChange('write-start');
    try {
      return this.kind === 'sqlite'
        ? await this.sqliteLock.run(() => this.sqliteTransaction(fn))
        : await this.writeSlots.run(() => this.postgresTransaction(fn));
    } finally {
      this.writesInFlight--;
      this.notifyChange('write-end');
    }
  }

  /**
   * Appends rows that no cache reads (the usage ledger) in one transaction: same locking
   * and retries as write(), but listeners and other replicas are not told, so a stream of
   * ledger inserts never empties the access caches.
   */
  async append<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.kind === 'sqlite'
      ? this.sqliteLock.run(() => this.sqliteTransaction(fn))
      : this.writeSlots.run(() => this.postgresTransaction(fn, false));
  }

  /** Runs fn when the application shuts down, before the connection closes (last writes). */
  beforeClose(fn: () => Promise<void>): void {
    this.closeHooks.push(fn);
  }

  private async sqliteTransaction<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.query('BEGIN IMMEDIATE');
    } catch (error) {
      await runner.release();
      throw this.translate(error);
    }
    try {
      const result = await fn(runner.manager);
      await runner.query('COMMIT');
      return result;
    } catch (error) {
      await runner.query('ROLLBACK').catch((rollbackError: unknown) => {
        this.logger.error(`rollback failed: ${String(rollbackError)}`);
      });
      throw this.translate(error);
    } finally {
      await runner.release();
    }
  }

  private async postgresTransaction<T>(
    fn: (tx: EntityManager) => Promise<T>,
    announce = true,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction('READ COMMITTED', async (tx) => {
          const result = await fn(tx);
          // Delivered to every listening replica when (and only if) this transaction commits.
          if (announce) {
            await tx.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, this.instanceId]);
          }
          return result;
        });
      } catch (error) {
        const code = errorCode(error);
        if (code && RETRYABLE_PG_CODES.has(code) && attempt < MAX_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 10));
          continue;
        }
        throw error;
      }
    }
  }

  private translate(error: unknown): unknown {
    if (isBusyError(error)) {
      return new ServiceUnavailableException(
        'The database is busy with another writer; retry the request.',
      );
    }
    return error;
  }

  async onApplicationShutdown(): Promise<void> {
    for (const hook of this.closeHooks) {
      await hook().catch((error: unknown) => {
        this.logger.error(`shutdown hook failed: ${String(error)}`);
      });
    }
    if (this.reader?.isInitialized) {
      await this.reader.destroy();
    }
    if (this.dataSource.isInitialized) {
      await this.dataSource.destroy();
      this.logger.log('database connection closed');
    }
  }
}
