import { createHash } from 'node:crypto';

/** The rows the access rule reads, for one user. */
export interface CatalogModel {
  id: string;
  name: string;
  baseModelId: string | null;
  isActive: boolean;
  createdAt: string;
}

export interface MembershipRow {
  organizationId: string;
  organizationName: string;
  organizationActive: boolean;
  externalUser: string;
  role: 'member' | 'admin';
  isActive: boolean;
}

export interface GrantRow {
  organizationId: string;
  modelId: string;
  isActive: boolean;
}

export interface GrantingOrganization {
  id: string;
  name: string;
  openrouterUser: string;
}

export type RefusalReason =
  | 'user_not_found'
  | 'model_not_found'
  | 'model_inactive'
  | 'no_membership'
  | 'membership_inactive'
  | 'organization_inactive'
  | 'grant_inactive'
  | 'no_grant';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'user_not_found',
  'model_not_found',
  'model_inactive',
  'no_membership',
  'membership_inactive',
  'organization_inactive',
  'grant_inactive',
  'no_grant',
];

export interface AccessDecision {
  allowed: boolean;
  organizationId: string | null;
  openrouterUser: string | null;
  reason: RefusalReason | 'granted';
}

/** True for a grant that names a prefix (`openai/*`) rather than one model. */
export function isPattern(modelId: string): boolean {
  return modelId.endsWith('*');
}

/** The `user` value sent to OpenRouter: never the user's id or email. */
export function openrouterUser(externalUser: string, userId: string): string {
  const digest = createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 8);
  return `${externalUser}_user_${digest}`;
}

/** The catalog, indexed for exact and prefix lookups. */
export class Catalog {
  readonly byId = new Map<string, CatalogModel>();
  private readonly sortedIds: string[];

  constructor(models: CatalogModel[]) {
    for (const model of models) {
      this.byId.set(model.id, model);
    }
    this.sortedIds = [...this.byId.keys()].sort(compareCodeUnits);
  }

  /** Every catalog model whose id starts with prefix (active or not). */
  withPrefix(prefix: string): CatalogModel[] {
    let lo = 0;
    let hi = this.sortedIds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareCodeUnits(this.sortedIds[mid], prefix) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    const found: CatalogModel[] = [];
    for (let i = lo; i < this.sortedIds.length && this.sortedIds[i].startsWith(prefix); i++) {
      found.push(this.byId.get(this.sortedIds[i])!);
    }
    return found;
  }

  /** Catalog models a grant covers (active or not). */
  covered(grantModelId: string): CatalogModel[] {
    if (isPattern(grantModelId)) {
      return this.withPrefix(grantModelId.slice(0, -1));
    }
    const model = this.byId.get(grantModelId);
    return model ? [model] : [];
  }
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * One user's access, computed from their memberships, their organizations' grants
 * and the catalog. This is the rule of DESIGN section 2: U may use M iff some
 * organization O has U's active membership, is active, holds an active grant
 * covering M, and M is an active catalog model.
 */
export class UserAccess {
  /** Allowed model id -> granting organizations, sorted by organization id. */
  readonly models = new Map<string, GrantingOrganization[]>();

  constructor(
    readonly userId: string,
    readonly memberships: MembershipRow[],
    private readonly grants: GrantRow[],
    private readonly catalog: Catalog,
  ) {
    const usable = new Map<string, MembershipRow>();
    for (const m of memberships) {
      if (m.isActive && m.organizationActive) {
        usable.set(m.organizationId, m);
      }
    }
    for (const grant of grants) {
      const membership = usable.get(grant.organizationId);
      if (!grant.isActive || !membership) {
        continue;
      }
      for (const model of catalog.covered(grant.modelId)) {
        if (!model.isActive) {
          continue;
        }
        const orgs = this.models.get(model.id) ?? [];
        if (!orgs.some((o) => o.id === membership.organizationId)) {
          orgs.push({
            id: membership.organizationId,
            name: membership.organizationName,
            openrouterUser: openrouterUser(membership.externalUser, userId),
          });
          orgs.sort((a, b) => compareCodeUnits(a.id, b.id));
        }
        this.models.set(model.id, orgs);
      }
    }
  }

  catalogModel(id: string): CatalogModel | undefined {
    return this.catalog.byId.get(id);
  }

  /** Allowed model ids in code-unit order. */
  sortedModelIds(): string[] {
    return [...this.models.keys()].sort(compareCodeUnits);
  }

  /** The decision for one model, with the first reason that blocks it. */
  check(modelId: string): AccessDecision {
    const orgs = this.models.get(modelId);
    if (orgs) {
      return {
        allowed: true,
        organizationId: orgs[0].id,
        openrouterUser: orgs[0].openrouterUser,
        reason: 'granted',
      };
    }
    return {
      allowed: false,
      organizationId: null,
      openrouterUser: null,
      reason: this.refusal(modelId),
    };
  }

  private refusal(modelId: string): RefusalReason {
    const model = this.catalog.byId.get(modelId);
    if (!model) {
      return 'model_not_found';
    }
    if (!model.isActive) {
      return 'model_inactive';
    }
    if (this.memberships.length === 0) {
      return 'no_membership';
    }
    const active = this.memberships.filter((m) => m.isActive);
    if (active.length === 0) {
      return 'membership_inactive';
    }
    const usable = new Set(active.filter((m) => m.organizationActive).map((m) => m.organizationId));
    if (usable.size === 0) {
      return 'organization_inactive';
    }
    const covering = this.grants.filter(
      (g) =>
        usable.has(g.organizationId) &&
        this.catalog.covered(g.modelId).some((m) => m.id === modelId),
    );
    if (covering.length > 0) {
      return 'grant_inactive';
    }
    // A grant in an organization the user cannot use explains the refusal better than "no grant".
    const elsewhere = this.grants.filter(
      (g) => g.isActive && this.catalog.covered(g.modelId).some((m) => m.id === modelId),
    );
    for (const grant of elsewhere) {
      const membership = this.memberships.find((m) => m.organizationId === grant.organizationId);
      if (membership && !membership.isActive) {
        return 'membership_inactive';
      }
      if (membership && !membership.organizationActive) {
        return 'organization_inactive';
      }
    }
    return 'no_grant';
  }
}
