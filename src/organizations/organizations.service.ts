import {
  ConflictException,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
} from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { adminOrganizationIds, Principal, SYSTEM_ACTOR } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { paginate, whereEqual } from '../common/listing';
import { now } from '../common/time';
import { requireSomeField } from '../common/validation';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { MembershipEntity } from '../memberships/entities/membership.entity';
import { ModelEntity } from '../catalog/entities/model.entity';
import { GrantEntity } from '../model-access/entities/grant.entity';
import { UserEntity } from '../users/entities/user.entity';
import {
  CreateOrganizationBody,
  ListOrganizationsQuery,
  OrganizationResponse,
  UpdateOrganizationBody,
} from './dto/organization.dto';
import { OrganizationEntity } from './entities/organization.entity';
import { insertOrganization } from './organization-writer';

interface Counts {
  members: number;
  grants: number;
}

export function toOrganizationResponse(
  o: OrganizationEntity,
  counts: Counts,
): OrganizationResponse {
  return {
    id: o.id,
    name: o.name,
    external_user: o.externalUser,
    is_active: o.isActive,
    auto_grant_new_models: o.autoGrantNewModels,
    email_domains: o.emailDomains,
    member_count: counts.members,
    grant_count: counts.grants,
    created_at: o.createdAt,
    updated_at: o.updatedAt,
  };
}

@Injectable()
export class OrganizationsService implements OnApplicationBootstrap {
  private readonly logger = new Logger(OrganizationsService.name);

  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /** Creates the default organization from OPENROUTER_EXTERNAL_USER once, however many processes boot. */
  async onApplicationBootstrap(): Promise<void> {
    const externalUser = this.config.openrouterExternalUser;
    if (!externalUser) {
      return;
    }
    const id = externalUser.toLowerCase();
    const created = await this.db.withSchemaLock(() =>
      this.db.write(async (tx) => {
        const entity = await insertOrganization(tx, {
          id,
          name: this.config.organizationName,
          externalUser,
          at: now(),
        });
        if ('conflict' in entity) {
          if (entity.conflict === 'external_user') {
            this.logger.warn(
              `external_user "${externalUser}" belongs to another organization; not seeding "${id}"`,
            );
          }
          return false;
        }
        await this.audit.record(tx, SYSTEM_ACTOR, {
          action: 'organization.create',
          targetType: 'organization',
          targetId: id,
          after: toOrganizationResponse(entity, { members: 0, grants: 0 }),
        });
        return true;
      }),
    );
    this.logger.log(
      created ? `created default organization "${id}"` : `default organization "${id}" present`,
    );
  }

  async create(actor: Principal, body: CreateOrganizationBody): Promise<OrganizationResponse> {
    return this.db.write(async (tx) => {
      const entity = await insertOrganization(tx, {
        id: body.id,
        name: body.name,
        externalUser: body.external_user,
        autoGrantNewModels: body.auto_grant_new_models,
        emailDomains: body.email_domains,
        at: now(),
      });
      if ('conflict' in entity) {
        throw new ConflictException(
          entity.conflict === 'id'
            ? `Organization "${body.id}" already exists.`
            : `external_user "${body.external_user}" is used by another organization.`,
        );
      }
      const response = toOrganizationResponse(entity, { members: 0, grants: 0 });
      await this.audit.record(tx, actor, {
        action: 'organization.create',
        targetType: 'organization',
        targetId: body.id,
        after: response,
      });
      return response;
    });
  }

  async get(id: string): Promise<OrganizationResponse> {
    return this.db.read(async (m) => {
      const org = await this.findOrFail(m, id);
      const counts = await this.counts(m, [id]);
      return toOrganizationResponse(org, counts.get(id)!);
    });
  }

  /** Site admins see every organization; organization admins see those they administer. */
  async list(actor: Principal, query: ListOrganizationsQuery): Promise<Page<OrganizationResponse>> {
    return this.db.read(async (m) => {
      const qb = m.getRepository(OrganizationEntity).createQueryBuilder('o');
      if (!actor.siteAdmin) {
        qb.andWhere('o.id IN (:...ids)', { ids: adminOrganizationIds(actor) });
      }
      whereEqual(qb, { 'o.is_active': query.is_active });
      return paginate(qb, query, ['o.id', 'ASC'], async (rows) => {
        const counts = await this.counts(
          m,
          rows.map((o) => o.id),
        );
        return rows.map((o) => toOrganizationResponse(o, counts.get(o.id)!));
      });
    });
  }

  async update(
    actor: Principal,
    id: string,
    body: UpdateOrganizationBody,
  ): Promise<OrganizationResponse> {
    requireSomeField(body, ['name', 'is_active', 'auto_grant_new_models', 'email_domains']);
    return this.db.write(async (tx) => {
      const org = await this.findOrFail(tx, id, true);
      const counts = (await this.counts(tx, [id])).get(id)!;
      const before = toOrganizationResponse(org, counts);
      const changes: Partial<OrganizationEntity> = {};
      if (body.name !== undefined && body.name !== org.name) {
        changes.name = body.name;
      }
      if (body.is_active !== undefined && body.is_active !== org.isActive) {
        changes.isActive = body.is_active;
      }
      if (
        body.auto_grant_new_models !== undefined &&
        body.auto_grant_new_models !== org.autoGrantNewModels
      ) {
        changes.autoGrantNewModels = body.auto_grant_new_models;
      }
      if (
        body.email_domains !== undefined &&
        JSON.stringify(body.email_domains) !== JSON.stringify(org.emailDomains)
      ) {
        changes.emailDomains = body.email_domains;
      }
      if (Object.keys(changes).length === 0) {
        // nothing to change: no write, no audit event, the same representation
        return before;
      }
      changes.updatedAt = now();
      await tx.getRepository(OrganizationEntity).update({ id }, changes);
      const after = toOrganizationResponse({ ...org, ...changes }, counts);
      await this.audit.record(tx, actor, {
        action: 'organization.update',
        targetType: 'organization',
        targetId: id,
        before,
        after,
      });
      return after;
    });
  }

  async remove(actor: Principal, id: string, cascade: boolean): Promise<void> {
    await this.db.write(async (tx) => {
      const org = await this.findOrFail(tx, id, true);
      const counts = (await this.counts(tx, [id])).get(id)!;
      if (!cascade && (counts.members > 0 || counts.grants > 0)) {
        throw new ConflictException(
          `Organization "${id}" still has ${counts.members} members and ${counts.grants} grants; remove them or delete with ?cascade=true.`,
        );
      }
      await tx.getRepository(MembershipEntity).delete({ organizationId: id });
      await tx.getRepository(GrantEntity).delete({ organizationId: id });
      await tx.getRepository(OrganizationEntity).delete({ id });
      await this.audit.record(tx, actor, {
        action: 'organization.delete',
        targetType: 'organization',
        targetId: id,
        before: { ...toOrganizationResponse(org, counts), cascade },
      });
    });
  }

  /**
   * Loads an organization or throws 404. Inside a write, PostgreSQL locks the row until
   * commit (SQLite writers are already serialized): `true` (FOR UPDATE) for a write of the
   * organization itself, so concurrent ones queue; `'share'` (FOR SHARE) for writes of its
   * members and grants, which then run side by side yet never overlap a change of the
   * organization (archiving, deleting), which waits for them and they for it.
   */
  async findOrFail(
    manager: EntityManager,
    id: string,
    lock: boolean | 'share' = false,
  ): Promise<OrganizationEntity> {
    const mode = lock === 'share' ? 'pessimistic_read' : 'pessimistic_write';
    const org = await manager.getRepository(OrganizationEntity).findOne({
      where: { id },
      ...(lock !== false && this.db.kind === 'postgres' ? { lock: { mode } } : {}),
    });
    if (!org) {
      throw new NotFoundException(`Organization "${id}" was not found.`);
    }
    return org;
  }

  /**
   * findOrFail with a share lock (see there), and in the same query the user `userId` and
   * their membership of the organization, each null when absent: a membership write reads
   * all three in one round trip instead of three.
   */
  async findWithMemberOrFail(
    tx: EntityManager,
    id: string,
    userId: string,
  ): Promise<{
    org: OrganizationEntity;
    user: UserEntity | null;
    membership: MembershipEntity | null;
  }> {
    const qb = tx
      .getRepository(OrganizationEntity)
      .createQueryBuilder('o')
      .leftJoinAndMapOne('o.joinedUser', UserEntity, 'u', 'u.id = :userId', { userId })
      .leftJoinAndMapOne(
        'o.joinedMembership',
        MembershipEntity,
        'm',
        'm.organizationId = o.id AND m.userId = :userId',
        { userId },
      )
      .where('o.id = :id', { id });
    if (this.db.kind === 'postgres') {
      // the organization row only: the joined rows may be missing (nullable side)
      qb.setLock('pessimistic_read', undefined, ['o']);
    }
    const row = (await qb.getOne()) as
      | (OrganizationEntity & { joinedUser?: UserEntity; joinedMembership?: MembershipEntity })
      | null;
    if (!row) {
      throw new NotFoundException(`Organization "${id}" was not found.`);
    }
    const { joinedUser, joinedMembership, ...org } = row;
    return { org, user: joinedUser ?? null, membership: joinedMembership ?? null };
  }

  /**
   * findOrFail with a share lock (see there), and in the same query the organization's grant
   * of `modelId` (null when absent) and whether the catalog holds a model of that id: a grant
   * write reads all three in one round trip instead of three.
   */
  async findWithGrantOrFail(
    tx: EntityManager,
    id: string,
    modelId: string,
  ): Promise<{ org: OrganizationEntity; grant: GrantEntity | null; inCatalog: boolean }> {
    const qb = tx
      .getRepository(OrganizationEntity)
      .createQueryBuilder('o')
      .leftJoinAndMapOne(
        'o.joinedGrant',
        GrantEntity,
        'g',
        'g.organizationId = o.id AND g.modelId = :modelId',
        { modelId },
      )
      .leftJoin(ModelEntity, 'cm', 'cm.id = :modelId', { modelId })
      .addSelect('cm.id', 'catalog_model_id')
      .where('o.id = :id', { id });
    if (this.db.kind === 'postgres') {
      // the organization row only: the joined rows may be missing (nullable side)
      qb.setLock('pessimistic_read', undefined, ['o']);
    }
    const { entities, raw } = await qb.getRawAndEntities<{ catalog_model_id: string | null }>();
    const row = entities[0] as (OrganizationEntity & { joinedGrant?: GrantEntity }) | undefined;
    if (!row) {
      throw new NotFoundException(`Organization "${id}" was not found.`);
    }
    const { joinedGrant, ...org } = row;
    return {
      org,
      grant: joinedGrant ?? null,
      inCatalog: (raw[0]?.catalog_model_id ?? null) !== null,
    };
  }

  /** Each organization's memberships and grants, active or not: one grouped read per table. */
  private async counts(manager: EntityManager, ids: string[]): Promise<Map<string, Counts>> {
    const result = new Map<string, Counts>(ids.map((id) => [id, { members: 0, grants: 0 }]));
    if (ids.length === 0) {
      return result;
    }
    const tables = [
      ['members', MembershipEntity],
      ['grants', GrantEntity],
    ] as const;
    for (const [count, entity] of tables) {
      const rows = await manager
        .createQueryBuilder(entity, 't')
        .select('t.organization_id', 'id')
        .addSelect('COUNT(*)', 'n')
        .where('t.organization_id IN (:...ids)', { ids })
        .groupBy('t.organization_id')
        .getRawMany<{ id: string; n: string | number }>();
      for (const row of rows) {
        result.get(row.id)![count] = Number(row.n);
      }
    }
    return result;
  }
}
