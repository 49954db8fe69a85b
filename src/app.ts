import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { OperationObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { parse } from 'fast-querystring';
import { IncomingHttpHeaders, Server } from 'node:http';
import { AppModule, AppOptions } from './app.module';
import { sendFrameworkProblem } from './common/framework-errors';
import { JsonLogger } from './common/json-logger';
import { tellTheTruth } from './common/openapi-truth';
import { bindRequestContext } from './common/request-context';
import { paceRequests } from './common/turn-pacer';
import { jsonAnswerHeaders, securityHeaders } from './common/security-headers';
import { createValidationPipe, InvalidJsonBodyException } from './common/validation';
import { installConsole } from './console/console-static';
import { requestIdOf } from './common/request-ids';
import { DatabaseService } from './database/database.service';
import { documentRevisions, installRevisions } from './database/revisions';
import { AppConfig } from './config/app-config';
import { METRICS_TOKEN_SCHEME } from './metrics/metrics.controller';
import { MetricsService } from './metrics/metrics.service';
import { FrontDoorOptions } from './common/front-door';
import { installGatewayFastPath } from './gateway/gateway-fast-path';
import { installAccessFastPath } from './model-access/access-fast-path';
import { installRequestObserver, requestObserver } from './metrics/request-observer';

/** The Fastify instance under Nest's adapter. */
type FastifyServer = ReturnType<
  ReturnType<NestFastifyApplication['getHttpAdapter']>['getInstance']
>;

/** The longest path parameter the router matches (ids are URL-encoded in paths). */
const MAX_PARAM_LENGTH = 1000;

/** Query strings: fast-querystring, as Fastify's default, named so the fast path shares it. */
function parseQuery(text: string): Record<string, unknown> {
  return parse(text) as Record<string, unknown>;
}

/**
 * Helmet's default Content-Security-Policy, loosened only as far as the Swagger UI at
 * /docs needs (its inline styles, data: images); no upgrade-insecure-requests, since
 * TLS ends at the reverse proxy and /docs must also work over plain HTTP inside.
 */
const SWAGGER_UI_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  upgradeInsecureRequests: null,
};

export const API_DESCRIPTION = `Decides which LLM models each person in each client organization may use.

A user may use a model when one of their **active** memberships is in an **active** organization holding an
**active** grant (an exact model id, or a prefix pattern such as \`openai/*\`) for an **active** catalog model.
Nothing else grants access: site admins use models through memberships like everyone else.

Authenticate with \`Authorization: Bearer <token>\`: an admin API key (ADMIN_API_KEYS, acts as a site admin) or an
Open WebUI session token (HS256 JWT signed with WEBUI_SECRET_KEY, user id in claim \`id\`). Every error is
\`application/problem+json\` (RFC 9457) with a request id. Path ids are URL-encoded (\`openai%2Fgpt-4o\`).`;

/** Builds the application (not yet listening) for the server, the tests and the tools. */
export async function createApp(
  config: AppConfig,
  logger?: JsonLogger,
  options: AppOptions = {},
): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    // Only the listed proxies' X-Forwarded-For counts: request.ip is the nearest address
    // that is not one of them, so a client cannot choose it by sending the header itself.
    trustProxy: config.trustProxy.length > 0 ? config.trustProxy : false,
    genReqId: (req: { headers: IncomingHttpHeaders }) => requestIdOf(req.headers),
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH, querystringParser: parseQuery },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    frameworkErrors: sendFrameworkProblem,
  });
  const log = logger ?? new JsonLogger(config.logLevel);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, options),
    adapter,
    {
      logger: log,
      bufferLogs: false,
      // JSON only: Nest would add a form (x-www-form-urlencoded) parser; see acceptJsonOnly
      bodyParser: false,
    },
  );
  const fastify = app.getHttpAdapter().getInstance();
  const parseJsonBody = jsonBodyParser(fastify);
  acceptJsonOnly(fastify, parseJsonBody);
  bindRequestContext(app);
  installRevisions(app, app.get(DatabaseService));
  const observe = requestObserver(app.get(MetricsService), log);
  installRequestObserver(app, observe);
  // Documents (the Swagger UI under /docs; the console sets its own) get helmet's full set,
  // JSON answers the part that matters for JSON (see jsonAnswerHeaders).
  const documentHeaders = await securityHeaders({
    contentSecurityPolicy: { directives: SWAGGER_UI_CSP },
  });
  const jsonHeaders = jsonAnswerHeaders(documentHeaders);
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply
      .headers(request.url.startsWith('/docs') ? documentHeaders : jsonHeaders)
      .header('x-request-id', request.id);
    done();
  });
  if (config.corsOrigins.length > 0) {
    app.enableCors({
      origin: config.corsOrigins.includes('*') ? true : config.corsOrigins,
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id', 'X-Min-Access-Revision'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'X-Access-Revision'],
    });
  }
  app.useGlobalPipes(createValidationPipe());
  setupSwagger(app);
  await installConsole(app, log);
  // Last: they read every global enhancer registered so far and refuse what they would skip.
  const door: FrontDoorOptions = {
    requestId: requestIdOf,
    answerHeaders: jsonHeaders,
    observe,
    parseQuery,
    maxParamLength: MAX_PARAM_LENGTH,
    cors: config.corsOrigins.length > 0,
    trustsProxies: config.trustProxy.length > 0,
    bodyLimit: config.bodyLimitBytes,
    parseJsonBody,
  };
  installAccessFastPath(app, door);
  installGatewayFastPath(app, door);
  if (config.requestsPerTurn > 0) {
    // In front of everything, the front doors included.
    paceRequests(app.getHttpServer() as Server, config.requestsPerTurn);
  }
  return app;
}

/** No body of this API nests deeper; validating a deeper one would exhaust the stack. */
const MAX_JSON_DEPTH = 64;

/** How deep arrays and objects nest in JSON text (brackets inside strings do not count). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) {
        i++; // skip the escaped character
      } else if (c === 0x22) {
        inString = false;
      }
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
      }
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return deepest;
}

/**
 * The JSON body parser of this API, for the text of a body: the value, or undefined for a
 * blank body (many clients send Content-Type: application/json on every request, DELETE
 * included); throws an InvalidJsonBodyException (400) for a body that does not parse or nests
 * too deep. Prototype-poisoning keys are refused by Fastify's own JSON parser, which answers
 * through its callback before returning.
 */
export function jsonBodyParser(fastify: FastifyServer): (text: string) => unknown {
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  return (text) => {
    if (text.trim() === '') {
      return undefined;
    }
    if (nestingDepth(text) > MAX_JSON_DEPTH) {
      throw new InvalidJsonBodyException(`nested deeper than ${MAX_JSON_DEPTH} arrays or objects`);
    }
    let outcome: { error: Error | null; value?: unknown } | null = null;
    void parseJson(null as never, text, (error: Error | null, value?: unknown) => {
      outcome = { error, value };
    });
    if (outcome === null) {
      throw new Error("Fastify's JSON parser did not answer synchronously.");
    }
    const { error, value } = outcome as { error: Error | null; value?: unknown };
    if (error) {
      throw new InvalidJsonBodyException(error.message);
    }
    return value;
  };
}

/** Request bodies are JSON or nothing: any other media type answers 415. */
function acceptJsonOnly(fastify: FastifyServer, parseBody: (text: string) => unknown): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string' },
    (_request, body: string, done: (error: Error | null, value?: unknown) => void) => {
      let value: unknown;
      try {
        value = parseBody(body);
      } catch (error) {
        done(error as Error);
        return;
      }
      done(null, value);
    },
  );
}

export function setupSwagger(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Model access service')
      .setDescription(API_DESCRIPTION)
      .setVersion('1.0')
      .addBearerAuth({
        type: 'http',
        scheme: 'bearer',
        description: 'Admin API key, or Open WebUI session token (JWT HS256).',
      })
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          description: 'METRICS_TOKEN; GET /metrics requires it only when it is set.',
        },
        METRICS_TOKEN_SCHEME,
      )
      .addTag('access', 'Which models a user may use, and why or why not.')
      .addTag('users', 'Web UI users (site admins).')
      .addTag('models', 'The model catalog (site admins).')
      .addTag('organizations', 'Client organizations.')
      .addTag('members', 'Memberships: site admins and organization admins.')
      .addTag('grants', 'Models and patterns granted to an organization (site admins).')
      .addTag(
        'budgets',
        'Budgets, alert thresholds and rate limits (site admins set, organization admins read).',
      )
      .addTag('audit', 'Who changed what, when (site admins).')
      .addTag('health', 'Liveness, readiness and diagnostics.')
      .addTag('metrics', 'Prometheus metrics (public, or bearer METRICS_TOKEN when set).')
      .addTag(
        'gateway',
        "OpenAI-compatible calls forwarded to the upstream after the access decision; errors in OpenAI's shape.",
      )
      .addTag('usage', 'What the gateway forwarded: requests, tokens and cost.')
      .build(),
  );
  documentPathParameterErrors(document);
  documentRevisions(document);
  tellTheTruth(document);
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    customSiteTitle: 'Model access service — API console',
    swaggerOptions: { persistAuthorization: true },
  });
}

/**
 * Every route with a path parameter validates it (length, control characters, id rules) and
 * answers 400 problem+json when it is bad; say so in the document where the route does not.
 */
function documentPathParameterErrors(document: OpenAPIObject): void {
  const problem = Object.keys(document.components?.schemas ?? {}).includes('ProblemResponse')
    ? { $ref: '#/components/schemas/ProblemResponse' }
    : { type: 'object' };
  for (const [path, item] of Object.entries(document.paths)) {
    if (path.startsWith('/v1/')) {
      continue; // the OpenAI-compatible routes declare their own errors, in OpenAI's shape
    }
    for (const operation of Object.values(item) as OperationObject[]) {
      const hasPathParameter = (operation.parameters ?? []).some(
        (p) => 'in' in p && p.in === 'path',
      );
      if (hasPathParameter && operation.responses && !operation.responses['400']) {
        operation.responses['400'] = {
          description: 'A path parameter is invalid (too long, control characters, or not an id).',
          content: { 'application/problem+json': { schema: problem } },
        };
      }
    }
  }
}
