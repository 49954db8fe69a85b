import { InitialSchema1764300000000 } from './1764300000000-InitialSchema';
import { OrganizationEmailDomains1764400000000 } from './1764400000000-OrganizationEmailDomains';
import { GatewayLedgerAndPrices1764600000000 } from './1764600000000-GatewayLedgerAndPrices';
import { Budgets1764700000000 } from './1764700000000-Budgets';
import { BudgetAlertDelivery1764750000000 } from './1764750000000-BudgetAlertDelivery';
import { AccessRevision1764800000000 } from './1764800000000-AccessRevision';

/** Every migration, in order. Listed here so the same array serves ts-jest and the build. */
export const MIGRATIONS = [
  InitialSchema1764300000000,
  OrganizationEmailDomains1764400000000,
  GatewayLedgerAndPrices1764600000000,
  Budgets1764700000000,
  BudgetAlertDelivery1764750000000,
  AccessRevision1764800000000,
];
