import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ModelAccessCoreModule } from '../model-access/model-access-core.module';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';

@Global()
@Module({
  imports: [ModelAccessCoreModule],
  providers: [AuthService, AuthFailureLimiter, { provide: APP_GUARD, useClass: AuthGuard }],
  exports: [AuthService, AuthFailureLimiter],
})
export class AuthModule {}
