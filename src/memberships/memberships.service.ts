import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { EntityManager, In } from 'typeorm';
import { AUDIT_ID_SAMPLE, AuditService } from '../audit/audit.service';
import { Principal } from '../auth/principal';
import { paginate, whereEqual } from '../common/listing';
import { Page } from '../common/pagination.dto';
import { Upserted } from '../common/upsert';
import { now } from '../common/time';
import { ValidationFailedException } from '../common/validation';
import { idProblems, USER_ID_RULE } from '../common/validators';
import { DatabaseService } from '../database/database.service';
import { AccessCacheService } from '../model-access/access-cache.service';
import { openrouterUser } from '../model-access/access-rule';
import { domainCovers } from '../organizations/email-domains';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { OrganizationsService } from '../organizations/organizations.service';
import { UserEntity } from '../users/entities/user.entity';
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

/** An active admin membership: what keeps an organization administered. */
function isActiveAdmin(m: Pick<MembershipEntity, 'role' | 'isActive'>): boolean {
  return m.role === 'admin' && m.isActive;
}

/** The same answer for an unknown user and for one the caller may not reach. */
function userNotFound(userId: string): NotFoundException {
  return new NotFoundException(`User "${userId}" was not found.`);
}

/**
 * Site admins change any organization. Its own admins change it only while it is active:
 * an archived organization is read-only to them.
 */
function assertWritable(actor: Principal, org: OrganizationEntity): void {
  if (!actor.siteAdmin && !org.isActive) {
    throw new ForbiddenException(
      `Organization "${org.id}" is archived: read-only to its admins until a site admin reactivates it.`,
    );
  }
}

@Injectable()
export class MembershipsService {
  constructor(
    private readonly db: DatabaseService,
    private readonly audit: AuditService,
    private readonly organizations: OrganizationsService,
    private readonly cache: AccessCacheService,
  ) {}

  async list(orgId: string, query: ListMembersQuery): Promise<Page<MemberResponse>> {
    return this.db.read(async (m) => {
      await this.organizations.findOrFail(m, orgId);
      const qb = m
        .getRepository(MembershipEntity)
        .createQueryBuilder('m')
        .where('m.organization_id = :orgId', { orgId });
      whereEqual(qb, { 'm.is_active': query.is_active, 'm.role': query.role });
      return paginate(qb, query, ['m.user_id', 'ASC'], async (rows) => {
        // the page's users (name, email): one more read, by primary key
        const ids = rows.map((row) => row.userId);
        const users =
          ids.length === 0
            ? []
            : await m.getRepository(UserEntity).find({
                where: { id: In(ids) },
                select: { id: true, name: true, email: true },
              });
        const byId = new Map(users.map((u) => [u.id, u]));
        return rows.map((row) => toMemberResponse(row, byId.get(row.userId)!));
      });
    });
  }

  /** Adds a member or changes a membership (idempotent). */
  async put(
    actor: Principal,
    orgId: string,
    userId: string,
    body: PutMemberBody,
  ): Promise<Upserted<MemberResponse>> {
    return this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { users: [userId] });
      // The same read whatever the answer, so that an unknown user and one the caller may
      // not add cannot be told apart, by content or by time.
      const {
        org,
        user,
        membership: existing,
      } = await this.organizations.findWithMemberOrFail(tx, orgId, userId);
      assertWritable(actor, org);
      if (!user || !(actor.siteAdmin || existing !== null || domainCovers(org, user))) {
        throw userNotFound(userId);
      }
      const at = now();
      const unchanged =
        existing !== null &&
        (body.role ?? existing.role) === existing.role &&
        (body.is_active ?? existing.isActive) === existing.isActive;
      if (existing && unchanged) {
        // nothing changes: no write, no audit event, the same representation
        return { value: toMemberResponse(existing, user), created: false };
      }
      const entity: MembershipEntity = existing
        ? {
            ...existing,
            role: body.role ?? existing.role,
            isActive: body.is_active ?? existing.isActive,
            updatedAt: at,
          }
        : {
            organizationId: orgId,
            userId,
            role: body.role ?? 'member',
            isActive: body.is_active ?? true,
            joinedAt: at,
            updatedAt: at,
          };
      if (existing && isActiveAdmin(existing) && !isActiveAdmin(entity)) {
        await this.protectLastAdmin(tx, actor, orgId, [userId]);
      }
      // Nothing below needs the row's answer: it goes out with the commit (no wait of its own).
      this.db.saveAtCommit(
        tx,
        MembershipEntity,
        existing !== null,
        entity,
        { organizationId: orgId, userId },
        { role: entity.role, isActive: entity.isActive, updatedAt: at },
      );
      await this.audit.record(tx, actor, {
        action: existing ? 'membership.update' : 'membership.create',
        targetType: 'membership',
        targetId: `${orgId}/${userId}`,
        before: existing ? snapshot(existing) : null,
        after: snapshot(entity),
      });
      return { value: toMemberResponse(entity, user), created: !existing };
    });
  }

  async remove(actor: Principal, orgId: string, userId: string): Promise<void> {
    await this.db.write(async (tx) => {
      this.cache.narrowWritesTo(tx, { users: [userId] });
      const org = await this.organizations.findOrFail(tx, orgId, 'share');
      assertWritable(actor, org);
      const repo = tx.getRepository(MembershipEntity);
      const existing = await repo.findOne({ where: { organizationId: orgId, userId } });
      if (!existing) {
        throw new NotFoundException(`User "${userId}" is not a member of organization "${orgId}".`);
      }
      if (isActiveAdmin(existing)) {
        await this.protectLastAdmin(tx, actor, orgId, [userId]);
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
      const org = await this.organizations.findOrFail(tx, orgId, 'share');
      assertWritable(actor, org);
      const users = new Map(
        (
          await this.inChunks(ids, (chunk) =>
            tx.getRepository(UserEntity).find({
              where: { id: In(chunk) },
              select: { id: true, email: true, role: true },
            }),
          )
        ).map((u) => [u.id, u]),
      );
      const repo = tx.getRepository(MembershipEntity);
      const existing = new Map(
        (
          await this.inChunks(ids, (chunk) =>
            repo.find({ where: { organizationId: orgId, userId: In(chunk) } }),
          )
        ).map((m) => [m.userId, m]),
      );
      // An organization admin reaches only its members and users its email domains cover;
      // any other id is reported exactly like an unknown one.
      const missing = ids.filter((id) => {
        const user = users.get(id);
        return !user || !(actor.siteAdmin || existing.has(id) || domainCovers(org, user));
      });
      if (missing.length > 0) {
        throw new BadRequestException(
          `No change made: ${missing.length} user ids are unknown: ${missing
            .slice(0, 20)
            .map((id) => JSON.stringify(id))
            .join(', ')}${missing.length > 20 ? ', ...' : ''}.`,
        );
      }
      if (role === 'member') {
        const demoted = ids.filter((id) => {
          const m = existing.get(id);
          return m !== undefined && isActiveAdmin(m);
        });
        if (demoted.length > 0) {
          await this.protectLastAdmin(tx, actor, orgId, demoted);
        }
      }
      const at = now();
      const result: BulkAddMembersResponse = { added: 0, updated: 0, unchanged: 0 };
      const changed: string[] = [];
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
          changed.push(userId);
        } else if (current.role !== role || !current.isActive) {
          await repo.update(
            { organizationId: orgId, userId },
            { role, isActive: true, updatedAt: at },
          );
          result.updated++;
          changed.push(userId);
        } else {
          result.unchanged++;
        }
      }
      if (changed.length > 0) {
        // counts and a bounded sample: a 1,000-id request writes a small event
        await this.audit.record(tx, actor, {
          action: 'membership.bulk_add',
          targetType: 'organization',
          targetId: orgId,
          after: {
            ...result,
            role,
            changed_user_ids_sample: changed.slice(0, AUDIT_ID_SAMPLE),
          },
        });
      }
      return result;
    });
  }

  /**
   * An organization admin may not leave the organization without an active admin: 409 when
   * the users about to lose that status are all its active admins. Site admins may.
   */
  private async protectLastAdmin(
    tx: EntityManager,
    actor: Principal,
    orgId: string,
    losing: string[],
  ): Promise<void> {
    if (actor.siteAdmin) {
      return;
    }
    // Locked: two admins demoting each other at once would otherwise both see the other
    // remain (the organization row is only share-locked by membership writes). Under READ
    // COMMITTED the second waits, then sees the first's change.
    const admins = await tx.getRepository(MembershipEntity).find({
      where: { organizationId: orgId, role: 'admin', isActive: true },
      ...(this.db.kind === 'postgres' ? { lock: { mode: 'pessimistic_write' as const } } : {}),
      select: { userId: true },
    });
    if (admins.every((a) => losing.includes(a.userId))) {
      throw new ConflictException(
        `This would leave organization "${orgId}" without an active admin; make another member admin first (or ask a site admin).`,
      );
    }
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
