import {
  Api,
  ApiError,
  describeError,
  isNotOffered,
  NetworkError,
  NO_ROUTE,
  p,
  query,
} from './api';

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch that answers from a table and records what it was asked (the network is the boundary). */
function fakeFetch(answer: (url: string) => Response): {
  calls: Call[];
  fetch: (url: string, init?: RequestInit) => Promise<Response>;
} {
  const calls: Call[] = [];
  return {
    calls,
    fetch: async (url, init = {}) => {
      calls.push({ url, init });
      return answer(url);
    },
  };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
      ...headers,
    },
  });

describe(Api.name, () => {
  it('sends the bearer, no cookies, and JSON bodies', async () => {
    const f = fakeFetch(() => json(200, { ok: true }));
    const sut = new Api('k'.repeat(40), f.fetch);
    await sut.send('PUT', '/api/v1/x', { is_active: true });
    const headers = f.calls[0].init.headers as Record<string, string>;
    expect(headers.Authorization).toBe(`Bearer ${'k'.repeat(40)}`);
    expect(headers['Content-Type']).toBe('application/json');
    expect(f.calls[0].init.credentials).toBe('omit');
    expect(f.calls[0].init.body).toBe('{"is_active":true}');
  });

  it('answers undefined for 204', async () => {
    const sut = new Api('t', fakeFetch(() => new Response(null, { status: 204 })).fetch);
    await expect(sut.send('DELETE', '/x')).resolves.toBeUndefined();
  });

  it('turns a problem into an ApiError with its status, detail and Retry-After', async () => {
    const sut = new Api(
      't',
      fakeFetch(() => json(429, { status: 429, detail: 'slow down' }, { 'retry-after': '17' }))
        .fetch,
    );
    const error = await sut.get('/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(429);
    expect((error as ApiError).retryAfter).toBe(17);
    expect(describeError(error)).toBe(
      'Too many failed sign-ins from this address. Try again in 17 seconds.',
    );
  });

  it('calls onUnauthorized on 401 and still throws', async () => {
    let signedOut = 0;
    const sut = new Api('t', fakeFetch(() => json(401, { status: 401 })).fetch, () => signedOut++);
    await expect(sut.get('/x')).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toBe(1);
  });

  it('wraps a failed fetch in a NetworkError', async () => {
    const sut = new Api('t', async () => {
      throw new TypeError('Failed to fetch');
    });
    const error = await sut.get('/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NetworkError);
    expect(describeError(error)).toMatch(/could not be reached/);
  });

  it('reads every page of a list until the total', async () => {
    const f = fakeFetch((url) => {
      const offset = Number(new URL(url, 'http://x').searchParams.get('offset'));
      const size = offset === 0 ? 500 : 120;
      return json(200, {
        data: Array.from({ length: size }, (_, i) => ({ i: offset + i })),
        total: 620,
        limit: 500,
        offset,
      });
    });
    const sut = new Api('t', f.fetch);
    const { rows, total } = await sut.all<{ i: number }>('/api/v1/models', { search: 'openai/' });
    expect(total).toBe(620);
    expect(rows.map((r) => r.i)).toEqual(Array.from({ length: 620 }, (_, i) => i));
    expect(f.calls.map((c) => c.url)).toEqual([
      '/api/v1/models?search=openai%2F&limit=500&offset=0',
      '/api/v1/models?search=openai%2F&limit=500&offset=500',
    ]);
  });

  it('stops at max rows', async () => {
    const f = fakeFetch(() =>
      json(200, {
        data: Array.from({ length: 500 }, () => ({})),
        total: 10_000,
        limit: 500,
        offset: 0,
      }),
    );
    const { rows } = await new Api('t', f.fetch).all('/x', {}, 1000);
    expect(rows).toHaveLength(1000);
    expect(f.calls).toHaveLength(2);
  });
});

describe('query and p', () => {
  it('drops empty values and encodes the rest', () => {
    expect(query({ a: 'x y', b: undefined, c: '', d: 0, e: false, f: null })).toBe(
      '?a=x%20y&d=0&e=false',
    );
    expect(query({})).toBe('');
  });

  it('encodes path ids so a model id with / stays one segment', () => {
    expect(p`/api/v1/organizations/${'acme'}/models/${'openai/gpt-4o:beta'}`).toBe(
      '/api/v1/organizations/acme/models/openai%2Fgpt-4o%3Abeta',
    );
  });
});

describe(describeError.name, () => {
  const error = (status: number, problem: object = {}) =>
    new ApiError(status, { status, ...problem });

  it('lists the fields of a 400', () => {
    expect(
      describeError(error(400, { errors: [{ field: 'id', message: 'id must be lowercase' }] })),
    ).toBe('Not accepted: id: id must be lowercase.');
  });

  it('explains 401, 403 and 409 with the server detail', () => {
    expect(describeError(error(401))).toMatch(/did not accept these credentials/);
    expect(describeError(error(403, { detail: 'Only site admins may call this.' }))).toBe(
      'Not allowed for this account. Only site admins may call this.',
    );
    expect(describeError(error(409, { detail: 'last admin' }))).toBe(
      'Refused because of the current state. last admin',
    );
  });

  it('names the request id of a server failure', () => {
    expect(describeError(error(500, { request_id: 'r-1' }))).toBe(
      'The server failed (HTTP 500). Request id: r-1.',
    );
  });
});

describe(isNotOffered.name, () => {
  it('recognises a missing route and an unknown field, nothing else', () => {
    expect(isNotOffered(new ApiError(404, { status: 404, detail: NO_ROUTE }))).toBe(true);
    expect(
      isNotOffered(
        new ApiError(400, {
          status: 400,
          errors: [{ field: 'budget_usd', message: 'property budget_usd should not exist' }],
        }),
      ),
    ).toBe(true);
    expect(isNotOffered(new ApiError(404, { status: 404, detail: 'No organization acme' }))).toBe(
      false,
    );
    expect(
      isNotOffered(
        new ApiError(400, { status: 400, errors: [{ field: 'name', message: 'too long' }] }),
      ),
    ).toBe(false);
    expect(isNotOffered(new Error('x'))).toBe(false);
  });
});
