import { UsageStatus } from '../usage/entities/usage-event.entity';

/** A call about to be forwarded, as the admission step sees it. */
export interface AdmissionRequest {
  userId: string;
  organizationId: string;
  modelId: string;
  endpoint: GatewayEndpoint;
  /** The request body as it will go upstream (read it, never change it). */
  body: Readonly<Record<string, unknown>>;
}

/** What the call cost, told to the admission once it is over (whatever its outcome). */
export interface AdmissionOutcome {
  status: UsageStatus;
  promptTokens: number | null;
  completionTokens: number | null;
  costUsd: number | null;
}

/** An admitted call: settle() is called exactly once, after the call ends or fails. */
export interface AdmissionTicket {
  settle(outcome: AdmissionOutcome): void | Promise<void>;
}

export type GatewayEndpoint = 'chat.completions' | 'completions' | 'embeddings';

/**
 * Step four of the gateway pipeline: may this allowed call go upstream now (budgets, rate
 * limits)? To refuse, throw a GatewayError (402 budget_exceeded, 429 with Retry-After via
 * `headers`). Bound under the GATEWAY_ADMISSION token; the default admits everything.
 */
export interface GatewayAdmission {
  /** The ticket, without a promise when nothing needs to be read or written (no limits). */
  admit(request: AdmissionRequest): AdmissionTicket | Promise<AdmissionTicket>;
}

export const GATEWAY_ADMISSION = Symbol('GATEWAY_ADMISSION');
