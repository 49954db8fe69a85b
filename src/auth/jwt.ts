import { createHmac, timingSafeEqual } from 'node:crypto';

export type TokenResult = { ok: true; userId: string } | { ok: false; problem: string };

/**
 * A JSON object from one token part, or null: not valid JSON, not an object, or an object
 * (at any depth) naming a key twice, which parsers resolve differently.
 */
function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const text = Buffer.from(part, 'base64url').toString('utf8');
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) && !repeatsKey(text)
      ? (value as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** True when an object in this (valid) JSON text names a key twice (after unescaping). */
export function repeatsKey(json: string): boolean {
  const objects: (Set<string> | null)[] = [];
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let end = i + 1;
      while (json[end] !== '"') {
        end += json[end] === '\\' ? 2 : 1;
      }
      const raw = json.slice(i, end + 1);
      i = end;
      let next = end + 1;
      while (next < json.length && ' \t\n\r'.includes(json[next])) {
        next++;
      }
      const keys = objects[objects.length - 1];
      if (json[next] === ':' && keys) {
        const key = JSON.parse(raw) as string;
        if (keys.has(key)) {
          return true;
        }
        keys.add(key);
      }
    } else if (c === '{') {
      objects.push(new Set());
    } else if (c === '[') {
      objects.push(null);
    } else if (c === '}' || c === ']') {
      objects.pop();
    }
  }
  return false;
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The canonical base64url form only: no padding, and the unused low bits of the last
 * character zero, so one token has exactly one spelling (`...Q` and `...R` would otherwise
 * decode to the same bytes and pass as the same signature).
 */
function isCanonicalBase64url(part: string): boolean {
  return BASE64URL.test(part) && Buffer.from(part, 'base64url').toString('base64url') === part;
}

/**
 * Verifies an Open WebUI session token: a JWT signed HS256 with the shared secret,
 * carrying the user id in claim `id`. Only HS256 is accepted (no `none`, no
 * algorithm confusion), each part in canonical base64url and its JSON without repeated
 * keys; `exp` is required unless requireExp is false, `nbf` honoured when present.
 */
export function verifyWebUiToken(
  token: string,
  secret: string,
  nowSeconds: number,
  requireExp = true,
): TokenResult {
  if (secret === '') {
    return { ok: false, problem: 'session tokens are not accepted (WEBUI_SECRET_KEY is not set)' };
  }
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every(isCanonicalBase64url)) {
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
  if (payload.exp === undefined && requireExp) {
    return { ok: false, problem: 'token has no exp claim (JWT_REQUIRE_EXP)' };
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
