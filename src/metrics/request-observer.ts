import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { performance } from 'node:perf_hooks';
import { IncomingMessage } from 'node:http';
import { JsonLogger } from '../common/json-logger';
import { arrivalOf } from '../common/turn-pacer';
import { UNMATCHED_ROUTE } from './metric-names';
import { MetricsService } from './metrics.service';

/** Probes and scrapes arrive every few seconds: their request lines are debug, not info. */
const QUIET_ROUTES = new Set(['/health', '/metrics']);

/** Records one answered request: the duration histogram and the request log line. */
export type RequestObserver = (
  requestId: string,
  method: string,
  route: string,
  status: number,
  ms: number,
) => void;

/**
 * Observes the request duration histogram and writes the request line (request_id,
 * method, route template, status, duration_ms) at info, or debug for /health and /metrics.
 * The raw URL is never logged nor used as a label: it may carry user ids or e-mail
 * addresses, and its cardinality is unbounded.
 */
export function requestObserver(metrics: MetricsService, logger: JsonLogger): RequestObserver {
  return (requestId, method, route, status, ms) => {
    metrics.observeRequest(method, route, status, ms / 1000);
    const level = QUIET_ROUTES.has(route) ? 'debug' : 'info';
    if (logger.enabled(level)) {
      const line = {
        msg: 'request',
        request_id: requestId,
        method,
        route,
        status,
        duration_ms: Math.round(ms * 1000) / 1000,
      };
      if (level === 'info') {
        logger.log(line, 'Http');
      } else {
        logger.debug(line, 'Http');
      }
    }
  };
}

/**
 * A request's duration in ms: Fastify's own (`elapsed`, from when Fastify got it), or for a
 * request the pacer held back, from its arrival.
 */
function durationOf(raw: IncomingMessage, elapsed: number): number {
  const arrived = arrivalOf(raw);
  return arrived === undefined ? elapsed : performance.now() - arrived;
}

/** Observes every request Fastify answers, from one onResponse hook. */
export function installRequestObserver(
  app: NestFastifyApplication,
  observe: RequestObserver,
): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (request, reply, done) => {
      observe(
        String(request.id),
        request.method,
        request.routeOptions.url ?? UNMATCHED_ROUTE,
        reply.statusCode,
        durationOf(request.raw, reply.elapsedTime),
      );
      done();
    });
}
