import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { register } from 'prom-client';
import { MetricsScraper } from '../auth/access-level.decorators';
import { MetricsService } from './metrics.service';

/**
 * GET /metrics in the Prometheus text format (path set by PrometheusModule). Who may scrape
 * is the guard's `metrics` level: anyone while METRICS_TOKEN is unset, else its bearer.
 */
@ApiTags('metrics')
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @MetricsScraper()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Request durations by route template and status class, access decisions, organization/member/grant gauges, database query durations and process metrics. Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'The metrics, text/plain; version=0.0.4.' })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    await this.metrics.refreshGauges();
    void reply.header('content-type', register.contentType);
    return register.metrics();
  }
}
