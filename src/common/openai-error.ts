import { HttpException } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';

/** OpenAI's error body, which the OpenAI SDKs and Open WebUI read (`error.message`). */
export interface OpenAiErrorBody {
  error: { message: string; type: string; code: string | null; param: string | null };
}

/** Paths of the OpenAI-compatible gateway, whose errors use OpenAI's shape. */
export function isOpenAiPath(url: string): boolean {
  return url === '/v1' || url.startsWith('/v1/') || url.startsWith('/v1?');
}

const TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'insufficient_quota',
  403: 'permission_error',
  404: 'not_found_error',
  408: 'timeout_error',
  409: 'conflict_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
};

/** OpenAI's error type for a status. */
export function openAiErrorType(status: number): string {
  return TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/**
 * An error of the /v1 gateway with OpenAI's `code` and `param` (e.g. 403 model_not_allowed,
 * 404 model_not_found). Outside /v1 it renders as any HttpException (problem+json).
 */
export class GatewayError extends HttpException {
  constructor(
    status: number,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly type: string = openAiErrorType(status),
  ) {
    super(message, status);
  }
}

export function openAiErrorBody(
  message: string,
  status: number,
  code: string | null = null,
  param: string | null = null,
  type = openAiErrorType(status),
): OpenAiErrorBody {
  return { error: { message, type, code, param } };
}

export class OpenAiErrorDetail {
  @ApiProperty({ example: 'Model "openai/o1" is not available to you: no_grant.' }) message: string;
  @ApiProperty({ example: 'permission_error' }) type: string;
  @ApiProperty({ nullable: true, type: String, example: 'model_not_allowed' }) code: string | null;
  @ApiProperty({ nullable: true, type: String, example: null }) param: string | null;
}

export class OpenAiErrorResponse {
  @ApiProperty({ type: OpenAiErrorDetail }) error: OpenAiErrorDetail;
}
