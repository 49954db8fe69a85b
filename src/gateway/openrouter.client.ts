import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Readable } from 'node:stream';
import { Pool } from 'undici';
import { outsideRequestContext } from '../common/request-context';
import { AppConfig } from '../config/app-config';

/** The upstream did not answer, or not in time (before any byte of its answer). */
export class UpstreamUnavailable extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
  }
}

/**
 * Cancels one upstream request, at any time (before it is sent, while waiting for the
 * answer, or while it is relayed). A plain object: an AbortController and its signal cost
 * an event target and a listener per call, measurable on the gateway's CPU per call.
 */
export class UpstreamCancel {
  private whenCancelled: (() => void) | null = null;
  private done = false;

  get cancelled(): boolean {
    return this.done;
  }

  cancel(): void {
    if (this.done) {
      return;
    }
    this.done = true;
    const action = this.whenCancelled;
    this.whenCancelled = null;
    action?.();
  }

  /** Runs `action` on cancel (now, if already cancelled); one action at a time. */
  onCancel(action: () => void): void {
    if (this.done) {
      action();
    } else {
      this.whenCancelled = action;
    }
  }
}

/** The upstream's answer: its status and headers, and its body as a stream. */
export interface UpstreamAnswer {
  status: number;
  /** Header names in lower case, as Node's own http client gives them. */
  headers: Record<string, string | string[] | undefined>;
  /** Ends when the answer has ended; errors when the connection breaks before that. */
  body: Readable;
}

/**
 * What undici watches to abort one request: the smallest event-emitter its `signal` option
 * accepts (an AbortController costs an event target per call). Aborting before the answer's
 * head rejects the request with `reason`; after it, destroys the answer's body with it.
 */
class RequestSignal {
  aborted = false;
  reason: Error | undefined = undefined;
  private listener: (() => void) | null = null;

  abort(reason: Error): void {
    if (this.aborted) {
      return;
    }
    this.aborted = true;
    this.reason = reason;
    const listener = this.listener;
    this.listener = null;
    listener?.();
  }

  on(_event: 'abort', listener: () => void): this {
    this.listener = listener;
    return this;
  }

  once(event: 'abort', listener: () => void): this {
    return this.on(event, listener);
  }

  removeListener(_event: 'abort', listener: () => void): this {
    if (this.listener === listener) {
      this.listener = null;
    }
    return this;
  }
}

/**
 * The HTTP client of the upstream (OpenRouter or any OpenAI-compatible API): an undici pool
 * of keep-alive connections to its origin (in a bare proxy on the project's test machine,
 * 60 to 70 µs of CPU per call against 90 to 100 with Node's own http client and a keep-alive
 * agent; see BENCHMARKS.md). An answer's body is a readable stream the gateway pipes on
 * (backpressure through TCP both ways), and a request is cancelled by aborting it. No body
 * is ever buffered here. undici's own head and body timeouts are off: UPSTREAM_TIMEOUT_MS
 * (here) and UPSTREAM_IDLE_TIMEOUT_MS (the relay) govern instead.
 */
@Injectable()
export class OpenRouterClient implements OnApplicationShutdown {
  private readonly logger = new Logger(OpenRouterClient.name);
  private readonly pool: Pool;
  /** The base URL's path, with a trailing slash: the endpoint paths are relative to it. */
  private readonly basePath: string;
  /**
   * The headers of a call with a JSON body and of one without, as undici's flat name/value
   * lists: the key, the attribution and what is sent and accepted, built once (undici
   * reads them and sets the body's length itself).
   */
  private readonly headers: { withBody: string[]; withoutBody: string[] };

  constructor(private readonly config: AppConfig) {
    const base = new URL(`${config.openrouterBaseUrl}/`);
    this.basePath = base.pathname;
    const fixed = ['authorization', `Bearer ${config.openrouterApiKey}`];
    if (config.openrouterHttpReferer !== '') {
      fixed.push('http-referer', config.openrouterHttpReferer);
    }
    if (config.openrouterXTitle !== '') {
      fixed.push('x-title', config.openrouterXTitle);
    }
    this.headers = {
      withBody: [
        ...fixed,
        'content-type',
        'application/json',
        'accept',
        'application/json, text/event-stream',
      ],
      withoutBody: [...fixed, 'accept', 'application/json'],
    };
    this.pool = new Pool(base.origin, {
      connections: config.upstreamMaxSockets,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  get configured(): boolean {
    return this.config.openrouterApiKey !== '';
  }

  /**
   * Sends one request and resolves with the answer's head (status, headers) and its body
   * as a stream. Rejects with UpstreamUnavailable when the connection fails or no answer
   * head arrives within UPSTREAM_TIMEOUT_MS; `cancel` cancels it at any time.
   */
  async send(
    method: 'GET' | 'POST',
    path: string,
    body: Buffer | null,
    cancel: UpstreamCancel,
  ): Promise<UpstreamAnswer> {
    const signal = new RequestSignal();
    cancel.onCancel(() => signal.abort(new UpstreamUnavailable('cancelled', false)));
    const timer = setTimeout(() => {
      signal.abort(
        new UpstreamUnavailable(
          `The upstream did not answer within ${this.config.upstreamTimeoutMs} ms.`,
          true,
        ),
      );
    }, this.config.upstreamTimeoutMs);
    try {
      // A connection the pool opens for this call outlives it: opened inside the call's
      // request context, it would keep that request (its reply, its body) alive for as long
      // as it stays in the pool.
      const answer = await outsideRequestContext(() =>
        this.pool.request({
          path: `${this.basePath}${path.replace(/^\//, '')}`,
          method,
          signal,
          headers: body ? this.headers.withBody : this.headers.withoutBody,
          body,
        }),
      );
      return { status: answer.statusCode, headers: answer.headers, body: answer.body };
    } catch (error) {
      throw error instanceof UpstreamUnavailable || cancel.cancelled
        ? error
        : new UpstreamUnavailable(`The upstream could not be reached (${codeOf(error)}).`, false);
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET a JSON document (the catalog), bounded in size. */
  async getJson(path: string, maxBytes = 32 * 1024 * 1024): Promise<unknown> {
    const cancel = new UpstreamCancel();
    const response = await this.send('GET', path, null, cancel);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        cancel.cancel();
        throw new UpstreamUnavailable(
          `The upstream's ${path} is larger than ${maxBytes} bytes.`,
          false,
        );
      }
      chunks.push(chunk);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    if (response.status >= 400) {
      throw new UpstreamUnavailable(
        `The upstream answered ${response.status} to GET ${path}: ${text.slice(0, 200)}`,
        false,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UpstreamUnavailable(`The upstream's ${path} is not JSON.`, false);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.pool.destroy();
    this.logger.debug('upstream connections closed');
  }
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
