import { AsyncLocalStorage } from 'node:async_hooks';
import { ServiceUnavailableException } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { OpenAPIObject } from '@nestjs/swagger';
import { ProblemFilter } from '../common/problem.filter';
import { ValidationFailedException } from '../common/validation';

/**
 * Access revisions: "fresh enough on demand".
 *
 * Every successful write request answers `X-Access-Revision: <n>`, a number that only grows
 * for the database. A read that passes `min_revision=<n>` (query) or
 * `X-Min-Access-Revision: <n>` (header) is answered from state that includes that write
 * and every write committed before it, on whichever replica it lands: the replica answers
 * from its cache when its change feed has already delivered that revision, reads the
 * database directly when not, and waits (up to REVISION_WAIT_MS) when the revision is not
 * yet committed at all, then answers 503 with Retry-After.
 *
 * What the number is:
 * - PostgreSQL: the writing transaction's id (`pg_current_xact_id()`), which every
 *   transaction gets on its own: no shared counter row, so writes never queue on one. A
 *   write that changed nothing answers the newest finished transaction id it could see.
 * - SQLite: a counter in the one-row table `access_revision`, raised by each write that
 *   changes something (SQLite runs one write at a time anyway).
 */
export const REVISION_HEADER = 'x-access-revision';
export const MIN_REVISION_HEADER = 'x-min-access-revision';
export const MIN_REVISION_QUERY = 'min_revision';
/** How long a read waits for a revision that is not committed yet, before answering 503. */
export const REVISION_WAIT_MS = 1000;
/** The largest revision accepted (PostgreSQL's bigint). */
const MAX_REVISION = 9223372036854775807n;

/** What one request knows about revisions (writes, and reads with a minimum). */
interface RevisionContext {
  /** The newest revision a write of this request produced (sent as X-Access-Revision). */
  written: bigint | null;
  /** Where to send X-Access-Revision (write requests). */
  reply?: { header(name: string, value: string): unknown };
  /**
   * Set on reads that asked for a minimum revision the cache cannot vouch for: the answer
   * must be read from the database (which already holds that revision).
   */
  bypassCache: boolean;
}

const storage = new AsyncLocalStorage<RevisionContext>();

/** True when the current request asked for a revision its replica's cache has not seen yet. */
export function cacheBypassed(): boolean {
  return storage.getStore()?.bypassCache === true;
}

/**
 * Runs `fn` in the context of a request that may write (for requests answered outside
 * Fastify's hooks): its writes set X-Access-Revision on `reply`.
 */
export function inWriteContext<T>(
  reply: { header(name: string, value: string): unknown },
  fn: () => T,
): T {
  return storage.run({ written: null, bypassCache: false, reply }, fn);
}

/** Notes, inside a request, the revision a write produced. */
export function recordWrittenRevision(revision: bigint): void {
  const context = storage.getStore();
  if (context && (context.written === null || revision > context.written)) {
    context.written = revision;
    context.reply?.header(REVISION_HEADER, revision.toString());
  }
}

/**
 * A revision as clients send it: decimal digits, 0 to 2^63 - 1. Throws a 400 problem
 * naming `field` for anything else (signs, decimals, several values, empty).
 */
export function parseRevision(value: unknown, field: string): bigint {
  const text = typeof value === 'string' ? value.trim() : null;
  if (text !== null && /^\d{1,19}$/.test(text)) {
    const revision = BigInt(text);
    if (revision <= MAX_REVISION) {
      return revision;
    }
  }
  throw new ValidationFailedException([
    {
      field,
      message: `${field} must be one revision: a whole number from 0 to ${MAX_REVISION} (the X-Access-Revision of a write)`,
    },
  ]);
}

/** The database side a request needs: how far the data is, and waiting for a revision. */
export interface RevisionSource {
  /**
   * Resolves when revision `wanted` is committed: 'cache' when this replica's caches
   * already reflect it, 'database' when only a direct database read does. Rejects with a
   * 503 (Retry-After: 1) when the revision is not committed within REVISION_WAIT_MS.
   */
  reach(wanted: bigint): Promise<'cache' | 'database'>;
}

/** Thrown when a minimum revision cannot be met in time. */
export class RevisionNotReachedException extends ServiceUnavailableException {
  readonly retryAfterSeconds = 1;

  constructor(wanted: bigint) {
    super(
      `Revision ${wanted} is not in the database yet (waited ${REVISION_WAIT_MS} ms); retry later, or pass a revision this service answered.`,
    );
  }
}

const READS = new Set(['GET', 'HEAD']);

/**
 * Installs the hook: reads with a minimum revision wait for it and may be told to bypass
 * the cache; write requests get a context in which their writes set X-Access-Revision on
 * the answer. A read without a minimum pays one method, query and header test.
 */
export function installRevisions(app: NestFastifyApplication, source: RevisionSource): void {
  const problems = new ProblemFilter();
  const fastify = app.getHttpAdapter().getInstance();
  // preValidation: after every onRequest hook (request id, security headers, CORS, metrics),
  // so an error answered here carries them; before the fast path's preHandler.
  fastify.addHook('preValidation', (request, reply, done) => {
    if (!READS.has(request.method)) {
      inWriteContext(reply, done);
      return;
    }
    const query = request.query as Record<string, unknown> | undefined;
    const fromQuery = query?.[MIN_REVISION_QUERY];
    const fromHeader = request.headers[MIN_REVISION_HEADER];
    if (fromQuery === undefined && fromHeader === undefined) {
      done();
      return;
    }
    let wanted: bigint;
    try {
      wanted = 0n;
      if (fromQuery !== undefined) {
        wanted = parseRevision(fromQuery, MIN_REVISION_QUERY);
        // The routes' own validation does not know the parameter.
        delete query![MIN_REVISION_QUERY];
      }
      if (fromHeader !== undefined) {
        const header = parseRevision(fromHeader, MIN_REVISION_HEADER);
        wanted = header > wanted ? header : wanted;
      }
    } catch (error) {
      problems.send(error, request as never, reply as never);
      return;
    }
    source.reach(wanted).then(
      (where) => storage.run({ written: null, bypassCache: where === 'database' }, done),
      (error: unknown) => {
        if (error instanceof RevisionNotReachedException) {
          void reply.header('retry-after', String(error.retryAfterSeconds));
        }
        problems.send(error, request as never, reply as never);
      },
    );
  });
}

/** The reads served from the access cache, where a minimum revision matters most. */
const CACHED_READS = [
  '/api/v1/access/check',
  '/api/v1/users/{id}/models',
  '/api/v1/me/models',
  '/v1/models',
  '/v1/models/{id}',
];

const REVISION_SCHEMA = { type: 'string', pattern: '^[0-9]{1,19}$', example: '48213' };

/**
 * Documents revisions in the OpenAPI document: X-Access-Revision on the successful answers
 * of every write, and `min_revision` / X-Min-Access-Revision (with the 503) on the cached
 * reads. (Every GET accepts them; the others read the database directly anyway.)
 */
export function documentRevisions(document: OpenAPIObject): void {
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['put', 'post', 'patch', 'delete'] as const) {
      const operation = item[method];
      if (!operation || !path.startsWith('/api/')) {
        continue;
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (response && status.startsWith('2') && !('$ref' in response)) {
          response.headers = {
            ...response.headers,
            'X-Access-Revision': {
              description:
                'The revision of the database after this write: pass it as min_revision (or X-Min-Access-Revision) to a read on any replica to see this write.',
              schema: REVISION_SCHEMA,
            },
          };
        }
      }
    }
    const read = item.get;
    if (!read || !CACHED_READS.includes(path)) {
      continue;
    }
    const description =
      'Answer only from state that includes this revision (an X-Access-Revision a write answered) and every write before it; waits up to 1 s for it, then 503 with Retry-After.';
    read.parameters = [
      ...(read.parameters ?? []),
      {
        name: MIN_REVISION_QUERY,
        in: 'query',
        required: false,
        description,
        schema: REVISION_SCHEMA,
      },
      {
        name: 'X-Min-Access-Revision',
        in: 'header',
        required: false,
        description: `The same as ${MIN_REVISION_QUERY}, as a header (the larger of the two counts).`,
        schema: REVISION_SCHEMA,
      },
    ];
    const schemas = document.components?.schemas ?? {};
    const error = path.startsWith('/v1/') ? 'OpenAiErrorResponse' : 'ProblemResponse';
    read.responses['503'] ??= {
      description: 'The minimum revision is not in the database within 1 s (Retry-After: 1).',
      ...(error in schemas
        ? { content: { 'application/json': { schema: { $ref: `#/components/schemas/${error}` } } } }
        : {}),
    };
  }
}
