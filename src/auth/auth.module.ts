import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ModelAccessCoreModule } from '../model-access/model-access-core.module';
import { AuthFailureLimiter } from './auth-failure-limiter';
import { AuthGuard, RequestAuthenticator } from './auth.guard';
import { AuthService } from './auth.service';

@Global()
@Module({
  imports: [ModelAccessCoreModule],
  providers: [
    AuthService,
    AuthFailureLimiter,
    RequestAuthenticator,
    { provide: APP_GUARD, useClass: AuthGuard },
  ],
  exports: [AuthService, AuthFailureLimiter, RequestAuthenticator],
})
export class AuthModule {}
