import { Controller, Get, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiSecurity,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { register } from 'prom-client';
import { MetricsScraper } from '../auth/access-level.decorators';
import { ProblemResponse } from '../common/problem.dto';
import { BudgetGauges } from './budget-gauges';
import { MetricsService } from './metrics.service';

/** The OpenAPI security scheme of METRICS_TOKEN (registered in setupSwagger). */
export const METRICS_TOKEN_SCHEME = 'metrics_token';

/**
 * GET /metrics in the Prometheus text format (path set by PrometheusModule). Who may scrape
 * is the guard's `metrics` level: anyone while METRICS_TOKEN is unset, else its bearer.
 */
@ApiTags('metrics')
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsService,
    private readonly budgets: BudgetGauges,
  ) {}

  @Get()
  @MetricsScraper()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Request durations by route template and status class, access decisions, organization/member/grant gauges, budgets and spend of budgeted organizations, gateway calls/tokens/cost by organization, database query durations and process metrics. Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
  })
  // Public unless METRICS_TOKEN is set: no requirement, or the metrics_token bearer scheme.
  @ApiSecurity({})
  @ApiBearerAuth(METRICS_TOKEN_SCHEME)
  @ApiOkResponse({
    description: 'The metrics in the Prometheus text format 0.0.4.',
    content: { 'text/plain': { schema: { type: 'string' } } },
  })
  @ApiUnauthorizedResponse({
    description: 'METRICS_TOKEN is set and the bearer token is missing or different.',
    type: ProblemResponse,
  })
  @ApiTooManyRequestsResponse({
    description: 'Too many failed authentications from this address.',
    type: ProblemResponse,
  })
  async scrape(@Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    await this.metrics.refreshGauges();
    await this.budgets.refresh();
    void reply.header('content-type', register.contentType);
    return register.metrics();
  }
}
