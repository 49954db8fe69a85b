import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AsyncLocalStorage } from 'node:async_hooks';

/** The id of the request being served, for every log line written while serving it. */
const requestContext = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return requestContext.getStore();
}

/**
 * Enters the request's context as it arrives; everything Fastify and Nest run for it
 * afterwards (body parsing, guards, handlers, filters) inherits it. The id string
 * itself is the store: no allocation per request. test/ops-logging proves it holds
 * across awaits, concurrent requests, and a body sent after the headers.
 */
/** Runs `fn` in a request's context (for requests answered outside Fastify's hooks). */
export function inRequestContext<T>(requestId: string, fn: () => T): T {
  return requestContext.run(requestId, fn);
}

/**
 * Runs `fn` outside every request's context: in the context this module was loaded in, at
 * startup, before any request. For work that creates something longer-lived than the
 * request, such as a pooled upstream connection: an async resource keeps the context it was
 * created in, and with it every store of that request (its id, its reply in the revision
 * context), for as long as the resource lives. What `fn` returns, a promise included, is
 * awaited in the caller's own context.
 */
export const outsideRequestContext = AsyncLocalStorage.snapshot();

export function bindRequestContext(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, _reply, done) => {
      requestContext.run(String(request.id), done);
    });
}
