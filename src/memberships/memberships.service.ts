import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { In } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { now } from '../common/time';
import { ValidationFailedException } from '../common/validation';
import { idProblems, USER_ID_RULE } from '../common/validators';
import { DatabaseService } from '../database/database.service';
import { AccessCacheService } from '../model-access/access-cache.service';
import { openrouterUser } from '../model-access/access-rule';
import { OrganizationsService } from '../organizations/organizations.service';
import { UserEntity } from '../users/entities/user.entity';
import { UsersService } from '../users/users.service';
import {
  BulkAddMembersBody,
  BulkAddMembersResponse,
  ListMembersQuery,
  MemberResponse,
  PutMemberBody,
  UserOrganizationResponse,
} from './dto/membership.dto';
import { MembershipEntity } from './entities/membership.entity';

function toMemberResponse(
  m: MembershipEntity,
  user: Pick<UserEntity, 'name' | 'email'>,
): MemberResponse {
  return {
    organization_id: m.organizationId,
    user_id: m.userId,
    user_name: user.name,
    user_email: user.email,
    role: m.role,
    is_active: m.isActive,
    joined_at: m.joinedAt,
    updated_at: m.updatedAt,
  };
}

function snapshot(m: MembershipEntity) {
  return { role: m.role, is_active: m.isActive };
}

@Injectable()
export class MembershipsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly organizations: OrganizationsService,
    private readonly users: UsersService,
    private readonly cache: AccessCacheService,
  ) {}

  async list(orgId: string, query: ListMembersQuery): Promise<Page<MemberResponse>> {
    return this.db.read(async (m) => {
      await this.organizations.findOrFail(m, orgId);
      const qb = m
        .getRepository(MembershipEntity)
        .createQueryBuilder('m')
        .innerJoin(UserEntity, 'u', 'u.id = m.user_id')
        .addSelect(['u.name AS user_name', 'u.email AS user_email'])
        .where('m.organization_id = :orgId', { orgId });
      if (query.is_active !== undefined) {
        qb.andWhere('m.is_active = :active', { active: query.is_active });
      }
      if (query.role !== undefined) {
        qb.andWhere('m.role = :role', { role: query.role });
      }
      const total = await qb.getCount();
      const { entities, raw } = await qb
        .orderBy('m.user_id', 'ASC')
        .offset(query.offset)
        .limit(query.limit)
        .getRawAndEntities<{ user_name: string; user_email: string }>();
      return {
        data: entities.map((e, i) =>
          toMemberResponse(e, { name: raw[i].user_name, email: raw[i].user_email }),
        ),
        limit: query.limit,
        offset: query.offset,
        total,
      };
    });
  }

  /** Adds a member or changes a membership (idempotent). */
  async put(
    actor: Principal,
    orgId: string,
    userId: string,
    body: PutMemberBody,
  ): Promise<{ member: MemberResponse; created: boolean }> {
    return this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { users: [userId] });
      await this.organizations.findOrFail(tx, orgId, true);
      const user = await this.users.findOrFail(tx, userId);
      const repo = tx.getRepository(MembershipEntity);
      const existing = await repo.findOne({ where: { organizationId: orgId, userId } });
      const at = now();
      const unchanged =
        existing !== null &&
        (body.role ?? existing.role) === existing.role &&
        (body.is_active ?? existing.isActive) === existing.isActive;
      const entity: MembershipEntity = existing
        ? {
            ...existing,
            role: body.role ?? existing.role,
            isActive: body.is_active ?? existing.isActive,
            // an identical PUT answers the same representation
            updatedAt: unchanged ? existing.updatedAt : at,
          }
        : {
            organizationId: orgId,
            userId,
            role: body.role ?? 'member',
            isActive: body.is_active ?? true,
            joinedAt: at,
            updatedAt: at,
          };
      if (existing) {
        if (!unchanged) {
          await repo.update(
            { organizationId: orgId, userId },
            { role: entity.role, isActive: entity.isActive, updatedAt: at },
          );
        }
      } else {
        await repo.insert(entity);
      }
      await this.audit.record(tx, actor, {
        action: existing ? 'membership.update' : 'membership.create',
        targetType: 'membership',
        targetId: `${orgId}/${userId}`,
        before: existing ? snapshot(existing) : null,
        after: snapshot(entity),
      });
      return { member: toMemberResponse(entity, user), created: !existing };
    });
  }

  async remove(actor: Principal, orgId: string, userId: string): Promise<void> {
    await this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { users: [userId] });
      await this.organizations.findOrFail(tx, orgId, true);
      const repo = tx.getRepository(MembershipEntity);
      const existing = await repo.findOne({ where: { organizationId: orgId, userId } });
      if (!existing) {
        throw new NotFoundException(`User "${userId}" is not a member of organization "${orgId}".`);
      }
      await repo.delete({ organizationId: orgId, userId });
      await this.audit.record(tx, actor, {
        action: 'membership.delete',
        targetType: 'membership',
        targetId: `${orgId}/${userId}`,
        before: snapshot(existing),
      });
    });
  }

  /** Adds many users at once (active, with one role); all or nothing. */
  async bulkAdd(
    actor: Principal,
    orgId: string,
    body: BulkAddMembersBody,
  ): Promise<BulkAddMembersResponse> {
    const problems = body.user_ids.flatMap((id, i) =>
      idProblems(id, USER_ID_RULE).map((message) => ({ field: `user_ids.${i}`, message })),
    );
    if (problems.length > 0) {
      throw new ValidationFailedException(problems);
    }
    const ids = [...new Set(body.user_ids)];
    const role = body.role ?? 'member';
    return this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { users: ids });
      await this.organizations.findOrFail(tx, orgId, true);
      const found = new Set(
        (
          await this.inChunks(ids, (chunk) =>
            tx.getRepository(UserEntity).find({ where: { id: In(chunk) }, select: { id: true } }),
          )
        ).map((u) => u.id),
      );
      const missing = ids.filter((id) => !found.has(id));
      if (missing.length > 0) {
        throw new BadRequestException(
          `No change made: ${missing.length} user ids are unknown: ${missing
            .slice(0, 20)
            .map((id) => JSON.stringify(id))
            .join(', ')}${missing.length > 20 ? ', ...' : ''}.`,
        );
      }
      const repo = tx.getRepository(MembershipEntity);
      const existing = new Map(
        (
          await this.inChunks(ids, (chunk) =>
            repo.find({ where: { organizationId: orgId, userId: In(chunk) } }),
          )
        ).map((m) => [m.userId, m]),
      );
      const at = now();
      const result: BulkAddMembersResponse = { added: 0, updated: 0, unchanged: 0 };
      for (const userId of ids) {
        const current = existing.get(userId);
        if (!current) {
          await repo.insert({
            organizationId: orgId,
            userId,
            role,
            isActive: true,
            joinedAt: at,
            updatedAt: at,
          });
          result.added++;
        } else if (current.role !== role || !current.isActive) {
          await repo.update(
            { organizationId: orgId, userId },
            { role, isActive: true, updatedAt: at },
          );
          result.updated++;
        } else {
          result.unchanged++;
        }
      }
      await this.audit.record(tx, actor, {
        action: 'membership.bulk_add',
        targetType: 'organization',
        targetId: orgId,
        after: { ...result, role, user_ids: ids },
      });
      return result;
    });
  }

  /** A user's memberships with the OpenRouter `user` value of each. */
  async forUser(userId: string): Promise<UserOrganizationResponse[]> {
    const view = await this.cache.view(userId);
    if (!view.user) {
      throw new NotFoundException(`User "${userId}" was not found.`);
    }
    return view.access.memberships.map((m) => ({
      organization_id: m.organizationId,
      organization_name: m.organizationName,
      organization_active: m.organizationActive,
      role: m.role,
      is_active: m.isActive,
      openrouter_user: openrouterUser(m.externalUser, userId),
    }));
  }

  private async inChunks<T>(ids: string[], fn: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
    const out: T[] = [];
    for (let i = 0; i < ids.length; i += 500) {
      out.push(...(await fn(ids.slice(i, i + 500))));
    }
    return out;
  }
}
