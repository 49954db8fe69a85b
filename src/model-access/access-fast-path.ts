import { ArgumentMetadata, PipeTransform, RequestMethod, Type } from '@nestjs/common';
import {
  HEADERS_METADATA,
  HTTP_CODE_METADATA,
  METHOD_METADATA,
  PATH_METADATA,
  ROUTE_ARGS_METADATA,
} from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ApplicationConfig, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyReply, FastifyRequest } from 'fastify';
import { IncomingMessage, Server } from 'node:http';
import { AccessLevel } from '../auth/access-level.decorators';
import { accessLevelOf, AuthGuard, RequestAuthenticator } from '../auth/auth.guard';
import {
  joinPath,
  metadataOf,
  refuseSkippedEnhancers,
  RouteArgument,
  skipsItself,
} from '../common/handler-metadata';
import {
  doorMayAnswer,
  doorReplies,
  DoorRequest,
  FrontDoorOptions,
  putInFront,
} from '../common/front-door';
import { ProblemFilter } from '../common/problem.filter';
import { inRequestContext } from '../common/request-context';
import { arrivedAt } from '../common/turn-pacer';
import { MIN_REVISION_HEADER, MIN_REVISION_QUERY } from '../database/revisions';
import { AccessController } from './access.controller';
import { FAST_PATH_KEY } from './fast-path.decorator';

const JSON_TYPE = 'application/json; charset=utf-8';

type Request = FastifyRequest & Record<string, unknown>;
type Handler = (...args: unknown[]) => unknown;

/** One handler argument: where its value comes from and the pipes it goes through. */
interface Argument {
  read(request: Request, reply: FastifyReply, context: () => ExecutionContextHost): unknown;
  metadata: ArgumentMetadata;
  pipes: PipeTransform[];
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Runs a value through an argument's pipes as Nest does (in order, each on the previous
 * result), without a promise unless a pipe returns one: most are synchronous, and on the
 * busiest route an await per pipe cost more than the pipes.
 */
function piped(arg: Argument, value: unknown): unknown {
  let current = value;
  for (const pipe of arg.pipes) {
    if (isThenable(current)) {
      current = current.then((v) =>
        skipsItself(pipe) && pipe.returnsUnchanged(v, arg.metadata)
          ? v
          : pipe.transform(v, arg.metadata),
      );
    } else if (!(skipsItself(pipe) && pipe.returnsUnchanged(current, arg.metadata))) {
      current = pipe.transform(current, arg.metadata);
    }
  }
  return current;
}

/** A route the fast path answers, derived from its handler's metadata. */
export interface FastRoute {
  /** The route template as Fastify knows it, e.g. `/api/v1/users/:id/models`. */
  url: string;
  handlerName: string;
  level: AccessLevel;
  status: number;
  headers: Record<string, string>;
  arguments: Argument[];
}

/** The global enhancers of the application, which the fast path must reproduce or refuse. */
export interface GlobalEnhancers {
  guards: unknown[];
  interceptors: unknown[];
  filters: unknown[];
  /** Pipes the fast path applies, in order, to every argument (as Nest does). */
  pipes: PipeTransform[];
}

/** Thrown at boot when a fast-path handler has something the fast path would not apply. */
export class FastPathMismatchError extends Error {}

/**
 * The fast routes of a controller: every handler marked @FastPath(), read from the same
 * metadata Nest reads. Throws FastPathMismatchError for anything the fast path would not
 * reproduce: a method other than GET, a guard, interceptor, pipe or filter on the handler
 * or its class, a global one other than the one guard and ProblemFilter, an argument that
 * is not a query, a path parameter or a custom decorator, a redirect or an event stream.
 */
export function fastRoutesOf(
  controller: Type<unknown>,
  reflector: Reflector,
  globals: GlobalEnhancers,
  globalPrefix = '',
): FastRoute[] {
  const routes: FastRoute[] = [];
  const prototype = controller.prototype as Record<string, Handler>;
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const handler = prototype[name];
    if (name === 'constructor' || typeof handler !== 'function') {
      continue;
    }
    if (!reflector.get<boolean | undefined>(FAST_PATH_KEY, handler)) {
      continue;
    }
    const where = `${controller.name}.${name}`;
    const refuse = (what: string): never => {
      throw new FastPathMismatchError(
        `${where} is marked @FastPath() but ${what}, which the access fast path would skip; ` +
          'remove @FastPath() or teach src/model-access/access-fast-path.ts to apply it.',
      );
    };
    if (metadataOf<RequestMethod>(METHOD_METADATA, handler) !== RequestMethod.GET) {
      refuse('is not a GET route');
    }
    refuseSkippedEnhancers(controller, handler, refuse);
    if (globals.guards.length > 0 || globals.interceptors.length > 0) {
      refuse('the application has a global guard or interceptor besides the one AuthGuard');
    }
    if (globals.filters.length > 0) {
      refuse('the application has a global exception filter besides ProblemFilter');
    }
    const types = metadataOf<unknown[]>('design:paramtypes', prototype, name) ?? [];
    const args: Argument[] = [];
    // Nest keeps a handler's parameter decorators on the class, under the handler's name.
    const declared = Object.entries(
      (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<
        string,
        RouteArgument
      >,
    );
    if (declared.length !== handler.length) {
      refuse('has an argument without a parameter decorator');
    }
    for (const [key, arg] of declared) {
      const pipes = [
        ...globals.pipes,
        ...(arg.pipes ?? []).map((p) =>
          typeof p === 'function' ? new (p as Type<PipeTransform>)() : p,
        ),
      ];
      const metatype = types[arg.index] as ArgumentMetadata['metatype'];
      const data = typeof arg.data === 'string' ? arg.data : undefined;
      if (arg.factory) {
        const factory = arg.factory;
        args[arg.index] = {
          read: (_req, _reply, context) => factory(arg.data, context()),
          metadata: { type: 'custom', metatype, data },
          pipes,
        };
        continue;
      }
      const paramtype = Number(key.split(':')[0]);
      if (paramtype === RouteParamtypes.QUERY) {
        args[arg.index] = {
          read: (request) =>
            data === undefined ? request.query : (request.query as Record<string, unknown>)[data],
          metadata: { type: 'query', metatype, data },
          pipes,
        };
      } else if (paramtype === RouteParamtypes.PARAM) {
        args[arg.index] = {
          read: (request) =>
            data === undefined ? request.params : (request.params as Record<string, unknown>)[data],
          metadata: { type: 'param', metatype, data },
          pipes,
        };
      } else {
        refuse(
          `reads ${RouteParamtypes[paramtype] ?? key} (only query, path and custom arguments)`,
        );
      }
    }
    const headers: Record<string, string> = { 'content-type': JSON_TYPE };
    for (const h of metadataOf<{ name: string; value: string }[]>(HEADERS_METADATA, handler) ??
      []) {
      headers[h.name.toLowerCase()] = h.value;
    }
    routes.push({
      url: joinPath(
        globalPrefix,
        metadataOf<string>(PATH_METADATA, controller),
        metadataOf<string>(PATH_METADATA, handler),
      ),
      handlerName: name,
      level: accessLevelOf(reflector, [handler, controller]),
      status: metadataOf<number>(HTTP_CODE_METADATA, handler) ?? 200,
      headers,
      arguments: args,
    });
  }
  return routes;
}

/**
 * The global enhancers Nest would run for these routes, minus what the fast path does
 * itself (the one AuthGuard through RequestAuthenticator, ProblemFilter for errors).
 */
function globalEnhancersOf(app: NestFastifyApplication): GlobalEnhancers {
  // Nest keeps them in the application's config, which it does not expose otherwise.
  const config = (app as unknown as { config: ApplicationConfig }).config;
  if (config.getGlobalRequestPipes().length > 0) {
    throw new FastPathMismatchError(
      'An APP_PIPE provider is registered; the access fast path would skip it.',
    );
  }
  // APP_GUARD / APP_FILTER providers land in the instance lists, request-scoped ones in the
  // wrapper lists; either way only the one AuthGuard and ProblemFilter are reproduced.
  const guards = [
    ...config.getGlobalGuards().filter((g) => !(g instanceof AuthGuard)),
    ...config.getGlobalRequestGuards(),
  ];
  const filters = [
    ...config.getGlobalFilters().filter((f) => !(f instanceof ProblemFilter)),
    ...config.getGlobalRequestFilters(),
  ];
  return {
    guards,
    interceptors: [...config.getGlobalInterceptors(), ...config.getGlobalRequestInterceptors()],
    filters,
    pipes: config.getGlobalPipes(),
  };
}

const NO_PARAMS: Record<string, string> = Object.freeze({});

/** A fast route's URL template as a matcher of request paths, with its parameter names. */
interface RouteMatcher {
  route: FastRoute;
  pattern: RegExp;
  names: string[];
}

function matcherOf(route: FastRoute): RouteMatcher {
  const names: string[] = [];
  const source = route.url
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        names.push(segment.slice(1));
        return '([^/]+)';
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

/**
 * Answers the GET routes of AccessController marked @FastPath() (the access check, a
 * user's model list, the OpenAI-style list: what the web UI calls on every page and
 * message) without Nest's per-request router, guard and pipe machinery, which costs more
 * than the answer itself (see BENCHMARKS.md). Two entrances share one serve():
 *
 * - the front door, in front of Fastify on the HTTP server: a plain GET of a fast route
 *   (no body, no Origin when CORS is on, no X-Forwarded-For when proxies are trusted, no
 *   minimum revision, a path parameter without escapes) is answered there, with the same
 *   request id, security headers, query parser, metrics and request line as Fastify's
 *   hooks give every other answer; anything else goes on to Fastify;
 * - a Fastify preHandler hook, after every onRequest hook (request context, security
 *   headers, CORS, revisions, metrics), for the fast routes' requests the front door passed
 *   on, and for requests injected into Fastify directly (the tests' inject()).
 *
 * Nothing is decided differently, because nothing is declared twice: the routes, their
 * arguments and pipes, access levels, headers and status are read from the controller's
 * decorators; authentication and authorization are the guard's own RequestAuthenticator;
 * the global pipes run as Nest runs them; the controller's own handler answers; errors go
 * through ProblemFilter. A guard, interceptor, pipe or filter the fast path would skip stops
 * the boot (FastPathMismatchError). HEAD requests still go through Nest. Call it last, once
 * every global enhancer is registered.
 */
export function installAccessFastPath(
  app: NestFastifyApplication,
  door: FrontDoorOptions,
): FastRoute[] {
  const authenticator = app.get(RequestAuthenticator);
  const reflector = app.get(Reflector);
  const controller = app.get(AccessController);
  const problems = new ProblemFilter();
  const prefix = (app as unknown as { config: ApplicationConfig }).config.getGlobalPrefix();
  const derived = fastRoutesOf(AccessController, reflector, globalEnhancersOf(app), prefix);
  const routes = new Map(derived.map((route) => [route.url, route]));
  const handlers = AccessController.prototype as unknown as Record<string, Handler>;

  /** The handler's arguments, or a promise of them when a pipe answered with one. */
  const argumentsOf = (
    route: FastRoute,
    request: Request,
    reply: FastifyReply,
  ): unknown[] | Promise<unknown[]> => {
    let context: ExecutionContextHost | undefined;
    const contextOf = () =>
      (context ??= new ExecutionContextHost(
        [request, reply, undefined],
        AccessController,
        handlers[route.handlerName],
      ));
    const values: unknown[] = [];
    let pending = false;
    for (const arg of route.arguments) {
      const value = piped(arg, arg.read(request, reply, contextOf));
      pending ||= isThenable(value);
      values.push(value);
    }
    return pending ? Promise.all(values) : values;
  };

  /** Sends the handler's result (JSON text or bytes as they are, a value as JSON). */
  const answer = (route: FastRoute, reply: FastifyReply, result: unknown): void => {
    void reply
      .code(route.status)
      .headers(route.headers)
      .send(
        typeof result === 'string' || Buffer.isBuffer(result) ? result : JSON.stringify(result),
      );
  };
  const fail = (request: Request, reply: FastifyReply) => (error: unknown) => {
    problems.send(error, request, reply);
  };
  /**
   * Decides, reads the arguments, calls the handler and answers. Each step may answer with
   * a promise (a session token's user, an uncached view, a budget); when none does (an
   * API key, a cached view, no budget) the whole request is served without one.
   */
  const serve = (route: FastRoute, request: Request, reply: FastifyReply): void => {
    const handler = (controller as unknown as Record<string, Handler>)[route.handlerName];
    const call = (): unknown => {
      const args = argumentsOf(route, request, reply);
      return Array.isArray(args)
        ? handler.apply(controller, args)
        : args.then((values) => handler.apply(controller, values));
    };
    const decided = authenticator.decide(route.level, request, reply);
    const result = decided instanceof Promise ? decided.then(call) : call();
    if (isThenable(result)) {
      result.then((value) => answer(route, reply, value), fail(request, reply));
    } else {
      answer(route, reply, result);
    }
  };

  app
    .getHttpAdapter()
    .getInstance()
    .addHook('preHandler', (rawRequest, rawReply, done) => {
      const route =
        rawRequest.method === 'GET' ? routes.get(rawRequest.routeOptions.url ?? '') : undefined;
      if (!route) {
        done();
        return;
      }
      // Nest's adapter bundles its own copy of fastify's types; the objects are the same.
      const request = rawRequest as unknown as Request;
      const reply = rawReply as unknown as FastifyReply;
      try {
        serve(route, request, reply);
      } catch (error) {
        problems.send(error, request, reply);
      }
      // done() is not called: the answer is (or will be) sent here, and Fastify skips the
      // handler and later hooks of a request whose hook replied.
    });

  const exactRoutes = new Map(
    derived.filter((route) => !route.url.includes(':')).map((route) => [route.url, route]),
  );
  const patterns = derived.filter((route) => route.url.includes(':')).map(matcherOf);
  const server = app.getHttpServer() as Server;
  /** The route and path parameters the front door answers a request with, or null. */
  const frontDoorRoute = (
    req: IncomingMessage,
    path: string,
  ): { route: FastRoute; params: Record<string, string> } | null => {
    const headers = req.headers;
    if (
      req.method !== 'GET' ||
      headers['content-length'] !== undefined ||
      headers['transfer-encoding'] !== undefined ||
      headers[MIN_REVISION_HEADER] !== undefined ||
      !doorMayAnswer(server, headers, door)
    ) {
      return null;
    }
    const exact = exactRoutes.get(path);
    if (exact) {
      return { route: exact, params: NO_PARAMS };
    }
    for (const matcher of patterns) {
      const found = matcher.pattern.exec(path);
      if (!found) {
        continue;
      }
      const params: Record<string, string> = {};
      for (let i = 0; i < matcher.names.length; i++) {
        const value = found[i + 1];
        if (value.includes('%') || value.length > door.maxParamLength) {
          return null; // Fastify's router decodes and bounds parameters
        }
        params[matcher.names[i]] = value;
      }
      return { route: matcher.route, params };
    }
    return null;
  };
  const replyTo = doorReplies(door);
  putInFront(server, (req, res, fastify) => {
    const url = req.url ?? '';
    const mark = url.indexOf('?');
    const path = mark < 0 ? url : url.slice(0, mark);
    const found = url.includes('#') ? null : frontDoorRoute(req, path);
    const query = found && mark >= 0 ? door.parseQuery(url.slice(mark + 1)) : {};
    if (!found || MIN_REVISION_QUERY in query) {
      fastify(req, res);
      return;
    }
    const started = arrivedAt(req);
    const route = found.route;
    const id = door.requestId(req.headers);
    const request = new DoorRequest(
      req,
      'GET',
      id,
      url,
      req.headers,
      query,
      found.params,
      route.url,
    );
    const reply = replyTo(res, id, 'GET', route.url, started);
    inRequestContext(id, () => {
      try {
        serve(route, request as unknown as Request, reply as unknown as FastifyReply);
      } catch (error) {
        problems.send(error, request as unknown as Request, reply as unknown as FastifyReply);
      }
    });
  });
  return derived;
}
