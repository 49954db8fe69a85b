import { AppConfig } from '../config/app-config';
import { AccessCacheService } from '../model-access/access-cache.service';
import { AuthResult, AuthService } from './auth.service';
import { Principal } from './principal';
import * as digests from './sha256';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const GATEWAY_KEY = 'gateway-key-0123456789abcdef';

describe(AuthService.name, () => {
  let sut: AuthService;
  let digest: jest.SpyInstance;

  beforeEach(() => {
    const config = {
      adminApiKeys: [ADMIN_KEY],
      gatewayApiKeys: [GATEWAY_KEY],
      webuiSecretKey: 'a-test-secret-that-is-long-enough',
      jwtRequireExp: false,
    } as unknown as AppConfig;
    sut = new AuthService(config, {} as AccessCacheService);
    digest = jest.spyOn(digests, 'sha256');
  });
  afterEach(() => digest.mockRestore());

  it('digests a configured key once, then knows it by its text', () => {
    const first = sut.authenticate(ADMIN_KEY);
    const again = sut.authenticate(ADMIN_KEY);
    expect(digest).toHaveBeenCalledTimes(1);
    expect(again).toEqual(first);
    expect(again).toEqual({
      ok: true,
      principal: expect.objectContaining({ kind: 'api_key', siteAdmin: true, userId: null }),
    });
  });

  it('gives each request a principal of its own', () => {
    const principalOf = (token: string): Principal => {
      const result = sut.authenticate(token) as AuthResult;
      if (!result.ok) {
        throw new Error(result.problem);
      }
      return result.principal;
    };
    const first = principalOf(GATEWAY_KEY);
    const again = principalOf(GATEWAY_KEY);
    expect(again).toEqual(expect.objectContaining({ kind: 'gateway_key', siteAdmin: false }));
    expect(again).toEqual(first);
    expect(again).not.toBe(first);
  });

  it('still refuses, with a digest each time, a text that is not a configured key', () => {
    expect(sut.authenticate(ADMIN_KEY)).toEqual(expect.objectContaining({ ok: true }));
    digest.mockClear();
    for (const wrong of [`${ADMIN_KEY}x`, ADMIN_KEY.slice(0, -1), ADMIN_KEY.toUpperCase()]) {
      expect(sut.authenticate(wrong)).toEqual({ ok: false, problem: 'unknown API key' });
      expect(sut.authenticate(wrong)).toEqual({ ok: false, problem: 'unknown API key' });
    }
    expect(digest).toHaveBeenCalledTimes(6);
  });
});
