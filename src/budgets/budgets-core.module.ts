import { DynamicModule, Global, Module } from '@nestjs/common';
import { BudgetLedgerService } from './budget-ledger.service';
import { BudgetStateService } from './budget-state.service';
import { Clock, CLOCK, systemClock } from './clock';
import { RateLimiterService } from './rate-limiter.service';

/** The clock, the spend ledger, the budget side of the rule and the rate limiter, for every module. */
@Global()
@Module({})
export class BudgetsCoreModule {
  static forRoot(clock: Clock = systemClock): DynamicModule {
    return {
      module: BudgetsCoreModule,
      providers: [
        { provide: CLOCK, useValue: clock },
        BudgetLedgerService,
        BudgetStateService,
        RateLimiterService,
      ],
      exports: [CLOCK, BudgetLedgerService, BudgetStateService, RateLimiterService],
    };
  }
}
