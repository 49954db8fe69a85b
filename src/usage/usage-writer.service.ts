import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { UsageEventEntity } from './entities/usage-event.entity';
import { UsageMetrics } from './usage-metrics';

/** Longest wait between retries of a failed flush. */
const MAX_RETRY_MS = 30_000;

/**
 * Most rows per INSERT (and per transaction). A flush writes its rows in slices of this
 * size and lets the event loop run between two slices: on SQLite an insert runs on the
 * event loop itself (better-sqlite3 is synchronous), and one INSERT of 500 rows held it for
 * about 15 ms, which every call arriving meanwhile waited for (the gateway's p99). A slice
 * of 50 rows takes about a millisecond and 500 rows cost the same in slices.
 */
const SLICE_ROWS = 50;

/** The ledger's columns, in the order insertSql() lists them, and how each row fills them. */
const COLUMNS: readonly [string, (row: UsageEventEntity) => unknown][] = [
  ['id', (r) => r.id],
  ['created_at', (r) => r.createdAt],
  ['organization_id', (r) => r.organizationId],
  ['user_id', (r) => r.userId],
  ['model_id', (r) => r.modelId],
  ['openrouter_user', (r) => r.openrouterUser],
  ['endpoint', (r) => r.endpoint],
  ['generation_id', (r) => r.generationId],
  ['status', (r) => r.status],
  ['http_status', (r) => r.httpStatus],
  ['prompt_tokens', (r) => r.promptTokens],
  ['completion_tokens', (r) => r.completionTokens],
  ['cost_usd', (r) => r.costUsd],
  ['latency_ms', (r) => r.latencyMs],
  ['ttft_ms', (r) => r.ttftMs],
  ['streamed', (r) => r.streamed],
  ['request_id', (r) => r.requestId],
];

/** The parameters of one row, in the order of COLUMNS, as the database kind takes them. */
function rowParams(kind: 'sqlite' | 'postgres', row: UsageEventEntity): unknown[] {
  return COLUMNS.map(([column, read]) => {
    const value = read(row);
    // SQLite stores booleans as 0/1 (as TypeORM does); PostgreSQL takes them as they are.
    return kind === 'sqlite' && column === 'streamed' ? Number(value) : value;
  });
}

const COLUMN_NAMES = COLUMNS.map(([column]) => `"${column}"`).join(', ');

/** The INSERT of one row on SQLite: prepared once, run for every row of a slice. */
export const SQLITE_INSERT_ONE = `INSERT INTO "usage_events" (${COLUMN_NAMES}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;

/**
 * One multi-row INSERT of `rows` with its parameters. Written by hand: TypeORM's insert
 * builder copies its whole parameter map for every parameter it adds, which made a batch
 * of 500 rows cost milliseconds of CPU per row on the gateway's event loop.
 */
export function insertSql(
  kind: 'sqlite' | 'postgres',
  rows: readonly UsageEventEntity[],
): [string, unknown[]] {
  const params: unknown[] = [];
  const tuples: string[] = [];
  for (const row of rows) {
    const marks: string[] = [];
    for (const value of rowParams(kind, row)) {
      params.push(value);
      marks.push(kind === 'sqlite' ? '?' : `$${params.length}`);
    }
    tuples.push(`(${marks.join(', ')})`);
  }
  return [`INSERT INTO "usage_events" (${COLUMN_NAMES}) VALUES ${tuples.join(', ')}`, params];
}

/**
 * The usage ledger's one writer. Rows are queued in memory by the gateway (no database
 * work on the request path) and written every USAGE_FLUSH_INTERVAL_MS, or at once when
 * USAGE_BATCH_SIZE rows wait, in INSERTs of at most SLICE_ROWS rows with the event loop free
 * between them. A failed insert keeps its rows and is retried; on shutdown the queue is
 * flushed before the database closes, after the HTTP server has drained, so every call that
 * was answered has its row.
 *
 * The batch is small (50 by default) because of the young generation: a row waiting in the
 * queue when V8 collects it is copied, and after a second collection moved to the old
 * generation. At 1,000 calls/s a batch of 500 kept a few hundred rows waiting at every
 * collection; 50 keeps a few dozen.
 */
@Injectable()
export class UsageWriter implements OnApplicationBootstrap {
  private readonly logger = new Logger(UsageWriter.name);
  private queue: UsageEventEntity[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private failures = 0;
  private closed = false;

  constructor(
    private readonly db: DatabaseService,
    private readonly config: AppConfig,
    private readonly metrics: UsageMetrics,
  ) {
    db.beforeClose(() => this.close());
  }

  onApplicationBootstrap(): void {
    this.schedule(this.config.usageFlushIntervalMs);
  }

  /** Rows queued and not yet written. */
  get pending(): number {
    return this.queue.length;
  }

  record(row: UsageEventEntity): void {
    this.queue.push(row);
    this.metrics.record(row);
    if (this.queue.length >= this.config.usageBatchSize && !this.flushing && this.failures === 0) {
      this.flush().catch(() => undefined);
    }
  }

  /** Writes every queued row (waits for a flush already running, then writes the rest). */
  async flush(): Promise<void> {
    while (this.flushing) {
      await this.flushing;
    }
    if (this.queue.length === 0) {
      return;
    }
    this.flushing = this.writeQueued().finally(() => {
      this.flushing = null;
    });
    await this.flushing;
  }

  private async writeQueued(): Promise<void> {
    const rows = this.queue;
    this.queue = [];
    let written = 0;
    try {
      const size = this.sliceSize();
      for (; written < rows.length; written += size) {
        if (written > 0) {
          // Let the calls that arrived meanwhile be served before the next slice.
          await new Promise((resolve) => setImmediate(resolve));
        }
        await this.writeSlice(rows.slice(written, written + size));
      }
      this.failures = 0;
    } catch (error) {
      // Keep what was not written, in order, ahead of what arrived meanwhile.
      this.queue = [...rows.slice(written), ...this.queue];
      this.failures++;
      this.logger.error({
        msg: 'usage ledger write failed; rows kept for the next attempt',
        pending: this.queue.length,
        error: String(error),
      });
      throw error;
    }
  }

  /**
   * Writes one slice in one transaction. SQLite: the one-row INSERT, prepared once and run
   * for each row, synchronously (a multi-row INSERT was prepared anew for every slice, and
   * SQLite kept a statement journal for it: about 2 ms per 50 rows, against a quarter of
   * that). PostgreSQL: one multi-row INSERT, one round trip.
   */
  private async writeSlice(rows: readonly UsageEventEntity[]): Promise<void> {
    if (this.db.kind === 'sqlite') {
      await this.db.appendStatements(
        rows.map((row) => [[SQLITE_INSERT_ONE, rowParams('sqlite', row)]]),
        false,
      );
      return;
    }
    const [sql, params] = insertSql(this.db.kind, rows);
    await this.db.append((tx) => tx.query(sql, params));
  }

  /** Rows per INSERT: the configured batch, at most SLICE_ROWS. */
  private sliceSize(): number {
    return Math.max(1, Math.min(this.config.usageBatchSize, SLICE_ROWS));
  }

  private schedule(delay: number): void {
    if (this.closed) {
      return;
    }
    this.timer = setTimeout(() => {
      this.flush().then(
        () => this.schedule(this.config.usageFlushIntervalMs),
        () =>
          this.schedule(
            Math.min(MAX_RETRY_MS, this.config.usageFlushIntervalMs * 2 ** this.failures),
          ),
      );
    }, delay);
    this.timer.unref();
  }

  /** Stops the timer and writes what is left (called before the database closes). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) {
      clearTimeout(this.timer);
    }
    for (let attempt = 1; this.queue.length > 0 || this.flushing; attempt++) {
      try {
        await this.flush();
      } catch (error) {
        if (attempt >= 3) {
          this.logger.error({
            msg: 'usage ledger rows lost at shutdown',
            lost: this.queue.length,
            error: String(error),
          });
          return;
        }
      }
    }
  }
}
