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

  constructor(private readonly config: AppConfig) {
    this.base = new URL(`${config.openrouterBaseUrl}/`);
    const secure = this.base.protocol === 'https:';
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

  /** The headers every upstream call carries: the key and the optional attribution. */
  private headers(extra: Record<string, string | number>): Record<string, string | number> {
    const headers: Record<string, string | number> = {
      authorization: `Bearer ${this.config.openrouterApiKey}`,
      ...extra,
    };
    if (this.config.openrouterHttpReferer !== '') {
      headers['http-referer'] = this.config.openrouterHttpReferer;
    }
    if (this.config.openrouterXTitle !== '') {
      headers['x-title'] = this.config.openrouterXTitle;
    }
    return headers;
  }

  /**
   * Sends one request and resolves with the answer's head (status, headers) and its body
   * as a stream. Rejects with UpstreamUnavailable when the connection fails or no answer
   * head arrives within UPSTREAM_TIMEOUT_MS; `signal` cancels it at any time.
   */
  send(
    method: 'GET' | 'POST',
    path: string,
    body: Buffer | null,
    signal: AbortSignal,
  ): Promise<IncomingMessage> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    return new Promise((resolve, reject) => {
      const request = this.transport.request(url, {
        method,
        agent: this.agent,
        signal,
        headers: this.headers(
          body
            ? {
                'content-type': 'application/json',
                'content-length': body.length,
                accept: 'application/json, text/event-stream',
              }
            : { accept: 'application/json' },
        ),
      });
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
          error instanceof UpstreamUnavailable || signal.aborted
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
    const controller = new AbortController();
    const response = await this.send('GET', path, null, controller.signal);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        controller.abort();
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
