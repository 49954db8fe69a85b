import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { UsageEventEntity } from './entities/usage-event.entity';
import { UsageMetrics } from './usage-metrics';

/** Longest wait between retries of a failed flush. */
const MAX_RETRY_MS = 30_000;

/**
 * The usage ledger's one writer. Rows are queued in memory by the gateway (no database
 * work on the request path) and inserted in batches of USAGE_BATCH_SIZE every
 * USAGE_FLUSH_INTERVAL_MS, or at once when a batch is full. A failed insert keeps its rows
 * and is retried; on shutdown the queue is flushed before the database closes, after the
 * HTTP server has drained, so every call that was answered has its row.
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
      const size = this.batchSize();
      for (; written < rows.length; written += size) {
        const batch = rows.slice(written, written + size);
        await this.db.append((tx) => tx.getRepository(UsageEventEntity).insert(batch));
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

  /** Rows per INSERT: the configured batch, bounded by the database's parameter limits. */
  private batchSize(): number {
    const columns = 17;
    const limit = this.db.kind === 'sqlite' ? 32766 : 65535;
    return Math.max(1, Math.min(this.config.usageBatchSize, Math.floor(limit / columns)));
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
