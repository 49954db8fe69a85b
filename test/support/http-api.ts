import { ADMIN_KEY, ApiCalls, encodeRequest, Reply, RequestOptions, toReply } from './test-app';

/**
 * The API and the gateway of a service listening on a real port (a built server process),
 * with the same calls and answers as TestApp, so the factories work on both.
 */
export class HttpApi extends ApiCalls {
  constructor(
    readonly base: string,
    private readonly defaultToken: string = ADMIN_KEY,
  ) {
    super();
  }

  async request(method: string, url: string, options: RequestOptions = {}): Promise<Reply> {
    const { headers, payload } = encodeRequest(options, this.defaultToken);
    const res = await fetch(`${this.base}${url}`, { method, headers, body: payload });
    return toReply(res.status, Object.fromEntries(res.headers), await res.text());
  }
}
