import { Injectable, NotFoundException } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { now } from '../common/time';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { MembershipEntity } from '../memberships/entities/membership.entity';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { ListUsersQuery, UpsertUserBody, UserResponse } from './dto/user.dto';
import { UserEntity } from './entities/user.entity';

export function toUserResponse(u: UserEntity): UserResponse {
  return {
    id: u.id,
    name: u.name,
    email: u.email,
    role: u.role,
    created_at: u.createdAt,
    updated_at: u.updatedAt,
  };
}

/** Escapes LIKE wildcards so a search for `50%_off` matches literally. */
export function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

@Injectable()
export class UsersService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /** Creates or replaces a user; a new user joins the default organization when configured. */
  async upsert(
    actor: Principal,
    id: string,
    body: UpsertUserBody,
  ): Promise<{ user: UserResponse; created: boolean }> {
    return this.db.write(async (tx) => {
      const repo = tx.getRepository(UserEntity);
      const existing = await repo.findOne({ where: { id } });
      const at = now();
      if (existing) {
        const before = toUserResponse(existing);
        const unchanged =
          existing.name === body.name &&
          existing.email === body.email &&
          existing.role === body.role;
        if (!unchanged) {
          Object.assign(existing, {
            name: body.name,
            email: body.email,
            role: body.role,
            updatedAt: at,
          });
          await repo.update(
            { id },
            { name: body.name, email: body.email, role: body.role, updatedAt: at },
          );
        }
        const user = toUserResponse(existing);
        await this.audit.record(tx, actor, {
          action: 'user.update',
          targetType: 'user',
          targetId: id,
          before,
          after: user,
        });
        return { user, created: false };
      }
      const entity = repo.create({ id, ...body, createdAt: at, updatedAt: at });
      await repo.insert(entity);
      const joined = await this.autoJoin(tx, id, at);
      const user = toUserResponse(entity);
      await this.audit.record(tx, actor, {
        action: 'user.create',
        targetType: 'user',
        targetId: id,
        after: { ...user, joined_organization: joined },
      });
      return { user, created: true };
    });
  }

  private async autoJoin(tx: EntityManager, userId: string, at: string): Promise<string | null> {
    const orgId = this.config.openrouterExternalUser?.toLowerCase();
    if (!orgId || !this.config.autoJoinDefaultOrganization) {
      return null;
    }
    const org = await tx.getRepository(OrganizationEntity).findOne({ where: { id: orgId } });
    if (!org) {
      return null;
    }
    await tx.getRepository(MembershipEntity).insert({
      organizationId: orgId,
      userId,
      role: 'member',
      isActive: true,
      joinedAt: at,
      updatedAt: at,
    });
    return orgId;
  }

  async get(id: string): Promise<UserResponse> {
    return toUserResponse(await this.db.read((m) => this.findOrFail(m, id)));
  }

  async list(query: ListUsersQuery): Promise<Page<UserResponse>> {
    return this.db.read(async (m) => {
      const qb = m.getRepository(UserEntity).createQueryBuilder('u');
      if (query.search !== undefined && query.search !== '') {
        qb.andWhere("(LOWER(u.email) LIKE :q ESCAPE '\\' OR LOWER(u.name) LIKE :q ESCAPE '\\')", {
          q: likePattern(query.search),
        });
      }
      if (query.role !== undefined) {
        qb.andWhere('u.role = :role', { role: query.role });
      }
      const [rows, total] = await qb
        .orderBy('u.id', 'ASC')
        .skip(query.offset)
        .take(query.limit)
        .getManyAndCount();
      return { data: rows.map(toUserResponse), limit: query.limit, offset: query.offset, total };
    });
  }

  /** Deletes a user and every membership they hold. */
  async remove(actor: Principal, id: string): Promise<void> {
    await this.db.write(async (tx) => {
      const user = await this.findOrFail(tx, id);
      const memberships = await tx.getRepository(MembershipEntity).find({ where: { userId: id } });
      await tx.getRepository(MembershipEntity).delete({ userId: id });
      await tx.getRepository(UserEntity).delete({ id });
      await this.audit.record(tx, actor, {
        action: 'user.delete',
        targetType: 'user',
        targetId: id,
        before: {
          ...toUserResponse(user),
          organizations: memberships.map((m) => m.organizationId),
        },
      });
    });
  }

  async findOrFail(manager: EntityManager, id: string): Promise<UserEntity> {
    const user = await manager.getRepository(UserEntity).findOne({ where: { id } });
    if (!user) {
      throw new NotFoundException(`User "${id}" was not found.`);
    }
    return user;
  }
}
