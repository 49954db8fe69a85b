import { Api, ApiError } from './api';
import { inspectToken, TokenInfo } from './session';

export type ConsoleRole = 'site_admin' | 'org_admin';

export interface Identity {
  role: ConsoleRole;
  token: TokenInfo;
}

/** Thrown when the credentials are good but the account administers nothing. */
export class NotAnAdminError extends Error {
  constructor() {
    super(
      'This account is neither a site admin nor an admin of an organization, so the console has nothing to show it.',
    );
    this.name = 'NotAnAdminError';
  }
}

/**
 * Who the bearer is, asked of the API itself: the organization list answers site admins and
 * organization admins (403 for anyone else), the user list only site admins.
 */
export async function identify(api: Api): Promise<Identity> {
  try {
    await api.get('/api/v1/organizations', { limit: 1 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      throw new NotAnAdminError();
    }
    throw error;
  }
  try {
    await api.get('/api/v1/users', { limit: 1 });
    return { role: 'site_admin', token: inspectToken(api.token) };
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      return { role: 'org_admin', token: inspectToken(api.token) };
    }
    throw error;
  }
}
