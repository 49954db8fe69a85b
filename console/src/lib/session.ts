/**
 * The caller's bearer lives in sessionStorage only (never localStorage or a cookie): it is
 * gone when the tab closes, and it is never sent by the browser on its own.
 */

export const TOKEN_KEY = 'model-access-console.token';

export interface TokenInfo {
  kind: 'api-key' | 'session';
  /** The web UI user id (claim `id`) of a session token. */
  userId: string | null;
  /** Expiry of a session token, when it carries one. */
  expiresAt: Date | null;
}

/** What the token says about itself, without trusting it (the server decides). */
export function inspectToken(token: string): TokenInfo {
  const parts = token.split('.');
  if (parts.length === 3) {
    try {
      const binary = atob(parts[1].replace(/-/g, '+').replace(/_/g, '/'));
      const json = new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
      const claims = JSON.parse(json) as { id?: unknown; exp?: unknown };
      return {
        kind: 'session',
        userId: typeof claims.id === 'string' ? claims.id : null,
        expiresAt: typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null,
      };
    } catch {
      // Not a JWT after all: treat it as a key.
    }
  }
  return { kind: 'api-key', userId: null, expiresAt: null };
}

export interface TokenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function loadToken(store: TokenStore): string | null {
  const token = store.getItem(TOKEN_KEY);
  return token && token.trim() !== '' ? token : null;
}

export function saveToken(store: TokenStore, token: string): void {
  store.setItem(TOKEN_KEY, token.trim());
}

export function clearToken(store: TokenStore): void {
  store.removeItem(TOKEN_KEY);
}
