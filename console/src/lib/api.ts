/**
 * The console's only way to the service: the public REST API with the caller's own bearer.
 * Errors arrive as RFC 9457 problem+json; `describeError` turns them into a sentence.
 */

export interface FieldProblem {
  field: string;
  message: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  request_id?: string;
  errors?: FieldProblem[];
}

export interface Page<T> {
  data: T[];
  total: number;
  limit: number;
  offset: number;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    /** Seconds from the Retry-After header, when the server sent one. */
    readonly retryAfter: number | null = null,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.name = 'ApiError';
  }
}

/** The server could not be reached at all (network down, server stopped). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'NetworkError';
  }
}

export type QueryValue = string | number | boolean | null | undefined;

/** `?a=1&b=x` from the defined, non-empty values, in the given order; '' when none. */
export function query(params: Record<string, QueryValue>): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') {
      continue;
    }
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(String(value))}`);
  }
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** A path whose interpolated ids are URL-encoded: p`/organizations/${org}/models/${id}`. */
export function p(strings: TemplateStringsArray, ...ids: string[]): string {
  return strings.reduce(
    (out, part, i) => out + part + (i < ids.length ? encodeURIComponent(ids[i]) : ''),
    '',
  );
}

/** One sentence for a person, for any error thrown by `Api` (or anything else). */
export function describeError(error: unknown): string {
  if (error instanceof NetworkError) {
    return 'The server could not be reached. Check the connection and try again.';
  }
  if (!(error instanceof ApiError)) {
    return error instanceof Error ? error.message : String(error);
  }
  const { status, problem, retryAfter } = error;
  const detail = problem.detail ? ` ${problem.detail}` : '';
  switch (status) {
    case 400: {
      const fields = problem.errors ?? [];
      return fields.length > 0
        ? `Not accepted: ${fields.map((f) => `${f.field}: ${f.message}`).join('; ')}.`
        : `Not accepted.${detail}`;
    }
    case 401:
      return 'The server did not accept these credentials: the key or session token is wrong, expired, or belongs to a pending user.';
    case 403:
      return `Not allowed for this account.${detail}`;
    case 404:
      return `Not found, or not visible to this account.${detail}`;
    case 409:
      return `Refused because of the current state.${detail}`;
    case 429:
      return retryAfter !== null
        ? `Too many failed sign-ins from this address. Try again in ${retryAfter} seconds.`
        : 'Too many requests. Wait a little and try again.';
    default:
      return status >= 500
        ? `The server failed (HTTP ${status}).${detail}${problem.request_id ? ` Request id: ${problem.request_id}.` : ''}`
        : `HTTP ${status}.${detail}`;
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export class Api {
  /**
   * @param token the bearer (API key or web UI session token)
   * @param onUnauthorized called when an authenticated call answers 401 (token expired or revoked)
   */
  constructor(
    readonly token: string,
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
    private readonly onUnauthorized: () => void = () => undefined,
  ) {}

  get<T>(path: string, params: Record<string, QueryValue> = {}): Promise<T> {
    return this.request<T>('GET', path + query(params));
  }

  /** Every page of a list (at most `max` rows), for small exports and previews. */
  async all<T>(
    path: string,
    params: Record<string, QueryValue> = {},
    max = 5000,
  ): Promise<{ rows: T[]; total: number }> {
    const rows: T[] = [];
    let total = 0;
    for (let offset = 0; offset < max;) {
      const page = await this.get<Page<T>>(path, { ...params, limit: 500, offset });
      rows.push(...page.data);
      total = page.total;
      offset += page.data.length;
      if (page.data.length === 0 || offset >= page.total) {
        break;
      }
    }
    return { rows: rows.slice(0, max), total };
  }

  send<T>(method: 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.request<T>(method, path, body);
  }

  /** A text answer (CSV). */
  async text(path: string, params: Record<string, QueryValue> = {}): Promise<string> {
    const response = await this.raw('GET', path + query(params));
    return response.text();
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.raw(method, path, body);
    if (response.status === 204) {
      return undefined as T;
    }
    const type = response.headers.get('content-type') ?? '';
    return (type.includes('json') ? await response.json() : await response.text()) as T;
  }

  private async raw(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      Accept: 'application/json, application/problem+json, text/csv',
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let response: Response;
    try {
      response = await this.fetchImpl(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit',
        cache: 'no-store',
      });
    } catch (error) {
      throw new NetworkError(error);
    }
    if (response.ok) {
      return response;
    }
    const problem = await readProblem(response);
    const retry = Number(response.headers.get('retry-after'));
    const error = new ApiError(
      response.status,
      problem,
      Number.isFinite(retry) && retry > 0 ? retry : null,
    );
    if (response.status === 401) {
      this.onUnauthorized();
    }
    throw error;
  }
}

async function readProblem(response: Response): Promise<Problem> {
  try {
    const body = (await response.json()) as Partial<Problem>;
    return { ...body, status: response.status };
  } catch {
    return { status: response.status, title: response.statusText };
  }
}

/** The detail of the server's 404 for a method and path it has no route for. */
export const NO_ROUTE = 'No route matches this method and path.';

/** Whether an error says the server does not offer a route or a field (an older server). */
export function isNotOffered(error: unknown): boolean {
  if (!(error instanceof ApiError)) {
    return false;
  }
  if (error.status === 404 && error.problem.detail === NO_ROUTE) {
    return true;
  }
  return (
    error.status === 400 &&
    (error.problem.errors ?? []).some((e) => /should not exist/.test(e.message))
  );
}
