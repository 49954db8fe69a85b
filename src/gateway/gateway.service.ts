import { Inject, Injectable, Logger } from '@nestjs/common';
import { FastifyReply, FastifyRequest } from 'fastify';
import { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { Principal } from '../auth/principal';
import { GatewayError, openAiErrorBody, openAiErrorType } from '../common/openai-error';
import { now } from '../common/time';
import { uuidV7 } from '../common/uuid-v7';
import { AppConfig } from '../config/app-config';
import { AccessService } from '../model-access/access.service';
import { AccessDecision } from '../model-access/access-rule';
import { UsageEventEntity, UsageStatus } from '../usage/entities/usage-event.entity';
import { UsageWriter } from '../usage/usage-writer.service';
import { checkGatewayBody } from './dto/openai.dto';
import {
  AdmissionTicket,
  GATEWAY_ADMISSION,
  GatewayAdmission,
  GatewayEndpoint,
} from './gateway-admission';
import { GatewayCallers, GatewayUser } from './gateway-callers.service';
import {
  OpenRouterClient,
  UpstreamAnswer,
  UpstreamCancel,
  UpstreamUnavailable,
} from './openrouter.client';
import { ReadAnswer, readAnswer, RelayResult, UpstreamRelay } from './upstream-relay';
import { JsonScanner, ScannedAnswer } from './usage-scanner';

const UPSTREAM_PATHS: Record<GatewayEndpoint, string> = {
  'chat.completions': 'chat/completions',
  completions: 'completions',
  embeddings: 'embeddings',
};

/** Why a model was refused, in words a chat user can act on. */
const REFUSALS: Record<string, string> = {
  user_not_found: 'your account is not known to the access service',
  user_pending: 'your account is pending approval',
  model_inactive: 'the model is switched off in the catalog',
  no_membership: 'you are not a member of any organization',
  membership_inactive: 'your membership is suspended',
  organization_inactive: 'your organization is archived',
  grant_inactive: "your organization's grant for it is switched off",
  no_grant: 'none of your organizations has been granted it',
  budget_exhausted: "your organization's budget for this period is spent",
};

/** Largest upstream error body read (to re-shape it); the rest is dropped. */
const MAX_ERROR_BODY = 64 * 1024;

/**
 * Largest non-streamed answer read whole and sent in one write (with its length); larger
 * ones are relayed as they arrive, like streams.
 */
const MAX_WHOLE_ANSWER = 256 * 1024;

/** The decided call: who, through which organization, with which OpenRouter user value. */
interface DecidedCall {
  endpoint: GatewayEndpoint;
  userId: string;
  modelId: string;
  organizationId: string;
  openrouterUser: string;
  stream: boolean;
  body: Record<string, unknown>;
}

/**
 * The OpenAI-compatible gateway in front of the upstream. Every call runs the same named
 * steps: authenticate the caller (the guard), resolve the user (forwarded headers upsert),
 * decide (the access rule, through the same AccessService decision as /access/check), admit
 * (budgets and rate limits: the GATEWAY_ADMISSION seam), forward (the body unchanged but
 * for `user`), and meter (one usage ledger row per forwarded call, written off the path).
 */
@Injectable()
export class GatewayService {
  private readonly logger = new Logger(GatewayService.name);

  constructor(
    private readonly config: AppConfig,
    private readonly callers: GatewayCallers,
    private readonly access: AccessService,
    @Inject(GATEWAY_ADMISSION) private readonly admission: GatewayAdmission,
    private readonly upstream: OpenRouterClient,
    private readonly usage: UsageWriter,
  ) {}

  /** Serves one model call; the answer (or its error) is sent on `reply`. */
  async call(
    endpoint: GatewayEndpoint,
    principal: Principal,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const started = performance.now();
    const input = checkGatewayBody(endpoint, request.body);
    const user = this.resolveUser(principal, request.headers);
    // Each step answers without a promise when it can (a cached user, no budget): an await
    // is paid only where something is read.
    const userId = typeof user === 'string' ? user : await user;
    const decided = this.decide(endpoint, userId, input, request.headers);
    const call = decided instanceof Promise ? await decided : decided;
    const admitted = this.admit(call);
    const ticket = admitted instanceof Promise ? await admitted : admitted;
    await this.forward(call, ticket, started, request, reply);
  }

  /** Step 2: the user the call is for. */
  private resolveUser(
    principal: Principal,
    headers: IncomingHttpHeaders,
  ): string | Promise<string> {
    const user = this.callers.resolve(principal, headers);
    return user instanceof Promise
      ? user.then((resolved) => this.userIdOf(resolved))
      : this.userIdOf(user);
  }

  private userIdOf(user: GatewayUser | null): string {
    if (!user) {
      const header = this.config.forwardedUserHeaders.id;
      throw new GatewayError(
        400,
        `A gateway key may list models, but calling one needs the user: send ${header} (Open WebUI: ENABLE_FORWARD_USER_INFO_HEADERS=true).`,
        'user_required',
        header,
      );
    }
    return user.id;
  }

  /** Step 3: the rule, exactly as /access/check answers it; X-Organization-Id may pick another granting organization. */
  private decide(
    endpoint: GatewayEndpoint,
    userId: string,
    input: ReturnType<typeof checkGatewayBody>,
    headers: IncomingHttpHeaders,
  ): DecidedCall | Promise<DecidedCall> {
    const decision = this.access.decide(userId, input.model);
    return decision instanceof Promise
      ? decision.then((d) => this.decided(endpoint, userId, input, headers, d))
      : this.decided(endpoint, userId, input, headers, decision);
  }

  /** The decided call, or the refusal; X-Organization-Id may pick another granting organization. */
  private decided(
    endpoint: GatewayEndpoint,
    userId: string,
    input: ReturnType<typeof checkGatewayBody>,
    headers: IncomingHttpHeaders,
    decision: AccessDecision,
  ): DecidedCall | Promise<DecidedCall> {
    if (!decision.allowed) {
      if (decision.reason === 'model_not_found') {
        throw new GatewayError(
          404,
          `The model "${input.model}" does not exist in the catalog.`,
          'model_not_found',
          'model',
        );
      }
      throw new GatewayError(
        403,
        `You may not use the model "${input.model}": ${REFUSALS[decision.reason] ?? decision.reason} (${decision.reason}).`,
        'model_not_allowed',
        'model',
      );
    }
    const call: DecidedCall = {
      endpoint,
      userId,
      modelId: input.model,
      organizationId: decision.organizationId!,
      openrouterUser: decision.openrouterUser!,
      stream: input.stream,
      body: input.body,
    };
    const preferred = headers['x-organization-id'];
    return typeof preferred === 'string' && preferred !== '' && preferred !== call.organizationId
      ? this.throughOrganization(call, preferred)
      : call;
  }

  /** The call through the organization the caller prefers, when it grants the model too. */
  private async throughOrganization(call: DecidedCall, preferred: string): Promise<DecidedCall> {
    const granting = await this.access.grantingOrganizations(call.userId, call.modelId);
    const chosen = granting.find((o) => o.id === preferred);
    if (!chosen) {
      throw new GatewayError(
        403,
        `The organization "${preferred}" (X-Organization-Id) does not give you the model "${call.modelId}"; it is granted through ${granting.map((o) => `"${o.id}"`).join(', ')}.`,
        'organization_not_granting',
        'X-Organization-Id',
      );
    }
    return { ...call, organizationId: chosen.id, openrouterUser: chosen.openrouterUser };
  }

  /** Step 4: budgets and rate limits (the default admission lets everything through). */
  private admit(call: DecidedCall): AdmissionTicket | Promise<AdmissionTicket> {
    if (!this.upstream.configured) {
      throw new GatewayError(
        503,
        'The gateway has no upstream key (OPENROUTER_API_KEY is not set).',
        'upstream_not_configured',
      );
    }
    return this.admission.admit({
      userId: call.userId,
      organizationId: call.organizationId,
      modelId: call.modelId,
      endpoint: call.endpoint,
      body: call.body,
    });
  }

  /** Steps 5 and 6: forward with the organization's `user` value, relay the answer, meter it. */
  private async forward(
    call: DecidedCall,
    ticket: AdmissionTicket,
    started: number,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<void> {
    const cancel = new UpstreamCancel();
    let clientClosed = false;
    const clientGone = () => {
      if (!reply.raw.writableFinished) {
        clientClosed = true;
        cancel.cancel();
      }
    };
    reply.raw.once('close', clientGone);
    let metered = false;
    const meter = (
      status: UsageStatus,
      httpStatus: number,
      answer: ScannedAnswer | null,
      firstTokenAt: number | null,
      generationId: string | null,
    ) => {
      if (metered) {
        return;
      }
      metered = true;
      if (clientClosed && status !== 'ok') {
        // Whatever broke after the client left, the call ended because the client went away.
        status = 'aborted';
        httpStatus = 499;
      }
      reply.raw.off('close', clientGone);
      const row = this.ledgerRow(call, request, started, {
        status,
        httpStatus,
        answer,
        firstTokenAt,
        generationId,
      });
      this.usage.record(row);
      const failed = (error: unknown) =>
        this.logger.error({ msg: 'admission settle failed', error: String(error) });
      try {
        const settled = ticket.settle({
          status,
          promptTokens: row.promptTokens,
          completionTokens: row.completionTokens,
          costUsd: row.costUsd,
        });
        if (settled instanceof Promise) {
          settled.catch(failed);
        }
      } catch (error) {
        failed(error);
      }
    };

    const payload = Buffer.from(JSON.stringify({ ...call.body, user: call.openrouterUser }));
    let upstream: UpstreamAnswer;
    try {
      upstream = await this.upstream.send('POST', UPSTREAM_PATHS[call.endpoint], payload, cancel);
    } catch (error) {
      if (cancel.cancelled) {
        meter('aborted', 499, null, null, null);
        return;
      }
      const timedOut = error instanceof UpstreamUnavailable && error.timedOut;
      const status = timedOut ? 504 : 502;
      meter('error', status, null, null, null);
      this.logger.warn({ msg: 'upstream unavailable', error: String(error) });
      throw new GatewayError(
        status,
        error instanceof UpstreamUnavailable ? error.message : 'The upstream could not be reached.',
        timedOut ? 'upstream_timeout' : 'upstream_unavailable',
      );
    }

    const status = upstream.status;
    const generationHeader = upstream.headers['x-generation-id'];
    const generationId = typeof generationHeader === 'string' ? generationHeader : null;
    if (status >= 400) {
      // An upstream refusal before any answer: its status, in OpenAI's error shape.
      const body = await readBounded(upstream.body, MAX_ERROR_BODY);
      meter('error', status, null, null, generationId);
      const retryAfter = upstream.headers['retry-after'];
      if (typeof retryAfter === 'string') {
        void reply.header('retry-after', retryAfter);
      }
      void reply
        .status(status)
        .header('content-type', 'application/json; charset=utf-8')
        .send(upstreamErrorBody(status, body));
      return;
    }

    let prefix: Buffer[] = [];
    const length = Number(upstream.headers['content-length'] ?? Number.NaN);
    if (!call.stream && !(length > MAX_WHOLE_ANSWER)) {
      let read: ReadAnswer;
      try {
        read = await readAnswer(upstream.body, this.config.upstreamIdleTimeoutMs, MAX_WHOLE_ANSWER);
      } catch (error) {
        cancel.cancel();
        meter('error', 502, null, null, generationId);
        if (clientClosed) {
          return;
        }
        throw new GatewayError(
          502,
          `The upstream answer was interrupted: ${(error as Error).message}.`,
          'upstream_interrupted',
        );
      }
      if (read.whole) {
        // Answered first, metered after: the client does not wait for its ledger row. The
        // call is metered even if sending threw (the upstream has answered, and billed it).
        try {
          void this.answerHeaders(reply, status, upstream, false, generationId).send(read.body);
        } finally {
          const scanner = new JsonScanner();
          scanner.push(read.body);
          scanner.end();
          const answer = scanner.answer;
          meter(
            answer.errorMessage === null ? 'ok' : 'error',
            status,
            answer,
            read.firstByteAt,
            generationId,
          );
        }
        return;
      }
      prefix = read.prefix;
    }

    const relay = new UpstreamRelay(
      upstream.body,
      call.stream,
      this.config.upstreamIdleTimeoutMs,
      () => cancel.cancel(),
      (result: RelayResult) =>
        meter(
          result.end,
          result.end === 'aborted' ? 499 : status,
          result.answer,
          result.firstTokenAt,
          generationId,
        ),
      prefix,
    );
    void this.answerHeaders(reply, status, upstream, call.stream, generationId).send(relay);
  }

  /** The status and headers of a relayed answer: the upstream's type and generation id. */
  private answerHeaders(
    reply: FastifyReply,
    status: number,
    upstream: UpstreamAnswer,
    stream: boolean,
    generationId: string | null,
  ): FastifyReply {
    const contentType = upstream.headers['content-type'];
    void reply
      .status(status)
      .header(
        'content-type',
        typeof contentType === 'string'
          ? contentType
          : stream
            ? 'text/event-stream'
            : 'application/json',
      );
    if (generationId) {
      void reply.header('x-generation-id', generationId);
    }
    if (stream) {
      void reply.header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
    }
    return reply;
  }

  private ledgerRow(
    call: DecidedCall,
    request: FastifyRequest,
    started: number,
    outcome: {
      status: UsageStatus;
      httpStatus: number;
      answer: ScannedAnswer | null;
      firstTokenAt: number | null;
      generationId: string | null;
    },
  ): UsageEventEntity {
    const answer = outcome.answer;
    return {
      id: uuidV7(),
      createdAt: now(),
      organizationId: call.organizationId,
      userId: call.userId,
      modelId: call.modelId,
      openrouterUser: call.openrouterUser,
      endpoint: call.endpoint,
      generationId: outcome.generationId ?? answer?.generationId ?? null,
      status: outcome.status,
      httpStatus: outcome.httpStatus,
      promptTokens: answer?.promptTokens ?? null,
      completionTokens: answer?.completionTokens ?? null,
      costUsd: answer?.costUsd ?? null,
      latencyMs: Math.round(performance.now() - started),
      ttftMs: outcome.firstTokenAt === null ? null : Math.round(outcome.firstTokenAt - started),
      streamed: call.stream,
      requestId: String(request.id).slice(0, 128),
    };
  }
}

/** Reads at most `max` bytes of a response (the rest is discarded). */
async function readBounded(response: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      if (size < max) {
        chunks.push(chunk.subarray(0, max - size));
      }
      size += chunk.length;
    }
  } catch {
    // a broken error body: whatever arrived is enough
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The upstream's error, re-shaped as OpenAI's `{ error: { message, type, code, param } }`. */
function upstreamErrorBody(status: number, text: string): ReturnType<typeof openAiErrorBody> {
  let message = `The upstream answered ${status}.`;
  let code: string | null = null;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown; code?: unknown } };
    if (typeof parsed.error?.message === 'string' && parsed.error.message !== '') {
      message = parsed.error.message;
    }
    if (typeof parsed.error?.code === 'string') {
      code = parsed.error.code;
    }
  } catch {
    if (text.trim() !== '' && text.length < 500) {
      message = `The upstream answered ${status}: ${text.trim()}`;
    }
  }
  code ??=
    status === 402
      ? 'insufficient_credits'
      : status === 429
        ? 'rate_limit_exceeded'
        : status >= 500
          ? 'upstream_error'
          : null;
  return openAiErrorBody(message, status, code, null, openAiErrorType(status));
}
