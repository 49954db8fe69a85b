import { Module } from '@nestjs/common';
import { BudgetAdmissionService } from './budget-admission.service';
import { BudgetAlertsService } from './budget-alerts.service';
import { BudgetGatewayAdmission } from './budget-gateway-admission';
import { BudgetsController } from './budgets.controller';
import { BudgetsService } from './budgets.service';

/** Budget settings (API), the gateway's admission (limits, reservations) and alerts. */
@Module({
  controllers: [BudgetsController],
  providers: [BudgetsService, BudgetAlertsService, BudgetAdmissionService, BudgetGatewayAdmission],
  exports: [BudgetAdmissionService, BudgetAlertsService, BudgetGatewayAdmission],
})
export class BudgetsModule {}
