import { STATUS_CODES } from 'node:http';
import { isOpenAiPath, openAiErrorBody } from './openai-error';

const DETAILS: Record<string, string> = {
  FST_ERR_BAD_URL: 'The request path is not a valid URL (bad percent-encoding or characters).',
  FST_ERR_MAX_PARAM_LENGTH: 'A path parameter is longer than the server accepts.',
};

/** The parts of Fastify's error, request and reply used here (Nest's adapter bundles its own fastify types). */
interface FrameworkError {
  code: string;
  statusCode?: number;
}
interface ProblemReply {
  status(code: number): ProblemReply;
  header(name: string, value: string): ProblemReply;
  send(payload: unknown): unknown;
}

/**
 * Fastify's `frameworkErrors`: errors its router raises before any route (and so before
 * Nest's exception filter) leave as problem+json too, without echoing the raw path.
 */
export function sendFrameworkProblem(
  error: FrameworkError,
  request: { id: unknown; url?: string },
  reply: unknown,
): void {
  const status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 400;
  const detail = DETAILS[error.code] ?? 'The request could not be routed.';
  if (isOpenAiPath(request.url ?? '')) {
    void (reply as ProblemReply)
      .status(status)
      .header('content-type', 'application/json; charset=utf-8')
      .header('x-request-id', String(request.id))
      .send(openAiErrorBody(detail, status));
    return;
  }
  void (reply as ProblemReply)
    .status(status)
    .header('content-type', 'application/problem+json; charset=utf-8')
    .header('x-request-id', String(request.id))
    .send({
      type: 'about:blank',
      title: STATUS_CODES[status] ?? 'Error',
      status,
      detail,
      request_id: String(request.id),
    });
}
