import {
  ArgumentsHost,
  Catch,
  ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { FastifyReply, FastifyRequest } from 'fastify';
import { databaseErrorKind } from './database-errors';
import { GatewayError, isOpenAiPath, openAiErrorBody } from './openai-error';
import { FieldProblem, ProblemResponse } from './problem.dto';
import { ValidationFailedException } from './validation';

/** Readable details for errors Fastify raises before a handler runs. */
const FASTIFY_DETAILS: Record<number, string> = {
  413: 'The request body is larger than the configured limit (BODY_LIMIT_BYTES).',
  415: 'Send the body as application/json.',
};

/**
 * Every error leaves as RFC 9457 application/problem+json with the request id.
 * 5xx are logged with the request id; no stack, SQL or driver text reaches the client.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    this.send(exception, ctx.getRequest<FastifyRequest>(), ctx.getResponse<FastifyReply>());
  }

  /** Answers the request with the problem for `exception` (also used outside Nest's pipeline). */
  send(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const problem = this.toProblem(exception, request);
    if (problem.status >= 500) {
      this.logger.error({
        msg: 'request failed',
        request_id: request.id,
        method: request.method,
        route: request.routeOptions?.url,
        error: exception instanceof Error ? exception.stack : String(exception),
      });
    }
    if (isOpenAiPath(request.url)) {
      // The gateway speaks OpenAI's error shape: clients read error.message.
      const gateway = exception instanceof GatewayError ? exception : null;
      const param = problem.errors?.[0]?.field ?? null;
      void reply
        .status(problem.status)
        .header('content-type', 'application/json; charset=utf-8')
        .send(
          openAiErrorBody(
            problem.detail,
            problem.status,
            gateway?.code ?? defaultCode(problem.status),
            gateway?.param ?? param,
            gateway?.type,
          ),
        );
      return;
    }
    void reply
      .status(problem.status)
      .header('content-type', 'application/problem+json; charset=utf-8')
      .send(problem);
  }

  private toProblem(exception: unknown, request: FastifyRequest): ProblemResponse {
    let status = HttpStatus.INTERNAL_SERVER_ERROR;
    let detail = 'An unexpected error occurred; the request id identifies it in the logs.';
    let errors: FieldProblem[] | undefined;
    if (exception instanceof ValidationFailedException) {
      status = HttpStatus.BAD_REQUEST;
      errors = exception.problems;
      detail = errors.length === 1 ? errors[0].message : `${errors.length} fields are invalid.`;
    } else if (exception instanceof HttpException) {
      status = exception.getStatus();
      detail = this.detailOf(exception, status);
    } else {
      const kind = databaseErrorKind(exception);
      if (kind === 'unique') {
        status = HttpStatus.CONFLICT;
        detail = 'A concurrent request created the same resource; retry to see its current state.';
      } else if (kind === 'foreign_key') {
        status = HttpStatus.CONFLICT;
        detail = 'A resource this request refers to was removed meanwhile; retry.';
      } else if (kind === 'busy') {
        status = HttpStatus.SERVICE_UNAVAILABLE;
        detail = 'The database is busy; retry the request.';
      }
    }
    return {
      type: 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      instance: safeInstance(request.url),
      request_id: String(request.id),
      ...(errors ? { errors } : {}),
    };
  }

  private detailOf(exception: HttpException, status: number): string {
    if (FASTIFY_DETAILS[status]) {
      return FASTIFY_DETAILS[status];
    }
    const response = exception.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : ((response as { message?: unknown }).message ?? exception.message);
    const text = Array.isArray(message) ? message.join('; ') : String(message);
    if (status === 404 && text.startsWith('Cannot ')) {
      return 'No route matches this method and path.';
    }
    if (status === 400 && /JSON|Unexpected|body/i.test(text) && text.length < 300) {
      return `The request body is not valid JSON: ${text}`;
    }
    return text;
  }
}

/** OpenAI's codes for the refusals every route can give. */
function defaultCode(status: number): string | null {
  switch (status) {
    case 401:
      return 'invalid_api_key';
    case 429:
      return 'rate_limit_exceeded';
    case 404:
      return 'not_found';
    default:
      return null;
  }
}

function safeInstance(url: string): string {
  const path = url.split('?')[0];
  return path.length > 500 ? `${path.slice(0, 500)}...` : path;
}
