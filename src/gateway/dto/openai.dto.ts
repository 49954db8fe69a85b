import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { GatewayError } from '../../common/openai-error';
import { idProblems, MODEL_ID_RULE } from '../../common/validators';
import { GatewayEndpoint } from '../gateway-admission';

export class ChatMessage {
  @ApiProperty({ example: 'user', description: 'system, user, assistant, tool...' }) role: string;
  @ApiPropertyOptional({
    description: 'Text, or an array of content parts (text, images...), passed on unchanged.',
  })
  content?: unknown;
}

const PASSED_ON =
  'Every other field (tools, response_format, images, provider routing, max_tokens...) goes upstream unchanged; `user` is replaced by the OpenRouter value of the granting organization.';

export class ChatCompletionRequest {
  @ApiProperty({ example: 'openai/gpt-4o', description: 'A catalog model id the caller may use.' })
  model: string;
  @ApiProperty({ type: [ChatMessage], description: PASSED_ON }) messages: ChatMessage[];
  @ApiPropertyOptional({ description: 'true: Server-Sent Events, passed on as they arrive.' })
  stream?: boolean;
}

export class CompletionRequest {
  @ApiProperty({ example: 'openai/gpt-3.5-turbo-instruct' }) model: string;
  @ApiPropertyOptional({ description: `The prompt (a string or an array), required. ${PASSED_ON}` })
  prompt?: unknown;
  @ApiPropertyOptional() stream?: boolean;
}

export class EmbeddingRequest {
  @ApiProperty({ example: 'openai/text-embedding-3-small' }) model: string;
  @ApiPropertyOptional({ description: `The input (a string or an array), required. ${PASSED_ON}` })
  input?: unknown;
}

function invalid(message: string, param: string): GatewayError {
  return new GatewayError(400, message, 'invalid_request', param);
}

/** The fields the gateway itself needs, validated; everything else is the upstream's business. */
export function checkGatewayBody(
  endpoint: GatewayEndpoint,
  body: unknown,
): { model: string; stream: boolean; body: Record<string, unknown> } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalid('The body must be a JSON object.', 'body');
  }
  const fields = body as Record<string, unknown>;
  const modelProblem = idProblems(fields.model, {
    ...MODEL_ID_RULE,
    field: 'model',
    pattern: undefined,
  })[0];
  if (modelProblem) {
    throw invalid(`${modelProblem}.`, 'model');
  }
  if (fields.stream !== undefined && fields.stream !== null && typeof fields.stream !== 'boolean') {
    throw invalid('stream must be a boolean.', 'stream');
  }
  if (fields.user !== undefined && fields.user !== null && typeof fields.user !== 'string') {
    throw invalid('user must be a string.', 'user');
  }
  if (endpoint === 'chat.completions') {
    const messages = fields.messages;
    if (!Array.isArray(messages) || messages.length === 0) {
      throw invalid('messages must be a non-empty array of messages.', 'messages');
    }
    const bad = messages.findIndex(
      (m) =>
        m === null ||
        typeof m !== 'object' ||
        Array.isArray(m) ||
        typeof (m as Record<string, unknown>).role !== 'string',
    );
    if (bad !== -1) {
      throw invalid(`messages[${bad}] must be an object with a string role.`, 'messages');
    }
  } else {
    const name = endpoint === 'completions' ? 'prompt' : 'input';
    const value = fields[name];
    if (typeof value !== 'string' && !(Array.isArray(value) && value.length > 0)) {
      throw invalid(`${name} must be a string or a non-empty array.`, name);
    }
    if (endpoint === 'embeddings' && fields.stream === true) {
      throw invalid('embeddings cannot be streamed.', 'stream');
    }
  }
  return { model: fields.model as string, stream: fields.stream === true, body: fields };
}
