import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createApp } from '../../src/app';
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

/** A running service on a fresh database, called in-process through Fastify's inject. */
export class TestApp {
  constructor(
    readonly app: NestFastifyApplication,
    readonly database: TestDatabase,
    readonly config: AppConfig,
  ) {}

  /** A session token for a web UI user, as Open WebUI would issue it. */
  tokenFor(userId: string, claims: Record<string, unknown> = {}): string {
    return signWebUiToken({ id: userId, ...claims }, WEBUI_SECRET);
  }

  async request(
    method: string,
    url: string,
    options: {
      token?: string | null;
      body?: unknown;
      headers?: Record<string, string>;
      rawBody?: string;
    } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const token = options.token === undefined ? ADMIN_KEY : options.token;
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
    const res = await this.app.inject({ method: method as 'GET', url, headers, payload });
    let body: any = undefined;
    try {
      body = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      body = undefined;
    }
    return { status: res.statusCode, headers: res.headers, body, text: res.body };
  }

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

  async close(): Promise<void> {
    await this.app.close();
    await this.database.drop();
  }
}

/** Boots the real AppModule through migrations on a fresh database. */
export async function startTestApp(
  env: Record<string, string> = {},
  database?: TestDatabase,
): Promise<TestApp> {
  const db = database ?? (await createTestDatabase());
  try {
    const config = loadConfig({
      DATABASE_URL: db.url,
      ADMIN_API_KEYS: ADMIN_KEY,
      WEBUI_SECRET_KEY: WEBUI_SECRET,
      LOG_LEVEL: 'fatal',
      AUTH_FAILURE_LIMIT: '100000',
      ...env,
    });
    const app = await createApp(config, new JsonLogger(config.logLevel));
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
