import { createHash } from 'node:crypto';
import type { BudgetPeriod } from '../budgets/budget-period';
import { membershipLimits } from '../budgets/budget-settings';
import { toBool } from './hot-queries';

/** A model's prices (USD per token) and limits, from the catalog; null where unknown. */
export interface ModelPrices {
  promptPriceUsd: number | null;
  completionPriceUsd: number | null;
  contextLength: number | null;
  maxCompletionTokens: number | null;
}

/** No price or limit known (a model the catalog does not hold, or one never priced). */
export const UNKNOWN_PRICES: ModelPrices = {
  promptPriceUsd: null,
  completionPriceUsd: null,
  contextLength: null,
  maxCompletionTokens: null,
};

/** The rows the access rule reads, for one user (the prices serve budget reservations). */
export interface CatalogModel extends ModelPrices {
  id: string;
  name: string;
  baseModelId: string | null;
  isActive: boolean;
  createdAt: string;
}

/** The budget and rate-limit settings of one membership's organization, and its own. */
export interface MembershipLimits {
  /** The organization's budget per period in USD; null: no budget. */
  budgetUsd: number | null;
  budgetPeriod: BudgetPeriod;
  alertThresholds: readonly number[];
  allowUnpricedModels: boolean;
  rpmLimit: number | null;
  tpmLimit: number | null;
  /** The member's own budget within the organization's, same period; null: none. */
  memberBudgetUsd: number | null;
  memberRpmLimit: number | null;
  memberTpmLimit: number | null;
}

export const NO_LIMITS: MembershipLimits = {
  budgetUsd: null,
  budgetPeriod: 'monthly',
  alertThresholds: [],
  allowUnpricedModels: false,
  rpmLimit: null,
  tpmLimit: null,
  memberBudgetUsd: null,
  memberRpmLimit: null,
  memberTpmLimit: null,
};

export interface MembershipRow {
  organizationId: string;
  organizationName: string;
  organizationActive: boolean;
  externalUser: string;
  role: 'member' | 'admin';
  isActive: boolean;
  limits: MembershipLimits;
}

/**
 * One row of MEMBERSHIPS_OF_USER (hot-queries.ts) as the rule reads it, on either database
 * (SQLite answers booleans as 0/1). A column added to that query for an answer is read here.
 */
export function membershipRow(r: Record<string, unknown>): MembershipRow {
  return {
    organizationId: String(r.organization_id),
    organizationName: String(r.organization_name),
    organizationActive: toBool(r.organization_active),
    externalUser: String(r.external_user),
    role: r.role === 'admin' ? 'admin' : 'member',
    isActive: toBool(r.is_active),
    limits: membershipLimits(r),
  };
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
  | 'user_pending'
  | 'model_not_found'
  | 'model_inactive'
  | 'no_membership'
  | 'membership_inactive'
  | 'organization_inactive'
  | 'grant_inactive'
  | 'no_grant'
  | 'budget_exhausted';

export const REFUSAL_REASONS: readonly RefusalReason[] = [
  'user_not_found',
  'user_pending',
  'model_not_found',
  'model_inactive',
  'no_membership',
  'membership_inactive',
  'organization_inactive',
  'grant_inactive',
  'no_grant',
  'budget_exhausted',
];

const NOTHING_EXHAUSTED: ReadonlySet<string> = new Set();

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
  return `${externalUser}${openrouterUserSuffix(userId)}`;
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
 * One organization's grants, indexed for the rule and shared by all its members: exact
 * grants in a map, patterns in a short list. Answers "does an active grant of this
 * organization cover model M" in O(1 + patterns), whatever the size of the catalog.
 */
export class OrganizationGrants {
  private readonly exact = new Map<string, boolean>();
  private readonly patterns: { prefix: string; isActive: boolean }[] = [];
  private allowed: string[] | null = null;

  constructor(
    readonly organizationId: string,
    readonly rows: readonly GrantRow[],
    private readonly catalog: Catalog,
  ) {
    for (const row of rows) {
      if (isPattern(row.modelId)) {
        this.patterns.push({ prefix: row.modelId.slice(0, -1), isActive: row.isActive });
      } else {
        this.exact.set(row.modelId, row.isActive || this.exact.get(row.modelId) === true);
      }
    }
  }

  /** An active grant covers modelId (a catalog id; activity of the model is not checked here). */
  grants(modelId: string): boolean {
    if (this.exact.get(modelId) === true) {
      return true;
    }
    for (const p of this.patterns) {
      if (p.isActive && modelId.startsWith(p.prefix)) {
        return true;
      }
    }
    return false;
  }

  /** Some grant, active or not, covers modelId. */
  covers(modelId: string): boolean {
    return this.exact.has(modelId) || this.patterns.some((p) => modelId.startsWith(p.prefix));
  }

  /** Active catalog models covered by an active grant, in code-unit order (computed once). */
  allowedModelIds(): readonly string[] {
    if (this.allowed) {
      return this.allowed;
    }
    const ids = new Set<string>();
    for (const row of this.rows) {
      if (!row.isActive) {
        continue;
      }
      for (const model of this.catalog.covered(row.modelId)) {
        if (model.isActive) {
          ids.add(model.id);
        }
      }
    }
    this.allowed = [...ids].sort(compareCodeUnits);
    return this.allowed;
  }
}

const NO_GRANTS = new OrganizationGrants('', [], new Catalog([]));

/** The stable 8-hex suffix of a user's OpenRouter value (sha256 of the id, computed once). */
export function openrouterUserSuffix(userId: string): string {
  return `_user_${createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 8)}`;
}

/**
 * One user's access, from their memberships, their organizations' grants and the
 * catalog. The rule (docs/ARCHITECTURE.md): U may use M iff U is not pending and some organization O
 * has U's active membership, is active, holds an active grant covering M, has budget
 * left for the period, and M is an active catalog model. A check costs a few map lookups
 * per membership; the full list
 * (`models`) is built only when asked for.
 */
export class UserAccess {
  private readonly usable: MembershipRow[];
  /** Some usable membership's organization has a budget (computed once: read per check). */
  readonly budgeted: boolean;
  private modelMap: Map<string, GrantingOrganization[]> | null = null;
  private sortedIds: string[] | null = null;
  /**
   * The OpenRouter value per organization id, each joined once: a decision is made per
   * call, and a string joined per call lives on in the call's ledger row.
   */
  private readonly openrouterUsers = new Map<string, string>();

  /**
   * `exhausted`: organizations whose budget for the current period is spent. They grant
   * nothing; it is read live for every decision (see BudgetStateService), never cached.
   */
  constructor(
    readonly userId: string,
    readonly memberships: MembershipRow[],
    private readonly grantsByOrganization: ReadonlyMap<string, OrganizationGrants>,
    private readonly catalog: Catalog,
    /** A `pending` user (awaiting approval in the web UI) may use nothing. */
    readonly pending = false,
    readonly exhausted: ReadonlySet<string> = NOTHING_EXHAUSTED,
  ) {
    this.usable = memberships
      .filter((m) => !pending && m.isActive && m.organizationActive)
      .sort((a, b) => compareCodeUnits(a.organizationId, b.organizationId));
    this.budgeted = this.usable.some((m) => m.limits.budgetUsd !== null);
  }

  /** Active memberships in active organizations, by organization id. */
  get usableMemberships(): readonly MembershipRow[] {
    return this.usable;
  }

  /** The same access with these organizations' budgets exhausted. */
  withExhausted(exhausted: ReadonlySet<string>): UserAccess {
    return new UserAccess(
      this.userId,
      this.memberships,
      this.grantsByOrganization,
      this.catalog,
      this.pending,
      exhausted,
    );
  }

  /** An active grant of this membership's organization covers the model (budget aside). */
  grantedBy(membership: MembershipRow, modelId: string): boolean {
    return this.grantsOf(membership.organizationId).grants(modelId);
  }

  /** Usable and not out of budget: the memberships through which models are granted. */
  private granting(membership: MembershipRow): boolean {
    return !this.exhausted.has(membership.organizationId);
  }

  private grantsOf(organizationId: string): OrganizationGrants {
    return this.grantsByOrganization.get(organizationId) ?? NO_GRANTS;
  }

  private openrouterUser(membership: MembershipRow): string {
    let value = this.openrouterUsers.get(membership.organizationId);
    if (value === undefined) {
      value = openrouterUser(membership.externalUser, this.userId);
      this.openrouterUsers.set(membership.organizationId, value);
    }
    return value;
  }

  /** Allowed model id -> granting organizations, sorted by organization id. */
  get models(): ReadonlyMap<string, GrantingOrganization[]> {
    if (this.modelMap) {
      return this.modelMap;
    }
    const map = new Map<string, GrantingOrganization[]>();
    for (const membership of this.usable) {
      if (!this.granting(membership)) {
        continue;
      }
      const organization: GrantingOrganization = {
        id: membership.organizationId,
        name: membership.organizationName,
        openrouterUser: this.openrouterUser(membership),
      };
      for (const id of this.grantsOf(membership.organizationId).allowedModelIds()) {
        const orgs = map.get(id);
        if (orgs) {
          orgs.push(organization);
        } else {
          map.set(id, [organization]);
        }
      }
    }
    this.modelMap = map;
    return map;
  }

  catalogModel(id: string): CatalogModel | undefined {
    return this.catalog.byId.get(id);
  }

  /** Allowed model ids in code-unit order. */
  sortedModelIds(): string[] {
    this.sortedIds ??= [...this.models.keys()].sort(compareCodeUnits);
    return this.sortedIds;
  }

  /** The decision for one model, with the first reason that blocks it. */
  check(modelId: string): AccessDecision {
    const model = this.catalog.byId.get(modelId);
    if (model && model.isActive) {
      for (const membership of this.usable) {
        if (this.granting(membership) && this.grantsOf(membership.organizationId).grants(modelId)) {
          return {
            allowed: true,
            organizationId: membership.organizationId,
            openrouterUser: this.openrouterUser(membership),
            reason: 'granted',
          };
        }
      }
    }
    return {
      allowed: false,
      organizationId: null,
      openrouterUser: null,
      reason: this.refusal(modelId),
    };
  }

  /**
   * The first reason, in the order of REFUSAL_REASONS, whose condition holds (the README's
   * table "Why a check is refused"). Called only when no usable organization grants the model.
   */
  private refusal(modelId: string): RefusalReason {
    if (this.pending) {
      return 'user_pending';
    }
    const model = this.catalog.byId.get(modelId);
    if (!model) {
      return 'model_not_found';
    }
    if (!model.isActive) {
      return 'model_inactive';
    }
    // Some usable organization grants it (else check would have allowed it only through one
    // that is not exhausted): every such organization has spent its budget for the period.
    if (this.usable.some((m) => this.grantsOf(m.organizationId).grants(modelId))) {
      return 'budget_exhausted';
    }
    if (this.memberships.length === 0) {
      return 'no_membership';
    }
    // Memberships whose organization holds an active grant covering the model explain a
    // refusal better than "no grant": the membership or the organization is what blocks it.
    const granting = this.memberships.filter((m) =>
      this.grantsOf(m.organizationId).grants(modelId),
    );
    if (!this.memberships.some((m) => m.isActive) || granting.some((m) => !m.isActive)) {
      return 'membership_inactive';
    }
    if (this.usable.length === 0 || granting.some((m) => !m.organizationActive)) {
      return 'organization_inactive';
    }
    // No active grant of a usable organization covers it (check above); an inactive one may.
    if (this.usable.some((m) => this.grantsOf(m.organizationId).covers(modelId))) {
      return 'grant_inactive';
    }
    return 'no_grant';
  }
}
