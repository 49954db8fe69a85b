import { Injectable, NotFoundException } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { Page } from '../common/pagination.dto';
import { Upserted } from '../common/upsert';
import { paginate, whereContains, whereEqual } from '../common/listing';
import { now } from '../common/time';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { MembershipEntity } from '../memberships/entities/membership.entity';
import { domainCovers, emailDomainOf } from '../organizations/email-domains';
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

@Injectable()
export class UsersService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Creates or replaces a user. A new user joins the default organization when configured;
   * a user first seen, approved (no longer pending) or whose email changed joins every
   * active organization whose email_domains hold their email's domain. Each membership
   * made so has its own audit event, in the same transaction.
   */
  async upsert(
    actor: Principal,
    id: string,
    body: UpsertUserBody,
  ): Promise<Upserted<UserResponse>> {
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
        if (unchanged) {
          // nothing changes: no write, no audit event
          return { value: before, created: false };
        }
        const recheckDomains =
          existing.email !== body.email || (existing.role === 'pending' && body.role !== 'pending');
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
        const user = toUserResponse(existing);
        await this.audit.record(tx, actor, {
          action: 'user.update',
          targetType: 'user',
          targetId: id,
          before,
          after: user,
        });
        if (recheckDomains) {
          await this.joinByEmailDomain(tx, actor, existing, at);
        }
        return { value: user, created: false };
      }
      const entity = repo.create({ id, ...body, createdAt: at, updatedAt: at });
      await repo.insert(entity);
      const user = toUserResponse(entity);
      await this.audit.record(tx, actor, {
        action: 'user.create',
        targetType: 'user',
        targetId: id,
        after: user,
      });
      await this.autoJoin(tx, actor, id, at);
      await this.joinByEmailDomain(tx, actor, entity, at);
      return { value: user, created: true };
    });
  }

  private async autoJoin(
    tx: EntityManager,
    actor: Principal,
    userId: string,
    at: string,
  ): Promise<void> {
    const orgId = this.config.openrouterExternalUser?.toLowerCase();
    if (!orgId || !this.config.autoJoinDefaultOrganization) {
      return;
    }
    const org = await tx.getRepository(OrganizationEntity).findOne({ where: { id: orgId } });
    if (!org) {
      return;
    }
    await this.join(tx, actor, orgId, userId, at, { via: 'auto_join' });
  }

  /** Adds the user to every active organization whose email_domains cover them (if not a member). */
  private async joinByEmailDomain(
    tx: EntityManager,
    actor: Principal,
    user: UserEntity,
    at: string,
  ): Promise<void> {
    if (user.role === 'pending') {
      return;
    }
    const domain = emailDomainOf(user.email);
    // organizations listing domains are few; the JSON text is matched exactly in code
    const candidates = await tx
      .getRepository(OrganizationEntity)
      .createQueryBuilder('o')
      .where("o.email_domains <> '[]'")
      .andWhere('o.is_active = :active', { active: true })
      .orderBy('o.id', 'ASC')
      .getMany();
    const matching = candidates.filter((o) => domainCovers(o, user));
    if (matching.length === 0) {
      return;
    }
    const members = new Set(
      (
        await tx
          .getRepository(MembershipEntity)
          .find({ where: { userId: user.id }, select: { organizationId: true } })
      ).map((m) => m.organizationId),
    );
    for (const org of matching.filter((o) => !members.has(o.id))) {
      await this.join(tx, actor, org.id, user.id, at, { via: 'email_domain', domain });
    }
  }

  private async join(
    tx: EntityManager,
    actor: Principal,
    orgId: string,
    userId: string,
    at: string,
    why: Record<string, string>,
  ): Promise<void> {
    await tx.getRepository(MembershipEntity).insert({
      organizationId: orgId,
      userId,
      role: 'member',
      isActive: true,
      joinedAt: at,
      updatedAt: at,
    });
    await this.audit.record(tx, actor, {
      action: 'membership.create',
      targetType: 'membership',
      targetId: `${orgId}/${userId}`,
      before: null,
      after: { role: 'member', is_active: true, ...why },
    });
  }

  async get(id: string): Promise<UserResponse> {
    return toUserResponse(await this.db.read((m) => this.findOrFail(m, id)));
  }

  async list(query: ListUsersQuery): Promise<Page<UserResponse>> {
    return this.db.read(async (m) => {
      const qb = m.getRepository(UserEntity).createQueryBuilder('u');
      whereContains(qb, ['u.email', 'u.name'], query.search);
      whereEqual(qb, { 'u.role': query.role });
      return paginate(qb, query, ['u.id', 'ASC'], (rows) => rows.map(toUserResponse));
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
