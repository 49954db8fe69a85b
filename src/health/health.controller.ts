import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import {
  HealthCheck,
  HealthCheckResult,
  HealthCheckService,
  TypeOrmHealthIndicator,
} from '@nestjs/terminus';
import { DataSource } from 'typeorm';
import { Public } from '../auth/access-level.decorators';

@ApiTags('health')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly typeorm: TypeOrmHealthIndicator,
    private readonly dataSource: DataSource,
  ) {}

  @Get()
  @Public()
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness and readiness: database ping (public)' })
  @ApiServiceUnavailableResponse({ description: 'The database did not answer.' })
  check(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.typeorm.pingCheck('database', { connection: this.dataSource, timeout: 1000 }),
    ]);
  }
}
