import {
  Controller,
  Get,
  Inject,
  Optional,
  Res,
  ServiceUnavailableException,
} from '@nestjs/common';
import {
  ApiOkResponse,
  ApiOperation,
  ApiServiceUnavailableResponse,
  ApiTags,
} from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckResult,
  HealthCheckService,
  HealthIndicatorFunction,
  HealthIndicatorResult,
  HealthIndicatorService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public, SiteAdmin } from '../auth/access-level.decorators';
import { ApiProblem, UserIdParam } from '../common/api-docs';
import { AppConfig } from '../config/app-config';
import { RateLimiterService } from '../budgets/rate-limiter.service';
import { WalCheckpointer } from '../database/wal-checkpointer';
import { DatabaseDiagnosticsService } from './database-diagnostics.service';
import { DiskIndicator } from './disk.indicator';
import { MemoryIndicator } from './memory.indicator';
import { ModelAccessHealthResponse } from './dto/model-access-health.dto';
import { ModelAccessDiagnosisService } from './model-access-diagnosis.service';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly memory: MemoryIndicator,
    private readonly disk: DiskIndicator,
    private readonly database: DatabaseDiagnosticsService,
    private readonly modelAccess: ModelAccessDiagnosisService,
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly limiter: RateLimiterService,
    private readonly indicator: HealthIndicatorService,
    @Optional()
    @Inject(WalCheckpointer)
    private readonly checkpointer?: WalCheckpointer | null,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness and readiness: database ping (public)' })
  @ApiServiceUnavailableResponse({ description: 'The database did not answer (Terminus body).' })
  check(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    return this.run(reply, [this.ping]);
  }

  @Get('detailed')
  @SiteAdmin()
  @HealthCheck()
  @ApiOperation({
    summary: 'Database, disk, memory, migrations, indexes, row counts and hot query timings',
    description:
      'Thresholds: HEALTH_DISK_PATH / HEALTH_DISK_THRESHOLD, HEALTH_HEAP_LIMIT_MB, HEALTH_RSS_LIMIT_MB. `rate_limiter` says where rpm/tpm limits are counted (redis or memory), whether Redis is reachable and what happens while it is not (REDIS_FAILURE_MODE). `wal_checkpoints` (SQLite) says whether the worker thread or SQLite itself checkpoints the WAL, the last checkpoint and the size of the WAL. Answers 503 with the same body when any check is down.',
  })
  @ApiServiceUnavailableResponse({ description: 'At least one check is down (Terminus body).' })
  detailed(@Res({ passthrough: true }) reply: FastifyReply): Promise<HealthCheckResult> {
    const checkpointer = this.checkpointer;
    return this.run(reply, [
      this.ping,
      () => this.disk.check(this.config.healthDiskPath, this.config.healthDiskThreshold),
      () => this.memory.heap(this.config.healthHeapLimitBytes),
      () => this.memory.rss(this.config.healthRssLimitBytes),
      () => this.database.migrations(),
      () => this.database.indexes(),
      () => this.database.rowCounts(),
      () => this.database.hotQueries(),
      () => this.rateLimiter(),
      ...(checkpointer ? [() => this.walCheckpoints(checkpointer)] : []),
    ]);
  }

  @Get('model-access/:userId')
  @SiteAdmin()
  @ApiOperation({
    summary: 'Why a user sees the models they see: status, memberships and models',
  })
  @ApiOkResponse({ type: ModelAccessHealthResponse })
  @ApiProblem(404, 'No such user.')
  modelAccessOf(@UserIdParam('userId') userId: string): Promise<ModelAccessHealthResponse> {
    return this.modelAccess.diagnose(userId);
  }

  private rateLimiter(): HealthIndicatorResult<'rate_limiter'> {
    const { status, ...state } = this.limiter.state();
    const check = this.indicator.check('rate_limiter');
    return status === 'up' ? check.up(state) : check.down(state);
  }

  /**
   * SQLite: who checkpoints the WAL (the thread, or SQLite after the thread failed) and how
   * large it is. Up either way: SQLite's own checkpoints are slower for requests, not unsafe.
   */
  private walCheckpoints(checkpointer: WalCheckpointer): HealthIndicatorResult<'wal_checkpoints'> {
    return this.indicator.check('wal_checkpoints').up({ ...checkpointer.state() });
  }

  private readonly ping: HealthIndicatorFunction = () =>
    this.typeorm.pingCheck('database', { connection: this.dataSource, timeout: 1000 });

  /**
   * Terminus throws a 503 carrying its result; answer that body as it is (the
   * format load balancers and Terminus clients expect) instead of problem+json.
   */
  private async run(
    reply: FastifyReply,
    indicators: HealthIndicatorFunction[],
  ): Promise<HealthCheckResult> {
    try {
      return await this.health.check(indicators);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        void reply.status(503);
        return error.getResponse() as HealthCheckResult;
      }
      throw error;
    }
  }
}
