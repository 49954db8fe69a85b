import { createHash } from 'node:crypto';

/**
 * An independent, deliberately naive model of DESIGN section 2, used as the oracle of the
 * property tests. It shares no code with src/model-access (no Catalog index, no cache): it
 * scans every organization and grant for every question, so its answers come from the brief.
 */

export type UserRole = 'pending' | 'user' | 'admin';
export type MemberRole = 'member' | 'admin';

export interface RefUser {
  role: UserRole;
}
export interface RefOrg {
  name: string;
  externalUser: string;
  active: boolean;
  autoGrant: boolean;
  /** USD per period, or null for no budget (the property suite's clock never leaves one period). */
  budgetUsd?: number | null;
  /** USD settled in the current period. */
  spentUsd?: number;
}
export interface RefMembership {
  role: MemberRole;
  active: boolean;
}
export interface RefGrant {
  active: boolean;
}

export interface RefGrantingOrg {
  id: string;
  name: string;
  openrouterUser: string;
}

export interface RefModelAnswer {
  id: string;
  /** Every organization through which the user may use the model, by id (code-unit order). */
  organizations: RefGrantingOrg[];
}

export type RefReason =
  | 'user_not_found'
  | 'model_not_found'
  | 'model_inactive'
  | 'no_membership'
  | 'membership_inactive'
  | 'organization_inactive'
  | 'grant_inactive'
  | 'no_grant'
  | 'budget_exhausted';

export type HealthStatus = 'no_organization' | 'inactive' | 'no_models' | 'healthy';

const SEP = '\u0000';

/** Plain code-unit string comparison (what the service's ORDER BY-free sort promises). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** DESIGN section 3: `{external_user}_user_{first 8 hex of sha256(user id)}`. */
export function referenceOpenrouterUser(externalUser: string, userId: string): string {
  return `${externalUser}_user_${createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 8)}`;
}

/** Does the grant target (an exact id, or a prefix ending in `*`) name this model id? */
export function targetCovers(target: string, modelId: string): boolean {
  return target.endsWith('*') ? modelId.startsWith(target.slice(0, -1)) : target === modelId;
}

/** The whole state the rule depends on, and the writes the API offers, applied naively. */
export class ReferenceWorld {
  readonly users = new Map<string, RefUser>();
  readonly orgs = new Map<string, RefOrg>();
  readonly models = new Map<string, { active: boolean }>();
  /** key: org SEP user */
  readonly memberships = new Map<string, RefMembership>();
  /** key: org SEP target */
  readonly grants = new Map<string, RefGrant>();

  static key(a: string, b: string): string {
    return `${a}${SEP}${b}`;
  }

  static split(key: string): [string, string] {
    const i = key.indexOf(SEP);
    return [key.slice(0, i), key.slice(i + 1)];
  }

  // ---- the rule ----

  /** An organization's budget for the period is spent (a budget of 0 is spent from the start). */
  exhausted(orgId: string): boolean {
    const org = this.orgs.get(orgId);
    return (
      org !== undefined &&
      org.budgetUsd !== undefined &&
      org.budgetUsd !== null &&
      (org.spentUsd ?? 0) >= org.budgetUsd
    );
  }

  /** The organizations through which user may use model, sorted by id. */
  grantingOrgs(userId: string, modelId: string): RefGrantingOrg[] {
    return this.grantingOrgsIgnoringBudgets(userId, modelId).filter((o) => !this.exhausted(o.id));
  }

  /** The organizations that would grant the model if budgets did not exist. */
  grantingOrgsIgnoringBudgets(userId: string, modelId: string): RefGrantingOrg[] {
    const model = this.models.get(modelId);
    if (!this.users.has(userId) || !model || !model.active) {
      return [];
    }
    const found: RefGrantingOrg[] = [];
    for (const [orgId, org] of this.orgs) {
      const membership = this.memberships.get(ReferenceWorld.key(orgId, userId));
      if (!membership || !membership.active || !org.active) {
        continue;
      }
      let granted = false;
      for (const [key, grant] of this.grants) {
        const [grantOrg, target] = ReferenceWorld.split(key);
        if (grantOrg === orgId && grant.active && targetCovers(target, modelId)) {
          granted = true;
        }
      }
      if (granted) {
        found.push({
          id: orgId,
          name: org.name,
          openrouterUser: referenceOpenrouterUser(org.externalUser, userId),
        });
      }
    }
    return found.sort((a, b) => byCodeUnits(a.id, b.id));
  }

  allowed(userId: string, modelId: string): boolean {
    return this.grantingOrgs(userId, modelId).length > 0;
  }

  /** Every model the user may use, sorted by id. */
  modelsOf(userId: string): RefModelAnswer[] {
    return [...this.models.keys()]
      .sort(byCodeUnits)
      .map((id) => ({ id, organizations: this.grantingOrgs(userId, id) }))
      .filter((m) => m.organizations.length > 0);
  }

  /**
   * Reasons that truthfully describe why user may not use model. The first three are forced
   * (the user or the model itself is the problem); beyond that any reason whose fact holds
   * is accepted, since the brief only asks the reason to say why.
   */
  plausibleReasons(userId: string, modelId: string): RefReason[] {
    if (!this.users.has(userId)) {
      return ['user_not_found'];
    }
    const model = this.models.get(modelId);
    if (!model) {
      return ['model_not_found'];
    }
    if (!model.active) {
      return ['model_inactive'];
    }
    // Some organization would grant it, and every such one has spent its budget.
    if (this.grantingOrgsIgnoringBudgets(userId, modelId).length > 0) {
      return ['budget_exhausted'];
    }
    const mine = [...this.memberships]
      .map(([key, m]) => ({
        orgId: ReferenceWorld.split(key)[0],
        userId: ReferenceWorld.split(key)[1],
        m,
      }))
      .filter((x) => x.userId === userId);
    if (mine.length === 0) {
      return ['no_membership'];
    }
    const reasons = new Set<RefReason>(['no_grant']);
    if (mine.some((x) => !x.m.active)) {
      reasons.add('membership_inactive');
    }
    if (mine.some((x) => !this.orgs.get(x.orgId)!.active)) {
      reasons.add('organization_inactive');
    }
    for (const x of mine) {
      for (const [key, grant] of this.grants) {
        const [grantOrg, target] = ReferenceWorld.split(key);
        if (grantOrg === x.orgId && !grant.active && targetCovers(target, modelId)) {
          reasons.add('grant_inactive');
        }
      }
    }
    return [...reasons];
  }

  /** The debug status of DESIGN 5 for /health/model-access/:userId. */
  healthStatus(userId: string): HealthStatus {
    const mine = [...this.memberships].filter(([key]) => ReferenceWorld.split(key)[1] === userId);
    if (mine.length === 0) {
      return 'no_organization';
    }
    const usable = mine.filter(
      ([key, m]) => m.active && this.orgs.get(ReferenceWorld.split(key)[0])!.active,
    );
    if (usable.length === 0) {
      return 'inactive';
    }
    return this.modelsOf(userId).length === 0 ? 'no_models' : 'healthy';
  }

  membershipsOf(userId: string): { orgId: string; membership: RefMembership }[] {
    return [...this.memberships]
      .filter(([key]) => ReferenceWorld.split(key)[1] === userId)
      .map(([key, membership]) => ({ orgId: ReferenceWorld.split(key)[0], membership }))
      .sort((a, b) => byCodeUnits(a.orgId, b.orgId));
  }

  // ---- the writes, each answering the HTTP status the API should give ----

  putUser(id: string, role: UserRole): number {
    const created = !this.users.has(id);
    this.users.set(id, { role });
    return created ? 201 : 200;
  }

  deleteUser(id: string): number {
    if (!this.users.delete(id)) {
      return 404;
    }
    for (const key of [...this.memberships.keys()]) {
      if (ReferenceWorld.split(key)[1] === id) {
        this.memberships.delete(key);
      }
    }
    return 204;
  }

  createOrg(id: string, org: RefOrg): number {
    if (this.orgs.has(id)) {
      return 409;
    }
    this.orgs.set(id, { ...org });
    return 201;
  }

  patchOrg(id: string, change: { active?: boolean; autoGrant?: boolean }): number {
    const org = this.orgs.get(id);
    if (change.active === undefined && change.autoGrant === undefined) {
      return 400;
    }
    if (!org) {
      return 404;
    }
    org.active = change.active ?? org.active;
    org.autoGrant = change.autoGrant ?? org.autoGrant;
    return 200;
  }

  /** PATCH /organizations/:id/budget with budget_usd (null removes the budget). */
  setBudget(id: string, budgetUsd: number | null): number {
    const org = this.orgs.get(id);
    if (!org) {
      return 404;
    }
    org.budgetUsd = budgetUsd;
    return 200;
  }

  /** A call reserved and settled at its cost: refused (false) when it does not fit the budget. */
  spend(id: string, usd: number): boolean {
    const org = this.orgs.get(id);
    if (!org) {
      return false;
    }
    const spent = org.spentUsd ?? 0;
    if (org.budgetUsd !== undefined && org.budgetUsd !== null && spent + usd > org.budgetUsd) {
      return false;
    }
    org.spentUsd = spent + usd;
    return true;
  }

  deleteOrgCascade(id: string): number {
    if (!this.orgs.delete(id)) {
      return 404;
    }
    for (const map of [this.memberships, this.grants] as Map<string, unknown>[]) {
      for (const key of [...map.keys()]) {
        if (ReferenceWorld.split(key)[0] === id) {
          map.delete(key);
        }
      }
    }
    return 204;
  }

  /** PUT /models/:id with is_active (default true); a new model goes to auto-grant orgs. */
  putModel(id: string, active: boolean): number {
    const existing = this.models.get(id);
    if (existing) {
      existing.active = active;
      return 200;
    }
    this.models.set(id, { active });
    for (const [orgId, org] of this.orgs) {
      const key = ReferenceWorld.key(orgId, id);
      if (org.autoGrant && !this.grants.has(key)) {
        this.grants.set(key, { active: true });
      }
    }
    return 201;
  }

  /** Removes the model and the grants naming it exactly (patterns stay). */
  deleteModel(id: string): number {
    if (!this.models.delete(id)) {
      return 404;
    }
    for (const key of [...this.grants.keys()]) {
      if (ReferenceWorld.split(key)[1] === id) {
        this.grants.delete(key);
      }
    }
    return 204;
  }

  putMember(orgId: string, userId: string, body: { role?: MemberRole; active?: boolean }): number {
    if (!this.orgs.has(orgId) || !this.users.has(userId)) {
      return 404;
    }
    const key = ReferenceWorld.key(orgId, userId);
    const existing = this.memberships.get(key);
    this.memberships.set(key, {
      role: body.role ?? existing?.role ?? 'member',
      active: body.active ?? existing?.active ?? true,
    });
    return existing ? 200 : 201;
  }

  removeMember(orgId: string, userId: string): number {
    if (!this.orgs.has(orgId)) {
      return 404;
    }
    return this.memberships.delete(ReferenceWorld.key(orgId, userId)) ? 204 : 404;
  }

  bulkAddMembers(orgId: string, userIds: string[], role: MemberRole = 'member'): number {
    if (!this.orgs.has(orgId)) {
      return 404;
    }
    if (userIds.some((id) => !this.users.has(id))) {
      return 400;
    }
    for (const userId of userIds) {
      this.memberships.set(ReferenceWorld.key(orgId, userId), { role, active: true });
    }
    return 200;
  }

  putGrant(orgId: string, target: string, active = true): number {
    if (!this.orgs.has(orgId)) {
      return 404;
    }
    if (!target.endsWith('*') && !this.models.has(target)) {
      return 404;
    }
    const key = ReferenceWorld.key(orgId, target);
    const existed = this.grants.has(key);
    this.grants.set(key, { active });
    return existed ? 200 : 201;
  }

  revokeGrant(orgId: string, target: string): number {
    if (!this.orgs.has(orgId)) {
      return 404;
    }
    return this.grants.delete(ReferenceWorld.key(orgId, target)) ? 204 : 404;
  }

  bulkGrants(orgId: string, grant: string[], revoke: string[]): number {
    if ((grant.length === 0 && revoke.length === 0) || grant.some((g) => revoke.includes(g))) {
      return 400;
    }
    if (!this.orgs.has(orgId)) {
      return 404;
    }
    if (grant.some((g) => !g.endsWith('*') && !this.models.has(g))) {
      return 400;
    }
    for (const target of grant) {
      this.grants.set(ReferenceWorld.key(orgId, target), { active: true });
    }
    for (const target of revoke) {
      this.grants.delete(ReferenceWorld.key(orgId, target));
    }
    return 200;
  }
}
