import { Injectable, NotFoundException } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AUDIT_ID_SAMPLE, AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { ModelEntity } from '../catalog/entities/model.entity';
import { paginate, whereEqual } from '../common/listing';
import { Page } from '../common/pagination.dto';
import { Upserted } from '../common/upsert';
import { now } from '../common/time';
import { ValidationFailedException } from '../common/validation';
import { grantTargetProblems } from '../common/validators';
import { DatabaseService } from '../database/database.service';
import { OrganizationsService } from '../organizations/organizations.service';
import { AccessCacheService } from './access-cache.service';
import { Catalog, isPattern } from './access-rule';
import {
  BulkGrantsBody,
  BulkGrantsResponse,
  GrantResponse,
  ListGrantsQuery,
  PutGrantBody,
} from './dto/grant.dto';
import { GrantEntity } from './entities/grant.entity';

function toGrantResponse(g: GrantEntity, catalog: Catalog): GrantResponse {
  return {
    organization_id: g.organizationId,
    model_id: g.modelId,
    is_pattern: isPattern(g.modelId),
    is_active: g.isActive,
    covers: catalog.covered(g.modelId).length,
    created_at: g.createdAt,
    updated_at: g.updatedAt,
  };
}

/** Which models an organization holds: exact catalog ids and prefix patterns. */
@Injectable()
export class GrantsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly organizations: OrganizationsService,
    private readonly cache: AccessCacheService,
  ) {}

  async list(orgId: string, query: ListGrantsQuery): Promise<Page<GrantResponse>> {
    return this.db.read(async (m) => {
      await this.organizations.findOrFail(m, orgId);
      const qb = m
        .getRepository(GrantEntity)
        .createQueryBuilder('g')
        .where('g.organization_id = :orgId', { orgId });
      whereEqual(qb, { 'g.is_active': query.is_active });
      const catalog = await this.cache.getCatalog(m);
      return paginate(qb, query, ['g.model_id', 'ASC'], (rows) =>
        rows.map((g) => toGrantResponse(g, catalog)),
      );
    });
  }

  async put(
    actor: Principal,
    orgId: string,
    modelId: string,
    body: PutGrantBody,
  ): Promise<Upserted<GrantResponse>> {
    return this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { organizations: [orgId] });
      const { grant: existing, inCatalog } = await this.organizations.findWithGrantOrFail(
        tx,
        orgId,
        modelId,
      );
      // Exact ids must name catalog models; patterns may cover models added later.
      if (!isPattern(modelId) && !inCatalog) {
        throw new NotFoundException(
          `Model "${modelId}" is not in the catalog; add it first or grant a pattern.`,
        );
      }
      const at = now();
      const isActive = body.is_active ?? true;
      const unchanged = existing !== null && existing.isActive === isActive;
      const entity: GrantEntity = existing
        ? { ...existing, isActive, updatedAt: unchanged ? existing.updatedAt : at }
        : { organizationId: orgId, modelId, isActive, createdAt: at, updatedAt: at };
      if (!unchanged) {
        // Nothing below needs the row's answer: it goes out with the commit (no wait of its own).
        this.db.saveAtCommit(
          tx,
          GrantEntity,
          existing !== null,
          entity,
          { organizationId: orgId, modelId },
          { isActive, updatedAt: at },
        );
      }
      const catalog = await this.cache.getCatalog(tx);
      if (unchanged) {
        // nothing changes: no audit event, the same representation
        return { value: toGrantResponse(entity, catalog), created: false };
      }
      await this.audit.record(tx, actor, {
        action: existing ? 'grant.update' : 'grant.create',
        targetType: 'grant',
        targetId: `${orgId}/${modelId}`,
        before: existing ? { is_active: existing.isActive } : null,
        after: { is_active: isActive },
      });
      return { value: toGrantResponse(entity, catalog), created: !existing };
    });
  }

  async revoke(actor: Principal, orgId: string, modelId: string): Promise<void> {
    await this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { organizations: [orgId] });
      await this.organizations.findOrFail(tx, orgId, 'share');
      const repo = tx.getRepository(GrantEntity);
      const existing = await repo.findOne({ where: { organizationId: orgId, modelId } });
      if (!existing) {
        throw new NotFoundException(`Organization "${orgId}" holds no grant for "${modelId}".`);
      }
      await repo.delete({ organizationId: orgId, modelId });
      await this.audit.record(tx, actor, {
        action: 'grant.delete',
        targetType: 'grant',
        targetId: `${orgId}/${modelId}`,
        before: { is_active: existing.isActive },
      });
    });
  }

  /** Grants and revokes many ids and patterns in one transaction; all or nothing. */
  async bulk(actor: Principal, orgId: string, body: BulkGrantsBody): Promise<BulkGrantsResponse> {
    const grant = body.grant ?? [];
    const revoke = body.revoke ?? [];
    const problems = [
      ...grant.flatMap((id, i) =>
        grantTargetProblems(id).map((message) => ({ field: `grant.${i}`, message })),
      ),
      ...revoke.flatMap((id, i) =>
        grantTargetProblems(id).map((message) => ({ field: `revoke.${i}`, message })),
      ),
    ];
    const both = grant.filter((id) => revoke.includes(id));
    if (both.length > 0) {
      problems.push({ field: 'revoke', message: `"${both[0]}" is both granted and revoked` });
    }
    if (grant.length === 0 && revoke.length === 0) {
      problems.push({ field: 'grant', message: 'send at least one model id in grant or revoke' });
    }
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    return this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { organizations: [orgId] });
      await this.organizations.findOrFail(tx, orgId, 'share');
      await this.requireCatalogModels(tx, grant, (id, i) => {
        throw new ValidationFailedException([
          {
            field: `grant.${i}`,
            message: `model "${id}" is not in the catalog; nothing was changed`,
          },
        ]);
      });
      const repo = tx.getRepository(GrantEntity);
      const at = now();
      const result: BulkGrantsResponse = {
        granted: 0,
        reactivated: 0,
        unchanged: 0,
        revoked: 0,
        not_granted: 0,
      };
      const changed: string[] = [];
      for (const modelId of new Set(grant)) {
        const existing = await repo.findOne({ where: { organizationId: orgId, modelId } });
        if (!existing) {
          await repo.insert({
            organizationId: orgId,
            modelId,
            isActive: true,
            createdAt: at,
            updatedAt: at,
          });
          result.granted++;
          changed.push(`+${modelId}`);
        } else if (!existing.isActive) {
          await repo.update({ organizationId: orgId, modelId }, { isActive: true, updatedAt: at });
          result.reactivated++;
          changed.push(`+${modelId}`);
        } else {
          result.unchanged++;
        }
      }
      for (const modelId of new Set(revoke)) {
        const deleted = await repo.delete({ organizationId: orgId, modelId });
        if ((deleted.affected ?? 0) > 0) {
          result.revoked++;
          changed.push(`-${modelId}`);
        } else {
          result.not_granted++;
        }
      }
      if (changed.length > 0) {
        // counts and a bounded sample of what changed: a large request writes a small event
        await this.audit.record(tx, actor, {
          action: 'grant.bulk',
          targetType: 'organization',
          targetId: orgId,
          after: { ...result, changed_sample: changed.slice(0, AUDIT_ID_SAMPLE) },
        });
      }
      return result;
    });
  }

  /** Exact ids must name catalog models; patterns may cover models added later. */
  private async requireCatalogModels(
    tx: EntityManager,
    ids: string[],
    onMissing: (id: string, index: number) => never,
  ): Promise<void> {
    for (const [i, id] of ids.entries()) {
      if (!isPattern(id) && !(await tx.getRepository(ModelEntity).exists({ where: { id } }))) {
        onMissing(id, i);
      }
    }
  }
}
