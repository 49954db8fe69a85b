import { Module } from '@nestjs/common';
import { ModelAccessModule } from '../model-access/model-access.module';
import { UsageModule } from '../usage/usage.module';
import { UsersModule } from '../users/users.module';
import { BudgetGatewayAdmission } from '../budgets/budget-gateway-admission';
import { BudgetsModule } from '../budgets/budgets.module';
import { GATEWAY_ADMISSION } from './gateway-admission';
import { GatewayCallers } from './gateway-callers.service';
import { GatewayController } from './gateway.controller';
import { GatewayService } from './gateway.service';
import { OpenRouterClient } from './openrouter.client';

/** The OpenAI-compatible gateway (/v1 model calls) and its upstream client. */
@Module({
  imports: [ModelAccessModule, UsersModule, UsageModule, BudgetsModule],
  controllers: [GatewayController],
  providers: [
    GatewayService,
    GatewayCallers,
    OpenRouterClient,
    // Budgets and rate limits decide whether an allowed call goes upstream now.
    { provide: GATEWAY_ADMISSION, useExisting: BudgetGatewayAdmission },
  ],
  exports: [OpenRouterClient, GATEWAY_ADMISSION],
})
export class GatewayModule {}
