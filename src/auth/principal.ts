import { MembershipRow } from '../model-access/access-rule';

/** Who is calling: an admin API key or a web UI user. */
export interface Principal {
  kind: 'api_key' | 'user';
  /** Stable name for the audit log: `api-key:<fingerprint>` or `user:<id>`. */
  actor: string;
  /** The web UI user behind a session token; null for API keys. */
  userId: string | null;
  siteAdmin: boolean;
  /** The user's memberships (empty for API keys). */
  memberships: MembershipRow[];
}

export const SYSTEM_ACTOR = 'system';

/** Organizations the principal administers through an active admin membership. */
export function adminOrganizationIds(principal: Principal): string[] {
  return principal.memberships
    .filter((m) => m.isActive && m.role === 'admin')
    .map((m) => m.organizationId);
}
