import { Reflector } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyReply, FastifyRequest } from 'fastify';
import { accessLevelOf, RequestAuthenticator } from '../auth/auth.guard';
import { AccessLevel } from '../auth/access-level.decorators';
import { Principal } from '../auth/principal';
import { ProblemFilter } from '../common/problem.filter';
import { UserIdPipe } from '../common/validators';
import { AccessCheckQueryPipe } from './access-check-query.pipe';
import { AccessController } from './access.controller';
import { AccessService } from './access.service';

const JSON_TYPE = 'application/json; charset=utf-8';

type Request = FastifyRequest & Record<string, unknown>;

interface FastRoute {
  level: AccessLevel;
  answer(request: Request, principal: Principal | null): Promise<string>;
}

/**
 * The three routes the web UI calls on every page and every message (access check, a
 * user's model list, the OpenAI-style list) answered straight from a Fastify preHandler
 * hook (after every onRequest hook: request context, security headers, CORS, metrics), skipping Nest's per-request router, guard and pipe machinery, which cost more than
 * the answer itself (see BENCHMARKS.md). Nothing is decided differently: the access level
 * is read from the same controller decorators, authentication and authorization are the
 * guard's own RequestAuthenticator, input goes through the same pipes, answers come from
 * the same AccessService, and errors through the same ProblemFilter. The controller
 * stays the documented definition of these routes (Swagger) and serves their HEAD
 * requests; the authorization matrix, the fuzzer and the property tests all run through
 * this path.
 */
export function installAccessFastPath(app: NestFastifyApplication): void {
  const access = app.get(AccessService);
  const authenticator = app.get(RequestAuthenticator);
  const reflector = app.get(Reflector);
  const problems = new ProblemFilter();
  const checkQuery = new AccessCheckQueryPipe();
  const levelOf = (handler: (...args: never[]) => unknown) =>
    accessLevelOf(reflector, [handler, AccessController]);
  const handlers = AccessController.prototype;

  const routes = new Map<string, FastRoute>([
    [
      '/api/v1/access/check',
      {
        level: levelOf(handlers.check),
        answer: async (request) => {
          const query = checkQuery.transform(request.query);
          return JSON.stringify(await access.check(query.user_id, query.model_id));
        },
      },
    ],
    [
      '/api/v1/users/:id/models',
      {
        level: levelOf(handlers.modelsOf),
        answer: (request) =>
          access.modelsOfJson(
            UserIdPipe.transform((request.params as Record<string, string>).id, {
              type: 'param',
              data: 'id',
            }),
          ),
      },
    ],
    [
      '/v1/models',
      {
        level: levelOf(handlers.openAi),
        answer: (_request, principal) => access.openAiModelsJsonFor(principal!),
      },
    ],
  ]);

  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preHandler', async (rawRequest, rawReply) => {
      if (rawRequest.method !== 'GET') {
        return;
      }
      const route = routes.get(rawRequest.routeOptions.url ?? '');
      if (!route) {
        return;
      }
      // Nest's adapter bundles its own copy of fastify's types; the objects are the same.
      const request = rawRequest as unknown as Request;
      const reply = rawReply as unknown as FastifyReply;
      try {
        const principal = await authenticator.decide(route.level, request, reply);
        const body = await route.answer(request, principal);
        void reply.header('content-type', JSON_TYPE).send(body);
      } catch (error) {
        problems.send(error, request, reply);
      }
      // Returning the reply tells Fastify it was sent: the handler and later hooks are skipped.
      return rawReply;
    });
}
