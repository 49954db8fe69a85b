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

/**
 * The security headers that matter for a JSON answer, from helmet's table: a
 * Content-Security-Policy that lets nothing load and nothing frame the answer (`default-src
 * 'none'; frame-ancestors 'none'`), `Strict-Transport-Security`, `X-Content-Type-Options:
 * nosniff` (a browser never sniffs JSON into HTML) and `Cross-Origin-Resource-Policy` (no
 * other site embeds the answer). Left to documents (HTML pages) only, because they act on
 * pages and never on a JSON answer: `X-Frame-Options` (CSP frame-ancestors says the same to
 * every current browser), `Referrer-Policy` (a JSON answer follows no link),
 * `Cross-Origin-Opener-Policy` and `Origin-Agent-Cluster` (browsing contexts),
 * `X-DNS-Prefetch-Control` (links in a page), `X-Download-Options` (Internet Explorer 8),
 * `X-Permitted-Cross-Domain-Policies` (Flash and Acrobat) and `X-XSS-Protection: 0` (turns
 * off a filter that only ever ran on HTML). Fewer headers on every answer is measurably
 * cheaper on the busiest routes (BENCHMARKS.md).
 */
export function jsonAnswerHeaders(documentHeaders: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = {
    'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  };
  for (const name of [
    'strict-transport-security',
    'x-content-type-options',
    'cross-origin-resource-policy',
  ]) {
    const value = documentHeaders[name];
    if (value === undefined) {
      throw new Error(`helmet no longer sets ${name}; review jsonAnswerHeaders`);
    }
    headers[name] = value;
  }
  return headers;
}
