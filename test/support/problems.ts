import { Reply, TestApp } from './test-app';

/**
 * Asserts an RFC 9457 problem response: the status, the media type, the body's
 * status and request id, and (for validation errors) a per-field message for each field named.
 */
export function expectProblem(res: Reply, status: number, fields: string[] = []): void {
  if (res.status !== status) {
    throw new Error(`expected ${status}, got ${res.status}: ${res.text}`);
  }
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(typeof res.body.request_id).toBe('string');
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+|SELECT |INSERT |QueryFailedError|SQLITE_/);
  if (fields.length > 0) {
    expect(Array.isArray(res.body.errors)).toBe(true);
    const named = (res.body.errors as { field: string; message: string }[]).map((e) => e.field);
    for (const field of fields) {
      expect(named).toContain(field);
    }
    for (const error of res.body.errors as { field: string; message: string }[]) {
      expect(typeof error.message).toBe('string');
      expect(error.message.length).toBeGreaterThan(0);
    }
  }
}

/** Asserts a status, printing the body when it differs (clearer failures than toBe). */
export function expectStatus(res: Reply, status: number | number[], what = ''): void {
  const allowed = Array.isArray(status) ? status : [status];
  if (!allowed.includes(res.status)) {
    throw new Error(`${what} expected ${allowed.join(' or ')}, got ${res.status}: ${res.text}`);
  }
}

/** Number of audit events stored so far. */
export async function auditCount(t: TestApp): Promise<number> {
  const res = await t.get('/api/v1/audit?limit=1');
  expectStatus(res, 200, 'GET /api/v1/audit');
  return res.body.total as number;
}

/** Every row of a paged list endpoint (follows offset until total is reached). */
export async function listAll<T>(t: TestApp, url: string, token?: string | null): Promise<T[]> {
  const rows: T[] = [];
  const sep = url.includes('?') ? '&' : '?';
  for (;;) {
    const res = await t.get(`${url}${sep}limit=500&offset=${rows.length}`, token);
    expectStatus(res, 200, `GET ${url}`);
    rows.push(...(res.body.data as T[]));
    if (rows.length >= res.body.total || res.body.data.length === 0) {
      return rows;
    }
  }
}
