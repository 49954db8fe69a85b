import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app';
import { AppOptions } from '../../src/app.module';
import { signWebUiToken } from '../../src/auth/jwt';
import { JsonLogger } from '../../src/common/json-logger';
import { AppConfig } from '../../src/config/app-config';
import { loadConfig } from '../../src/config/load-config';
import { createTestDatabase, TestDatabase } from './test-database';

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef-0123456789';
export const WEBUI_SECRET = 'test-webui-secret-0123456789abcdef-01234';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: any;
  text: string;
}

export interface RequestOptions {
  /** Bearer token; undefined: ADMIN_KEY (or the client's default), null: none. */
  token?: string | null;
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as it is (application/json unless headers say otherwise). */
  rawBody?: string;
}

/** The API's shorthands over one request method, in process (TestApp) or over HTTP (HttpApi). */
export abstract class ApiCalls {
  abstract request(method: string, url: string, options?: RequestOptions): Promise<Reply>;

  get(url: string, token?: string | null): Promise<Reply> {
    return this.request('GET', url, { token });
  }
  put(url: string, body: unknown, token?: string | null): Promise<Reply> {
    return this.request('PUT', url, { body, token });
  }
  post(url: string, body: unknown, token?: string | null): Promise<Reply> {
    return this.request('POST', url, { body, token });
  }
  patch(url: string, body: unknown, token?: string | null): Promise<Reply> {
    return this.request('PATCH', url, { body, token });
  }
  delete(url: string, token?: string | null): Promise<Reply> {
    return this.request('DELETE', url, { token });
  }
}

/** The headers and body of a request: Bearer token (or the default), JSON body or raw text. */
export function encodeRequest(
  options: RequestOptions,
  defaultToken: string,
): { headers: Record<string, string>; payload: string | undefined } {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const token = options.token === undefined ? defaultToken : options.token;
  if (token !== null) {
    headers.authorization = `Bearer ${token}`;
  }
  let payload: string | undefined;
  if (options.rawBody !== undefined) {
    payload = options.rawBody;
    headers['content-type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    payload = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  return { headers, payload };
}

/** An answer as the tests read it: the body parsed when it is JSON. */
export function toReply(status: number, headers: Reply['headers'], text: string): Reply {
  let body: any = undefined;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status, headers, body, text };
}

/** A session token for a web UI user, as Open WebUI would issue it (valid for an hour). */
export function webUiToken(userId: string, claims: Record<string, unknown> = {}): string {
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return signWebUiToken({ id: userId, exp, ...claims }, WEBUI_SECRET);
}

/** A running service on a fresh database, called in-process through Fastify's inject. */
export class TestApp extends ApiCalls {
  constructor(
    readonly app: NestFastifyApplication,
    readonly database: TestDatabase,
    readonly config: AppConfig,
  ) {
    super();
  }

  /** A session token for a web UI user, as Open WebUI would issue it (valid for an hour). */
  tokenFor(userId: string, claims: Record<string, unknown> = {}): string {
    return webUiToken(userId, claims);
  }

  async request(method: string, url: string, options: RequestOptions = {}): Promise<Reply> {
    const { headers, payload } = encodeRequest(options, ADMIN_KEY);
    const res = await this.app.inject({ method: method as 'GET', url, headers, payload });
    return toReply(res.statusCode, res.headers, res.body);
  }

  async close(): Promise<void> {
    await this.app.close();
    await this.database.drop();
  }
}

/** Boots the real AppModule through migrations on a fresh database. */
export async function startTestApp(
  env: Record<string, string> = {},
  database?: TestDatabase,
  options: AppOptions = {},
): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  try {
    const config = loadConfig({
      DATABASE_URL: db.url,
      ADMIN_API_KEYS: ADMIN_KEY,
      WEBUI_SECRET_KEY: WEBUI_SECRET,
      LOG_LEVEL: 'fatal',
      AUTH_FAILURE_LIMIT: '100000',
      // An in-process app reports the Jest worker's own memory, which holds what earlier
      // suites left: only specs of the memory checks (which pass their own limits) judge it.
      HEALTH_HEAP_LIMIT_MB: '100000',
      HEALTH_RSS_LIMIT_MB: '100000',
      ...env,
    });
    const app = await createApp(config, new JsonLogger(config.logLevel), options);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return new TestApp(app, db, config);
  } catch (error) {
    // a database created here for an app that failed to boot is not left behind
    if (!database) {
      await db.drop().catch(() => undefined);
    }
    throw error;
  }
}

export const enc = encodeURIComponent;
