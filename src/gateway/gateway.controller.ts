import { applyDecorators, Controller, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayCaller } from '../auth/access-level.decorators';
import { CurrentPrincipal } from '../auth/current-principal.decorator';
import { Principal } from '../auth/principal';
import { ChatCompletionRequest, CompletionRequest, EmbeddingRequest } from './dto/openai.dto';
import { OpenAiErrorResponse } from '../common/openai-error';
import { GatewayService } from './gateway.service';

const CALLERS =
  'Call with a web UI session token, or with a gateway key (GATEWAY_API_KEYS) and the forwarded user headers (X-OpenWebUI-User-Id, -Name URL-encoded, -Email, -Role), which create or update the user. Optional X-Organization-Id picks another organization that also grants the model.';

/** Errors every model call can answer, in OpenAI's shape. */
const GatewayErrors = () =>
  applyDecorators(
    ApiResponse({
      status: 400,
      description: 'Invalid body or forwarded user header.',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({
      status: 402,
      description: 'The upstream (or a budget) refused for lack of credit.',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({
      status: 403,
      description: 'model_not_allowed (with the reason), user_pending, or an admin API key.',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({ status: 404, description: 'model_not_found.', type: OpenAiErrorResponse }),
    ApiResponse({
      status: 429,
      description: 'Rate limited (upstream or failed authentications).',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({
      status: 502,
      description: 'The upstream could not be reached or failed.',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({
      status: 503,
      description: 'No upstream key configured.',
      type: OpenAiErrorResponse,
    }),
    ApiResponse({
      status: 504,
      description: 'The upstream did not answer in time.',
      type: OpenAiErrorResponse,
    }),
  );

/**
 * The OpenAI-compatible model calls, forwarded to the upstream (OpenRouter) after the
 * access decision. Bodies are not validated beyond what the gateway needs (model,
 * messages / prompt / input, stream): the rest is passed on unchanged.
 */
@ApiTags('gateway')
@Controller('v1')
@GatewayCaller()
export class GatewayController {
  constructor(private readonly gateway: GatewayService) {}

  @Post('chat/completions')
  @HttpCode(200)
  @ApiOperation({ summary: 'Chat completion (streamed with stream: true)', description: CALLERS })
  @ApiBody({ type: ChatCompletionRequest })
  @ApiOkResponse({
    description: 'The upstream answer, JSON or text/event-stream, as it arrives.',
    content: {
      'application/json': { schema: { type: 'object' } },
      'text/event-stream': { schema: { type: 'string' } },
    },
  })
  @GatewayErrors()
  chat(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.gateway.call('chat.completions', principal, request, reply);
  }

  @Post('completions')
  @HttpCode(200)
  @ApiOperation({ summary: 'Text completion (legacy)', description: CALLERS })
  @ApiBody({ type: CompletionRequest })
  @ApiOkResponse({
    description: 'The upstream answer, JSON or text/event-stream.',
    content: {
      'application/json': { schema: { type: 'object' } },
      'text/event-stream': { schema: { type: 'string' } },
    },
  })
  @GatewayErrors()
  completion(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.gateway.call('completions', principal, request, reply);
  }

  @Post('embeddings')
  @HttpCode(200)
  @ApiOperation({ summary: 'Embeddings', description: CALLERS })
  @ApiBody({ type: EmbeddingRequest })
  @ApiOkResponse({
    description: 'The upstream answer.',
    content: { 'application/json': { schema: { type: 'object' } } },
  })
  @GatewayErrors()
  embeddings(
    @CurrentPrincipal() principal: Principal,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    return this.gateway.call('embeddings', principal, request, reply);
  }
}
