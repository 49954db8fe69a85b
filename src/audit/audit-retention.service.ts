import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AuditService } from './audit.service';

/** How often old audit events are pruned. */
export const PRUNE_INTERVAL_MS = 60 * 60 * 1000;
/** Batches one prune run deletes at most (500 events each); the next run goes on. */
const MAX_BATCHES_PER_RUN = 200;

/**
 * Deletes audit events older than AUDIT_RETENTION_DAYS (0 keeps them forever): shortly
 * after boot and then hourly, in batches of 500 rows, each its own short transaction.
 * With several replicas each prunes; deleting the same old rows twice is harmless.
 */
@Injectable()
export class AuditRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditRetentionService.name);
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.auditRetentionDays === 0) {
      return;
    }
    const run = () => void this.pruneNow();
    this.timer = setInterval(run, PRUNE_INTERVAL_MS);
    this.timer.unref();
    setTimeout(run, 60_000).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) {
      clearInterval(this.timer);
    }
    await this.running;
  }

  /** Prunes now (one run at a time); resolves with the number of events deleted. */
  async pruneNow(now = Date.now()): Promise<number> {
    if (this.config.auditRetentionDays === 0) {
      return 0;
    }
    if (this.running) {
      return this.running;
    }
    const cutoff = new Date(now - this.config.auditRetentionDays * 86_400_000);
    this.running = this.audit
      .prune(cutoff, undefined, MAX_BATCHES_PER_RUN)
      .then(
        (deleted) => {
          if (deleted > 0) {
            this.logger.log({ msg: 'pruned audit events', deleted, before: cutoff.toISOString() });
          }
          return deleted;
        },
        (error: unknown) => {
          this.logger.warn({
            msg: 'audit pruning failed; retrying next hour',
            error: String(error),
          });
          return 0;
        },
      )
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }
}
