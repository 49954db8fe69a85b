import { Injectable, NotFoundException } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AUDIT_ID_SAMPLE, AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { Upserted } from '../common/upsert';
import { now } from '../common/time';
import { ValidationFailedException } from '../common/validation';
import { idProblems, MODEL_ID_RULE } from '../common/validators';
import { DatabaseService } from '../database/database.service';
import { GrantEntity } from '../model-access/entities/grant.entity';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { paginate, whereContains, whereEqual } from '../common/listing';
import {
  ImportModelItem,
  ImportModelsBody,
  ImportModelsResponse,
  ListModelsQuery,
  ModelResponse,
  UpsertModelBody,
} from './dto/model.dto';
import { ModelEntity } from './entities/model.entity';

export function toModelResponse(m: ModelEntity): ModelResponse {
  return {
    id: m.id,
    name: m.name,
    base_model_id: m.baseModelId,
    is_active: m.isActive,
    prompt_price_usd: nullableNumber(m.promptPriceUsd),
    completion_price_usd: nullableNumber(m.completionPriceUsd),
    context_length: nullableNumber(m.contextLength),
    max_completion_tokens: nullableNumber(m.maxCompletionTokens),
    created_at: m.createdAt,
    updated_at: m.updatedAt,
  };
}

function nullableNumber(value: number | null | undefined): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** The price and limit fields of a model, as an upsert body may carry them. */
const PRICE_FIELDS = [
  ['prompt_price_usd', 'promptPriceUsd'],
  ['completion_price_usd', 'completionPriceUsd'],
  ['context_length', 'contextLength'],
  ['max_completion_tokens', 'maxCompletionTokens'],
] as const;

export type UpsertOutcome = 'created' | 'updated' | 'unchanged';

/** The model catalog. A model new to the catalog is granted to every auto-grant organization. */
@Injectable()
export class CatalogService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
  ) {}

  async upsert(
    actor: Principal,
    id: string,
    body: UpsertModelBody,
  ): Promise<Upserted<ModelResponse>> {
    return this.db.write(async (tx) => {
      const before = await tx.getRepository(ModelEntity).findOne({ where: { id } });
      const { entity, outcome, autoGranted } = await this.upsertOne(tx, { id, ...body });
      const model = toModelResponse(entity);
      if (outcome === 'unchanged') {
        // nothing changes: no audit event
        return { value: model, created: false };
      }
      await this.audit.record(tx, actor, {
        action: outcome === 'created' ? 'model.create' : 'model.update',
        targetType: 'model',
        targetId: id,
        before: before ? toModelResponse(before) : null,
        after: { ...model, auto_granted_to: autoGranted },
      });
      return { value: model, created: outcome === 'created' };
    });
  }

  /** Upserts many models in one transaction; all or nothing. */
  async import(actor: Principal, body: ImportModelsBody): Promise<ImportModelsResponse> {
    const problems = body.models.flatMap((m, i) =>
      idProblems(m.id, MODEL_ID_RULE).map((message) => ({ field: `models.${i}.id`, message })),
    );
    const seen = new Set<string>();
    body.models.forEach((m, i) => {
      if (seen.has(m.id)) {
        problems.push({ field: `models.${i}.id`, message: `model_id "${m.id}" appears twice` });
      }
      seen.add(m.id);
    });
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    return this.db.write(async (tx) => {
      const result: ImportModelsResponse = {
        created: 0,
        updated: 0,
        unchanged: 0,
        auto_granted: 0,
      };
      const changed: string[] = [];
      for (const item of body.models) {
        const { outcome, autoGranted } = await this.upsertOne(tx, item);
        result[outcome]++;
        result.auto_granted += autoGranted.length;
        if (outcome !== 'unchanged') {
          changed.push(item.id);
        }
      }
      if (changed.length > 0) {
        // counts and a bounded sample of ids: a large import writes a small event
        await this.audit.record(tx, actor, {
          action: 'model.import',
          targetType: 'model',
          targetId: `${body.models.length} models`,
          after: { ...result, changed_ids_sample: changed.slice(0, AUDIT_ID_SAMPLE) },
        });
      }
      return result;
    });
  }

  /** Inserts or updates one model inside tx; grants a new model to auto-grant organizations. */
  async upsertOne(
    tx: EntityManager,
    item: ImportModelItem,
    at = now(),
  ): Promise<{ entity: ModelEntity; outcome: UpsertOutcome; autoGranted: string[] }> {
    const repo = tx.getRepository(ModelEntity);
    const existing = await repo.findOne({ where: { id: item.id } });
    const fields: Partial<ModelEntity> = {
      name: item.name,
      baseModelId: item.base_model_id ?? null,
      isActive: item.is_active ?? true,
    };
    // Prices and limits: omitted keeps what is stored (null for a new model), null clears.
    for (const [field, column] of PRICE_FIELDS) {
      const value = item[field];
      if (value !== undefined) {
        fields[column] = value;
      } else if (!existing) {
        fields[column] = null;
      }
    }
    if (existing) {
      const same = (Object.keys(fields) as (keyof ModelEntity)[]).every(
        (key) => existing[key] === fields[key],
      );
      if (same) {
        return { entity: existing, outcome: 'unchanged', autoGranted: [] };
      }
      await repo.update({ id: item.id }, { ...fields, updatedAt: at });
      return {
        entity: { ...existing, ...fields, updatedAt: at },
        outcome: 'updated',
        autoGranted: [],
      };
    }
    const entity = repo.create({ id: item.id, ...fields, createdAt: at, updatedAt: at });
    await repo.insert(entity);
    const autoOrgs = await tx
      .getRepository(OrganizationEntity)
      .find({ where: { autoGrantNewModels: true }, select: { id: true } });
    const grants = tx.getRepository(GrantEntity);
    const autoGranted: string[] = [];
    for (const org of autoOrgs) {
      const grant = await grants.findOne({ where: { organizationId: org.id, modelId: item.id } });
      if (!grant) {
        await grants.insert({
          organizationId: org.id,
          modelId: item.id,
          isActive: true,
          createdAt: at,
          updatedAt: at,
        });
        autoGranted.push(org.id);
      }
    }
    return { entity, outcome: 'created', autoGranted };
  }

  async get(id: string): Promise<ModelResponse> {
    return toModelResponse(await this.db.read((m) => this.findOrFail(m, id)));
  }

  async list(query: ListModelsQuery): Promise<Page<ModelResponse>> {
    return this.db.read(async (m) => {
      const qb = m.getRepository(ModelEntity).createQueryBuilder('m');
      whereContains(qb, ['m.id', 'm.name'], query.search);
      whereEqual(qb, { 'm.is_active': query.is_active });
      if (query.kind === 'provider') {
        qb.andWhere('m.base_model_id IS NULL');
      } else if (query.kind === 'custom') {
        qb.andWhere('m.base_model_id IS NOT NULL');
      }
      return paginate(qb, query, ['m.id', 'ASC'], (rows) => rows.map(toModelResponse));
    });
  }

  /** Removes a model from the catalog together with the grants that name it exactly. */
  async remove(actor: Principal, id: string): Promise<void> {
    await this.db.write(async (tx) => {
      const model = await this.findOrFail(tx, id);
      const grants = await tx.getRepository(GrantEntity).find({ where: { modelId: id } });
      await tx.getRepository(GrantEntity).delete({ modelId: id });
      await tx.getRepository(ModelEntity).delete({ id });
      await this.audit.record(tx, actor, {
        action: 'model.delete',
        targetType: 'model',
        targetId: id,
        before: { ...toModelResponse(model), granted_to: grants.map((g) => g.organizationId) },
      });
    });
  }

  async findOrFail(manager: EntityManager, id: string): Promise<ModelEntity> {
    const model = await manager.getRepository(ModelEntity).findOne({ where: { id } });
    if (!model) {
      throw new NotFoundException(`Model "${id}" was not found in the catalog.`);
    }
    return model;
  }
}
