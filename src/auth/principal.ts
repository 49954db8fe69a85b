import { MembershipRow } from '../model-access/access-rule';

/**
 * Who is calling: an admin API key, a web UI user, or a gateway key (a chat front end
 * that names its user in forwarded headers; it may call only the /v1 gateway routes).
 */
export interface Principal {
  kind: 'api_key' | 'user' | 'gateway_key';
  /** Stable name for the audit log: `api-key:<fingerprint>`, `gateway-key:<fingerprint>` or `user:<id>`. */
  actor: string;
  /** The web UI user behind a session token; null for API and gateway keys. */
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
