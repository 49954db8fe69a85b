import { Injectable } from '@nestjs/common';
import { GatewayError } from '../common/openai-error';
import { AccessCacheService } from '../model-access/access-cache.service';
import { UNKNOWN_PRICES } from '../model-access/access-rule';
import {
  AdmissionOutcome,
  AdmissionRequest,
  AdmissionTicket,
  GatewayAdmission,
} from '../gateway/gateway-admission';
import {
  AdmissionRefusal,
  BudgetAdmissionService,
  estimatePromptTokens,
  PricedModel,
} from './budget-admission.service';

/** The field of a request body when it is a positive integer. */
function positiveInteger(body: Readonly<Record<string, unknown>>, field: string): number | null {
  const value = body[field];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : null;
}

/**
 * The completion tokens a request bounds itself to: the larger of max_tokens and
 * max_completion_tokens when both are sent (providers differ in which one they obey), or
 * null when neither is a positive integer (0 is not trusted as a bound: the model's limit
 * is reserved instead).
 */
export function requestedMaxTokens(body: Readonly<Record<string, unknown>>): number | null {
  const bounds = ['max_completion_tokens', 'max_tokens']
    .map((field) => positiveInteger(body, field))
    .filter((n): n is number => n !== null);
  return bounds.length > 0 ? Math.max(...bounds) : null;
}

/** Completions a request asks for: `n` (chat, completions) or `best_of` (completions), at least 1. */
export function requestedChoices(body: Readonly<Record<string, unknown>>): number {
  return Math.max(1, positiveInteger(body, 'n') ?? 1, positiveInteger(body, 'best_of') ?? 1);
}

/** The ticket of a call under no budget and no rate limit: nothing to settle. */
const UNLIMITED: AdmissionTicket = { settle: () => undefined };

/**
 * The gateway's admission seam, bound to budgets and rate limits: reads the model's prices
 * (only when a budget applies, from the access cache's catalog), estimates the prompt, admits through BudgetAdmissionService
 * and turns its refusals into OpenAI-shaped gateway errors (with Retry-After on 429/503).
 * The ticket settles at the reported usage, or releases the reservation when a failed or
 * aborted call reported none.
 */
@Injectable()
export class BudgetGatewayAdmission implements GatewayAdmission {
  constructor(
    private readonly budgets: BudgetAdmissionService,
    private readonly cache: AccessCacheService,
  ) {}

  admit(request: AdmissionRequest): AdmissionTicket | Promise<AdmissionTicket> {
    // Most calls come through organizations without budgets or limits: no promise for them.
    return this.budgets.unlimited(request.userId, request.organizationId)
      ? UNLIMITED
      : this.admitLimited(request);
  }

  private async admitLimited(request: AdmissionRequest): Promise<AdmissionTicket> {
    try {
      const admission = await this.budgets.admit({
        userId: request.userId,
        organizationId: request.organizationId,
        model: () => this.pricesOf(request.modelId),
        promptTokens: () => estimatePromptTokens(request.body),
        maxTokens: requestedMaxTokens(request.body),
        choices: requestedChoices(request.body),
      });
      return {
        settle: (outcome: AdmissionOutcome) =>
          outcome.costUsd === null &&
          outcome.promptTokens === null &&
          outcome.completionTokens === null
            ? admission.release()
            : admission.settle({
                costUsd: outcome.costUsd,
                promptTokens: outcome.promptTokens ?? 0,
                completionTokens: outcome.completionTokens ?? 0,
              }),
      };
    } catch (error) {
      if (error instanceof AdmissionRefusal) {
        throw new GatewayError(
          error.status,
          error.message,
          error.code,
          error.code === 'budget_exceeded' ? 'max_tokens' : null,
          error.toOpenAiError().error.type,
          error.retryAfterSeconds === null
            ? {}
            : { 'retry-after': String(error.retryAfterSeconds) },
        );
      }
      throw error;
    }
  }

  /** A model's prices, from the catalog layer of the access cache (one cache, one invalidation). */
  private async pricesOf(modelId: string): Promise<PricedModel> {
    return (
      (await this.cache.currentCatalog()).byId.get(modelId) ?? { id: modelId, ...UNKNOWN_PRICES }
    );
  }
}
