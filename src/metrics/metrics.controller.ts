import {
  Controller,
  Get,
  Headers,
  HttpException,
  HttpStatus,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiSecurity,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { register } from 'prom-client';
import { Public } from '../auth/access-level.decorators';
import { AuthFailureLimiter } from '../auth/auth-failure-limiter';
import { ProblemResponse } from '../common/problem.dto';
import { AppConfig } from '../config/app-config';
import { MetricsService } from './metrics.service';

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The OpenAPI security scheme of METRICS_TOKEN (registered in setupSwagger). */
export const METRICS_TOKEN_SCHEME = 'metrics_token';

/**
 * GET /metrics in the Prometheus text format (path set by PrometheusModule). Public to the global guard (scrapers
 * hold no API key), but when METRICS_TOKEN is set it requires that bearer token.
 */
@ApiTags('metrics')
@Controller()
export class MetricsController {
  private readonly expected: Buffer | null;

  constructor(
    private readonly metrics: MetricsService,
    private readonly limiter: AuthFailureLimiter,
    config: AppConfig,
  ) {
    this.expected = config.metricsToken === null ? null : digest(config.metricsToken);
  }

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description:
      'Request durations by route template and status class, access decisions, organization/member/grant gauges, database query durations and process metrics. Requires `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set.',
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
  async scrape(
    @Res({ passthrough: true }) reply: FastifyReply,
    @Req() request: FastifyRequest,
    @Headers('authorization') authorization?: string,
  ): Promise<string> {
    if (this.expected !== null) {
      this.authorize(request.ip, authorization, reply);
    }
    await this.metrics.refreshGauges();
    void reply.header('content-type', register.contentType);
    return register.metrics();
  }

  private authorize(address: string, authorization: string | undefined, reply: FastifyReply): void {
    const retryAfter = this.limiter.blockedFor(address);
    if (retryAfter > 0) {
      void reply.header('Retry-After', String(retryAfter));
      throw new HttpException(
        `Too many failed authentications from this address; retry in ${retryAfter} s.`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const token = BEARER.exec(authorization ?? '')?.[1];
    if (token === undefined || !timingSafeEqual(digest(token), this.expected!)) {
      this.limiter.recordFailure(address);
      void reply.header('WWW-Authenticate', 'Bearer');
      throw new UnauthorizedException(
        'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>.',
      );
    }
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
