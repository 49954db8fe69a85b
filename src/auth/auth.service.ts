import { Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AccessCacheService } from '../model-access/access-cache.service';
import { verifyWebUiToken } from './jwt';
import { Principal } from './principal';

export type AuthResult = { ok: true; principal: Principal } | { ok: false; problem: string };

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Turns a bearer token into a Principal: an admin API key or a web UI session. */
@Injectable()
export class AuthService {
  private readonly keys: { digest: Buffer; actor: string }[];

  constructor(
    private readonly config: AppConfig,
    private readonly cache: AccessCacheService,
  ) {
    this.keys = config.adminApiKeys.map((key) => ({
      digest: digest(key),
      actor: `api-key:${digest(key).toString('hex').slice(0, 12)}`,
    }));
  }

  async authenticate(token: string): Promise<AuthResult> {
    const apiKeyActor = this.matchApiKey(token);
    if (apiKeyActor) {
      return {
        ok: true,
        principal: {
          kind: 'api_key',
          actor: apiKeyActor,
          userId: null,
          siteAdmin: true,
          memberships: [],
        },
      };
    }
    const verified = verifyWebUiToken(
      token,
      this.config.webuiSecretKey,
      Math.floor(Date.now() / 1000),
    );
    if (!verified.ok) {
      return {
        ok: false,
        problem:
          this.keys.length > 0 && !token.includes('.') ? 'unknown API key' : verified.problem,
      };
    }
    const view = await this.cache.view(verified.userId);
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

  /** Compares against every key in constant time; returns the key's audit name. */
  private matchApiKey(token: string): string | null {
    const given = digest(token);
    let match: string | null = null;
    for (const key of this.keys) {
      if (timingSafeEqual(given, key.digest)) {
        match = key.actor;
      }
    }
    return match;
  }
}
