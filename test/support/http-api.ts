import { ADMIN_KEY, Reply } from './test-app';

/**
 * The admin API and the gateway of a service listening on a real port (a built server
 * process), with the same calls and answers as TestApp, so the factories work on both.
 */
export class HttpApi {
  constructor(
    readonly base: string,
    private readonly defaultToken: string = ADMIN_KEY,
  ) {}

  async request(
    method: string,
    url: string,
    options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const token = options.token === undefined ? this.defaultToken : options.token;
    if (token !== null) {
      headers.authorization = `Bearer ${token}`;
    }
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
    }
    const res = await fetch(`${this.base}${url}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    const text = await res.text();
    let body: any = undefined;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: res.status, headers: Object.fromEntries(res.headers), body, text };
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
}
