import helmet, { FastifyHelmetOptions } from '@fastify/helmet';
import Fastify from 'fastify';

/** Headers of every response that are not about this response in particular. */
const PER_RESPONSE = new Set([
  'content-type',
  'content-length',
  'date',
  'connection',
  'keep-alive',
]);

/**
 * The headers @fastify/helmet sets with these options, computed once at boot by asking
 * helmet itself on a throwaway Fastify instance. Helmet's own hook rebuilds them on every
 * request (about 8% of a cached access check); they never vary, so they are set from this
 * table instead, and helmet's configuration stays the single definition.
 */
export async function securityHeaders(
  options: FastifyHelmetOptions,
): Promise<Record<string, string>> {
  const probe = Fastify();
  await probe.register(helmet, options);
  probe.get('/', async () => 'ok');
  const response = await probe.inject({ method: 'GET', url: '/' });
  await probe.close();
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (!PER_RESPONSE.has(name) && value !== undefined) {
      headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
    }
  }
  return headers;
}
