import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenResult = { ok: true; userId: string } | { ok: false; problem: string };

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Verifies an Open WebUI session token: a JWT signed HS256 with the shared secret,
 * carrying the user id in claim `id`. Only HS256 is accepted (no `none`, no
 * algorithm confusion); `exp` and `nbf` are honoured when present.
 */
export function verifyWebUiToken(token: string, secret: string, nowSeconds: number): TokenResult {
  if (secret === '') {
    return { ok: false, problem: 'session tokens are not accepted (WEBUI_SECRET_KEY is not set)' };
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => BASE64URL.test(p))) {
    return { ok: false, problem: 'malformed token' };
  }
  const [headerPart, payloadPart, signaturePart] = parts;
  const header = decodeJson(headerPart);
  if (!header || header.alg !== 'HS256') {
    return { ok: false, problem: 'token algorithm must be HS256' };
  }
  const expected = createHmac('sha256', secret).update(`${headerPart}.${payloadPart}`).digest();
  const given = Buffer.from(signaturePart, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, problem: 'bad token signature' };
  }
  const payload = decodeJson(payloadPart);
  if (!payload) {
    return { ok: false, problem: 'malformed token payload' };
  }
  if (payload.exp !== undefined && (typeof payload.exp !== 'number' || payload.exp <= nowSeconds)) {
    return { ok: false, problem: 'token expired' };
  }
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > nowSeconds)) {
    return { ok: false, problem: 'token not yet valid' };
  }
  if (typeof payload.id !== 'string' || payload.id === '') {
    return { ok: false, problem: 'token has no user id claim' };
  }
  return { ok: true, userId: payload.id };
}

/** Signs a token the way Open WebUI does; used by tests and tools. */
export function signWebUiToken(
  claims: Record<string, unknown>,
  secret: string,
  alg = 'HS256',
): string {
  const header = Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}
