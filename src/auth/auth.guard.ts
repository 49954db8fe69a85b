import {
  CanActivate,
  ExecutionContext,
  ForbiddenException,
  HttpException,
  HttpStatus,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { AccessLevel, ACCESS_LEVEL_KEY } from './access-level.decorators';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { AuthResult, AuthService } from './auth.service';
import { PRINCIPAL_KEY } from './current-principal.decorator';
import { adminOrganizationIds, Principal } from './principal';
import { sha256 } from './sha256';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * Authenticates a request and applies an access level to it: shared by the guard and by
 * the access fast path (model-access/access-fast-path.ts), so both decide identically.
 */
@Injectable()
export class RequestAuthenticator {
  /** sha256 of METRICS_TOKEN, compared in constant time; null when /metrics is public. */
  private readonly metricsToken: Buffer | null;

  constructor(
    private readonly auth: AuthService,
    private readonly limiter: AuthFailureLimiter,
    config: AppConfig,
  ) {
    this.metricsToken = config.metricsToken === null ? null : sha256(config.metricsToken);
  }

  /**
   * The principal allowed at `level`; throws 401, 403, 404 or 429 otherwise. An API key is
   * decided without a promise (the access check is called with one, thousands of times a
   * second); a session token needs the access cache, and the answer is then a promise.
   */
  decide(
    level: AccessLevel,
    request: FastifyRequest & Record<string, unknown>,
    reply: FastifyReply,
  ): Principal | null | Promise<Principal | null> {
    if (level === 'public') {
      return null;
    }
    if (level === 'metrics') {
      this.authenticateScraper(request, reply);
      return null;
    }
    const principal = this.authenticate(request, reply);
    return principal instanceof Promise
      ? principal.then((p) => admit(level, request, p))
      : admit(level, request, principal);
  }

  /** 429 while the address is blocked by the failure limiter. */
  private refuseBlocked(address: string, reply: FastifyReply): void {
    const retryAfter = this.limiter.blockedFor(address);
    if (retryAfter > 0) {
      reply.header('Retry-After', String(retryAfter));
      throw new HttpException(
        `Too many failed authentications from this address; retry in ${retryAfter} s.`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
  }

  /** The metrics level: the bearer of METRICS_TOKEN, or anyone when it is unset. */
  private authenticateScraper(request: FastifyRequest, reply: FastifyReply): void {
    if (this.metricsToken === null) {
      return;
    }
    this.refuseBlocked(request.ip, reply);
    const header = request.headers.authorization;
    const token = typeof header === 'string' ? BEARER.exec(header)?.[1] : undefined;
    if (token === undefined || !timingSafeEqual(sha256(token), this.metricsToken)) {
      this.limiter.recordFailure(request.ip);
      reply.header('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException('This route requires Authorization: Bearer <METRICS_TOKEN>.');
    }
  }

  private authenticate(
    request: FastifyRequest,
    reply: FastifyReply,
  ): Principal | Promise<Principal> {
    const address = request.ip;
    this.refuseBlocked(address, reply);
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match) {
      // A credential in the wrong form counts as a failed attempt; no header at all does not.
      if (header !== undefined) {
        this.limiter.recordFailure(address);
      }
      reply.header('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException(
        header === undefined
          ? 'Authorization: Bearer <token> is required.'
          : 'The Authorization header must be "Bearer <token>".',
      );
    }
    const result = this.auth.authenticate(match[1]);
    return result instanceof Promise
      ? result.then((r) => this.accepted(r, address, reply))
      : this.accepted(result, address, reply);
  }

  /** The principal of a successful authentication; 401 (and a recorded failure) otherwise. */
  private accepted(result: AuthResult, address: string, reply: FastifyReply): Principal {
    if (!result.ok) {
      this.limiter.recordFailure(address);
      reply.header('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw new UnauthorizedException(`Invalid credentials: ${result.problem}.`);
    }
    return result.principal;
  }
}

/** Records the principal on the request and applies the access level to it. */
function admit(
  level: AccessLevel,
  request: FastifyRequest & Record<string, unknown>,
  principal: Principal,
): Principal {
  request[PRINCIPAL_KEY] = principal;
  authorize(level, principal, request.params as Record<string, string> | undefined);
  return principal;
}

/** The access level a handler declares (routes without one are site-admin only). */
export function accessLevelOf(
  reflector: Reflector,
  targets: (object | ((...args: never[]) => unknown))[],
): AccessLevel {
  return (
    reflector.getAllAndOverride<AccessLevel | undefined>(
      ACCESS_LEVEL_KEY,
      targets as Parameters<Reflector['getAllAndOverride']>[1],
    ) ?? 'site_admin'
  );
}

/**
 * The one guard. Reads the access level set by @Public, @MetricsScraper, @Authenticated,
 * @GatewayCaller, @OrgAdmin or @SiteAdmin (routes without one are site-admin only) and decides.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly authenticator: RequestAuthenticator,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const level = accessLevelOf(this.reflector, [context.getHandler(), context.getClass()]);
    const http = context.switchToHttp();
    await this.authenticator.decide(
      level,
      http.getRequest<FastifyRequest & Record<string, unknown>>(),
      http.getResponse<FastifyReply>(),
    );
    return true;
  }
}

/** Applies an access level to an authenticated principal; throws 403 or 404. */
export function authorize(
  level: AccessLevel,
  principal: Principal,
  params: Record<string, string> | undefined,
): void {
  switch (level) {
    case 'public':
    case 'metrics':
      return;
    case 'gateway':
      if (principal.kind === 'api_key') {
        throw new ForbiddenException(
          'The /v1 gateway answers for a user: call it with a session token, or with a gateway key and the forwarded user headers.',
        );
      }
      return;
    case 'user':
      if (principal.kind !== 'user') {
        throw new ForbiddenException(
          'This route answers for a web UI user; call it with a session token.',
        );
      }
      return;
    case 'site_admin': {
      if (principal.siteAdmin) {
        return;
      }
      // On a route of one organization, an organization the caller cannot see does not exist.
      const orgId = params?.orgId;
      if (orgId !== undefined && !canSee(principal, orgId)) {
        throw new NotFoundException(`Organization "${orgId}" was not found.`);
      }
      throw new ForbiddenException('Only site admins may call this route.');
    }
    case 'org_admin': {
      if (principal.siteAdmin) {
        return;
      }
      const orgId = params?.orgId;
      const administered = adminOrganizationIds(principal);
      if (orgId === undefined) {
        if (administered.length === 0) {
          throw new ForbiddenException(
            'Only site admins and organization admins may call this route.',
          );
        }
        return;
      }
      if (administered.includes(orgId)) {
        return;
      }
      if (canSee(principal, orgId)) {
        throw new ForbiddenException('Only admins of this organization may call this route.');
      }
      throw new NotFoundException(`Organization "${orgId}" was not found.`);
    }
  }
}

/** An organization is visible to its active members (and to site admins). */
function canSee(principal: Principal, orgId: string): boolean {
  return principal.memberships.some((m) => m.organizationId === orgId && m.isActive);
}
