import { Injectable, NotFoundException } from '@nestjs/common';
import { BudgetStateService } from '../budgets/budget-state.service';
import { ValidationFailedException } from '../common/validation';
import { IdRule, idProblems, MODEL_ID_RULE, USER_ID_RULE } from '../common/validators';
import { AccessCacheService, UserView, utf8Bytes } from './access-cache.service';
import { AccessDecision, Catalog, GrantingOrganization, OrganizationGrants } from './access-rule';
import { Principal } from '../auth/principal';
import { GatewayError } from '../common/openai-error';
import { DatabaseService } from '../database/database.service';
import { toBool } from './hot-queries';
import {
  AccessCheckResponse,
  AccessibleModelResponse,
  OpenAiModel,
  OpenAiModelList,
  UserModelsResponse,
} from './dto/access.dto';

/** The budget fields of an answer for a user none of whose memberships has a budget. */
const NO_BUDGET = { budget_remaining_usd: null, budget_resets_at: null } as const;

/** The answer of GET /api/v1/access/check for a decision and its budget figures. */
function answer(
  userId: string,
  modelId: string,
  decision: AccessDecision,
  budget: Pick<AccessCheckResponse, 'budget_remaining_usd' | 'budget_resets_at'>,
): AccessCheckResponse {
  return {
    user_id: userId,
    model_id: modelId,
    allowed: decision.allowed,
    organization_id: decision.organizationId,
    openrouter_user: decision.openrouterUser,
    reason: decision.reason,
    budget_remaining_usd: budget.budget_remaining_usd,
    budget_resets_at: budget.budget_resets_at,
  };
}

/** A model id's character rule without its pattern: a model the catalog may not know yet. */
const MODEL_ID_CHARACTERS: IdRule = { ...MODEL_ID_RULE, pattern: undefined };

/** 400 naming each malformed id. */
function validateIds(userId: string, modelId: string): void {
  const problems = idProblems(userId, USER_ID_RULE).concat(
    idProblems(modelId, MODEL_ID_CHARACTERS),
  );
  if (problems.length > 0) {
    throw new ValidationFailedException(
      problems.map((message) => ({ field: message.split(' ')[0], message })),
    );
  }
}

/** Listener told of every access decision (metrics). */
export type DecisionListener = (decision: AccessDecision) => void;

/** Answers "which models may this user use?" and "may this user use this model?". */
@Injectable()
export class AccessService {
  private readonly listeners: DecisionListener[] = [];

  constructor(
    private readonly cache: AccessCacheService,
    private readonly db: DatabaseService,
    private readonly budgets: BudgetStateService,
  ) {}

  /**
   * The user's view with budgets applied. Budget state is read live, so answers of users
   * under a budget are never served from the serialized cache.
   */
  private async view(userId: string): Promise<UserView> {
    const view = await this.cache.view(userId);
    return this.budgets.applies(view) ? this.budgets.apply(view) : view;
  }

  private async underBudget(userId: string): Promise<UserView | null> {
    const view = await this.cache.view(userId);
    return this.budgets.applies(view) ? this.budgets.apply(view) : null;
  }

  onDecision(listener: DecisionListener): void {
    this.listeners.push(listener);
  }

  async modelsOf(userId: string): Promise<UserModelsResponse> {
    const view = await this.view(userId);
    if (!view.user) {
      throw new NotFoundException(`User "${userId}" was not found.`);
    }
    return { user_id: userId, data: this.listModels(view) };
  }

  /** modelsOf as JSON (UTF-8 bytes), serialized once per user until their access changes. */
  modelsOfJson(userId: string): Buffer | Promise<Buffer> {
    return this.listJson('models', userId, (view) => {
      if (!view.user) {
        throw new NotFoundException(`User "${userId}" was not found.`);
      }
      return JSON.stringify({ user_id: userId, data: this.listModels(view) });
    });
  }

  /** The OpenAI-style model list as JSON (UTF-8 bytes), serialized once per user until their access changes. */
  openAiModelsJson(userId: string): Buffer | Promise<Buffer> {
    return this.listJson('openai', userId, (view) => JSON.stringify(this.openAiList(view)));
  }

  /**
   * A list as JSON (UTF-8 bytes): kept serialized for a user under no budget (without a
   * promise when their view is cached), built from the live budget state for a user under one.
   */
  private listJson(
    kind: string,
    userId: string,
    build: (view: UserView) => string,
  ): Buffer | Promise<Buffer> {
    const cached = this.cache.cachedView(userId);
    if (cached && !this.budgets.applies(cached)) {
      return this.cache.serialized(kind, userId, build);
    }
    return this.underBudget(userId).then((budgeted) =>
      budgeted ? utf8Bytes(build(budgeted)) : this.cache.serialized(kind, userId, build),
    );
  }

  /**
   * May the user use the model? Answered without a promise when the user's view is cached
   * and none of their memberships has a budget (the common case, thousands of times a
   * second); otherwise the view or the budget is read first.
   */
  check(userId: string, modelId: string): AccessCheckResponse | Promise<AccessCheckResponse> {
    validateIds(userId, modelId);
    const cached = this.cache.cachedView(userId);
    return cached && !this.budgets.applies(cached)
      ? answer(userId, modelId, this.decideFor(cached, modelId), NO_BUDGET)
      : this.checkReading(userId, modelId);
  }

  private async checkReading(userId: string, modelId: string): Promise<AccessCheckResponse> {
    const view = await this.view(userId);
    const decision = this.decideFor(view, modelId);
    return answer(userId, modelId, decision, await this.budgetOf(view, decision, modelId));
  }

  /**
   * The decision check() reports, without its budget figures: what the gateway enforces
   * (one rule, one code path; the remaining budget is not read for every model call).
   * Without a promise when check() would answer without one.
   */
  decide(userId: string, modelId: string): AccessDecision | Promise<AccessDecision> {
    validateIds(userId, modelId);
    const cached = this.cache.cachedView(userId);
    return cached && !this.budgets.applies(cached)
      ? this.decideFor(cached, modelId)
      : this.view(userId).then((view) => this.decideFor(view, modelId));
  }

  /** The rule applied to a view, told to every decision listener (metrics). */
  private decideFor(view: UserView, modelId: string): AccessDecision {
    const decision: AccessDecision = view.user
      ? view.access.check(modelId)
      : { allowed: false, organizationId: null, openrouterUser: null, reason: 'user_not_found' };
    for (const listener of this.listeners) {
      listener(decision);
    }
    return decision;
  }

  /**
   * The budget behind a decision: the granting organization's (or, when refused for
   * budget_exhausted, the first exhausted one that grants the model), with the member's own.
   */
  private async budgetOf(
    view: UserView,
    decision: AccessDecision,
    modelId: string,
  ): Promise<Pick<AccessCheckResponse, 'budget_remaining_usd' | 'budget_resets_at'>> {
    const organizationId =
      decision.organizationId ??
      (decision.reason === 'budget_exhausted'
        ? view.access.usableMemberships.find(
            (m) => view.access.exhausted.has(m.organizationId) && view.access.grantedBy(m, modelId),
          )?.organizationId
        : undefined);
    const membership = view.access.usableMemberships.find(
      (m) => m.organizationId === organizationId,
    );
    // A membership under no budget (most) is answered without reading the ledger.
    const report = membership ? await this.budgets.report(membership, view.access.userId) : null;
    return report
      ? { budget_remaining_usd: report.remainingUsd, budget_resets_at: report.resetsAt }
      : NO_BUDGET;
  }

  async openAiModels(userId: string): Promise<OpenAiModelList> {
    return this.openAiList(await this.view(userId));
  }

  /**
   * GET /v1/models: a user's own list, or, for a gateway key, the list of every model some
   * active organization may use (see openAiUnion).
   */
  openAiModelsJsonFor(principal: Principal): Buffer | Promise<Buffer> {
    return principal.kind === 'gateway_key'
      ? this.openAiUnion().then((list) => utf8Bytes(JSON.stringify(list)))
      : this.openAiModelsJson(principal.userId!);
  }

  /** GET /v1/models/:id: one entry of that same list, or 404 model_not_found. */
  async openAiModelFor(principal: Principal, modelId: string): Promise<OpenAiModel> {
    const list =
      principal.kind === 'gateway_key'
        ? await this.openAiUnion()
        : await this.openAiModels(principal.userId!);
    const model = list.data.find((m) => m.id === modelId);
    if (!model) {
      throw new GatewayError(
        404,
        `The model "${modelId}" does not exist or is not available to you.`,
        'model_not_found',
        'model',
      );
    }
    return model;
  }

  /** Every organization through which the user may use the model, by organization id. */
  async grantingOrganizations(userId: string, modelId: string): Promise<GrantingOrganization[]> {
    return (await this.view(userId)).access.models.get(modelId) ?? [];
  }

  /**
   * The OpenAI-style list for a caller with no user (a gateway key without forwarded user
   * headers, e.g. a chat front end filling its app-wide model list): every active model an
   * active grant of an active organization covers, owned_by the first such organization.
   * It says what may be called by someone; each call is still decided for its user.
   */
  async openAiUnion(): Promise<OpenAiModelList> {
    return this.db.read(async (m) => {
      const catalog: Catalog = await this.cache.getCatalog(m);
      const rows = await m.query<Record<string, unknown>[]>(
        'SELECT g.organization_id, g.model_id, g.is_active FROM organization_models g ' +
          'INNER JOIN organizations o ON o.id = g.organization_id WHERE o.is_active = ' +
          (this.db.kind === 'postgres' ? 'true' : '1'),
      );
      const byOrganization = new Map<
        string,
        { organizationId: string; modelId: string; isActive: boolean }[]
      >();
      for (const r of rows) {
        const organizationId = String(r.organization_id);
        const list = byOrganization.get(organizationId) ?? [];
        list.push({ organizationId, modelId: String(r.model_id), isActive: toBool(r.is_active) });
        byOrganization.set(organizationId, list);
      }
      const exhausted = await this.budgets.exhaustedOrganizations(m);
      const owner = new Map<string, string>();
      for (const organizationId of [...byOrganization.keys()].sort()) {
        if (exhausted.has(organizationId)) {
          continue; // its budget for the period is spent: it grants nothing now
        }
        const grants = new OrganizationGrants(
          organizationId,
          byOrganization.get(organizationId)!,
          catalog,
        );
        for (const id of grants.allowedModelIds()) {
          if (!owner.has(id)) {
            owner.set(id, organizationId);
          }
        }
      }
      return {
        object: 'list' as const,
        data: [...owner.keys()].sort().map((id) => ({
          id,
          object: 'model' as const,
          created: Math.floor(Date.parse(catalog.byId.get(id)!.createdAt) / 1000),
          owned_by: owner.get(id)!,
        })),
      };
    });
  }

  private openAiList(view: UserView): OpenAiModelList {
    return {
      object: 'list',
      data: this.listModels(view).map((m) => ({
        id: m.id,
        object: 'model',
        created: Math.floor(Date.parse(view.access.catalogModel(m.id)!.createdAt) / 1000),
        owned_by: m.organizations[0].id,
      })),
    };
  }

  private listModels(view: UserView): AccessibleModelResponse[] {
    return view.access.sortedModelIds().map((id) => {
      const model = view.access.catalogModel(id)!;
      const orgs = view.access.models.get(id)!;
      return {
        id,
        name: model.name,
        base_model_id: model.baseModelId,
        openrouter_user: orgs[0].openrouterUser,
        organizations: orgs.map((o) => ({
          id: o.id,
          name: o.name,
          openrouter_user: o.openrouterUser,
        })),
      };
    });
  }
}
