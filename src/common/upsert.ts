import { FastifyReply } from 'fastify';

/** The idempotent PUT's answer: 201 when the request created the resource, 200 when it replaced it. */
export function upserted<T>(reply: FastifyReply, created: boolean, value: T): T {
  void reply.status(created ? 201 : 200);
  return value;
}
