import { Logger } from '@nestjs/common';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import { createApp } from '../src/app';
import { JsonLogger, redact } from '../src/common/json-logger';
import { loadConfig } from '../src/config/load-config';
import { ADMIN_KEY, TestApp, WEBUI_SECRET } from './support/test-app';
import { createTestDatabase } from './support/test-database';
import { World } from './support/factories';

type Line = Record<string, unknown>;

/** The real app at LOG_LEVEL=info with its log lines captured, plus a probe route that logs. */
async function startLoggedApp(): Promise<{ t: TestApp; lines: string[] }> {
  const db = await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    ADMIN_API_KEYS: ADMIN_KEY,
    WEBUI_SECRET_KEY: WEBUI_SECRET,
    LOG_LEVEL: 'info',
    AUTH_FAILURE_LIMIT: '100000',
  });
  const lines: string[] = [];
  const app = await createApp(config, new JsonLogger(config.logLevel, (line) => lines.push(line)));
  const fastify = app.getHttpAdapter().getInstance();
  // Logs after an await and after the body was parsed: the id must still be the request's.
  fastify.post('/__log-probe', async (request) => {
    const { wait } = request.body as { wait: number };
    await new Promise((resolve) => setTimeout(resolve, wait));
    new Logger('Probe').log('inside the handler');
    return { ok: true };
  });
  await app.init();
  await fastify.ready();
  return { t: new TestApp(app, db, config), lines };
}

const parsed = (lines: string[]): Line[] => lines.map((l) => JSON.parse(l) as Line);

describe(JsonLogger.name, () => {
  let t: TestApp;
  let lines: string[];

  beforeAll(async () => {
    ({ t, lines } = await startLoggedApp());
  });

  afterAll(async () => {
    await t.close();
  });

  beforeEach(() => {
    lines.length = 0;
  });

  it('writes one JSON line per request with the request id, route template, status and duration', async () => {
    const res = await t.request('GET', '/api/v1/users/someone%40example.com', {
      headers: { 'x-request-id': 'trace-abc-123' },
    });
    expect(res.status).toBe(404);
    expect(res.headers['x-request-id']).toBe('trace-abc-123');
    expect(res.body.request_id).toBe('trace-abc-123');

    const requestLines = parsed(lines).filter((l) => l.msg === 'request');
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({
      level: 'info',
      context: 'Http',
      request_id: 'trace-abc-123',
      method: 'GET',
      route: '/api/v1/users/:id',
      status: 404,
    });
    expect(typeof requestLines[0].duration_ms).toBe('number');
    expect(lines.join('')).not.toContain('someone');
  });

  it('logs /health and /metrics requests at debug only', async () => {
    await t.get('/health', null);
    await t.get('/metrics', null);
    expect(parsed(lines).filter((l) => l.msg === 'request')).toEqual([]);
  });

  it('puts the request id on every line written while serving a request, even concurrent ones', async () => {
    // Over a real socket, the body sent a moment after the headers: it then arrives on
    // socket events, outside the context the request entered when its headers came.
    await t.app.listen(0, '127.0.0.1');
    const { port } = t.app.getHttpServer().address() as AddressInfo;
    const probe = (id: string, wait: number) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ wait });
        const req = httpRequest(
          {
            port,
            host: '127.0.0.1',
            method: 'POST',
            path: '/__log-probe',
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(body),
              'x-request-id': id,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.flushHeaders();
        setTimeout(() => req.end(body), 20);
      });
    expect(await Promise.all([probe('probe-slow', 30), probe('probe-fast', 1)])).toEqual([
      200, 200,
    ]);
    const inside = parsed(lines).filter((l) => l.context === 'Probe');
    expect(inside.map((l) => l.request_id).sort()).toEqual(['probe-fast', 'probe-slow']);
    expect(inside.every((l) => l.msg === 'inside the handler')).toBe(true);
  });

  it('never writes a credential, whether accepted or refused', async () => {
    const world = new World(t);
    const userId = await world.user();
    const userToken = t.tokenFor(userId);
    await t.get('/api/v1/me/models', userToken);
    await t.get('/api/v1/users', ADMIN_KEY);
    await t.get('/api/v1/users', 'not-a-key-but-a-secret-0123456789');
    await t.get('/api/v1/users', `${userToken.slice(0, -3)}AAA`);
    new Logger('Careless').warn(`retrying with Authorization: Bearer ${ADMIN_KEY}`);
    new Logger('Careless').error({ msg: 'token rejected', token: userToken });

    const all = lines.join('');
    expect(lines.length).toBeGreaterThan(4);
    for (const secret of [ADMIN_KEY, userToken, WEBUI_SECRET, 'not-a-key-but-a-secret']) {
      expect(all).not.toContain(secret);
    }
    expect(all).toContain('Bearer [redacted]');
  });

  it('redacts bearer tokens and JWTs from any text', () => {
    expect(redact('Authorization: Bearer abc.def-123')).toBe('Authorization: Bearer [redacted]');
    expect(redact('{"auth":"bearer sk-or-v1-xyz"}')).toBe('{"auth":"bearer [redacted]"}');
    expect(redact('token=eyJhbGciOiJIUzI1NiJ9.eyJpZCI6InUxIn0.c2lnbmF0dXJl end')).toBe(
      'token=eyJhbGciOiJIUzI1NiJ9.[redacted] end',
    );
    expect(redact('nothing secret here')).toBe('nothing secret here');
  });

  it('writes nothing below the configured level', () => {
    const written: string[] = [];
    const sut = new JsonLogger('warn', (line) => written.push(line));
    sut.log({ msg: 'request' }, 'Http');
    sut.debug('detail');
    sut.warn('careful');
    expect(written).toHaveLength(1);
    expect(JSON.parse(written[0])).toMatchObject({ level: 'warn', msg: 'careful' });
  });
});
