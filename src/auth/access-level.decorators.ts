import { applyDecorators, SetMetadata } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { OpenAiErrorResponse } from '../common/openai-error';
import { ProblemResponse } from '../common/problem.dto';

export type AccessLevel = 'public' | 'user' | 'gateway' | 'org_admin' | 'site_admin';
export const ACCESS_LEVEL_KEY = 'access_level';

const authResponses = () => [
  ApiBearerAuth(),
  ApiUnauthorizedResponse({
    description: 'No, malformed or unknown credentials.',
    type: ProblemResponse,
  }),
  ApiTooManyRequestsResponse({
    description: 'Too many failed authentications from this address.',
    type: ProblemResponse,
  }),
];

/** Anyone, without credentials. */
export const Public = () => SetMetadata(ACCESS_LEVEL_KEY, 'public');

/** A web UI user with a session token (role user or admin); acts on their own data. */
export const Authenticated = () =>
  applyDecorators(
    SetMetadata(ACCESS_LEVEL_KEY, 'user'),
    ...authResponses(),
    ApiForbiddenResponse({
      description: 'Called with an API key: this route answers for a web UI user.',
      type: ProblemResponse,
    }),
  );

/**
 * The OpenAI-compatible gateway (/v1): a web UI user with a session token, or a gateway key
 * (GATEWAY_API_KEYS) whose user is named by the forwarded user headers. Admin API keys are
 * refused: they have no user to decide for.
 */
export const GatewayCaller = () =>
  applyDecorators(
    SetMetadata(ACCESS_LEVEL_KEY, 'gateway'),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({
      description: 'No, malformed or unknown credentials (OpenAI error shape).',
      type: OpenAiErrorResponse,
    }),
    ApiTooManyRequestsResponse({
      description: 'Too many failed authentications from this address, or rate limited.',
      type: OpenAiErrorResponse,
    }),
    ApiForbiddenResponse({
      description:
        'Called with an admin API key, or the model is not allowed for this user (OpenAI error shape).',
      type: OpenAiErrorResponse,
    }),
  );

/**
 * A site admin, or an admin of the organization named by the `orgId` path parameter
 * (of at least one organization on routes without it). Callers who cannot see the
 * organization get 404, members who can see it but not manage it get 403.
 */
export const OrgAdmin = () =>
  applyDecorators(
    SetMetadata(ACCESS_LEVEL_KEY, 'org_admin'),
    ...authResponses(),
    ApiForbiddenResponse({
      description:
        'Not an admin of this organization, or (for its admins) a write to an archived organization.',
      type: ProblemResponse,
    }),
    ApiNotFoundResponse({
      description: 'No such organization, or one the caller cannot see.',
      type: ProblemResponse,
    }),
  );

/**
 * An admin API key or a web UI user whose role is admin. On a route of one organization
 * (`:orgId`), callers who cannot see that organization get 404, its members 403.
 */
export const SiteAdmin = () =>
  applyDecorators(
    SetMetadata(ACCESS_LEVEL_KEY, 'site_admin'),
    ...authResponses(),
    ApiForbiddenResponse({ description: 'Only site admins may call this.', type: ProblemResponse }),
  );
