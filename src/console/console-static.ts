import fastifyStatic from '@fastify/static';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { STATUS_CODES } from 'node:http';
import { JsonLogger } from '../common/json-logger';
import { securityHeaders } from '../common/security-headers';

/** Where the console answers; every path below it that is not a file is a client-side route. */
export const CONSOLE_PATH = '/admin';

/** Vite names every file under assets/ by its content hash: it never changes under its name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page itself names the current assets: always revalidated (ETag), never stale. */
const REVALIDATE = 'no-cache';
/** Other files of the build (the icon): short-lived. */
const SHORT = 'public, max-age=3600';

/**
 * The console's Content-Security-Policy: its own origin only, and unlike the Swagger UI at
 * /docs no inline style either (the console keeps all of its styles in its stylesheet).
 */
const CONSOLE_CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  upgradeInsecureRequests: null,
};

/** dist/console of this package (the Vite build), found from this file in src/ or dist/src/. */
export function consoleRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) {
    dir = dirname(dir);
  }
  return join(dir, 'dist', 'console');
}

/** Every file of the build, as paths relative to its root with `/` separators (no .gz/.br twins). */
function listFiles(root: string): Set<string> {
  const files = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (!/\.(gz|br)$/.test(entry.name)) {
        files.add(relative(root, path).split(sep).join('/'));
      }
    }
  };
  walk(root);
  return files;
}

interface ConsoleReply {
  code(status: number): ConsoleReply;
  header(name: string, value: string): ConsoleReply;
  headers(values: Record<string, string>): ConsoleReply;
  send(payload: unknown): ConsoleReply;
  sendFile(path: string, root: string, options: { cacheControl: boolean }): ConsoleReply;
}

function notFound(reply: ConsoleReply, requestId: string, detail: string): ConsoleReply {
  return reply
    .code(404)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .header('cache-control', 'no-store')
    .send({
      type: 'about:blank',
      title: STATUS_CODES[404],
      status: 404,
      detail,
      request_id: requestId,
    });
}

/**
 * Serves the admin console (a static single-page app built by Vite into dist/console) at
 * /admin: files as they are (pre-compressed .br/.gz when the client accepts them), hashed
 * assets cached for a year, and index.html for every other path below /admin so that the
 * console's own routes survive a reload. The console holds no secret and calls only the
 * public API with the bearer the operator pastes into it; these routes need no credentials.
 */
export async function installConsole(
  app: NestFastifyApplication,
  logger: JsonLogger,
  root = consoleRoot(),
): Promise<void> {
  const built = existsSync(join(root, 'index.html'));
  const files = built ? listFiles(root) : new Set<string>();
  const headers = await securityHeaders({ contentSecurityPolicy: { directives: CONSOLE_CSP } });
  if (built) {
    // Nest's adapter bundles its own copy of Fastify's types; the plugin is the same at run time.
    const plugin = fastifyStatic as unknown as Parameters<NestFastifyApplication['register']>[0];
    await app.register(plugin, { root, serve: false, preCompressed: true });
  } else {
    logger.warn(
      { msg: 'admin console not built; /admin answers 404', expected: join(root, 'index.html') },
      'Console',
    );
  }
  const fastify = app.getHttpAdapter().getInstance();
  const handler = (request: { id: string; params: unknown }, reply: ConsoleReply) => {
    const path = (request.params as { '*'?: string })['*'] ?? '';
    reply.headers(headers);
    if (!built) {
      return notFound(
        reply,
        request.id,
        'The admin console is not built on this server: run `npm run build` (it builds the API and the console).',
      );
    }
    if (files.has(path) && path !== 'index.html') {
      reply.header('cache-control', path.startsWith('assets/') ? IMMUTABLE : SHORT);
      return reply.sendFile(path, root, { cacheControl: false });
    }
    if (path.startsWith('assets/')) {
      return notFound(reply, request.id, 'No such file of the admin console.');
    }
    reply.header('cache-control', REVALIDATE);
    return reply.sendFile('index.html', root, { cacheControl: false });
  };
  fastify.get(CONSOLE_PATH, handler as never);
  fastify.get(`${CONSOLE_PATH}/*`, handler as never);
}
