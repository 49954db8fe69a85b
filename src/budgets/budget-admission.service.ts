import { Injectable, Logger } from '@nestjs/common';
import { AccessCacheService } from '../model-access/access-cache.service';
import type { MembershipRow, ModelPrices } from '../model-access/access-rule';
import { BudgetAlertsService } from './budget-alerts.service';
import {
  BudgetLedgerService,
  HeldReservation,
  ORGANIZATION_ROW,
  SpendScope,
} from './budget-ledger.service';
import { periodOf } from './budget-period';
import { NANOS_PER_USD, usdToNanos } from './budget-settings';
import { LimitKey, RateLimiterService } from './rate-limiter.service';

/** A catalog model's prices and limits (null when the catalog does not know them). */
/** A model as a reservation prices it (USD per token; see ModelPrices). */
export interface PricedModel extends ModelPrices {
  id: string;
}

/** One call the gateway is about to forward, through the organization that grants it. */
export interface AdmissionRequest {
  userId: string;
  organizationId: string;
  /** The model's prices, or how to read them (only read when a budget applies). */
  model: PricedModel | (() => Promise<PricedModel>);
  /** Upper estimate of the prompt's tokens (see estimatePromptTokens), or how to make it (only when a budget applies). */
  promptTokens: number | (() => number);
  /** The request's max_tokens (or max_completion_tokens), when given. */
  maxTokens: number | null;
  /** Completions the request asks for (`n`), each up to the completion bound; default 1. */
  choices?: number;
}

/** What the upstream reported when the call ended. */
export interface CallUsage {
  /** The upstream's cost in USD; null: computed from the tokens at the model's prices. */
  costUsd: number | null;
  promptTokens: number;
  completionTokens: number;
}

/** A call let in: settle it with its usage when it ends, or release it when it failed. */
export interface Admission {
  settle(usage: CallUsage): Promise<void>;
  release(): Promise<void>;
}

/** Why a call is not forwarded, in OpenAI's error shape. */
export class AdmissionRefusal extends Error {
  constructor(
    readonly status: 402 | 429 | 503,
    readonly code:
      'budget_exceeded' | 'unpriced_model' | 'rate_limit_exceeded' | 'rate_limiter_unavailable',
    message: string,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }

  /** `{ error: { message, type, code, param } }`. */
  toOpenAiError(): { error: { message: string; type: string; code: string; param: null } } {
    const type =
      this.status === 402
        ? 'insufficient_quota'
        : this.status === 429
          ? 'rate_limit_error'
          : 'server_error';
    return { error: { message: this.message, type, code: this.code, param: null } };
  }
}

/** Completion tokens reserved when neither the request nor the catalog bounds them. */
export const FALLBACK_COMPLETION_TOKENS = 16_384;

/**
 * An upper estimate of a prompt's tokens: its UTF-8 bytes (no tokenizer yields more tokens
 * than bytes of text) plus a few per message for the chat template. Over-reserving is safe:
 * settlement gives the difference back.
 */
export function estimatePromptTokens(body: {
  messages?: unknown;
  prompt?: unknown;
  input?: unknown;
}): number {
  const parts = [body.messages, body.prompt, body.input].filter((p) => p !== undefined);
  const bytes = Buffer.byteLength(JSON.stringify(parts), 'utf8');
  const messages = Array.isArray(body.messages) ? body.messages.length : 1;
  return bytes + 8 * messages;
}

/**
 * The most a call can cost, in nano-dollars: its prompt and its longest possible completion,
 * once per completion asked for.
 */
export function worstCaseNanos(
  model: PricedModel,
  promptTokens: number,
  maxTokens: number | null,
  choices = 1,
): number {
  const completion =
    maxTokens ??
    model.maxCompletionTokens ??
    (model.contextLength !== null ? Math.max(0, model.contextLength - promptTokens) : null) ??
    FALLBACK_COMPLETION_TOKENS;
  const usd =
    promptTokens * (model.promptPriceUsd ?? 0) +
    completion * choices * (model.completionPriceUsd ?? 0);
  return Math.ceil(usd * NANOS_PER_USD);
}

/**
 * The gateway's one admission seam: before a call is forwarded, the rate limits of its
 * organization and member, then the reservation of its worst-case cost against their
 * budgets; after it, settlement to the actual cost (or release), tokens for tpm, and the
 * budget alerts. Settings come from the cached membership rows; spend from the ledger.
 */
@Injectable()
export class BudgetAdmissionService {
  private readonly logger = new Logger(BudgetAdmissionService.name);

  constructor(
    private readonly cache: AccessCacheService,
    private readonly ledger: BudgetLedgerService,
    private readonly limiter: RateLimiterService,
    private readonly alerts: BudgetAlertsService,
  ) {}

  /**
   * True when the call's membership (cached) has no budget and no rate limit, the
   * organization's or the member's: nothing to reserve, count or settle. False when its
   * view is not cached (admit() reads it).
   */
  unlimited(userId: string, organizationId: string): boolean {
    const membership = this.cache
      .cachedView(userId)
      ?.access.usableMemberships.find((m) => m.organizationId === organizationId);
    if (!membership) {
      return false;
    }
    const l = membership.limits;
    return (
      l.budgetUsd === null &&
      l.memberBudgetUsd === null &&
      l.rpmLimit === null &&
      l.memberRpmLimit === null &&
      l.tpmLimit === null &&
      l.memberTpmLimit === null
    );
  }

  async admit(request: AdmissionRequest): Promise<Admission> {
    const view = await this.cache.view(request.userId);
    const membership = view.access.usableMemberships.find(
      (m) => m.organizationId === request.organizationId,
    );
    if (!membership) {
      // The gateway admits only calls the rule allowed through this organization.
      throw new Error(`no usable membership of ${request.userId} in ${request.organizationId}`);
    }
    const { rpm, tpm } = limitKeys(membership, request.userId);
    await this.checkLimits(rpm, tpm);
    const prices: { model: PricedModel | null } = { model: null };
    const reservation = await this.reserve(membership, request, prices);
    let done = false;
    const finish = async (usage: CallUsage | null): Promise<void> => {
      if (done) {
        return;
      }
      done = true;
      if (usage) {
        await this.limiter.addTokens(tpm, usage.promptTokens + usage.completionTokens);
      }
      if (!reservation) {
        return;
      }
      if (!usage) {
        await this.ledger.release(reservation);
        return;
      }
      const cost =
        usage.costUsd ??
        usage.promptTokens * (prices.model?.promptPriceUsd ?? 0) +
          usage.completionTokens * (prices.model?.completionPriceUsd ?? 0);
      const rows = await this.ledger.settle(reservation, usdToNanos(cost));
      const organizationRow = reservation.scopes.findIndex((s) => s.userId === ORGANIZATION_ROW);
      if (organizationRow >= 0) {
        await this.alerts
          .spendChanged(
            membership.organizationId,
            membership.limits,
            reservation.scopes[organizationRow].periodStart,
            rows[organizationRow].spentNanos,
          )
          .catch((error: unknown) => this.logger.error(`budget alert failed: ${String(error)}`));
      }
    };
    return { settle: (usage) => finish(usage), release: () => finish(null) };
  }

  private async checkLimits(rpm: LimitKey[], tpm: LimitKey[]): Promise<void> {
    const decision = await this.limiter.admit(rpm, tpm);
    if (decision.allowed) {
      return;
    }
    const seconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    if (decision.reason === 'limiter_unavailable') {
      throw new AdmissionRefusal(
        503,
        'rate_limiter_unavailable',
        'Rate limits cannot be checked right now (the limiter is unreachable); retry shortly.',
        seconds,
      );
    }
    throw new AdmissionRefusal(
      429,
      'rate_limit_exceeded',
      `Rate limit reached for this organization or member; retry in ${seconds} s.`,
      seconds,
    );
  }

  private async reserve(
    membership: MembershipRow,
    request: AdmissionRequest,
    prices: { model: PricedModel | null },
  ): Promise<HeldReservation | null> {
    const { budgetUsd, memberBudgetUsd, budgetPeriod, allowUnpricedModels } = membership.limits;
    if (budgetUsd === null && memberBudgetUsd === null) {
      return null;
    }
    const model = typeof request.model === 'function' ? await request.model() : request.model;
    if (
      (model.promptPriceUsd === null || model.completionPriceUsd === null) &&
      !allowUnpricedModels
    ) {
      throw new AdmissionRefusal(
        402,
        'unpriced_model',
        `Model "${model.id}" has no price in the catalog, and organization "${membership.organizationId}" has a budget: its cost cannot be reserved. A site admin may set allow_unpriced_models on the organization.`,
      );
    }
    const periodStart = periodOf(budgetPeriod, this.ledger.now()).start;
    const scopes: SpendScope[] = [];
    const budgets: number[] = [];
    if (budgetUsd !== null) {
      scopes.push({
        organizationId: membership.organizationId,
        userId: ORGANIZATION_ROW,
        periodStart,
      });
      budgets.push(usdToNanos(budgetUsd));
    }
    if (memberBudgetUsd !== null) {
      scopes.push({
        organizationId: membership.organizationId,
        userId: request.userId,
        periodStart,
      });
      budgets.push(usdToNanos(memberBudgetUsd));
    }
    const promptTokens =
      typeof request.promptTokens === 'function' ? request.promptTokens() : request.promptTokens;
    const nanos = worstCaseNanos(model, promptTokens, request.maxTokens, request.choices ?? 1);
    prices.model = model;
    const result = await this.ledger.reserve(scopes, nanos, budgets);
    if (result.held) {
      return result.reservation;
    }
    const whose =
      result.refusedBy.userId === ORGANIZATION_ROW
        ? `organization "${membership.organizationId}"`
        : 'your membership';
    throw new AdmissionRefusal(
      402,
      'budget_exceeded',
      `This call could cost up to ${(nanos / NANOS_PER_USD).toFixed(6)} USD, more than the ${budgetPeriod} budget of ${whose} has left; lower max_tokens or wait for the budget to reset.`,
    );
  }
}

function limitKeys(m: MembershipRow, userId: string): { rpm: LimitKey[]; tpm: LimitKey[] } {
  const org = m.organizationId;
  const rpm: LimitKey[] = [];
  const tpm: LimitKey[] = [];
  if (m.limits.rpmLimit !== null) {
    rpm.push({ key: `rpm:o:${org}`, limit: m.limits.rpmLimit });
  }
  if (m.limits.memberRpmLimit !== null) {
    rpm.push({ key: `rpm:m:${org}:${userId}`, limit: m.limits.memberRpmLimit });
  }
  if (m.limits.tpmLimit !== null) {
    tpm.push({ key: `tpm:o:${org}`, limit: m.limits.tpmLimit });
  }
  if (m.limits.memberTpmLimit !== null) {
    tpm.push({ key: `tpm:m:${org}:${userId}`, limit: m.limits.memberTpmLimit });
  }
  return { rpm, tpm };
}
