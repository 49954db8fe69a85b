import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import { BuiltReplicas, START_HOOK_TIMEOUT_MS } from './support/built-gateway';
import { uniqueId, World } from './support/factories';
import { HttpApi } from './support/http-api';
import { TcpProxy } from './support/tcp-proxy';
import { enc, Reply } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * Rate limits on three BUILT replicas (three `node dist/src/main.js` processes) on one fresh
 * PostgreSQL database, counting in one Redis (127.0.0.1:6379, or E2E_REDIS_URL) under a key
 * prefix of this run. Several replicas need PostgreSQL, so this file runs on PostgreSQL in
 * both passes of the e2e suite, as the replicas spec does. Each replica reaches Redis through
 * a relay of its own that the test can cut: replicas 0 and 1 fail closed, replica 2 fails open.
 * (One process counting without Redis is covered by rate-limits.e2e-spec.ts.)
 */
const REDIS = new URL(process.env.E2E_REDIS_URL ?? 'redis://127.0.0.1:6379');
const MODES = ['closed', 'closed', 'open'] as const;

describe('rate limits on three built replicas sharing Redis', () => {
  const prefix = `mas-test-${randomBytes(4).toString('hex')}:`;
  const proxies: TcpProxy[] = [];
  let db: TestDatabase;
  let r: BuiltReplicas;
  let w: World<HttpApi>;

  beforeAll(async () => {
    for (let i = 0; i < MODES.length; i++) {
      proxies.push(await TcpProxy.start(Number(REDIS.port || 6379), REDIS.hostname));
    }
    db = await createTestDatabase('postgres');
    r = await BuiltReplicas.start(MODES.length, db, (i) => ({
      REDIS_URL: proxies[i].url,
      REDIS_KEY_PREFIX: prefix,
      REDIS_FAILURE_MODE: MODES[i],
    }));
    w = new World(r.apis[0]);
    // every replica has connected to Redis before the first call
    await Promise.all(r.apis.map((api) => limiterState(api, 'up')));
  }, START_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await r?.stop();
    await db?.drop();
    for (const proxy of proxies) {
      await proxy.close();
    }
    const redis = new Redis(REDIS.toString());
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    redis.disconnect();
  });

  /** Polls /health/detailed of a replica until its rate limiter reports `status`; answers the reply. */
  async function limiterState(api: HttpApi, status: 'up' | 'down'): Promise<Reply> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const health = await api.get('/health/detailed');
      if (health.body?.details?.rate_limiter?.status === status) {
        return health;
      }
      if (Date.now() > deadline) {
        throw new Error(`${api.base} rate limiter never ${status}: ${health.text}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function limitedOrg(limits: Record<string, unknown>) {
    const org = await w.org(uniqueId('rl-org'));
    const users = [await w.user(uniqueId('rl/u')), await w.user(uniqueId('rl/u'))];
    const model = uniqueId('openai/rl-model');
    await r.pricedModel(model, { prompt: 0.000001, completion: 0.000002 });
    for (const u of users) {
      await w.member(org, u);
    }
    await w.grant(org, model);
    const res = await r.apis[0].patch(`/api/v1/organizations/${enc(org)}/budget`, limits);
    expect(res.status).toBe(200);
    return { org, users, model };
  }

  it('an rpm limit of L lets through at most L calls a minute in total, not L per replica', async () => {
    const L = 20;
    const { org, users, model } = await limitedOrg({ rpm_limit: L });
    const replies = await Promise.all(
      Array.from({ length: 3 * L }, (_, i) => r.chat(i, users[i % 2], model)),
    );
    const ok = replies.filter((res) => res.status === 200);
    const limited = replies.filter((res) => res.status !== 200);
    expect(ok).toHaveLength(L);
    expect(limited).toHaveLength(2 * L);
    for (const res of limited) {
      expect(res.status).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
      expect(res.body).toEqual({
        error: {
          message: expect.any(String),
          type: 'rate_limit_error',
          code: 'rate_limit_exceeded',
          param: null,
        },
      });
    }
    expect(r.fake.calls.filter((c) => c.body.model === model)).toHaveLength(L);
    // each replica, asked again within the minute, refuses too
    for (let i = 0; i < 3; i++) {
      expect((await r.chat(i, users[0], model)).status).toBe(429);
    }
    const redis = new Redis(REDIS.toString());
    expect(await redis.zcard(`${prefix}rpm:o:${org}`)).toBe(L);
    redis.disconnect();
  });

  it('a replica that loses Redis fails closed or open as configured, says so in /health/detailed, and recovers', async () => {
    const { users, model } = await limitedOrg({ rpm_limit: 1000 });
    proxies[1].down();
    proxies[2].down();

    const closed = await limiterState(r.apis[1], 'down');
    expect(closed.status).toBe(503);
    expect(closed.body.details.rate_limiter).toEqual({
      status: 'down',
      backend: 'redis',
      failure_mode: 'closed',
      last_error: expect.any(String),
    });
    const refused = await r.chat(1, users[0], model);
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.error).toMatchObject({
      type: 'server_error',
      code: 'rate_limiter_unavailable',
    });

    const open = await limiterState(r.apis[2], 'down');
    expect(open.body.details.rate_limiter).toMatchObject({
      status: 'down',
      backend: 'redis',
      failure_mode: 'open',
    });
    expect((await r.chat(2, users[0], model)).status).toBe(200);

    // the replica whose Redis is still there is not affected
    expect((await limiterState(r.apis[0], 'up')).status).toBe(200);
    expect((await r.chat(0, users[0], model)).status).toBe(200);

    proxies[1].restore();
    proxies[2].restore();
    for (const i of [1, 2]) {
      expect((await limiterState(r.apis[i], 'up')).body.details.rate_limiter).toEqual({
        status: 'up',
        backend: 'redis',
        failure_mode: MODES[i],
        last_error: null,
      });
    }
    expect((await r.chat(1, users[1], model)).status).toBe(200);
  });
});
