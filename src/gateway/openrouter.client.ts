import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import http, { IncomingMessage } from 'node:http';
import https from 'node:https';
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

/**
 * The HTTP client of the upstream (OpenRouter or any OpenAI-compatible API). Node's own
 * http/https with a keep-alive agent: connections are pooled and reused, an answer is a
 * readable stream the gateway pipes on (backpressure through TCP both ways), and a
 * request is cancelled by destroying it. No body is ever buffered here.
 */
@Injectable()
export class OpenRouterClient implements OnApplicationShutdown {
  private readonly logger = new Logger(OpenRouterClient.name);
  private readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  /** Where every request goes, parsed once: host, port, protocol and the base path. */
  private readonly target: { protocol: string; hostname: string; port: string; path: string };
  /** The headers every call carries (key, attribution), built once. */
  private readonly fixedHeaders: Record<string, string>;

  constructor(private readonly config: AppConfig) {
    this.base = new URL(`${config.openrouterBaseUrl}/`);
    const secure = this.base.protocol === 'https:';
    this.target = {
      protocol: this.base.protocol,
      // an IPv6 literal is bracketed in a URL, bare in request options
      hostname: this.base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: this.base.port,
      path: this.base.pathname,
    };
    this.fixedHeaders = { authorization: `Bearer ${config.openrouterApiKey}` };
    if (config.openrouterHttpReferer !== '') {
      this.fixedHeaders['http-referer'] = config.openrouterHttpReferer;
    }
    if (config.openrouterXTitle !== '') {
      this.fixedHeaders['x-title'] = config.openrouterXTitle;
    }
    this.transport = secure ? https : http;
    const options = {
      keepAlive: true,
      maxSockets: config.upstreamMaxSockets,
      maxFreeSockets: 256,
      scheduling: 'lifo' as const,
    };
    this.agent = secure ? new https.Agent(options) : new http.Agent(options);
  }

  get configured(): boolean {
    return this.config.openrouterApiKey !== '';
  }

  /**
   * Sends one request and resolves with the answer's head (status, headers) and its body
   * as a stream. Rejects with UpstreamUnavailable when the connection fails or no answer
   * head arrives within UPSTREAM_TIMEOUT_MS; `cancel` cancels it at any time.
   */
  send(
    method: 'GET' | 'POST',
    path: string,
    body: Buffer | null,
    cancel: UpstreamCancel,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = this.transport.request({
        ...this.target,
        path: `${this.target.path}${path.replace(/^\//, '')}`,
        method,
        agent: this.agent,
        headers: body
          ? {
              ...this.fixedHeaders,
              'content-type': 'application/json',
              'content-length': body.length,
              accept: 'application/json, text/event-stream',
            }
          : { ...this.fixedHeaders, accept: 'application/json' },
      });
      // Cancelled by hand: the `signal` request option costs a stream end-of-stream watcher
      // per call. Once the answer has ended the request is marked destroyed, so a late
      // cancel does nothing to the pooled connection.
      cancel.onCancel(() => request.destroy(new UpstreamUnavailable('cancelled', false)));
      const timer = setTimeout(() => {
        request.destroy(
          new UpstreamUnavailable(
            `The upstream did not answer within ${this.config.upstreamTimeoutMs} ms.`,
            true,
          ),
        );
      }, this.config.upstreamTimeoutMs);
      request.once('response', (response) => {
        clearTimeout(timer);
        resolve(response);
      });
      request.once('error', (error) => {
        clearTimeout(timer);
        reject(
          error instanceof UpstreamUnavailable || cancel.cancelled
            ? error
            : new UpstreamUnavailable(
                `The upstream could not be reached (${codeOf(error)}).`,
                false,
              ),
        );
      });
      request.end(body ?? undefined);
    });
  }

  /** GET a JSON document (the catalog), bounded in size. */
  async getJson(path: string, maxBytes = 32 * 1024 * 1024): Promise<unknown> {
    const cancel = new UpstreamCancel();
    const response = await this.send('GET', path, null, cancel);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
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
    if ((response.statusCode ?? 0) >= 400) {
      throw new UpstreamUnavailable(
        `The upstream answered ${response.statusCode} to GET ${path}: ${text.slice(0, 200)}`,
        false,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new UpstreamUnavailable(`The upstream's ${path} is not JSON.`, false);
    }
  }

  onApplicationShutdown(): void {
    this.agent.destroy();
    this.logger.debug('upstream connections closed');
  }
}

function codeOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error);
}
