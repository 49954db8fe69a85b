import { Injectable } from '@nestjs/common';
import { TallyCounter } from '../metrics/tally-counter';
import { UsageEventEntity } from './entities/usage-event.entity';

export const GATEWAY_REQUESTS = 'gateway_requests_total';
export const GATEWAY_TOKENS = 'gateway_tokens_total';
export const GATEWAY_COST = 'gateway_cost_usd_total';

/** Prometheus counters of the gateway's calls, tokens and cost, by organization. */
@Injectable()
export class UsageMetrics {
  private readonly requests = TallyCounter.registered(
    GATEWAY_REQUESTS,
    'Calls forwarded upstream by the gateway, by organization, endpoint and status (ok, error, aborted).',
    ['organization', 'endpoint', 'status'],
  );
  private readonly tokens = TallyCounter.registered(
    GATEWAY_TOKENS,
    'Tokens reported by the upstream, by organization and kind (prompt, completion).',
    ['organization', 'kind'],
  );
  private readonly cost = TallyCounter.registered(
    GATEWAY_COST,
    "Cost in USD reported by the upstream's usage, by organization.",
    ['organization'],
  );

  record(row: UsageEventEntity): void {
    // Organization ids hold no space (they are identifiers): a space joins a series' key.
    const organization = row.organizationId;
    this.requests.inc(`${organization} ${row.endpoint} ${row.status}`, [
      organization,
      row.endpoint,
      row.status,
    ]);
    if (row.promptTokens) {
      this.tokens.inc(`${organization} prompt`, [organization, 'prompt'], row.promptTokens);
    }
    if (row.completionTokens) {
      this.tokens.inc(
        `${organization} completion`,
        [organization, 'completion'],
        row.completionTokens,
      );
    }
    if (row.costUsd) {
      this.cost.inc(organization, [organization], row.costUsd);
    }
  }
}
