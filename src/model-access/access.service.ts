import { Injectable, NotFoundException } from '@nestjs/common';
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

  constructor(private readonly cache: AccessCacheService) {}

  onDecision(listener: DecisionListener): void {
    this.listeners.push(listener);
  }

  async modelsOf(userId: string): Promise<UserModelsResponse> {
    const view = await this.cache.view(userId);
    if (!view.user) {
      throw new NotFoundException(`User "${userId}" was not found.`);
    }
    return { user_id: userId, data: this.listModels(view) };
  }

  /** modelsOf as JSON text, serialized once per user until their access changes. */
  async modelsOfJson(userId: string): Promise<string> {
    return this.cache.serialized('models', userId, (view) => {
      if (!view.user) {
        throw new NotFoundException(`User "${userId}" was not found.`);
      }
      return JSON.stringify({ user_id: userId, data: this.listModels(view) });
    });
  }

  /** The OpenAI-style model list as JSON text, serialized once per user until their access changes. */
  async openAiModelsJson(userId: string): Promise<string> {
    return this.cache.serialized('openai', userId, (view) => JSON.stringify(this.openAiList(view)));
  }

  async check(userId: string, modelId: string): Promise<AccessCheckResponse> {
    const problems = [
      ...idProblems(userId, USER_ID_RULE),
      ...idProblems(modelId, { ...MODEL_ID_RULE, pattern: undefined }),
    ].map((message) => ({ field: message.split(' ')[0], message }));
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    const view = await this.cache.view(userId);
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
    };
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
