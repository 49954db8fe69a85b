import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { ModelEntity } from '../catalog/entities/model.entity';
import { AppConfig } from '../config/app-config';
import { DatabaseService } from '../database/database.service';
import { MembershipEntity } from '../memberships/entities/membership.entity';
import { OrganizationEntity } from '../organizations/entities/organization.entity';
import { UserEntity } from '../users/entities/user.entity';
import { Catalog, CatalogModel, GrantRow, MembershipRow, UserAccess } from './access-rule';
import { GrantEntity } from './entities/grant.entity';

export interface KnownUser {
  id: string;
  name: string;
  email: string;
  role: UserEntity['role'];
}

/** A user as the rule sees them, or null for a user id that does not exist. */
export interface UserView {
  user: KnownUser | null;
  access: UserAccess;
}

/**
 * Computes users' access from the database and keeps the answers in memory.
 * Correctness first: every write (start and end) empties the cache, and an answer
 * computed while a write was in flight is served but never stored, so the read
 * after an acknowledged write always sees it.
 */
@Injectable()
export class AccessCacheService {
  private catalog: Catalog | null = null;
  private readonly users = new Map<string, UserView>();

  constructor(
    private readonly db: DatabaseService,
    private readonly config: AppConfig,
  ) {
    db.onChange(() => this.clear());
  }

  clear(): void {
    this.catalog = null;
    this.users.clear();
  }

  get size(): number {
    return this.users.size;
  }

  async view(userId: string): Promise<UserView> {
    const cached = this.users.get(userId);
    if (cached) {
      return cached;
    }
    const version = this.db.dataVersion;
    const fresh = await this.db.read((m) => this.compute(m, userId));
    if (version === this.db.dataVersion && !this.db.writing && this.config.accessCacheSize > 0) {
      if (this.users.size >= this.config.accessCacheSize) {
        const oldest = this.users.keys().next().value;
        if (oldest !== undefined) {
          this.users.delete(oldest);
        }
      }
      this.users.set(userId, fresh);
    }
    return fresh;
  }

  async getCatalog(manager: EntityManager): Promise<Catalog> {
    if (this.catalog) {
      return this.catalog;
    }
    const version = this.db.dataVersion;
    const rows = await manager.getRepository(ModelEntity).find();
    const catalog = new Catalog(
      rows.map((r): CatalogModel => ({
        id: r.id,
        name: r.name,
        baseModelId: r.baseModelId,
        isActive: r.isActive,
        createdAt: r.createdAt,
      })),
    );
    if (version === this.db.dataVersion && !this.db.writing) {
      this.catalog = catalog;
    }
    return catalog;
  }

  /** Reads one user's rows and applies the rule. Usable inside a transaction. */
  async compute(manager: EntityManager, userId: string): Promise<UserView> {
    const user = await manager.getRepository(UserEntity).findOne({ where: { id: userId } });
    const memberships: MembershipRow[] = user
      ? (
          await manager
            .createQueryBuilder(MembershipEntity, 'm')
            .innerJoin(OrganizationEntity, 'o', 'o.id = m.organization_id')
            .select([
              'm.organization_id AS organization_id',
              'm.role AS role',
              'm.is_active AS is_active',
              'o.name AS organization_name',
              'o.is_active AS organization_active',
              'o.external_user AS external_user',
            ])
            .where('m.user_id = :userId', { userId })
            .getRawMany<Record<string, unknown>>()
        ).map((r) => ({
          organizationId: String(r.organization_id),
          organizationName: String(r.organization_name),
          organizationActive: toBool(r.organization_active),
          externalUser: String(r.external_user),
          role: r.role === 'admin' ? 'admin' : 'member',
          isActive: toBool(r.is_active),
        }))
      : [];
    memberships.sort((a, b) => (a.organizationId < b.organizationId ? -1 : 1));
    const orgIds = memberships.map((m) => m.organizationId);
    const grants: GrantRow[] =
      orgIds.length === 0
        ? []
        : (
            await manager
              .createQueryBuilder(GrantEntity, 'g')
              .where('g.organization_id IN (:...orgIds)', { orgIds })
              .getMany()
          ).map((g) => ({
            organizationId: g.organizationId,
            modelId: g.modelId,
            isActive: g.isActive,
          }));
    const catalog = await this.getCatalog(manager);
    return {
      user: user ? { id: user.id, name: user.name, email: user.email, role: user.role } : null,
      access: new UserAccess(userId, memberships, grants, catalog),
    };
  }
}

function toBool(value: unknown): boolean {
  return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
}
