import { Injectable, NotFoundException } from '@nestjs/common';
import { BudgetStateService } from '../budgets/budget-state.service';
import { ValidationFailedException } from '../common/validation';
import { idProblems, MODEL_ID_RULE, USER_ID_RULE } from '../common/validators';
import { AccessCacheService, UserView } from './access-cache.service';
import { AccessDecision } from './access-rule';
import {
  AccessCheckResponse,
  AccessibleModelResponse,
  OpenAiModelList,
  UserModelsResponse,
} from './dto/access.dto';

/** Listener told of every access decision (metrics). */
export type DecisionListener = (decision: AccessDecision) => void;

/** Answers "which models may this user use?" and "may this user use this model?". */
@Injectable()
export class AccessService {
  private readonly listeners: DecisionListener[] = [];

  constructor(
    private readonly cache: AccessCacheService,
    private readonly budgets: BudgetStateService,
  ) {}

  /**
   * The user's view with budgets applied. Budget state is read live, so answers of users
   * under a budget are never served from the serialized cache.
   */
  private async view(userId: string): Promise<UserView> {
    return this.budgets.apply(await this.cache.view(userId));
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

  /** modelsOf as JSON text, serialized once per user until their access changes. */
  async modelsOfJson(userId: string): Promise<string> {
    const build = (view: UserView): string => {
      if (!view.user) {
        throw new NotFoundException(`User "${userId}" was not found.`);
      }
      return JSON.stringify({ user_id: userId, data: this.listModels(view) });
    };
    const budgeted = await this.underBudget(userId);
    return budgeted ? build(budgeted) : this.cache.serialized('models', userId, build);
  }

  /** openAiModels as JSON text, serialized once per user until their access changes. */
  async openAiModelsJson(userId: string): Promise<string> {
    const build = (view: UserView): string => JSON.stringify(this.openAiList(view));
    const budgeted = await this.underBudget(userId);
    return budgeted ? build(budgeted) : this.cache.serialized('openai', userId, build);
  }

  async check(userId: string, modelId: string): Promise<AccessCheckResponse> {
    const problems = [
      ...idProblems(userId, USER_ID_RULE),
      ...idProblems(modelId, { ...MODEL_ID_RULE, pattern: undefined }),
    ].map((message) => ({ field: message.split(' ')[0], message }));
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    const view = await this.view(userId);
    const decision: AccessDecision = view.user
      ? view.access.check(modelId)
      : { allowed: false, organizationId: null, openrouterUser: null, reason: 'user_not_found' };
    for (const listener of this.listeners) {
      listener(decision);
    }
    return {
      user_id: userId,
      model_id: modelId,
      allowed: decision.allowed,
      organization_id: decision.organizationId,
      openrouter_user: decision.openrouterUser,
      reason: decision.reason,
      ...(await this.budgetOf(view, decision, modelId)),
    };
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
    const report = membership ? await this.budgets.report(membership, view.access.userId) : null;
    return {
      budget_remaining_usd: report ? report.remainingUsd : null,
      budget_resets_at: report ? report.resetsAt : null,
    };
  }

  async openAiModels(userId: string): Promise<OpenAiModelList> {
    return this.openAiList(await this.view(userId));
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
