import { Module } from '@nestjs/common';
import { ModelAccessModule } from '../model-access/model-access.module';
import { UsageModule } from '../usage/usage.module';
import { UsersModule } from '../users/users.module';
import { AdmitEverything, GATEWAY_ADMISSION } from './gateway-admission';
import { GatewayCallers } from './gateway-callers.service';
import { GatewayController } from './gateway.controller';
import { GatewayService } from './gateway.service';
import { OpenRouterClient } from './openrouter.client';

/** The OpenAI-compatible gateway (/v1 model calls) and its upstream client. */
@Module({
  imports: [ModelAccessModule, UsersModule, UsageModule],
  controllers: [GatewayController],
  providers: [
    GatewayService,
    GatewayCallers,
    OpenRouterClient,
    { provide: GATEWAY_ADMISSION, useClass: AdmitEverything },
  ],
  exports: [OpenRouterClient, GATEWAY_ADMISSION],
})
export class GatewayModule {}
