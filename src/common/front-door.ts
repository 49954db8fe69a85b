import { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { pipeline, Readable } from 'node:stream';
import { RequestObserver } from '../metrics/request-observer';

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * What a front door needs of the application to answer as Fastify would: the functions
 * Fastify's own hooks use for every other answer, so that both paths give the same request
 * id, headers, metrics and request line.
 */
export interface FrontDoorOptions {
  /** The request id of a request (the adapter's genReqId). */
  requestId(headers: IncomingHttpHeaders): string;
  /** The headers every JSON answer carries (the security headers of the onRequest hook). */
  answerHeaders: Record<string, string>;
  /** Records an answered request (the onResponse hook's metrics and request line). */
  observe: RequestObserver;
  /** The query string parser Fastify is configured with. */
  parseQuery(text: string): Record<string, unknown>;
  /** The longest path parameter Fastify's router matches. */
  maxParamLength: number;
  /** CORS is enabled: requests with an Origin header go through Fastify's CORS hook. */
  cors: boolean;
  /** Proxies are trusted: requests with X-Forwarded-For go through Fastify (request.ip). */
  trustsProxies: boolean;
  /** The largest request body Fastify accepts (its bodyLimit). */
  bodyLimit: number;
  /**
   * Fastify's JSON body parser for the text of a body: the value, or undefined for a blank
   * body; throws the error Fastify's parser would answer with.
   */
  parseJsonBody(text: string): unknown;
}

/** A request listener of the HTTP server (Fastify's, or a front door's). */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Puts `door` in front of the server's current request listener (Fastify's, or another
 * door's): `door` gets every request first, with the listener it must hand on to for the
 * requests it does not answer itself.
 */
export function putInFront(
  server: Server,
  door: (req: IncomingMessage, res: ServerResponse, next: RequestListener) => void,
): void {
  const [next] = server.listeners('request') as RequestListener[];
  server.removeListener('request', next);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => door(req, res, next));
}

/**
 * True when a request may be answered by a front door at all: the server is not closing
 * (Fastify answers 503 then), and no hook of Fastify's would act on it (CORS for an Origin,
 * the trusted proxies' X-Forwarded-For for request.ip).
 */
export function doorMayAnswer(
  server: Server,
  headers: IncomingHttpHeaders,
  door: FrontDoorOptions,
): boolean {
  return (
    server.listening &&
    !(door.cors && headers.origin !== undefined) &&
    !(door.trustsProxies && headers['x-forwarded-for'] !== undefined)
  );
}

/** The part of FastifyRequest the fast routes read, for a request answered by a front door. */
export class DoorRequest {
  readonly routeOptions: { url: string };
  body: unknown = undefined;
  [key: string]: unknown;

  constructor(
    readonly raw: IncomingMessage,
    readonly method: string,
    readonly id: string,
    readonly url: string,
    readonly headers: IncomingHttpHeaders,
    readonly query: Record<string, unknown>,
    readonly params: Record<string, string>,
    route: string,
  ) {
    this.routeOptions = { url: route };
  }

  get ip(): string | undefined {
    return this.raw.socket.remoteAddress;
  }
}

/**
 * The part of FastifyReply the fast routes, the gateway and ProblemFilter use. send() writes
 * the answer: JSON text (a string or a value), a Buffer, or a Readable piped to the client
 * (a client that goes away destroys it, as Fastify does).
 */
export class DoorReply {
  statusCode = 200;
  sent = false;
  /** Headers set on this answer, lower-case name then value (ahead of the shared ones). */
  private readonly own: string[] = [];

  constructor(
    readonly raw: ServerResponse,
    /** The headers every answer of the door carries, name then value. */
    private readonly shared: readonly string[],
    private readonly requestId: string,
    /** Called once the answer is written (a stream: once it ended or broke). */
    private readonly done: (status: number) => void,
  ) {}

  code(status: number): this {
    this.statusCode = status;
    return this;
  }

  status(status: number): this {
    return this.code(status);
  }

  header(name: string, value: unknown): this {
    const key = name.toLowerCase();
    const at = this.indexOf(key);
    if (at >= 0) {
      this.own[at + 1] = String(value);
    } else {
      this.own.push(key, String(value));
    }
    return this;
  }

  headers(values: Record<string, string>): this {
    for (const name in values) {
      this.header(name, values[name]);
    }
    return this;
  }

  send(payload: unknown): this {
    if (this.sent) {
      return this;
    }
    this.sent = true;
    if (payload instanceof Readable) {
      this.raw.writeHead(this.statusCode, this.fields(JSON_TYPE, null));
      pipeline(payload, this.raw, () => this.done(this.statusCode));
      return this;
    }
    const body =
      typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    // Fastify's default type for a Buffer it is given without one.
    const type = Buffer.isBuffer(body) ? 'application/octet-stream' : JSON_TYPE;
    this.raw.writeHead(this.statusCode, this.fields(type, Buffer.byteLength(body)));
    this.raw.end(body);
    this.done(this.statusCode);
    return this;
  }

  /** Where this answer's own header `name` (lower-case) is in `own`, or -1. */
  private indexOf(name: string): number {
    for (let i = 0; i < this.own.length; i += 2) {
      if (this.own[i] === name) {
        return i;
      }
    }
    return -1;
  }

  private has(name: string): boolean {
    return this.indexOf(name) >= 0;
  }

  /**
   * The answer's headers as one flat [name, value, …] array (no object per answer): its own
   * values first, then the shared ones it did not set, the request id, the type unless set,
   * and the length when known.
   */
  private fields(defaultType: string, length: number | null): string[] {
    const fields = [...this.own];
    for (let i = 0; i < this.shared.length; i += 2) {
      if (!this.has(this.shared[i])) {
        fields.push(this.shared[i], this.shared[i + 1]);
      }
    }
    fields.push('x-request-id', this.requestId);
    if (!this.has('content-type')) {
      fields.push('content-type', defaultType);
    }
    if (length !== null) {
      fields.push('content-length', String(length));
    }
    return fields;
  }
}

/** Makes a front door's reply to one request (see doorReplies). */
export type DoorReplyMaker = (
  res: ServerResponse,
  requestId: string,
  method: string,
  route: string,
  started: number,
) => DoorReply;

/**
 * The replies of a front door: the shared headers flattened once, and each reply observed
 * when sent (the duration histogram and request line, timed from `started`, the moment the
 * request arrived), as Fastify's onResponse hook observes its own.
 */
export function doorReplies(door: FrontDoorOptions): DoorReplyMaker {
  const shared = Object.entries(door.answerHeaders).flat();
  return (res, requestId, method, route, started) =>
    new DoorReply(res, shared, requestId, (status) =>
      door.observe(requestId, method, route, status, performance.now() - started),
    );
}
