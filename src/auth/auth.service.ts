import { Injectable } from '@nestjs/common';
import { timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AccessCacheService, UserView } from '../model-access/access-cache.service';
import { TokenResult, verifyWebUiToken } from './jwt';
import { Principal } from './principal';
import { sha256 } from './sha256';

export type AuthResult = { ok: true; principal: Principal } | { ok: false; problem: string };

/** Session tokens whose signature was verified recently, so a busy user costs one HMAC. */
const VERIFIED_TOKENS = 10_000;

interface VerifiedToken {
  userId: string;
  /** `exp` claim in seconds, or Infinity when the token has none. */
  expiresAt: number;
}

/** A configured key a bearer text matched: which kind, and its audit name. */
interface KnownKeyMatch {
  kind: 'api_key' | 'gateway_key';
  actor: string;
}

/** Turns a bearer token into a Principal: an admin API key, a gateway key or a web UI session. */
@Injectable()
export class AuthService {
  private readonly keys: { digest: Buffer; actor: string }[];
  private readonly gatewayKeys: { digest: Buffer; actor: string }[];
  private readonly verified = new Map<string, VerifiedToken>();
  /**
   * The configured keys seen so far, by their text: a key digested and matched once is
   * known without a digest afterwards. Only texts that matched are kept, so it holds at
   * most one entry per configured key (fixed for the life of the process).
   */
  private readonly matched = new Map<string, KnownKeyMatch>();

  constructor(
    private readonly config: AppConfig,
    private readonly cache: AccessCacheService,
  ) {
    this.keys = config.adminApiKeys.map((key) => knownKey(key, 'api-key'));
    this.gatewayKeys = config.gatewayApiKeys.map((key) => knownKey(key, 'gateway-key'));
  }

  /**
   * An API key is answered at once, without a promise (the busiest callers use one); a
   * session token needs the user's view from the access cache and is answered with a promise.
   */
  authenticate(token: string): AuthResult | Promise<AuthResult> {
    // A session token verified before is no API key (the keys are fixed for the life of the
    // process, and it matched none of them then): no digest for it.
    if (this.verified.has(token)) {
      return this.sessionPrincipal(token);
    }
    // A configured key presented before. The lookup compares the text with a remembered
    // key only when their string hashes are equal, so a wrong token's time does not grow
    // with how much of a key it gets right.
    const known = this.matched.get(token);
    if (known) {
      return {
        ok: true,
        principal: keyPrincipal(known.kind, known.actor, known.kind === 'api_key'),
      };
    }
    // One digest of the token, compared with every gateway key and every admin key. A gateway
    // key names no user (the forwarded headers do); an admin key is a site admin.
    const given = sha256(token);
    const gatewayActor = matchKey(this.gatewayKeys, given);
    if (gatewayActor) {
      this.matched.set(token, { kind: 'gateway_key', actor: gatewayActor });
      return { ok: true, principal: keyPrincipal('gateway_key', gatewayActor, false) };
    }
    const apiKeyActor = matchKey(this.keys, given);
    if (apiKeyActor) {
      this.matched.set(token, { kind: 'api_key', actor: apiKeyActor });
      return { ok: true, principal: keyPrincipal('api_key', apiKeyActor, true) };
    }
    // A token without dots is not a JWT: it was meant as an API key, so the refusal speaks
    // of API keys (and never points at WEBUI_SECRET_KEY).
    if (!token.includes('.')) {
      return {
        ok: false,
        problem:
          this.keys.length + this.gatewayKeys.length > 0
            ? 'unknown API key'
            : 'unknown API key (neither ADMIN_API_KEYS nor GATEWAY_API_KEYS is set, so no API key is accepted)',
      };
    }
    return this.sessionPrincipal(token);
  }

  /** The principal of a session token (verified, or remembered as verified and not expired). */
  private sessionPrincipal(token: string): AuthResult | Promise<AuthResult> {
    const verified = this.verifyToken(token);
    if (!verified.ok) {
      return { ok: false, problem: verified.problem };
    }
    // The user's role and memberships always come from the access cache, which a write
    // empties: a deleted or demoted user is refused on the next request.
    const cached = this.cache.cachedView(verified.userId);
    return cached ? userPrincipal(cached) : this.cache.view(verified.userId).then(userPrincipal);
  }

  /**
   * Verifies a session token, remembering the verified ones (token text -> user id and
   * expiry) so the HMAC runs once per token; expiry is still checked on every request.
   * Only verified tokens are remembered, and only the exact same text matches.
   */
  private verifyToken(token: string): TokenResult {
    const now = Math.floor(Date.now() / 1000);
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt > now) {
        return { ok: true, userId: known.userId };
      }
      this.verified.delete(token);
    }
    const result = verifyWebUiToken(
      token,
      this.config.webuiSecretKey,
      now,
      this.config.jwtRequireExp,
    );
    if (result.ok) {
      if (this.verified.size >= VERIFIED_TOKENS) {
        const oldest = this.verified.keys().next().value;
        if (oldest !== undefined) {
          this.verified.delete(oldest);
        }
      }
      this.verified.set(token, { userId: result.userId, expiresAt: tokenExpiry(token) });
    }
    return result;
  }
}

/** A configured key: its digest, and the actor audit events name (a fingerprint, never the key). */
function knownKey(key: string, prefix: string): { digest: Buffer; actor: string } {
  const digest = sha256(key);
  return { digest, actor: `${prefix}:${digest.toString('hex').slice(0, 12)}` };
}

/** The principal an API key stands for: no user of its own, no memberships. */
function keyPrincipal(
  kind: 'api_key' | 'gateway_key',
  actor: string,
  siteAdmin: boolean,
): Principal {
  return { kind, actor, userId: null, siteAdmin, memberships: [] };
}

/** Compares a token's digest with every key's in constant time; returns the key's audit name. */
function matchKey(keys: { digest: Buffer; actor: string }[], given: Buffer): string | null {
  let match: string | null = null;
  for (const key of keys) {
    if (timingSafeEqual(given, key.digest)) {
      match = key.actor;
    }
  }
  return match;
}

/** The `exp` claim of a token already verified (Infinity when absent). */
function tokenExpiry(token: string): number {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as {
      exp?: unknown;
    };
    return typeof payload.exp === 'number' ? payload.exp : Infinity;
  } catch {
    return 0;
  }
}

/** The principal of a session token's user, or why there is none. */
function userPrincipal(view: UserView): AuthResult {
  if (!view.user) {
    return { ok: false, problem: 'unknown user' };
  }
  if (view.user.role === 'pending') {
    return { ok: false, problem: 'user is pending approval' };
  }
  return {
    ok: true,
    principal: {
      kind: 'user',
      actor: `user:${view.user.id}`,
      userId: view.user.id,
      siteAdmin: view.user.role === 'admin',
      memberships: view.access.memberships,
    },
  };
}
