import { ArgumentMetadata, PipeTransform, RequestMethod, Type } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { ApplicationConfig, Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { FastifyReply, FastifyRequest } from 'fastify';
import { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
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
  DoorReply,
  DoorRequest,
  FrontDoorOptions,
  putInFront,
} from '../common/front-door';
import { ProblemFilter } from '../common/problem.filter';
import { inRequestContext } from '../common/request-context';
import { arrivedAt } from '../common/turn-pacer';
import { inWriteContext } from '../database/revisions';
import { GatewayController } from './gateway.controller';

type Request = FastifyRequest & Record<string, unknown>;
type Handler = (...args: unknown[]) => unknown;

/** Thrown at boot when a gateway handler has something its fast route would not apply. */
export class GatewayFastPathMismatchError extends Error {}

/** Where one handler argument comes from: the request, the reply, or a custom decorator. */
type ArgumentSource =
  | { kind: 'request' }
  | { kind: 'reply' }
  | {
      kind: 'custom';
      factory: (data: unknown, context: ExecutionContextHost) => unknown;
      data: unknown;
      metadata: ArgumentMetadata;
    };

/** A POST route of GatewayController, as its decorators declare it. */
export interface GatewayFastRoute {
  url: string;
  handlerName: string;
  level: AccessLevel;
  arguments: ArgumentSource[];
}

/** The global enhancers Nest would run, minus the AuthGuard and ProblemFilter reproduced here. */
function globalEnhancersOf(app: NestFastifyApplication): {
  extra: string[];
  pipes: PipeTransform[];
} {
  // Nest keeps them in the application's config, which it does not expose otherwise.
  const config = (app as unknown as { config: ApplicationConfig }).config;
  const extra: string[] = [];
  if (config.getGlobalRequestPipes().length > 0) {
    extra.push('an APP_PIPE provider');
  }
  if (
    config.getGlobalGuards().some((g) => !(g instanceof AuthGuard)) ||
    config.getGlobalRequestGuards().length > 0
  ) {
    extra.push('a global guard besides the one AuthGuard');
  }
  if (
    config.getGlobalInterceptors().length > 0 ||
    config.getGlobalRequestInterceptors().length > 0
  ) {
    extra.push('a global interceptor');
  }
  if (
    config.getGlobalFilters().some((f) => !(f instanceof ProblemFilter)) ||
    config.getGlobalRequestFilters().length > 0
  ) {
    extra.push('a global exception filter besides ProblemFilter');
  }
  return { extra, pipes: config.getGlobalPipes() };
}

/**
 * The routes of GatewayController, read from the same metadata Nest reads. Throws
 * GatewayFastPathMismatchError for anything the fast route would not reproduce: a method
 * other than POST, a guard, interceptor, pipe or filter on a handler or the class, a global
 * one other than the one AuthGuard and ProblemFilter, a global pipe that could transform an
 * argument, an argument other than @Req(), @Res() or a custom decorator, a redirect or an
 * event stream.
 */
export function gatewayFastRoutes(
  reflector: Reflector,
  globals: { extra: string[]; pipes: PipeTransform[] },
  globalPrefix = '',
): GatewayFastRoute[] {
  const controller = GatewayController as Type<unknown>;
  const prototype = controller.prototype as Record<string, Handler>;
  const routes: GatewayFastRoute[] = [];
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const handler = prototype[name];
    if (name === 'constructor' || typeof handler !== 'function') {
      continue;
    }
    const refuse = (what: string): never => {
      throw new GatewayFastPathMismatchError(
        `${controller.name}.${name} ${what}, which the gateway's fast route would skip; ` +
          'teach src/gateway/gateway-fast-path.ts to apply it.',
      );
    };
    if (metadataOf<RequestMethod>(METHOD_METADATA, handler) !== RequestMethod.POST) {
      refuse('is not a POST route');
    }
    refuseSkippedEnhancers(controller, handler, refuse);
    if (globals.extra.length > 0) {
      refuse(`is served in an application with ${globals.extra.join(', ')}`);
    }
    const types = metadataOf<unknown[]>('design:paramtypes', prototype, name) ?? [];
    const declared = Object.entries(
      (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, name) ?? {}) as Record<
        string,
        RouteArgument
      >,
    );
    if (declared.length !== handler.length) {
      refuse('has an argument without a parameter decorator');
    }
    const args: ArgumentSource[] = [];
    for (const [key, arg] of declared) {
      if ((arg.pipes?.length ?? 0) > 0) {
        refuse('has a pipe on an argument');
      }
      if (arg.factory) {
        const metadata: ArgumentMetadata = {
          type: 'custom',
          metatype: types[arg.index] as ArgumentMetadata['metatype'],
          data: typeof arg.data === 'string' ? arg.data : undefined,
        };
        // Nest runs the global pipes on a custom argument; here they must vouch that they
        // would leave it as it is (checked once: the answer depends on the metadata only).
        for (const pipe of globals.pipes) {
          if (!(skipsItself(pipe) && pipe.returnsUnchanged(undefined, metadata))) {
            refuse(`has a custom argument the global ${pipe.constructor.name} may transform`);
          }
        }
        args[arg.index] = { kind: 'custom', factory: arg.factory, data: arg.data, metadata };
        continue;
      }
      const paramtype = Number(key.split(':')[0]);
      if (paramtype === RouteParamtypes.REQUEST) {
        args[arg.index] = { kind: 'request' };
      } else if (paramtype === RouteParamtypes.RESPONSE) {
        args[arg.index] = { kind: 'reply' };
      } else {
        refuse(`reads ${RouteParamtypes[paramtype] ?? key} (only @Req, @Res and custom arguments)`);
      }
    }
    routes.push({
      url: joinPath(
        globalPrefix,
        metadataOf<string>(PATH_METADATA, controller),
        metadataOf<string>(PATH_METADATA, handler),
      ),
      handlerName: name,
      level: accessLevelOf(reflector, [handler, controller]),
      arguments: args,
    });
  }
  return routes;
}

/**
 * Serves the model calls of GatewayController (POST /v1/chat/completions, /v1/completions,
 * /v1/embeddings) without Nest's per-request router, guard consumer, pipe consumer and
 * execution context, which cost about as much CPU as the gateway's own work on a
 * non-streamed call (see BENCHMARKS.md). Two entrances share one serve(): the front door on
 * the HTTP server (installGatewayFrontDoor) for a call with a plain JSON body, and a Fastify
 * route handler in place of Nest's for the rest, after every Fastify hook (request context,
 * security headers, CORS, metrics, body parsing).
 *
 * Nothing is decided differently, because nothing is declared twice: the routes, their
 * access level and arguments are read from the controller's decorators; authentication and
 * authorization are the guard's own RequestAuthenticator; the controller's own handler
 * answers; errors go through ProblemFilter (OpenAI's shape under /v1). A guard, interceptor,
 * pipe or filter the fast route would skip stops the boot (GatewayFastPathMismatchError).
 * Call it before the application is initialised (Nest adds its routes then), once every
 * global enhancer is registered.
 */
export function installGatewayFastPath(
  app: NestFastifyApplication,
  door: FrontDoorOptions,
): GatewayFastRoute[] {
  const authenticator = app.get(RequestAuthenticator);
  const reflector = app.get(Reflector);
  const controller = app.get(GatewayController) as unknown as Record<string, Handler>;
  const problems = new ProblemFilter();
  const prefix = (app as unknown as { config: ApplicationConfig }).config.getGlobalPrefix();
  const derived = gatewayFastRoutes(reflector, globalEnhancersOf(app), prefix);
  const routes = new Map(derived.map((route) => [route.url, route]));
  const handlers = GatewayController.prototype as unknown as Record<string, Handler>;

  const serve = (route: GatewayFastRoute, request: Request, reply: FastifyReply): void => {
    const fail = (error: unknown) => problems.send(error, request, reply);
    const answer = () => {
      try {
        let context: ExecutionContextHost | undefined;
        const args = route.arguments.map((source) => {
          switch (source.kind) {
            case 'request':
              return request;
            case 'reply':
              return reply;
            case 'custom':
              context ??= new ExecutionContextHost(
                [request, reply, undefined],
                GatewayController,
                handlers[route.handlerName],
              );
              return source.factory(source.data, context);
          }
        });
        (controller[route.handlerName](...args) as Promise<unknown>).catch(fail);
      } catch (error) {
        fail(error);
      }
    };
    try {
      const decided = authenticator.decide(route.level, request, reply);
      if (decided instanceof Promise) {
        decided.then(answer, fail);
      } else {
        answer();
      }
    } catch (error) {
      fail(error);
    }
  };

  const bound = new Set<string>();
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRoute', (options) => {
    const route = routes.get(options.url);
    const methods = Array.isArray(options.method) ? options.method : [options.method];
    if (route && methods.length === 1 && methods[0] === 'POST') {
      bound.add(route.url);
      // Nest's adapter bundles its own copy of fastify's types; the objects are the same.
      options.handler = (request, reply) =>
        serve(route, request as unknown as Request, reply as unknown as FastifyReply);
    }
  });
  fastify.addHook('onReady', (done) => {
    const missed = derived.filter((route) => !bound.has(route.url)).map((r) => r.url);
    done(
      missed.length === 0
        ? undefined
        : new GatewayFastPathMismatchError(
            `The gateway's fast routes were not bound (${missed.join(', ')}): install them before the application is initialised.`,
          ),
    );
  });
  installGatewayFrontDoor(app.getHttpServer() as Server, door, routes, (route, request, reply) =>
    serve(route, request as unknown as Request, reply as unknown as FastifyReply),
  );
  return derived;
}

/** A JSON media type the front door reads itself (others go on to Fastify's parser). */
const PLAIN_JSON = /^application\/json(?:\s*;\s*charset=utf-8)?$/i;

/**
 * True when the front door can read a request's body as Fastify would: a JSON body of a
 * declared length within the body limit (a chunked, empty or oversized body, or another
 * media type, is left to Fastify, which answers each case).
 */
function plainJsonBody(headers: IncomingHttpHeaders, bodyLimit: number): boolean {
  const length = Number(headers['content-length']);
  const type = headers['content-type'];
  return (
    Number.isInteger(length) &&
    length > 0 &&
    length <= bodyLimit &&
    headers['transfer-encoding'] === undefined &&
    typeof type === 'string' &&
    PLAIN_JSON.test(type)
  );
}

/** Reads a request's body as text; `then` is not called when the client goes away first. */
function readBody(req: IncomingMessage, res: ServerResponse, then: (text: string) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.once('end', () =>
    then(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')),
  );
  // A broken upload: no answer can reach the client any more.
  req.once('error', () => res.destroy());
}

/**
 * The gateway's front door, on the HTTP server in front of Fastify (and of the access
 * front door): a model call (a POST of one of the gateway's routes, no query string, a
 * plain JSON body of a declared length, no Origin under CORS, no X-Forwarded-For behind
 * trusted proxies) is read and parsed here with Fastify's own JSON parser and served by the
 * same serve() as the Fastify route, inside the same request and write contexts, with the
 * request id, security headers, metrics and request line Fastify's hooks give other answers.
 * Fastify's routing, request and reply objects and hooks cost about a tenth of a model
 * call's CPU. Anything else goes on to Fastify.
 */
function installGatewayFrontDoor(
  server: Server,
  door: FrontDoorOptions,
  routes: ReadonlyMap<string, GatewayFastRoute>,
  serve: (route: GatewayFastRoute, request: DoorRequest, reply: DoorReply) => void,
): void {
  const problems = new ProblemFilter();
  const replyTo = doorReplies(door);
  putInFront(server, (req, res, next) => {
    const route = req.method === 'POST' ? routes.get(req.url ?? '') : undefined;
    if (
      !route ||
      !plainJsonBody(req.headers, door.bodyLimit) ||
      !doorMayAnswer(server, req.headers, door)
    ) {
      next(req, res);
      return;
    }
    const started = arrivedAt(req);
    const id = door.requestId(req.headers);
    readBody(req, res, (text) => {
      const request = new DoorRequest(req, 'POST', id, route.url, req.headers, {}, {}, route.url);
      const reply = replyTo(res, id, 'POST', route.url, started);
      inRequestContext(id, () =>
        inWriteContext(reply, () => {
          try {
            request.body = door.parseJsonBody(text);
          } catch (error) {
            // As Fastify does after a body it could not parse: the connection is not reused.
            reply.header('connection', 'close');
            problems.send(error, request as unknown as Request, reply as unknown as FastifyReply);
            return;
          }
          try {
            serve(route, request, reply);
          } catch (error) {
            problems.send(error, request as unknown as Request, reply as unknown as FastifyReply);
          }
        }),
      );
    });
  });
}
