import { OpenAPIObject } from '@nestjs/swagger';
import {
  OperationObject,
  ParameterObject,
  ReferenceObject,
  ResponseObject,
} from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { STATUS_CODES } from 'node:http';

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';
const PROBLEM_REF = '#/components/schemas/ProblemResponse';
const METHODS = ['get', 'put', 'post', 'patch', 'delete', 'head', 'options'] as const;

/** The licence the document states: package.json says UNLICENSED, i.e. proprietary. */
export const API_LICENSE = {
  name: 'UNLICENSED: proprietary, no licence is granted to use, copy or distribute it',
};

/**
 * Makes the generated document say what the server does, for every route at once (so a new
 * controller cannot reintroduce the difference):
 * - an error response whose body is ProblemResponse is sent as `application/problem+json`
 *   (the exception filter's media type), with an example of that very status;
 * - `Authorization` is the bearer security scheme, never a (required) header parameter;
 * - an operation that declares no security requirement is public: `security: []`;
 * - `servers` names this server (relative URL, so the console calls the host it came from).
 */
export function tellTheTruth(document: OpenAPIObject): void {
  document.servers = [{ url: '/', description: 'This server' }];
  document.info.license = API_LICENSE;
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method] as OperationObject | undefined;
      if (!operation) {
        continue;
      }
      operation.parameters = (operation.parameters ?? []).filter((p) => !isAuthorizationHeader(p));
      operation.security ??= [];
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response !== undefined && Number(status) >= 400 && !('$ref' in response)) {
          // A controller-level decorator gives all its routes one response object: each
          // route gets its own copy, so each example names its own path.
          const own = { ...response };
          operation.responses[status] = own;
          problemContent(own, Number(status), path);
        }
      }
    }
  }
}

function isAuthorizationHeader(parameter: ParameterObject | ReferenceObject): boolean {
  return 'in' in parameter && parameter.in === 'header' && /^authorization$/i.test(parameter.name);
}

/** Declares a ProblemResponse body under its real media type, with a matching example. */
function problemContent(response: ResponseObject, status: number, path: string): void {
  const schemas = Object.values(response.content ?? {}).map((media) => media.schema);
  // Only bodies declared as ProblemResponse (under one or several media types, e.g. a route
  // that produces JSON or CSV); other error shapes (OpenAI's on /v1) keep their declaration.
  const isProblem = (schema: unknown) =>
    schema !== undefined &&
    typeof schema === 'object' &&
    schema !== null &&
    '$ref' in schema &&
    (schema as { $ref: string }).$ref === PROBLEM_REF;
  const problem = schemas[0];
  if (schemas.length === 0 || !schemas.every(isProblem) || problem === undefined) {
    return;
  }
  response.content = {
    [PROBLEM_MEDIA_TYPE]: {
      schema: problem,
      example: {
        type: 'about:blank',
        title: STATUS_CODES[status] ?? 'Error',
        status,
        detail: response.description,
        instance: path,
        request_id: '0c7b5f0e-5a3e-4f7a-9d51-2b1e6f3c9a10',
      },
    },
  };
}
