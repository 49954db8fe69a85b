import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { JsonLogger } from '../common/json-logger';
import { UNMATCHED_ROUTE } from './metric-names';
import { MetricsService } from './metrics.service';

/** Probes and scrapes arrive every few seconds: their request lines are debug, not info. */
const QUIET_ROUTES = new Set(['/health', '/metrics']);

/**
 * One Fastify onResponse hook per app: observes the request duration histogram and
 * writes the request line (request_id, method, route template, status, duration_ms)
 * at info, or debug for /health and /metrics. The raw URL is never logged nor used
 * as a label: it may carry user ids or e-mail addresses, and its cardinality is unbounded.
 */
export function installRequestObserver(
  app: NestFastifyApplication,
  metrics: MetricsService,
  logger: JsonLogger,
): void {
  const fastify = app.getHttpAdapter().getInstance();
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE;
    const status = reply.statusCode;
    const ms = reply.elapsedTime;
    metrics.observeRequest(request.method, route, status, ms / 1000);
    const level = QUIET_ROUTES.has(route) ? 'debug' : 'info';
    if (logger.enabled(level)) {
      const line = {
        msg: 'request',
        request_id: request.id,
        method: request.method,
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
    done();
  });
}
