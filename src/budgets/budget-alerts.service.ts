import { Inject, Injectable, Logger, OnApplicationBootstrap, OnModuleInit } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { bind, returnedRows } from './budget-ledger.service';
import { periodOf } from './budget-period';
import { nanosToUsd, usdToNanos } from './budget-settings';
import { Clock, CLOCK } from './clock';
import type { MembershipLimits } from '../model-access/access-rule';

export const ALERT_ACTOR = 'system:budgets';
export const SIGNATURE_HEADER = 'x-budget-signature';

/** The JSON body of a budget alert webhook. */
export interface BudgetAlertPayload {
  /** Unique per organization, period and threshold: the same alert never has two ids. */
  id: string;
  type: 'budget.threshold_crossed';
  organization_id: string;
  budget_period: string;
  period_start: string;
  resets_at: string;
  threshold: number;
  budget_usd: number;
  spent_usd: number;
  occurred_at: string;
}

/** `sha256=<hex HMAC-SHA256 of the raw body>`, the X-Budget-Signature value. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** A threshold as stored in the claim row's key: the shortest exact decimal. */
function thresholdKey(threshold: number): string {
  return String(threshold);
}

/** Longest wait for the webhook endpoint's answer to one attempt. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How long an attempt holds its alert: no other replica sends it before this has passed. */
const ATTEMPT_LEASE_MS = REQUEST_TIMEOUT_MS + 5_000;
/** Alerts taken over per sweep (more are left for the next). */
const SWEEP_BATCH = 100;

/** The ISO 8601 UTC instant `ms` from now, on the real clock (delivery timing is not budget time). */
function fromNow(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/**
 * Budget alerts: when an organization's settled spend reaches a threshold of its budget,
 * one audit event and one webhook, once per threshold per period. Whoever inserts the
 * (organization, period, threshold) row of `budget_alerts` first sends it; the insert is
 * atomic on the primary key, so with any number of replicas exactly one of them does.
 *
 * The row also keeps the webhook body and when its next attempt is due, so delivery does not
 * depend on the replica that claimed it staying up: each attempt is taken by a conditional
 * UPDATE of `attempts` (one replica wins it), failures are retried with exponential backoff,
 * a replica that shuts down hands its pending alerts over (due at once), and every replica
 * sweeps for due alerts (a replica that crashed leaves them due when its lease runs out).
 * A receiver may still see an alert twice if a replica dies between the receiver's answer and
 * recording it: the X-Budget-Alert-Id header is the same on every attempt, to deduplicate on.
 */
@Injectable()
export class BudgetAlertsService implements OnModuleInit, OnApplicationBootstrap {
  private readonly logger = new Logger(BudgetAlertsService.name);
  /** Alerts this process knows are claimed (by anyone): no need to try the insert again. */
  private readonly claimed = new Set<string>();
  private readonly deliveries = new Set<Promise<void>>();
  /** Ids of the alerts this process is delivering now (the sweep leaves them alone). */
  private readonly running = new Set<string>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private sweeper: NodeJS.Timeout | null = null;
  private sweeping = false;
  private closing = false;

  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    // Before the connection closes: stop, and hand every pending alert over to the others.
    this.db.beforeClose(() => this.close());
  }

  /** With a webhook URL, looks for due alerts now and then every so often. */
  onApplicationBootstrap(): void {
    if (!this.config.budgetWebhookUrl) {
      return;
    }
    const every = Math.min(30_000, Math.max(100, this.config.budgetWebhookRetryBaseMs * 5));
    this.sweeper = setInterval(() => void this.sweep(), every);
    this.sweeper.unref();
    void this.sweep();
  }

  /**
   * Called after an organization's spend or budget settings changed: claims and sends every
   * threshold its settled spend has reached.
   */
  async spendChanged(
    organizationId: string,
    limits: Pick<MembershipLimits, 'budgetUsd' | 'budgetPeriod' | 'alertThresholds'>,
    periodStart: string,
    spentNanos: number,
  ): Promise<void> {
    if (limits.budgetUsd === null || limits.budgetUsd <= 0) {
      return;
    }
    const budgetNanos = usdToNanos(limits.budgetUsd);
    for (const threshold of limits.alertThresholds) {
      const key = `${organizationId}\u0000${periodStart}\u0000${thresholdKey(threshold)}`;
      if (spentNanos < Math.ceil(budgetNanos * threshold) || this.claimed.has(key)) {
        continue;
      }
      const payload: BudgetAlertPayload = {
        id: `${organizationId}:${periodStart}:${thresholdKey(threshold)}`,
        type: 'budget.threshold_crossed',
        organization_id: organizationId,
        budget_period: limits.budgetPeriod,
        period_start: periodStart,
        resets_at: periodOf(limits.budgetPeriod, new Date(periodStart)).end,
        threshold,
        budget_usd: limits.budgetUsd,
        spent_usd: nanosToUsd(spentNanos),
        occurred_at: this.clock.now().toISOString(),
      };
      const won = await this.claim(payload);
      this.claimed.add(key);
      if (won) {
        this.logger.log(
          `budget alert: ${organizationId} reached ${threshold * 100}% of ${limits.budgetUsd} USD (${limits.budgetPeriod} from ${periodStart})`,
        );
        this.deliver(JSON.stringify(payload), payload, 1);
      }
    }
  }

  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.deliveries.size > 0) {
      await Promise.allSettled([...this.deliveries]);
    }
  }

  /** Takes over the alerts whose next attempt is due (left by a stopped or crashed replica). */
  async sweep(): Promise<void> {
    const url = this.config.budgetWebhookUrl;
    if (!url || this.sweeping || this.closing) {
      return;
    }
    this.sweeping = true;
    try {
      const [sql, params] = bind(
        this.db.kind,
        'SELECT payload, attempts FROM budget_alerts WHERE delivered_at IS NULL ' +
          'AND payload IS NOT NULL AND next_attempt_at IS NOT NULL AND next_attempt_at <= $1 ' +
          `AND attempts < $2 ORDER BY next_attempt_at LIMIT ${SWEEP_BATCH}`,
        [fromNow(0), this.config.budgetWebhookMaxAttempts],
      );
      const rows = await this.db.read((m) => m.query<Record<string, unknown>[]>(sql, params));
      for (const row of rows) {
        const body = String(row.payload);
        const payload = JSON.parse(body) as BudgetAlertPayload;
        if (!this.running.has(payload.id)) {
          this.deliver(body, payload, Number(row.attempts) + 1);
        }
      }
    } catch (error) {
      this.logger.warn(`budget alert sweep failed: ${String(error)}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** Stops sweeping and retrying; alerts waiting for a retry become due at once for others. */
  private async close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake();
    }
    await this.idle();
  }

  /**
   * Inserts the claim row (with the body to send and, when there is a URL to send it to, its
   * first attempt due after the claimer's lease) and its audit event in one transaction;
   * true when this call won.
   */
  private async claim(payload: BudgetAlertPayload): Promise<boolean> {
    return this.db.append(async (tx) => {
      const statement = bind(
        this.db.kind,
        'INSERT INTO budget_alerts (organization_id, period_start, threshold, budget_usd, spent_usd, fired_at, attempts, payload, next_attempt_at) ' +
          'VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8) ON CONFLICT DO NOTHING RETURNING organization_id',
        [
          payload.organization_id,
          payload.period_start,
          thresholdKey(payload.threshold),
          payload.budget_usd,
          payload.spent_usd,
          payload.occurred_at,
          JSON.stringify(payload),
          this.config.budgetWebhookUrl ? fromNow(ATTEMPT_LEASE_MS) : null,
        ],
      );
      if (returnedRows(await tx.query(...statement)).length === 0) {
        return false;
      }
      await this.audit.record(tx, ALERT_ACTOR, {
        action: 'budget.threshold_crossed',
        targetType: 'organization',
        targetId: payload.organization_id,
        after: payload,
      });
      return true;
    });
  }

  private deliver(body: string, payload: BudgetAlertPayload, attempt: number): void {
    const url = this.config.budgetWebhookUrl;
    if (!url) {
      return;
    }
    this.running.add(payload.id);
    const delivery = this.run(url, body, payload, attempt)
      .catch((error: unknown) =>
        this.logger.error(`budget alert ${payload.id}: delivery stopped: ${String(error)}`),
      )
      .finally(() => {
        this.running.delete(payload.id);
        this.deliveries.delete(delivery);
      });
    this.deliveries.add(delivery);
  }

  /** Attempts from `attempt` on, each taken in the database first, until one is answered 2xx. */
  private async run(
    url: string,
    body: string,
    payload: BudgetAlertPayload,
    attempt: number,
  ): Promise<void> {
    const max = this.config.budgetWebhookMaxAttempts;
    for (; attempt <= max; attempt++) {
      if (this.closing || !(await this.take(payload, attempt))) {
        return; // shutting down, or another replica took this attempt (or it was delivered)
      }
      const failure = await this.send(url, body, payload, attempt);
      if (failure === null) {
        await this.update(payload, 'delivered_at = $4, next_attempt_at = NULL', [
          this.clock.now().toISOString(),
        ]);
        return;
      }
      if (attempt >= max) {
        await this.update(payload, 'next_attempt_at = NULL', []);
        this.logger.error(
          `budget alert ${payload.id} not delivered after ${attempt} attempts (last: ${failure})`,
        );
        return;
      }
      const wait = this.config.budgetWebhookRetryBaseMs * 2 ** (attempt - 1);
      this.logger.warn(
        `budget alert ${payload.id}: attempt ${attempt} failed (${failure}); retry in ${wait} ms`,
      );
      await this.update(payload, 'next_attempt_at = $4', [fromNow(wait)]);
      await this.sleep(wait);
      if (this.closing) {
        // hand it over: due at once for the replicas that keep running
        await this.update(payload, 'next_attempt_at = $4', [fromNow(0)]);
        return;
      }
    }
  }

  /** Takes attempt n of an alert (attempts n-1 -> n, still undelivered); false when another has. */
  private async take(payload: BudgetAlertPayload, attempt: number): Promise<boolean> {
    const statement = bind(
      this.db.kind,
      'UPDATE budget_alerts SET attempts = $4, next_attempt_at = $5 ' +
        'WHERE organization_id = $1 AND period_start = $2 AND threshold = $3 ' +
        'AND attempts = $6 AND delivered_at IS NULL RETURNING attempts',
      [...this.keyOf(payload), attempt, fromNow(ATTEMPT_LEASE_MS), attempt - 1],
    );
    return (await this.db.append((tx) => tx.query(...statement)).then(returnedRows)).length > 0;
  }

  /** One POST; null when it was answered 2xx, else what went wrong. */
  private async send(
    url: string,
    body: string,
    payload: BudgetAlertPayload,
    attempt: number,
  ): Promise<string | null> {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'model-access-service budget alerts',
          [SIGNATURE_HEADER]: signBody(this.config.budgetWebhookSecret, body),
          'x-budget-alert-id': payload.id,
          'x-budget-delivery-attempt': String(attempt),
        },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      await response.body?.cancel();
      return response.ok ? null : `HTTP ${response.status}`;
    } catch (error) {
      return String((error as Error).message ?? error);
    }
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.set(timer, resolve);
    });
  }

  private keyOf(payload: BudgetAlertPayload): string[] {
    return [payload.organization_id, payload.period_start, thresholdKey(payload.threshold)];
  }

  /** Sets columns of an alert's row ($4... are `values`); a failure is logged, not thrown. */
  private async update(
    payload: BudgetAlertPayload,
    assignments: string,
    values: unknown[],
  ): Promise<void> {
    const statement = bind(
      this.db.kind,
      `UPDATE budget_alerts SET ${assignments} ` +
        'WHERE organization_id = $1 AND period_start = $2 AND threshold = $3',
      [...this.keyOf(payload), ...values],
    );
    await this.db
      .append((tx) => tx.query(...statement))
      .catch((error: unknown) =>
        this.logger.warn(`could not record delivery of ${payload.id}: ${String(error)}`),
      );
  }
}
