import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { AsyncLocalStorage } from 'node:async_hooks';

/** The id of the request being served, for every log line written while serving it. */
const requestContext = new AsyncLocalStorage<string>();

export function currentRequestId(): string | undefined {
  return requestContext.getStore();
}

/**
 * Enters the request's context when it arrives, and again once its body is parsed
 * (the body arrives on socket events, which run outside the context entered first).
 */
export function bindRequestContext(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onRequest', (request, _reply, done) => {
    requestContext.run(String(request.id), done);
  });
  fastify.addHook('preValidation', (request, _reply, done) => {
    requestContext.run(String(request.id), done);
  });
}
