import { Injectable } from '@nestjs/common';
import { GatewayError } from '../common/openai-error';
import { DatabaseService } from '../database/database.service';
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
import { bind } from './budget-ledger.service';
import { numberOrNull } from './budget-settings';

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

/** Models whose prices are kept (a catalog larger than this reads the rest per call). */
const PRICES_KEPT = 10_000;

/**
 * The gateway's admission seam, bound to budgets and rate limits: reads the model's prices
 * (only when a budget applies; kept until the catalog changes), estimates the prompt, admits through BudgetAdmissionService
 * and turns its refusals into OpenAI-shaped gateway errors (with Retry-After on 429/503).
 * The ticket settles at the reported usage, or releases the reservation when a failed or
 * aborted call reported none.
 */
@Injectable()
export class BudgetGatewayAdmission implements GatewayAdmission {
  private readonly prices = new Map<string, PricedModel>();
  /** Increases whenever the catalog may have changed: prices read before it are not kept. */
  private generation = 0;

  constructor(
    private readonly budgets: BudgetAdmissionService,
    private readonly db: DatabaseService,
  ) {
    db.onChange((change) => {
      if (change.tables.some((t) => t.table === 'models' || t.table === '*')) {
        this.prices.clear();
        this.generation++;
      }
    });
  }

  async admit(request: AdmissionRequest): Promise<AdmissionTicket> {
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

  /**
   * A model's prices, read once and kept until a write to the catalog (here or, through the
   * change feed, on another replica); not kept while other replicas' writes could go
   * unheard, nor when a catalog change was announced while it was being read.
   */
  private async pricesOf(modelId: string): Promise<PricedModel> {
    const kept = this.prices.get(modelId);
    if (kept) {
      return kept;
    }
    const generation = this.generation;
    const model = await this.readPrices(modelId);
    if (
      generation === this.generation &&
      this.db.changesObservable &&
      this.prices.size < PRICES_KEPT
    ) {
      this.prices.set(modelId, model);
    }
    return model;
  }

  private async readPrices(modelId: string): Promise<PricedModel> {
    const [sql, params] = bind(
      this.db.kind,
      'SELECT prompt_price_usd, completion_price_usd, context_length, max_completion_tokens FROM models WHERE id = $1',
      [modelId],
    );
    const [row] = await this.db.read((m) => m.query<Record<string, unknown>[]>(sql, params));
    return {
      id: modelId,
      promptPriceUsd: numberOrNull(row?.prompt_price_usd),
      completionPriceUsd: numberOrNull(row?.completion_price_usd),
      contextLength: numberOrNull(row?.context_length),
      maxCompletionTokens: numberOrNull(row?.max_completion_tokens),
    };
  }
}
