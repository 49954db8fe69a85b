import { clearToken, inspectToken, loadToken, saveToken, TOKEN_KEY, TokenStore } from './session';

class MemoryStore implements TokenStore {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('console session', () => {
  it('reads the user id and expiry of a web UI session token', () => {
    const token = `${b64url({ alg: 'HS256' })}.${b64url({ id: 'u-ä', exp: 1_800_000_000 })}.sig`;
    expect(inspectToken(token)).toEqual({
      kind: 'session',
      userId: 'u-ä',
      expiresAt: new Date(1_800_000_000_000),
    });
  });

  it('treats anything else as an API key', () => {
    expect(inspectToken('admin-key-0123456789abcdef0123456789').kind).toBe('api-key');
    expect(inspectToken('a.b.c').kind).toBe('api-key');
  });

  it('stores a trimmed token and forgets it', () => {
    const store = new MemoryStore();
    expect(loadToken(store)).toBeNull();
    saveToken(store, '  secret-token  ');
    expect(store.items.get(TOKEN_KEY)).toBe('secret-token');
    expect(loadToken(store)).toBe('secret-token');
    clearToken(store);
    expect(loadToken(store)).toBeNull();
  });
});
