import { Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { IncomingHttpHeaders } from 'node:http';
import { Principal } from '../auth/principal';
import { GatewayError } from '../common/openai-error';
import { fieldProblems } from '../common/validation';
import { idProblems, USER_ID_RULE } from '../common/validators';
import { AppConfig } from '../config/app-config';
import { AccessCacheService } from '../model-access/access-cache.service';
import { UpsertUserBody } from '../users/dto/user.dto';
import { USER_ROLES, UserRole } from '../users/entities/user.entity';
import { UsersService } from '../users/users.service';

/**
 * The user a gateway call is for: the session token's user, or, with a gateway key, the
 * user named by the forwarded headers (null when a gateway key names nobody).
 */
export interface GatewayUser {
  id: string;
}

/**
 * Step two of the gateway pipeline: resolve the user. A session token is its own user and
 * forwarded headers are ignored. With a gateway key, the forwarded headers (Open WebUI's
 * `X-OpenWebUI-User-*`, names configurable) name the user and are upserted through the
 * users service (same validation, audit and default-organization join as PUT /users/:id),
 * only when something differs from what is stored, so a stock Open WebUI needs no sync.
 */
@Injectable()
export class GatewayCallers {
  /** Upserts in flight per user id, so a burst of first calls creates the user once. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly config: AppConfig,
    private readonly cache: AccessCacheService,
    private readonly users: UsersService,
  ) {}

  /**
   * The user of a call; without a promise for a session token (its own user, the common
   * case: a promise and its hooks per call showed in the gateway's CPU profile).
   */
  resolve(
    principal: Principal,
    headers: IncomingHttpHeaders,
  ): GatewayUser | null | Promise<GatewayUser | null> {
    if (principal.kind === 'user') {
      return { id: principal.userId! };
    }
    return this.fromHeaders(principal, headers);
  }

  /** With a gateway key: the user the forwarded headers name, upserted when it differs. */
  private async fromHeaders(
    principal: Principal,
    headers: IncomingHttpHeaders,
  ): Promise<GatewayUser | null> {
    const names = this.config.forwardedUserHeaders;
    const id = single(headers, names.id);
    if (id === undefined) {
      return null;
    }
    const idProblem = idProblems(id, { ...USER_ID_RULE, field: names.id })[0];
    if (idProblem) {
      throw new GatewayError(400, `Header ${idProblem}.`, 'invalid_user_header', names.id);
    }
    const stored = (await this.cache.view(id)).user;
    const wanted = this.wantedFields(headers, stored);
    const differs =
      !stored ||
      stored.name !== wanted.name ||
      stored.email !== wanted.email ||
      stored.role !== wanted.role;
    if (differs) {
      await this.upsertOnce(principal, id, wanted);
    }
    if (wanted.role === 'pending') {
      throw new GatewayError(
        403,
        `User "${id}" is pending approval and may not use any model yet.`,
        'user_pending',
      );
    }
    return { id };
  }

  /** The user's fields from the headers, falling back to what is stored for absent ones. */
  private wantedFields(
    headers: IncomingHttpHeaders,
    stored: { name: string; email: string; role: UserRole } | null,
  ): UpsertUserBody {
    const names = this.config.forwardedUserHeaders;
    const rawName = single(headers, names.name);
    let name = stored?.name;
    if (rawName !== undefined) {
      try {
        name = decodeURIComponent(rawName);
      } catch {
        throw new GatewayError(
          400,
          `Header ${names.name} must be URL-encoded UTF-8 (as Open WebUI sends it).`,
          'invalid_user_header',
          names.name,
        );
      }
    }
    const email = single(headers, names.email) ?? stored?.email;
    const role = single(headers, names.role) ?? stored?.role ?? 'user';
    if (name === undefined || email === undefined) {
      const missing = name === undefined ? names.name : names.email;
      throw new GatewayError(
        400,
        `Header ${missing} is required the first time a user is seen (with ${names.id}).`,
        'invalid_user_header',
        missing,
      );
    }
    if (!(USER_ROLES as readonly string[]).includes(role)) {
      throw new GatewayError(
        400,
        `Header ${names.role} must be one of ${USER_ROLES.join(', ')}.`,
        'invalid_user_header',
        names.role,
      );
    }
    const body = plainToInstance(UpsertUserBody, { name, email, role });
    const problem = fieldProblems(validateSync(body))[0];
    if (problem) {
      const header = problem.field === 'name' ? names.name : names.email;
      throw new GatewayError(
        400,
        `Header ${header}: ${problem.message}.`,
        'invalid_user_header',
        header,
      );
    }
    return body;
  }

  private async upsertOnce(principal: Principal, id: string, body: UpsertUserBody): Promise<void> {
    const running = this.pending.get(id);
    if (running) {
      return running;
    }
    const work = this.users
      .upsert(principal, id, body)
      .then(() => undefined)
      .finally(() => this.pending.delete(id));
    this.pending.set(id, work);
    return work;
  }
}

/** A header's value when sent once and non-empty; undefined otherwise. */
function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text === '' ? undefined : text;
}
