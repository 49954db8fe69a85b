import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { CatalogModule } from './catalog/catalog.module';
import { ProblemFilter } from './common/problem.filter';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { GatewayModule } from './gateway/gateway.module';
import { HealthModule } from './health/health.module';
import { MembershipsModule } from './memberships/memberships.module';
import { MetricsModule } from './metrics/metrics.module';
import { ModelAccessCoreModule } from './model-access/model-access-core.module';
import { ModelAccessModule } from './model-access/model-access.module';
import { OrganizationsModule } from './organizations/organizations.module';
import { UsageModule } from './usage/usage.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /** The whole service; config defaults to the validated environment. */
  static forRoot(config?: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        DatabaseModule,
        AuditModule,
        ModelAccessCoreModule,
        AuthModule,
        UsersModule,
        CatalogModule,
        OrganizationsModule,
        MembershipsModule,
        ModelAccessModule,
        HealthModule,
        MetricsModule,
        UsageModule,
        GatewayModule,
      ],
      providers: [{ provide: APP_FILTER, useClass: ProblemFilter }],
    };
  }
}
