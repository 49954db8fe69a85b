import {
  Inject,
  Injectable,
  Logger,
  OnApplicationShutdown,
  Optional,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { Database as SqliteConnection, Statement as SqliteStatement } from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { Client as PgClient, QueryResult } from 'pg';
import {
  DataSource,
  EntityManager,
  EntityTarget,
  FindOptionsWhere,
  ObjectLiteral,
  QueryFailedError,
  QueryRunner,
} from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { databaseErrorKind, isBusyError } from '../common/database-errors';
import { AppConfig } from '../config/app-config';
import { encodeChanges } from './change-message';
import { sqliteConnectionOf } from './data-source';
import { runMigrations, withSchemaLock } from './migrate';
import { Mutex, Semaphore } from './mutex';
import { WalCheckpointer } from './wal-checkpointer';
import {
  recordWrittenRevision,
  REVISION_WAIT_MS,
  RevisionNotReachedException,
  RevisionSource,
} from './revisions';

/**
 * One table a write changed. With `rows`, the write declared (DatabaseService.declareRows)
 * that its statements on this table changed only rows whose `column` is one of `keys`;
 * without, any row may have changed. The table `*` means "anything" (a statement the
 * service cannot read, such as DDL).
 */
export interface TableChange {
  table: string;
  rows?: { column: string; keys: readonly string[] };
}

/** Every table, every row: what listeners assume when they cannot know better. */
export const EVERYTHING: readonly TableChange[] = [{ table: '*' }];

/**
 * What listeners are told: a local write transaction ended (committed or rolled back) after
 * writing `tables`, or data changed in another process (another replica, the migration tool).
 */
export type DataChange =
  | { kind: 'write'; tables: readonly TableChange[] }
  | { kind: 'external'; tables: readonly TableChange[] };

type ChangeListener = (change: DataChange) => void;

/** Told of every unit of database work: DatabaseService.read and .write (metrics). */
export type DatabaseTimer = (
  operation: 'read' | 'write',
  outcome: 'success' | 'error',
  seconds: number,
) => void;

/**
 * A second SQLite connection to the same file, used only for reads outside transactions.
 * In WAL mode it reads the last committed state while a write is open on the main
 * connection, so readers neither wait for writers nor see a write that may still roll back.
 */
export const SQLITE_READER = Symbol('SQLITE_READER');

/**
 * PostgreSQL NOTIFY channel on which every committed write that changed something is
 * announced to all replicas, naming the rows it wrote (see change-message.ts).
 */
export const CHANGE_CHANNEL = 'model_access_changes';

/** SQLite: the one-row table that counts revisions (migration AccessRevision). */
const SQLITE_REVISION_TABLE = 'access_revision';

/** Revisions a replica remembers having heard on the change feed (the newest ones). */
const HEARD_REVISIONS = 65_536;
/** How often a read waiting for a revision looks again. */
const REVISION_POLL_MS = 20;

/** A finished transaction: what fn returned and the revision the database is at after it. */
interface Committed<T> {
  result: T;
  revision: bigint | null;
}

const MAX_ATTEMPTS = 5;

/** A row as the drivers answer it. */
export type Row = Record<string, unknown>;

/** A statement as its driver takes it: placeholders already in the driver's form, and values. */
export type BoundStatement = readonly [sql: string, params: readonly unknown[]];

/** What appendStatements() did: every step's rows, or which step stopped the transaction. */
export type StatementsOutcome =
  { committed: true; rows: Row[][] } | { committed: false; rowlessAt: number };

/** Statements prepared per SQLite connection (a few fixed texts; forgotten past this many). */
const PREPARED_LIMIT = 64;

/**
 * SQLite: statements prepared once on one better-sqlite3 connection and run synchronously,
 * without TypeORM's promise per statement.
 */
class PreparedStatements {
  private readonly prepared = new Map<string, SqliteStatement<unknown[], Row>>();

  constructor(readonly connection: SqliteConnection) {}

  run(sql: string, params: readonly unknown[]): Row[] {
    let statement = this.prepared.get(sql);
    if (!statement) {
      if (this.prepared.size >= PREPARED_LIMIT) {
        this.prepared.clear();
      }
      statement = this.connection.prepare<unknown[], Row>(sql);
      this.prepared.set(sql, statement);
    }
    if (statement.reader) {
      return statement.all(...params);
    }
    statement.run(...params);
    return [];
  }
}

/** Thrown inside appendStatements() to roll back when a statement answers no row. */
class Rowless extends Error {
  constructor(readonly index: number) {
    super('statement answered no row');
  }
}

const WRITE_STATEMENT =
  /^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+["`]?(\w+)["`]?/i;
const READ_STATEMENT =
  /^\s*(?:SELECT|PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START|SET|SHOW|EXPLAIN|LISTEN|UNLISTEN)\b/i;

/**
 * What a SQL statement writes: null for reads and transaction control, the table
 * (lower-cased) for INSERT / UPDATE / DELETE, `*` for anything else (DDL, unknown).
 */
export function statementTarget(sql: string): string | null {
  if (READ_STATEMENT.test(sql)) {
    return null;
  }
  return WRITE_STATEMENT.exec(sql)?.[1].toLowerCase() ?? '*';
}

/** Thrown for an INSERT, UPDATE or DELETE on a table of the service outside db.write(). */
export class WriteOutsideTransactionError extends Error {
  constructor(table: string) {
    super(
      `A statement writes "${table}" outside DatabaseService.write(): every write must run ` +
        'through it, or caches and other replicas never learn of the change (docs/ARCHITECTURE.md).',
    );
  }
}

/** A row inserted by a write (DatabaseService.insertAtCommit). */
interface InsertedRow {
  table: string;
  row: Readonly<Record<string, string | null>>;
}

/** The tables (and declared rows) one db.write() call changed, over all its attempts. */
class WriteRecord {
  private readonly declared = new Map<string, { column: string; keys: Set<string> }>();
  private readonly written = new Map<string, { column: string; keys: Set<string> } | 'all'>();
  /** Statements the current attempt runs at its end (emptied when an attempt starts). */
  pending: BoundStatement[] = [];

  declare(table: string, column: string, keys: readonly string[]): void {
    const current = this.declared.get(table);
    if (current && current.column !== column) {
      throw new Error(`Rows of "${table}" declared by two columns in one write.`);
    }
    const entry = current ?? { column, keys: new Set<string>() };
    keys.forEach((key) => entry.keys.add(key));
    this.declared.set(table, entry);
  }

  wrote(table: string): void {
    const declared = this.declared.get(table);
    const current = this.written.get(table);
    if (current === 'all') {
      return;
    }
    if (!declared) {
      this.written.set(table, 'all');
      return;
    }
    const entry = current ?? { column: declared.column, keys: new Set<string>() };
    declared.keys.forEach((key) => entry.keys.add(key));
    this.written.set(table, entry);
  }

  /** True once a statement of the write changed a table. */
  get changed(): boolean {
    return this.written.size > 0;
  }

  changes(): TableChange[] {
    return [...this.written].map(([table, rows]) =>
      rows === 'all' ? { table } : { table, rows: { column: rows.column, keys: [...rows.keys] } },
    );
  }
}

/**
 * The one way the services read and write. Writes run in one transaction each
 * (SQLite: BEGIN IMMEDIATE under an in-process lock, since better-sqlite3 shares one
 * connection; PostgreSQL: READ COMMITTED, retried on serialization failures and
 * deadlocks). Every statement is seen here: a write records the tables it changed and
 * tells the change listeners when it ends, which is how caches (and, through the change
 * feed, other replicas) learn that the data moved. An INSERT, UPDATE or DELETE on one of
 * the service's tables anywhere else throws WriteOutsideTransactionError.
 */
@Injectable()
export class DatabaseService implements OnApplicationShutdown, RevisionSource {
  private readonly logger = new Logger(DatabaseService.name);
  private readonly sqliteLock = new Mutex();
  private readonly listeners: ChangeListener[] = [];
  /** PostgreSQL: the write each open transaction's query runner belongs to. */
  private readonly openWrites = new WeakMap<QueryRunner, WriteRecord>();
  /**
   * SQLite: the open write, if any. better-sqlite3 shares one connection (and TypeORM one
   * query runner) for everything, so any statement on it while the lock is held is that write's.
   */
  private sqliteWrite: WriteRecord | null = null;
  private guardedTables: Set<string> | null = null;
  private migrating = 0;
  private timer: DatabaseTimer | null = null;
  private readonly closeHooks: (() => Promise<void>)[] = [];
  private changeFeedHealthy = true;
  /** Identifies this process in change notifications sent to other replicas. */
  readonly instanceId = randomUUID();
  /**
   * PostgreSQL: revisions whose notification this process has handled (its own included),
   * newest last. Notifications arrive in commit order, so having handled revision r means
   * the caches reflect r and every write committed before it.
   */
  private readonly heard = new Set<bigint>();
  /** SQLite: the newest revision the caches reflect (every write runs in this process). */
  private knownRevision = 0n;

  /** PostgreSQL: write transactions allowed at once, so reads always find a free connection. */
  private readonly writeSlots: Semaphore;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    @Optional() @Inject(SQLITE_READER) private readonly reader?: DataSource | null,
    @Optional() @Inject(WalCheckpointer) private readonly checkpointer?: WalCheckpointer | null,
  ) {
    this.writeSlots = new Semaphore(Math.max(1, config.databasePoolSize - 2));
    this.watchStatements(dataSource);
    if (reader) {
      this.watchStatements(reader);
    }
  }

  get kind(): 'sqlite' | 'postgres' {
    return this.config.databaseKind;
  }

  /** False while changes made by other replicas could go unnoticed: nothing may be cached. */
  get changesObservable(): boolean {
    return this.changeFeedHealthy;
  }

  /** Set by the change feed: false while it cannot hear other replicas' writes. */
  setChangeFeedHealthy(healthy: boolean): void {
    this.changeFeedHealthy = healthy;
    this.notifyChange({ kind: 'external', tables: EVERYTHING });
  }

  onChange(listener: ChangeListener): void {
    this.listeners.push(listener);
  }

  /** Times every read and write from now on (one timer; metrics sets it). */
  setTimer(timer: DatabaseTimer | null): void {
    this.timer = timer;
  }

  /** Tells every listener that data changed (the change feed calls it for other processes). */
  notifyChange(change: DataChange): void {
    for (const listener of this.listeners) {
      listener(change);
    }
  }

  /**
   * Declares, inside a write, that its statements on `table` change only rows whose
   * `column` is one of `keys`: listeners are told those keys instead of "the whole table".
   * A promise about the whole transaction: declare before the first statement on the table
   * and include every key any statement of it may change.
   */
  declareRows(tx: EntityManager, table: string, column: string, keys: readonly string[]): void {
    const record = this.recordOf(tx.queryRunner);
    if (!record) {
      throw new Error('declareRows() is only valid inside DatabaseService.write().');
    }
    record.declare(table, column, keys);
  }

  /**
   * Runs `statement` (an INSERT, UPDATE or DELETE in the driver's placeholder form) as one of
   * the last of the write `tx` belongs to, after everything fn does, in the order given. For
   * statements whose answer nothing in the transaction needs: an error still rolls the whole
   * write back. On PostgreSQL they go out together with the announcement and COMMIT, so they
   * cost the write no turn of the event loop of their own (see postgresAttempt).
   */
  writeAtCommit(tx: EntityManager, statement: BoundStatement): void {
    const record = this.recordOf(tx.queryRunner);
    if (!record) {
      throw new Error('writeAtCommit() is only valid inside DatabaseService.write().');
    }
    record.pending.push(statement);
  }

  /**
   * Saves an entity's row at the end of the write `tx` belongs to (writeAtCommit): the UPDATE
   * of `changes` on the row `key` names when `existing`, else the INSERT of `entity`. For a
   * write that read the row itself and needs no answer from this statement.
   */
  saveAtCommit<T extends ObjectLiteral>(
    tx: EntityManager,
    target: EntityTarget<T>,
    existing: boolean,
    entity: T,
    key: FindOptionsWhere<T>,
    changes: QueryDeepPartialEntity<T>,
  ): void {
    const write = tx.getRepository(target).createQueryBuilder();
    this.writeAtCommit(
      tx,
      existing
        ? write.update().set(changes).where(key).getQueryAndParameters()
        : write.insert().values(entity).getQueryAndParameters(),
    );
  }

  /**
   * Inserts `row` (column → value) into `table` at the end of the write `tx` belongs to
   * (writeAtCommit). For rows nothing in the transaction reads back, such as the audit log.
   */
  insertAtCommit(
    tx: EntityManager,
    table: string,
    row: Readonly<Record<string, string | null>>,
  ): void {
    this.writeAtCommit(tx, insertStatement(this.kind, { table, row }));
  }

  /** Runs reads that must not see another request's uncommitted SQLite transaction. */
  read<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    return this.timer ? this.timed('read', () => this.untimedRead(fn)) : this.untimedRead(fn);
  }

  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  write<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.timer ? this.timed('write', () => this.untimedWrite(fn)) : this.untimedWrite(fn);
  }

  /**
   * Applies pending migrations on this connection (the migration tool; the server applies
   * them before this service exists). Data migrations may write any table meanwhile;
   * listeners are then told that everything may have changed.
   */
  async migrate(): Promise<string[]> {
    this.migrating++;
    try {
      return await runMigrations(this.dataSource);
    } finally {
      this.migrating--;
      this.notifyChange({ kind: 'external', tables: EVERYTHING });
    }
  }

  /** Runs fn while holding the lock every process takes to migrate or seed (see migrate.ts). */
  withSchemaLock<T>(fn: () => Promise<T>): Promise<T> {
    return withSchemaLock(this.dataSource, fn);
  }

  /** The migrations this build knows, and the table where applied ones are recorded. */
  get migrations(): { known: string[]; table: string } {
    return {
      known: this.dataSource.migrations.map((m) => m.name ?? m.constructor.name),
      table: this.dataSource.options.migrationsTableName ?? 'migrations',
    };
  }

  /**
   * SQLite's `PRAGMA data_version` on the writing connection: it changes when another
   * process commits to the file, never for this process's own writes. Null once closed.
   */
  async sqliteDataVersion(): Promise<number | null> {
    return this.dataSource.isInitialized ? sqliteDataVersion(this.dataSource) : null;
  }

  private async untimedRead<T>(fn: (manager: EntityManager) => Promise<T>): Promise<T> {
    if (this.reader?.isInitialized) {
      return fn(this.reader.manager);
    }
    if (this.kind === 'sqlite' && this.sqliteLock.locked) {
      // One connection only (e.g. :memory:): wait for the open write to finish.
      return this.sqliteLock.run(() => fn(this.dataSource.manager));
    }
    return fn(this.dataSource.manager);
  }

  private async untimedWrite<T>(
    fn: (tx: EntityManager) => Promise<T>,
    announce = true,
  ): Promise<T> {
    const record = new WriteRecord();
    let committed: Committed<T> | null = null;
    try {
      committed =
        this.kind === 'sqlite'
          ? await this.sqliteLock.run(() => this.sqliteTransaction(record, fn, announce))
          : await this.writeSlots.run(() => this.postgresTransaction(record, fn, announce));
      return committed.result;
    } finally {
      const tables = record.changes();
      if (tables.length > 0) {
        this.notifyChange({ kind: 'write', tables });
      }
      // After the caches forgot what the write changed: a read asking for this revision
      // may now be answered from them.
      const revision = committed?.revision;
      if (revision !== undefined && revision !== null) {
        if (this.kind === 'sqlite' && revision > this.knownRevision) {
          this.knownRevision = revision;
        }
        recordWrittenRevision(revision);
      }
    }
  }

  /**
   * Appends rows that no cache reads (the usage ledger) in one transaction: same locking,
   * retries and guard as write(), but other replicas are not told, so a stream of ledger
   * inserts never makes them empty their access caches.
   */
  append<T>(fn: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.untimedWrite(fn, false);
  }

  /**
   * Runs `steps` in order in one transaction, as append() does (rows no cache reads, no
   * replica told), and answers each step's rows. A step is one statement or several
   * alternatives: each runs only when the one before it answered no row, and the step
   * answers the rows of the last one run. With `allOrNone`, the first step that answers no
   * row rolls the transaction back: nothing any of them did remains.
   *
   * SQLite: the statements are prepared once and run synchronously in one BEGIN IMMEDIATE
   * transaction on the writing connection, within the call itself when no write is open
   * (nothing can interleave with code that never yields), else right after the open
   * writes, under the same lock. No promise per statement, no turn of the event loop.
   * PostgreSQL: one write transaction, one round trip per statement, retried as write().
   */
  async appendStatements(
    steps: readonly (readonly BoundStatement[])[],
    allOrNone: boolean,
  ): Promise<StatementsOutcome> {
    if (this.kind === 'sqlite') {
      return this.sqliteLock.locked
        ? this.sqliteLock.run(async () => this.sqliteStatements(steps, allOrNone))
        : this.sqliteStatements(steps, allOrNone);
    }
    try {
      const rows = await this.append(async (tx) => {
        const out: Row[][] = [];
        for (const [index, alternatives] of steps.entries()) {
          let records: Row[] = [];
          for (const [sql, params] of alternatives) {
            const result = await tx.queryRunner!.query(sql, [...params], true);
            records = (result.records ?? []) as Row[];
            if (records.length > 0) {
              break;
            }
          }
          if (allOrNone && records.length === 0) {
            throw new Rowless(index);
          }
          out.push(records);
        }
        return out;
      });
      return { committed: true, rows };
    } catch (error) {
      if (error instanceof Rowless) {
        return { committed: false, rowlessAt: error.index };
      }
      throw error;
    }
  }

  /**
   * Runs one statement that reads (a write throws WriteOutsideTransactionError), where
   * read() would. SQLite: prepared once, run synchronously on the reading connection.
   */
  async readStatement([sql, params]: BoundStatement): Promise<Row[]> {
    const target = statementTarget(sql);
    if (target !== null) {
      throw new WriteOutsideTransactionError(target);
    }
    if (this.kind !== 'sqlite') {
      return this.read((m) => m.query<Row[]>(sql, [...params]));
    }
    const run = async (): Promise<Row[]> =>
      this.reader?.isInitialized
        ? preparedOn(this.reader).run(sql, params)
        : this.sqliteLock.locked
          ? this.sqliteLock.run(async () => preparedOn(this.dataSource).run(sql, params))
          : preparedOn(this.dataSource).run(sql, params);
    return this.timer ? this.timed('read', run) : run();
  }

  /** appendStatements() on SQLite, once no other write is open. */
  private sqliteStatements(
    steps: readonly (readonly BoundStatement[])[],
    allOrNone: boolean,
  ): StatementsOutcome {
    const prepared = preparedOn(this.dataSource);
    const record = new WriteRecord();
    try {
      prepared.run('BEGIN IMMEDIATE', []);
    } catch (error) {
      throw this.translate(error);
    }
    try {
      const rows: Row[][] = [];
      for (const [index, alternatives] of steps.entries()) {
        let out: Row[] = [];
        for (const [sql, params] of alternatives) {
          const target = statementTarget(sql);
          if (target !== null && target !== SQLITE_REVISION_TABLE) {
            record.wrote(target);
          }
          out = prepared.run(sql, params);
          if (out.length > 0) {
            break;
          }
        }
        if (allOrNone && out.length === 0) {
          prepared.run('ROLLBACK', []);
          return { committed: false, rowlessAt: index };
        }
        rows.push(out);
      }
      prepared.run('COMMIT', []);
      return { committed: true, rows };
    } catch (error) {
      if (prepared.connection.inTransaction) {
        try {
          prepared.run('ROLLBACK', []);
        } catch (rollbackError) {
          this.logger.error(`rollback failed: ${String(rollbackError)}`);
        }
      }
      throw this.translate(error);
    } finally {
      const tables = record.changes();
      if (tables.length > 0) {
        this.notifyChange({ kind: 'write', tables });
      }
    }
  }

  /** Runs fn when the application shuts down, before the connection closes (last writes). */
  beforeClose(fn: () => Promise<void>): void {
    this.closeHooks.push(fn);
  }

  private async timed<T>(operation: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    let outcome: 'success' | 'error' = 'error';
    try {
      const result = await fn();
      outcome = 'success';
      return result;
    } finally {
      this.timer?.(operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async sqliteTransaction<T>(
    record: WriteRecord,
    fn: (tx: EntityManager) => Promise<T>,
    announce: boolean,
  ): Promise<Committed<T>> {
    const runner = this.dataSource.createQueryRunner();
    try {
      await runner.query('BEGIN IMMEDIATE');
    } catch (error) {
      await runner.release();
      throw this.translate(error);
    }
    this.sqliteWrite = record;
    record.pending = [];
    try {
      const result = await fn(runner.manager);
      for (const [sql, params] of record.pending.splice(0)) {
        await runner.manager.query(sql, [...params]);
      }
      const revision = announce ? await sqliteRevision(runner.manager, record.changed) : null;
      await runner.query('COMMIT');
      return { result, revision };
    } catch (error) {
      await runner.query('ROLLBACK').catch((rollbackError: unknown) => {
        this.logger.error(`rollback failed: ${String(rollbackError)}`);
      });
      throw this.translate(error);
    } finally {
      this.sqliteWrite = null;
      await runner.release();
    }
  }

  private async postgresTransaction<T>(
    record: WriteRecord,
    fn: (tx: EntityManager) => Promise<T>,
    announce: boolean,
  ): Promise<Committed<T>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.postgresAttempt(record, fn, announce);
      } catch (error) {
        const kind = databaseErrorKind(error);
        // Under READ COMMITTED two requests can both see "no row" and insert the same key (or
        // refer to a row deleted meanwhile); the retry sees the committed row, so an idempotent
        // PUT answers 200 and a create answers 409.
        const retry = kind === 'retryable' || kind === 'unique' || kind === 'foreign_key';
        if (retry && attempt < MAX_ATTEMPTS) {
          await new Promise((resolve) => setTimeout(resolve, attempt * 5 + Math.random() * 10));
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * One attempt of a PostgreSQL write (READ COMMITTED, the connections' default), waiting for
   * as few answers as its statements allow. Under load every answer waits for a turn of a
   * busy event loop (tens of milliseconds), and a write holds its connection and its write
   * slot meanwhile; the pool's connections pipeline (data-source.ts), so statements sent
   * without waiting for each other's answers are answered in one turn. BEGIN goes out
   * without waiting, just before fn's first statement; the statements queued for the end
   * (writeAtCommit), the announcement and COMMIT go out together. A write that reads once and
   * then writes waits for two answers, not one per statement.
   */
  private async postgresAttempt<T>(
    record: WriteRecord,
    fn: (tx: EntityManager) => Promise<T>,
    announce: boolean,
  ): Promise<Committed<T>> {
    const runner = this.dataSource.createQueryRunner();
    const client = (await runner.connect()) as PgClient;
    this.openWrites.set(runner, record);
    record.pending = [];
    // TypeORM must see the transaction open, or save() would open one of its own on it.
    const state = runner as { isTransactionActive: boolean };
    state.isTransactionActive = true;
    // BEGIN can only fail with the connection, and then every statement after it fails too.
    const began = client.query('BEGIN').then(
      () => null,
      (error: unknown) => error,
    );
    let open = true;
    try {
      const result = await fn(runner.manager);
      const beginError = await began;
      if (beginError !== null) {
        throw new QueryFailedError('BEGIN', [], beginError as Error);
      }
      const tail: BoundStatement[] = record.pending.splice(0);
      for (const [sql] of tail) {
        const target = statementTarget(sql);
        if (target !== null) {
          record.wrote(target);
        }
      }
      if (announce) {
        tail.push(announcement(record, this.instanceId));
      }
      tail.push(['COMMIT', []]);
      open = false;
      const answers = await Promise.allSettled(
        tail.map(([sql, params]) =>
          client.query<Row>(sql, [...params]).catch((error: unknown) => {
            throw new QueryFailedError(sql, [...params], error as Error);
          }),
        ),
      );
      // After a failed statement the rest fail ("transaction is aborted") and COMMIT rolls back:
      // the first failure is the cause.
      const failed = answers.find((a) => a.status === 'rejected');
      if (failed) {
        throw failed.reason;
      }
      const values = answers.map((a) => (a as PromiseFulfilledResult<QueryResult<Row>>).value);
      if (values[values.length - 1].command !== 'COMMIT') {
        throw new Error('PostgreSQL rolled the write back at COMMIT.');
      }
      const revision = announce
        ? BigInt(values[values.length - 2].rows[0].revision as string)
        : null;
      return { result, revision };
    } catch (error) {
      if (open) {
        await began;
        await client.query('ROLLBACK').catch((rollbackError: unknown) => {
          this.logger.error(`rollback failed: ${String(rollbackError)}`);
        });
      }
      throw error;
    } finally {
      state.isTransactionActive = false;
      await runner.release();
    }
  }

  /** The change feed heard the notification of `revision` and the caches forgot its rows. */
  heardRevision(revision: bigint): void {
    this.heard.delete(revision);
    this.heard.add(revision);
    if (this.heard.size > HEARD_REVISIONS) {
      this.heard.delete(this.heard.values().next().value!);
    }
  }

  /**
   * SQLite: another process committed to the file. Tells the listeners that anything may
   * have changed, then takes the revision it read before as the one the caches reflect.
   */
  async externalSqliteChange(): Promise<void> {
    const revision = await this.read((m) => sqliteRevision(m, false));
    this.notifyChange({ kind: 'external', tables: EVERYTHING });
    if (revision > this.knownRevision) {
      this.knownRevision = revision;
    }
  }

  async reach(wanted: bigint): Promise<'cache' | 'database'> {
    const deadline = Date.now() + REVISION_WAIT_MS;
    for (;;) {
      if (this.kind === 'sqlite' ? wanted <= this.knownRevision : this.heard.has(wanted)) {
        return 'cache';
      }
      if (this.kind === 'sqlite') {
        // A revision above what this process wrote: another process (the migration tool)
        // may have written it; look now rather than at the next poll.
        if ((await this.read((m) => sqliteRevision(m, false))) >= wanted) {
          await this.externalSqliteChange();
          continue;
        }
      } else if (await this.committedInDatabase(wanted)) {
        return 'database';
      }
      if (Date.now() >= deadline) {
        throw new RevisionNotReachedException(wanted);
      }
      await new Promise((resolve) => setTimeout(resolve, REVISION_POLL_MS));
    }
  }

  /**
   * PostgreSQL: true when transaction `revision` has finished (committed, rolled back, or
   * so old that its status is forgotten); false while it runs or when it does not exist yet.
   */
  private async committedInDatabase(revision: bigint): Promise<boolean> {
    const [row] = await this.read((m) =>
      m.query<{ status: string | null }[]>(
        'SELECT CASE WHEN $1::xid8 < pg_snapshot_xmax(pg_current_snapshot()) ' +
          "THEN coalesce(pg_xact_status($1::xid8), 'forgotten') ELSE 'future' END AS status",
        [revision.toString()],
      ),
    );
    return row.status !== 'future' && row.status !== 'in progress';
  }

  /** Records what each statement of a write changes, and refuses writes outside db.write(). */
  private watchStatements(dataSource: DataSource): void {
    dataSource.subscribers.push({
      beforeQuery: (event) => {
        const target = statementTarget(event.query);
        // the revision counter is bookkeeping of the write itself, not a change to announce
        if (target === null || target === SQLITE_REVISION_TABLE) {
          return;
        }
        const record = dataSource === this.dataSource ? this.recordOf(event.queryRunner) : null;
        if (record) {
          record.wrote(target);
          return;
        }
        if (this.migrating === 0 && this.isGuarded(dataSource, target)) {
          throw new WriteOutsideTransactionError(target);
        }
      },
    });
  }

  /** The write a statement on the writing connection belongs to, or null outside writes. */
  private recordOf(runner: QueryRunner | undefined): WriteRecord | null {
    if (this.kind === 'sqlite') {
      return this.sqliteWrite;
    }
    return (runner && this.openWrites.get(runner)) ?? null;
  }

  /** The service's own tables (its entities); DDL and the migrations table are left alone. */
  private isGuarded(dataSource: DataSource, table: string): boolean {
    this.guardedTables ??= new Set(dataSource.entityMetadatas.map((m) => m.tableName));
    return this.guardedTables.has(table);
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
    // After the last writes of the hooks, before the connections it checkpoints for close.
    await this.checkpointer?.stop();
    if (this.reader?.isInitialized) {
      await this.reader.destroy();
    }
    if (this.dataSource.isInitialized) {
      await this.dataSource.destroy();
      this.logger.log('database connection closed');
    }
  }
}

/** The INSERT of one row, with `$n` (PostgreSQL) or `?` (SQLite) placeholders. */
function insertStatement(kind: 'sqlite' | 'postgres', { table, row }: InsertedRow): BoundStatement {
  const columns = Object.keys(row);
  const placeholders = columns.map((_, i) => (kind === 'postgres' ? `$${i + 1}` : '?'));
  return [
    `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${placeholders.join(', ')})`,
    columns.map((c) => row[c]),
  ];
}

/**
 * The last statement of a PostgreSQL write before COMMIT: when it changed something, a
 * notification naming the rows, delivered to every listening replica when (and only if) the
 * transaction commits, in commit order; its revision is the transaction's id. A write that
 * changed nothing notifies nobody; its revision is the newest finished transaction.
 */
function announcement(record: WriteRecord, instanceId: string): BoundStatement {
  if (!record.changed) {
    return [
      'SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)::text AS revision',
      [],
    ];
  }
  return [
    "SELECT pg_current_xact_id()::text AS revision, pg_notify($1, pg_current_xact_id()::text || ' ' || $2)",
    [CHANGE_CHANNEL, encodeChanges(instanceId, record.changes())],
  ];
}

/**
 * SQLite: the revision after this write (raised when it changed something) or now. The
 * counter lives in the one-row table `access_revision`.
 */
async function sqliteRevision(manager: EntityManager, raise: boolean): Promise<bigint> {
  const rows: { value: number | bigint | string }[] = await manager.query(
    raise
      ? `UPDATE ${SQLITE_REVISION_TABLE} SET value = value + 1 WHERE id = 1 RETURNING value`
      : `SELECT value FROM ${SQLITE_REVISION_TABLE} WHERE id = 1`,
  );
  return BigInt(rows[0]?.value ?? 0);
}

/** Statements prepared on each SQLite connection, kept as long as the connection. */
const preparedByConnection = new WeakMap<object, PreparedStatements>();

/** The prepared statements of a SQLite data source's better-sqlite3 connection. */
function preparedOn(dataSource: DataSource): PreparedStatements {
  const connection = sqliteConnectionOf(dataSource);
  let prepared = preparedByConnection.get(connection);
  if (!prepared) {
    prepared = new PreparedStatements(connection);
    preparedByConnection.set(connection, prepared);
  }
  return prepared;
}

/** SQLite's `PRAGMA data_version` as seen by one connection or transaction. */
export async function sqliteDataVersion(manager: EntityManager | DataSource): Promise<number> {
  const rows: { data_version: number }[] = await manager.query('PRAGMA data_version');
  return Number(rows[0]?.data_version);
}
