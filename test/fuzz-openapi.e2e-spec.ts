import { DataSource } from 'typeorm';
import { changedTables, dbChecksum, DbChecksum } from './support/db-checksum';
import { FakeOpenRouter, fakeModel } from './support/fake-openrouter';
import { flushUsage, OPENROUTER_KEY } from './support/gateway';
import { ADMIN_KEY, enc, startTestApp, TestApp } from './support/test-app';

/**
 * A fuzzer driven by the OpenAPI document: for every route, every parameter and every body
 * field it sends malformed, mistyped, missing, extra, empty, overlong, control-character,
 * badly percent-encoded, traversing and oversized input, as a site admin (so authentication
 * is never what refuses). Every answer must be below 500; errors must be problem+json without
 * stacks, SQL or paths; a refused request must leave every table byte-for-byte unchanged.
 */

const BODY_LIMIT = 16 * 1024;

interface Schema {
  $ref?: string;
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  nullable?: boolean;
  example?: unknown;
}
interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema?: Schema;
}
interface Operation {
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema: Schema }> };
}
interface Doc {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Schema> };
}

/** One request of the fuzzer. `reject`: the input is certainly invalid, so it must be 4xx. */
interface Case {
  what: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  payload?: string | Buffer;
  reject: boolean;
}

const SEED = { org: 'fz-org', user: 'fz-user', model: 'fz/model:1.0' };

const LEAKS: [string, RegExp][] = [
  ['stack trace', /\bat [\w.<>]+ \(|\.(ts|js):\d+:\d+/],
  ['file path', /node_modules|\/work\/|dist\/src|[/\\]src[/\\]\w+/],
  [
    'SQL or driver text',
    /SQLITE_|QueryFailedError|syntax error at|violates|duplicate key|SELECT .+ FROM|INSERT INTO|relation "|no such (table|column)/i,
  ],
];

describe('OpenAPI-driven fuzzer', () => {
  let t: TestApp;
  let fake: FakeOpenRouter;
  let ds: DataSource;
  let doc: Doc;
  const statusClasses: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let sent = 0;
  let refusedChecked = 0;
  const failures: string[] = [];

  beforeAll(async () => {
    fake = await FakeOpenRouter.start();
    // The upstream serves the seeded model, so a catalog sync the fuzzer triggers succeeds.
    fake.models = [fakeModel(SEED.model, 'Fuzz model')];
    t = await startTestApp({
      BODY_LIMIT_BYTES: String(BODY_LIMIT),
      OPENROUTER_BASE_URL: fake.baseUrl,
      OPENROUTER_API_KEY: OPENROUTER_KEY,
    });
    ds = t.app.get(DataSource);
    doc = (await t.get('/docs-json', null)).body as Doc;
    await seed();
  });
  afterAll(async () => {
    process.stdout.write(
      `fuzz: ${sent} requests, status classes ${JSON.stringify(statusClasses)}, statuses ${JSON.stringify(statuses)}, ${refusedChecked} refusals checked against the database checksum\n`,
    );
    await t.close();
    await fake.close();
  });

  /** The valid resources the valid parts of each request point at (idempotent). */
  async function seed(): Promise<void> {
    const ok = (status: number, what: string) => {
      if (status >= 300) {
        throw new Error(`seed ${what}: ${status}`);
      }
    };
    ok(
      (
        await t.put(`/api/v1/users/${enc(SEED.user)}`, {
          name: 'Fuzz',
          email: 'fz@example.com',
          role: 'user',
        })
      ).status,
      'user',
    );
    ok((await t.put(`/api/v1/models/${enc(SEED.model)}`, { name: 'Fuzz model' })).status, 'model');
    const org = await t.get(`/api/v1/organizations/${SEED.org}`);
    if (org.status === 404) {
      ok(
        (
          await t.post('/api/v1/organizations', {
            id: SEED.org,
            name: 'Fuzz',
            external_user: 'ext_fz',
          })
        ).status,
        'org',
      );
    }
    ok(
      (
        await t.put(`/api/v1/organizations/${SEED.org}/members/${enc(SEED.user)}`, {
          role: 'member',
        })
      ).status,
      'member',
    );
    ok(
      (await t.put(`/api/v1/organizations/${SEED.org}/models/${enc(SEED.model)}`, {})).status,
      'grant',
    );
  }

  function resolve(schema: Schema | undefined): Schema {
    let s = schema ?? {};
    while (s.$ref) {
      s = doc.components.schemas[s.$ref.split('/').pop()!];
    }
    return s;
  }

  function validValue(schema: Schema | undefined, name: string): unknown {
    const s = resolve(schema);
    if (name === 'email') {
      return 'fz@example.com';
    }
    if (name === 'id' && s.type === 'string' && s.example === 'acme') {
      return `fz-new-${sent}`;
    }
    if (name === 'external_user') {
      return `ext_fz_new_${sent}`;
    }
    if (s.example !== undefined && s.example !== null) {
      return s.example;
    }
    if (s.enum) {
      return s.enum[0];
    }
    switch (s.type) {
      case 'string':
        return 'x';
      case 'boolean':
        return true;
      case 'number':
      case 'integer':
        return s.minimum ?? 1;
      case 'array':
        return [validValue(s.items, name)];
      case 'object':
        return s.nullable ? null : validBody(s);
      default:
        return null;
    }
  }

  function validBody(schema: Schema): Record<string, unknown> {
    const s = resolve(schema);
    const body: Record<string, unknown> = {};
    for (const [name, prop] of Object.entries(s.properties ?? {})) {
      body[name] = validValue(prop, name);
    }
    return body;
  }

  function pathValue(path: string, name: string): string {
    if (name === 'orgId') {
      return SEED.org;
    }
    if (name === 'modelId' || path.startsWith('/api/v1/models/')) {
      return enc(SEED.model);
    }
    return enc(SEED.user);
  }

  function url(
    path: string,
    params: Parameter[],
    overridePath: Record<string, string>,
    query: string,
  ): string {
    let u = path;
    for (const p of params.filter((x) => x.in === 'path')) {
      u = u.replace(`{${p.name}}`, overridePath[p.name] ?? pathValue(path, p.name));
    }
    return query === '' ? u : `${u}?${query}`;
  }

  /** Raw (already-encoded) path segments: each either certainly invalid or harmless. */
  const PATH_VALUES: { value: string; reject: boolean }[] = [
    { value: 'a'.repeat(300), reject: true },
    { value: 'a'.repeat(2000), reject: true },
    { value: '%00', reject: true },
    { value: 'x%0Ay', reject: true },
    { value: 'x%1By', reject: true },
    { value: '%7F', reject: true },
    { value: '%E0%A4%A', reject: true },
    { value: '%ZZ', reject: true },
    { value: '%', reject: true },
    { value: '%20x', reject: true },
    { value: 'x%20', reject: true },
    { value: '..%2F..%2Fetc%2Fpasswd', reject: false },
    { value: '..%2F..%2F..%2F..%2Fetc%2Fpasswd%00', reject: true },
    { value: '%2E%2E', reject: false },
    { value: '..', reject: false },
    { value: "x'%20OR%20'1'%3D'1", reject: false },
    { value: '%F0%9F%98%80', reject: false },
    { value: '%ED%A0%80', reject: true },
    { value: '-1', reject: false },
    { value: '1e309', reject: false },
    { value: '99999999999999999999999', reject: false },
    { value: '*', reject: false },
    { value: 'null', reject: false },
    { value: '__proto__', reject: false },
  ];

  function queryValues(schema: Schema): { value: string; reject: boolean }[] {
    const s = resolve(schema);
    const common = [
      { value: '', reject: false },
      { value: 'a'.repeat(5000), reject: s.type !== 'string' || s.enum !== undefined },
      { value: '%00', reject: s.type !== 'string' || s.enum !== undefined },
      { value: '%E0%A4%A', reject: s.type !== 'string' || s.enum !== undefined },
      { value: '%ZZ', reject: s.type !== 'string' || s.enum !== undefined },
      { value: '..%2F..%2Fetc%2Fpasswd', reject: s.type !== 'string' || s.enum !== undefined },
      { value: '[object Object]', reject: s.type !== 'string' || s.enum !== undefined },
    ];
    if (s.type === 'number' || s.type === 'integer') {
      return [
        ...common,
        { value: 'abc', reject: true },
        { value: 'NaN', reject: true },
        { value: 'Infinity', reject: true },
        { value: '1e309', reject: true },
        { value: '99999999999999999999999', reject: true },
        { value: '-1', reject: (s.minimum ?? -Infinity) > -1 },
        { value: '0', reject: (s.minimum ?? -Infinity) > 0 },
        { value: String((s.maximum ?? 1e9) + 1), reject: s.maximum !== undefined },
        { value: '1.5', reject: false },
        { value: '0x10', reject: false },
      ];
    }
    if (s.type === 'boolean') {
      return [
        ...common,
        { value: 'maybe', reject: true },
        { value: '2', reject: true },
        { value: 'TRUE', reject: false },
      ];
    }
    if (s.enum) {
      return [...common, { value: 'not-a-value', reject: true }];
    }
    return common;
  }

  /** Values of the wrong type for a body property. */
  function wrongValues(schema: Schema): unknown[] {
    const s = resolve(schema);
    switch (s.type) {
      case 'string':
        return [123, true, [], {}, ['x'], 1e308];
      case 'boolean':
        return ['true', 1, 0, 'yes', [], {}, null];
      case 'number':
      case 'integer':
        return ['1', true, [], {}, null];
      case 'array': {
        // an item of the wrong type: a string among numbers, a number among anything else
        const item = s.items ? resolve(s.items).type : undefined;
        const wrongItem = item === 'number' || item === 'integer' ? ['x'] : [1];
        return ['x', {}, wrongItem, [null], [[]], [{}], 7];
      }
      default:
        return [[], 'x', 42, true];
    }
  }

  function stringValues(schema: Schema, valid: unknown): { value: string; reject: boolean }[] {
    const s = resolve(schema);
    const max = s.maxLength;
    // Control characters inside an otherwise valid value (an email stays name@domain).
    const text = typeof valid === 'string' && valid.length > 1 ? valid : 'ab';
    const inside = (c: string) => `${text.slice(0, 1)}${c}${text.slice(1)}`;
    // A field whose schema declares a pattern (user names and emails: anything but U+0000)
    // is held to that pattern; every other text field refuses control characters.
    const control = (c: string) =>
      s.pattern === undefined || !new RegExp(s.pattern, 'u').test(inside(c));
    const values = [
      { value: '', reject: false },
      { value: inside('\u0000'), reject: true },
      { value: inside('\u001b[31m'), reject: control('\u001b[31m') },
      { value: inside('\n'), reject: control('\n') },
      { value: inside('\t'), reject: control('\t') },
      { value: inside('\u2028'), reject: control('\u2028') },
      { value: inside('\u0085'), reject: control('\u0085') },
      { value: '\ud800', reject: false },
      { value: '..\\..\\..\\windows', reject: false },
      { value: 'x'.repeat(10_000), reject: true },
    ];
    if (max !== undefined) {
      values.push({ value: 'x'.repeat(max + 1), reject: true });
    }
    return values;
  }

  function cases(): Case[] {
    const out: Case[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [verb, op] of Object.entries(ops)) {
        const method = verb.toUpperCase();
        const params = op.parameters ?? [];
        const queryParams = params.filter((p) => p.in === 'query');
        // min_revision is accepted by every read (src/database/revisions.ts); only a route's
        // own query parameters make it refuse unknown ones.
        const ownQueryParams = queryParams.filter((p) => p.name !== 'min_revision');
        const schema = op.requestBody?.content['application/json']?.schema;
        const body = schema ? validBody(schema) : undefined;
        const json = { 'content-type': 'application/json' };
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const requiredQuery = queryParams
          .filter((p) => p.required)
          .map((p) => `${p.name}=${enc(String(validValue(p.schema, p.name) ?? 'x'))}`);
        const base = (q: string[] = requiredQuery) => q.join('&');
        const at = `${method} ${path}`;
        const push = (c: Omit<Case, 'method'>) =>
          out.push({ method, headers: payload ? json : undefined, payload, ...c });

        for (const p of params.filter((x) => x.in === 'path')) {
          for (const v of PATH_VALUES) {
            push({
              what: `${at} path ${p.name}=${v.value.slice(0, 40)}`,
              url: url(path, params, { [p.name]: v.value }, base()),
              reject: v.reject,
            });
          }
        }
        for (const p of queryParams) {
          const others = requiredQuery.filter((q) => !q.startsWith(`${p.name}=`));
          for (const v of queryValues(p.schema ?? {})) {
            // An empty or odd value for a required parameter is a refusal, whatever its type.
            const reject = v.reject || (p.required === true && v.value === '');
            push({
              what: `${at} query ${p.name}=${v.value.slice(0, 40)}`,
              url: url(path, params, {}, base([...others, `${p.name}=${v.value}`])),
              reject,
            });
          }
          push({
            what: `${at} query ${p.name} twice`,
            url: url(path, params, {}, base([...requiredQuery, `${p.name}=1`, `${p.name}=2`])),
            reject: false,
          });
          push({
            what: `${at} query ${p.name}[]`,
            url: url(path, params, {}, base([...others, `${p.name}[a]=1`])),
            reject: p.required === true,
          });
          if (p.required) {
            push({
              what: `${at} query without ${p.name}`,
              url: url(path, params, {}, base(others)),
              reject: true,
            });
          }
        }
        push({
          what: `${at} unknown query field`,
          url: url(path, params, {}, base([...requiredQuery, 'zz_unknown=1'])),
          reject: ownQueryParams.length > 0,
        });

        if (!schema || body === undefined) {
          // Routes without a body: a stray body in an odd content type must not break them.
          out.push({
            what: `${at} stray xml body`,
            method,
            url: url(path, params, {}, base()),
            headers: { 'content-type': 'application/xml' },
            payload: '<a/>',
            reject: false,
          });
          continue;
        }
        const u = url(path, params, {}, base());
        const bodyRequired = (resolve(schema).required ?? []).length > 0;
        const raw = (
          what: string,
          text: string | Buffer,
          headers: Record<string, string> = json,
          reject = true,
        ) => out.push({ what: `${at} ${what}`, method, url: u, headers, payload: text, reject });
        for (const bad of [
          '{',
          '{"name":',
          '{"a":1,}',
          "{'a':1}",
          'nul',
          '\u0000',
          ' ',
          '{"a":1}{"b":2}',
          '{"a":"\\x"}',
          '{"a":"\\ud800"',
        ]) {
          // a blank body with Content-Type: application/json counts as no body (many clients
          // send the header on every request): refused only where the body has required fields
          raw(
            `malformed JSON ${JSON.stringify(bad)}`,
            bad,
            json,
            bad.trim() !== '' || bodyRequired,
          );
        }
        raw('empty JSON body', '', json, bodyRequired);
        for (const top of ['[]', '"text"', 'null', '123', 'true', '[{}]']) {
          raw(`JSON ${top} instead of an object`, top);
        }
        raw('deeply nested JSON', `${'['.repeat(5000)}${']'.repeat(5000)}`);
        raw('__proto__ pollution', `{"__proto__":{"is_admin":true},${payload!.slice(1)}`);
        raw(
          'constructor pollution',
          JSON.stringify({ ...body, constructor: { prototype: { x: 1 } } }),
        );
        // The /v1 gateway passes every field it does not need upstream unchanged (OpenAI's
        // API grows new ones); elsewhere unknown fields are refused.
        raw('extra field', JSON.stringify({ ...body, zz_unknown: 1 }), json, !isGateway(path));
        raw(
          `body over BODY_LIMIT_BYTES (${BODY_LIMIT + 1} bytes)`,
          `{"name":"${'x'.repeat(BODY_LIMIT + 1 - 11)}"}`,
        );
        raw('body far over the limit', Buffer.alloc(BODY_LIMIT * 8, 0x61));
        for (const type of [
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=xyz',
          'application/x-www-form-urlencoded',
          'application/octet-stream',
          'application/json-patch+json',
        ]) {
          raw(
            `content-type ${type}`,
            type.startsWith('multipart')
              ? `--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--xyz--\r\n`
              : payload!,
            { 'content-type': type },
          );
        }
        raw('no content-type', payload!, {});
        raw(
          'JSON body as latin1',
          payload!,
          { 'content-type': 'application/json; charset=latin1' },
          false,
        );

        const s = resolve(schema);
        for (const [name, prop] of Object.entries(s.properties ?? {})) {
          const ps = resolve(prop);
          if (s.required?.includes(name)) {
            const copy = { ...body };
            delete copy[name];
            raw(`missing required ${name}`, JSON.stringify(copy));
          }
          for (const wrong of wrongValues(prop)) {
            if (wrong === null && ps.nullable) {
              continue;
            }
            const nullableObject = ps.type === 'object' && ps.nullable;
            // PUT bodies treat null for an optional field as "not sent" (a default applies);
            // PATCH must refuse it, since it would ask to store null in a NOT NULL column.
            const nullMeansAbsent =
              wrong === null && method !== 'PATCH' && !s.required?.includes(name);
            raw(
              `${name}=${JSON.stringify(wrong)}`,
              JSON.stringify({ ...body, [name]: wrong }),
              json,
              !nullMeansAbsent && (!nullableObject || typeof wrong !== 'string'),
            );
          }
          raw(
            `${name}=1e999 (Infinity)`,
            payload!.replace(/}$/, `,"${name}":1e999}`).replace(/^\{,/, '{'),
          );
          const strings =
            ps.type === 'string'
              ? stringValues(prop, body[name])
              : ps.type === 'array' && resolve(ps.items).type === 'string'
                ? stringValues(ps.items!, (body[name] as unknown[])[0])
                : [];
          for (const v of strings) {
            // Arrays of ids: an odd element is judged by the service (unknown id -> 400/404).
            const value = ps.type === 'array' ? [v.value] : v.value;
            const reject = v.reject && !(v.value === '' && ps.type === 'array');
            raw(
              `${name}=${JSON.stringify(v.value).slice(0, 40)}`,
              JSON.stringify({ ...body, [name]: value }),
              json,
              reject,
            );
          }
          if (ps.type === 'array') {
            raw(
              `${name} with ${(ps as Schema & { maxItems?: number }).maxItems ?? 1000}+1 items`,
              JSON.stringify({
                ...body,
                [name]: Array.from(
                  { length: ((ps as { maxItems?: number }).maxItems ?? 1000) + 1 },
                  (_, i) => `id-${i}`,
                ),
              }),
            );
          }
        }
      }
    }
    return out;
  }

  it('sees a one-row change in the checksum (so an unchanged checksum means something)', async () => {
    const before = await dbChecksum(ds);
    await t.put(`/api/v1/organizations/${SEED.org}/members/${enc(SEED.user)}`, { role: 'admin' });
    const after = await dbChecksum(ds);
    expect(changedTables(before, after)).toEqual([
      // SQLite counts access revisions in a table (PostgreSQL uses transaction ids)
      ...(t.database.kind === 'sqlite' ? ['access_revision'] : []),
      'audit_events',
      'organization_members',
    ]);
    await t.put(`/api/v1/organizations/${SEED.org}/members/${enc(SEED.user)}`, { role: 'member' });
  });

  function isGateway(path: string): boolean {
    return path.startsWith('/v1/');
  }

  function leaks(text: string): string[] {
    return LEAKS.filter(([, re]) => re.test(text)).map(([name]) => name);
  }

  it('never answers 5xx, answers errors as clean problem+json, and refused requests change nothing', async () => {
    const all = cases();
    let before: DbChecksum = await dbChecksum(ds);
    for (const c of all) {
      // Routes that answer for a web UI user get that user's session token; the rest the admin key.
      const forUser = c.url.startsWith('/v1/') || c.url.startsWith('/api/v1/me/');
      const token = forUser ? t.tokenFor(SEED.user) : ADMIN_KEY;
      const headers = { authorization: `Bearer ${token}`, ...(c.headers ?? {}) };
      let status: number;
      let text: string;
      let contentType: string;
      try {
        const res = await t.app.inject({
          method: c.method as 'GET',
          url: c.url,
          headers,
          payload: c.payload,
        });
        status = res.statusCode;
        text = res.body;
        contentType = String(res.headers['content-type'] ?? '');
      } catch (error) {
        failures.push(`${c.what}: inject threw ${String(error)}`);
        continue;
      }
      sent++;
      const cls = `${Math.floor(status / 100)}xx`;
      statusClasses[cls] = (statusClasses[cls] ?? 0) + 1;
      statuses[status] = (statuses[status] ?? 0) + 1;
      const after = await dbChecksum(ds);
      if (status >= 500) {
        failures.push(`${c.what}: ${status} ${text.slice(0, 300)}`);
      } else if (c.reject && status < 400) {
        failures.push(`${c.what}: accepted (${status}) an invalid input: ${text.slice(0, 200)}`);
      }
      if (status >= 400 && isGateway(c.url)) {
        // The gateway answers errors in OpenAI's shape, which OpenAI SDKs and Open WebUI read.
        refusedChecked++;
        const body = JSON.parse(text) as { error?: { message?: unknown; type?: unknown } };
        if (
          !contentType.startsWith('application/json') ||
          typeof body.error?.message !== 'string' ||
          typeof body.error.type !== 'string'
        ) {
          failures.push(`${c.what}: ${status} not in OpenAI's error shape: ${text.slice(0, 200)}`);
        }
      } else if (status >= 400) {
        refusedChecked++;
        if (!contentType.startsWith('application/problem+json')) {
          failures.push(`${c.what}: ${status} with content-type ${contentType}`);
        } else {
          const problem = JSON.parse(text) as { status?: number; title?: string };
          if (problem.status !== status || typeof problem.title !== 'string') {
            failures.push(
              `${c.what}: problem body does not match status ${status}: ${text.slice(0, 200)}`,
            );
          }
        }
        const changed = changedTables(before, after);
        if (changed.length > 0) {
          failures.push(`${c.what}: refused with ${status} but changed ${changed.join(', ')}`);
        }
      }
      if (status < 400 && c.method === 'GET') {
        const changed = changedTables(before, after);
        if (changed.length > 0) {
          failures.push(`${c.what}: a read (${status}) changed ${changed.join(', ')}`);
        }
      }
      const leaked = leaks(text);
      if (leaked.length > 0) {
        failures.push(
          `${c.what}: ${status} body leaks ${leaked.join(', ')}: ${text.slice(0, 300)}`,
        );
      }
      if (status < 300 && c.method !== 'GET') {
        // a forwarded call's ledger row is written in the background: write it now
        await flushUsage(t);
        await seed();
        before = await dbChecksum(ds);
      } else {
        before = after;
      }
    }
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(500);
    // Authentication and authorization were never what refused.
    expect(statuses[401] ?? 0).toBe(0);
    expect(statuses[403] ?? 0).toBe(0);
  }, 300_000);
});
