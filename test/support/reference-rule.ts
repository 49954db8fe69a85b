import { createHash } from 'node:crypto';

/**
 * An independent, deliberately naive model of the access rule (README, "The rule"), used
 * as the oracle of the property tests. It shares no code with src/model-access (no Catalog
 * index, no cache): it scans every organization and grant for every question, so its answers
 * come from the written rule, not from the service's data structures.
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
  | 'user_pending'
  | 'model_not_found'
  | 'model_inactive'
  | 'no_membership'
  | 'membership_inactive'
  | 'organization_inactive'
  | 'grant_inactive'
  | 'no_grant';

export type HealthStatus = 'pending' | 'no_organization' | 'inactive' | 'no_models' | 'healthy';

const SEP = '\u0000';

/** Plain code-unit string comparison (what the service's ORDER BY-free sort promises). */
export function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The OpenRouter `user` value: `{external_user}_user_{first 8 hex of sha256(user id)}`. */
export function referenceOpenrouterUser(externalUser: string, userId: string): string {
  return `${externalUser}_user_${createHash('sha256').update(userId, 'utf8').digest('hex').slice(0, 8)}`;
}

/** Does the grant target (an exact id, or a prefix ending in `*`) name this model id? */
export function targetCovers(target: string, modelId: string): boolean {
  return target.endsWith('*') ? modelId.startsWith(target.slice(0, -1)) : target === modelId;
}

/** One of the user's memberships, with what its organization's grants say about the model. */
export interface RefMembershipFacts {
  orgId: string;
  org: RefOrg;
  membership: RefMembership;
  /** An active grant of this organization (exact or pattern) covers the model. */
  grantsActively: boolean;
  /** An inactive grant of this organization covers the model. */
  coversInactive: boolean;
}

/** Everything a refusal reason is decided from, for one (user, model) pair. */
export interface RefFacts {
  user: RefUser | undefined;
  model: { active: boolean } | undefined;
  /** The user's memberships (null when the user or the model does not exist). */
  mine: RefMembershipFacts[] | null;
  /** Some organization where the user may act (active membership, active organization) actively grants the active model. */
  granted: boolean;
}

const suspended = (x: RefMembershipFacts) => !x.membership.active;
const usable = (x: RefMembershipFacts) => x.membership.active && x.org.active;

/**
 * The documented precedence of refusal reasons (README, "Why a check is refused", a table in this order): the answer
 * is the first reason whose fact holds, and a pair is allowed exactly when none holds. Adding a
 * reason is one entry here, at its place in the order. Kept in the order of the service's
 * REFUSAL_REASONS; a spec checks the two orders (and the README table) agree.
 */
export const REFERENCE_REFUSALS: readonly {
  reason: RefReason;
  holds: (f: RefFacts) => boolean;
}[] = [
  { reason: 'user_not_found', holds: (f) => !f.user },
  // a web UI user awaiting approval uses nothing
  { reason: 'user_pending', holds: (f) => f.user!.role === 'pending' },
  { reason: 'model_not_found', holds: (f) => !f.model },
  { reason: 'model_inactive', holds: (f) => !f.model!.active },
  { reason: 'no_membership', holds: (f) => f.mine!.length === 0 },
  {
    reason: 'membership_inactive',
    holds: (f) =>
      !f.granted &&
      (f.mine!.every(suspended) || f.mine!.some((x) => suspended(x) && x.grantsActively)),
  },
  {
    reason: 'organization_inactive',
    holds: (f) =>
      !f.granted &&
      (!f.mine!.some(usable) ||
        f.mine!.some((x) => !suspended(x) && !x.org.active && x.grantsActively)),
  },
  {
    reason: 'grant_inactive',
    holds: (f) => !f.granted && f.mine!.some((x) => usable(x) && x.coversInactive),
  },
  { reason: 'no_grant', holds: (f) => !f.granted },
];

export function firstRefusal(facts: RefFacts): RefReason | null {
  return REFERENCE_REFUSALS.find((r) => r.holds(facts))?.reason ?? null;
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

  /**
   * The organizations through which user may use model, sorted by id: none when a refusal
   * reason holds (so a reason added to REFERENCE_REFUSALS refuses by itself).
   */
  grantingOrgs(userId: string, modelId: string): RefGrantingOrg[] {
    const facts = this.facts(userId, modelId);
    if (firstRefusal(facts) !== null) {
      return [];
    }
    const found = facts
      .mine!.filter((x) => x.membership.active && x.org.active && x.grantsActively)
      .map((x) => ({
        id: x.orgId,
        name: x.org.name,
        openrouterUser: referenceOpenrouterUser(x.org.externalUser, userId),
      }));
    if (found.length === 0) {
      throw new Error(
        `reference rule: no refusal reason holds for ${userId} / ${modelId}, yet no organization grants it`,
      );
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

  /** The one reason /access/check must give: the first of REFERENCE_REFUSALS that holds. */
  reason(userId: string, modelId: string): RefReason | 'granted' {
    return firstRefusal(this.facts(userId, modelId)) ?? 'granted';
  }

  /** What the reasons are decided from, gathered by scanning every row (no index). */
  facts(userId: string, modelId: string): RefFacts {
    const user = this.users.get(userId);
    const model = this.models.get(modelId);
    if (!user || !model) {
      return { user, model, mine: null, granted: false };
    }
    const mine: RefMembershipFacts[] = [];
    for (const [key, membership] of this.memberships) {
      const [orgId, memberId] = ReferenceWorld.split(key);
      if (memberId !== userId) {
        continue;
      }
      let grantsActively = false;
      let coversInactive = false;
      for (const [grantKey, grant] of this.grants) {
        const [grantOrg, target] = ReferenceWorld.split(grantKey);
        if (grantOrg === orgId && targetCovers(target, modelId)) {
          grantsActively ||= grant.active;
          coversInactive ||= !grant.active;
        }
      }
      mine.push({ orgId, org: this.orgs.get(orgId)!, membership, grantsActively, coversInactive });
    }
    const granted =
      model.active && mine.some((x) => x.membership.active && x.org.active && x.grantsActively);
    return { user, model, mine, granted };
  }

  /** The debug status of /health/model-access/:userId. */
  healthStatus(userId: string): HealthStatus {
    if (this.users.get(userId)?.role === 'pending') {
      return 'pending';
    }
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
