import { repeatsKey, signWebUiToken, verifyWebUiToken } from './jwt';

const secret = 'a-test-secret-that-is-long-enough';
const now = 1_800_000_000;

describe('verifyWebUiToken', () => {
  it('accepts a valid HS256 token and returns the id claim', () => {
    const sut = verifyWebUiToken(signWebUiToken({ id: 'u-1', exp: now + 60 }, secret), secret, now);
    expect(sut).toEqual({ ok: true, userId: 'u-1' });
  });

  it('refuses a token signed with another secret', () => {
    const sut = verifyWebUiToken(signWebUiToken({ id: 'u-1' }, 'other-secret'), secret, now);
    expect(sut.ok).toBe(false);
  });

  it('refuses alg none even without a signature', () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ id: 'u-1' })).toString('base64url');
    expect(verifyWebUiToken(`${header}.${payload}.`, secret, now).ok).toBe(false);
    expect(verifyWebUiToken(`${header}.${payload}.x`, secret, now).ok).toBe(false);
  });

  it('refuses expired and not-yet-valid tokens', () => {
    expect(verifyWebUiToken(signWebUiToken({ id: 'u', exp: now }, secret), secret, now)).toEqual({
      ok: false,
      problem: 'token expired',
    });
    expect(
      verifyWebUiToken(
        signWebUiToken({ id: 'u', exp: now + 60, nbf: now + 10 }, secret),
        secret,
        now,
      ),
    ).toEqual({
      ok: false,
      problem: 'token not yet valid',
    });
  });

  it('refuses a token without exp unless told not to require it', () => {
    const token = signWebUiToken({ id: 'u' }, secret);
    expect(verifyWebUiToken(token, secret, now)).toEqual({
      ok: false,
      problem: 'token has no exp claim (JWT_REQUIRE_EXP)',
    });
    expect(verifyWebUiToken(token, secret, now, false)).toEqual({ ok: true, userId: 'u' });
  });

  it('finds repeated keys at any depth, escaped or not, and nothing else', () => {
    expect(repeatsKey('{"id":"a","id":"b"}')).toBe(true);
    expect(repeatsKey('{"id":"a","\\u0069d":"b"}')).toBe(true);
    expect(repeatsKey('{"a":{"x":1,"x":2}}')).toBe(true);
    expect(repeatsKey('{"a":{"x":1},"b":{"x":2},"c":["x","x"],"d":"\\"x\\":"}')).toBe(false);
  });

  it('refuses a token without an id claim', () => {
    expect(verifyWebUiToken(signWebUiToken({ sub: 'u' }, secret), secret, now).ok).toBe(false);
    expect(verifyWebUiToken(signWebUiToken({ id: 42 }, secret), secret, now).ok).toBe(false);
  });

  it('refuses every token when no secret is configured', () => {
    expect(verifyWebUiToken(signWebUiToken({ id: 'u' }, ''), '', now).ok).toBe(false);
  });

  it('refuses garbage', () => {
    for (const token of ['', 'a.b', 'a.b.c.d', '...', 'not a token', 'e30.e30.%%%']) {
      expect(verifyWebUiToken(token, secret, now).ok).toBe(false);
    }
  });
});
