import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createHmac } from 'node:crypto';
import { AuditService } from '../audit/audit.service';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { bind } from './budget-ledger.service';
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

/**
 * Budget alerts: when an organization's settled spend reaches a threshold of its budget,
 * one audit event and one webhook, once per threshold per period. Whoever inserts the
 * (organization, period, threshold) row of `budget_alerts` first sends it; the insert is
 * atomic on the primary key, so with any number of replicas exactly one of them does.
 * Delivery is retried with exponential backoff and recorded on the row.
 */
@Injectable()
export class BudgetAlertsService implements OnApplicationShutdown {
  private readonly logger = new Logger(BudgetAlertsService.name);
  /** Alerts this process knows are claimed (by anyone): no need to try the insert again. */
  private readonly claimed = new Set<string>();
  private readonly deliveries = new Set<Promise<void>>();
  private readonly timers = new Map<NodeJS.Timeout, () => void>();
  private closing = false;

  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Called after spend of an organization changed: claims and sends every threshold reached. */
  async spendChanged(
    organizationId: string,
    limits: MembershipLimits,
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
        this.deliver(payload);
      }
    }
  }

  /** Resolves when every delivery started so far has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.deliveries.size > 0) {
      await Promise.allSettled([...this.deliveries]);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const [timer, wake] of this.timers) {
      clearTimeout(timer);
      wake();
    }
    await this.idle();
  }

  /** Inserts the claim row and its audit event in one transaction; true when this call won. */
  private async claim(payload: BudgetAlertPayload): Promise<boolean> {
    return this.db.append(async (tx) => {
      const statement = bind(
        this.db.kind,
        'INSERT INTO budget_alerts (organization_id, period_start, threshold, budget_usd, spent_usd, fired_at, attempts) ' +
          'VALUES ($1, $2, $3, $4, $5, $6, 0) ON CONFLICT DO NOTHING RETURNING organization_id',
        [
          payload.organization_id,
          payload.period_start,
          thresholdKey(payload.threshold),
          payload.budget_usd,
          payload.spent_usd,
          payload.occurred_at,
        ],
      );
      const result: unknown = await tx.query(...statement);
      const rows = Array.isArray(result) && Array.isArray(result[0]) ? result[0] : result;
      if (!Array.isArray(rows) || rows.length === 0) {
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

  private deliver(payload: BudgetAlertPayload): void {
    const url = this.config.budgetWebhookUrl;
    if (!url) {
      return;
    }
    const delivery = this.attempt(url, payload, 1).finally(() => this.deliveries.delete(delivery));
    this.deliveries.add(delivery);
  }

  private async attempt(url: string, payload: BudgetAlertPayload, attempt: number): Promise<void> {
    const body = JSON.stringify(payload);
    let failure: string;
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
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.ok) {
        await this.record(payload, attempt, true);
        return;
      }
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = String((error as Error).message ?? error);
    }
    await this.record(payload, attempt, false);
    if (attempt >= this.config.budgetWebhookMaxAttempts || this.closing) {
      this.logger.error(
        `budget alert ${payload.id} not delivered after ${attempt} attempts (last: ${failure})`,
      );
      return;
    }
    const wait = this.config.budgetWebhookRetryBaseMs * 2 ** (attempt - 1);
    this.logger.warn(
      `budget alert ${payload.id}: attempt ${attempt} failed (${failure}); retry in ${wait} ms`,
    );
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, wait);
      this.timers.set(timer, resolve);
    });
    if (!this.closing) {
      await this.attempt(url, payload, attempt + 1);
    }
  }

  private async record(
    payload: BudgetAlertPayload,
    attempt: number,
    delivered: boolean,
  ): Promise<void> {
    const statement = bind(
      this.db.kind,
      'UPDATE budget_alerts SET attempts = $4, delivered_at = $5 ' +
        'WHERE organization_id = $1 AND period_start = $2 AND threshold = $3',
      [
        payload.organization_id,
        payload.period_start,
        thresholdKey(payload.threshold),
        attempt,
        delivered ? this.clock.now().toISOString() : null,
      ],
    );
    await this.db
      .append((tx) => tx.query(...statement))
      .catch((error: unknown) =>
        this.logger.warn(`could not record delivery of ${payload.id}: ${String(error)}`),
      );
  }
}
