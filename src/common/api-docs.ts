import { applyDecorators, HttpCode, Param, PipeTransform, Type } from '@nestjs/common';
import { ApiNoContentResponse, ApiParam, ApiResponse } from '@nestjs/swagger';
import { ProblemResponse } from './problem.dto';
import { GrantTargetPipe, ModelIdPipe, OrganizationIdPipe, UserIdPipe } from './validators';

/**
 * The error answers a route documents beyond those of its access level, each a problem+json
 * body: `@ApiProblems(400, 404)`. Give a status its own description with `ApiProblem`.
 */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(...statuses.map((status) => ApiProblem(status)));
}

/** One documented error answer (problem+json), with what it means on this route. */
export function ApiProblem(status: number, description = ''): MethodDecorator & ClassDecorator {
  return ApiResponse({ status, description, type: ProblemResponse });
}

/** A DELETE that answers 204 with no body: `@Deleted('Revoked.')`. */
export function Deleted(description: string): MethodDecorator {
  return applyDecorators(HttpCode(204), ApiNoContentResponse({ description }));
}

interface PathParamDoc {
  description: string;
  example?: string;
}

/**
 * A path parameter checked by its pipe and described in the OpenAPI document, in one place:
 * `get(@OrganizationIdParam() orgId: string)` instead of a `@Param(...)` with its pipe on the
 * argument and an `@ApiParam(...)` with its text on the method.
 */
export function PathParam(
  name: string,
  pipe: PipeTransform<unknown, string> | Type<PipeTransform<unknown, string>>,
  doc: PathParamDoc,
): ParameterDecorator {
  return (target, method, index) => {
    Param(name, pipe)(target, method, index);
    // Parameter decorators run before the method's own: the handler function is already
    // there to carry the documentation.
    const handler = Object.getOwnPropertyDescriptor(target, method!)!;
    ApiParam({ name, required: true, ...doc })(target, method!, handler);
  };
}

/** An organization id (slug) in the path; `orgId` unless named otherwise. */
export const OrganizationIdParam = (name = 'orgId') =>
  PathParam(name, OrganizationIdPipe, { description: 'Organization id (slug).', example: 'acme' });

/** A web UI user id in the path. */
export const UserIdParam = (name: string) =>
  PathParam(name, UserIdPipe, { description: 'The web UI user id (URL-encoded).' });

/** A catalog model id in the path. */
export const ModelIdParam = (name: string) =>
  PathParam(name, ModelIdPipe, {
    description: 'Catalog model id, URL-encoded (openai%2Fgpt-4o).',
    example: 'openai%2Fgpt-4o',
  });

/** What a grant names in the path: a catalog model id or a prefix pattern. */
export const GrantTargetParam = (name: string) =>
  PathParam(name, GrantTargetPipe, {
    description: 'A catalog model id or a prefix pattern ending in *, URL-encoded (openai%2F*).',
    example: 'openai%2Fgpt-4o',
  });
