import { Injectable } from '@nestjs/common';
import { Counter, register } from 'prom-client';
import { UsageEventEntity } from './entities/usage-event.entity';

export const GATEWAY_REQUESTS = 'gateway_requests_total';
export const GATEWAY_TOKENS = 'gateway_tokens_total';
export const GATEWAY_COST = 'gateway_cost_usd_total';

/** A counter of the default registry, registered once per process (tests boot several apps). */
function counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
  const existing = register.getSingleMetric(name);
  return (existing as Counter<L> | undefined) ?? new Counter({ name, help, labelNames });
}

/** Prometheus counters of the gateway's calls, tokens and cost, by organization. */
@Injectable()
export class UsageMetrics {
  private readonly requests = counter(
    GATEWAY_REQUESTS,
    'Calls forwarded upstream by the gateway, by organization, endpoint and status (ok, error, aborted).',
    ['organization', 'endpoint', 'status'],
  );
  private readonly tokens = counter(
    GATEWAY_TOKENS,
    'Tokens reported by the upstream, by organization and kind (prompt, completion).',
    ['organization', 'kind'],
  );
  private readonly cost = counter(
    GATEWAY_COST,
    "Cost in USD reported by the upstream's usage, by organization.",
    ['organization'],
  );

  record(row: UsageEventEntity): void {
    const organization = row.organizationId;
    this.requests.inc({ organization, endpoint: row.endpoint, status: row.status });
    if (row.promptTokens) {
      this.tokens.inc({ organization, kind: 'prompt' }, row.promptTokens);
    }
    if (row.completionTokens) {
      this.tokens.inc({ organization, kind: 'completion' }, row.completionTokens);
    }
    if (row.costUsd) {
      this.cost.inc({ organization }, row.costUsd);
    }
  }
}
