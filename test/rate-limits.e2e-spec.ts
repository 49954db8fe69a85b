import Redis from 'ioredis';
import { randomBytes } from 'node:crypto';
import {
  AdmissionRefusal,
  BudgetAdmissionService,
  PricedModel,
} from '../src/budgets/budget-admission.service';
import { RateLimiterService } from '../src/budgets/rate-limiter.service';
import { uniqueId, World } from './support/factories';
import { enc, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase } from './support/test-database';

/**
 * rpm/tpm limits per organization and per member, counted in this process without Redis,
 * and in Redis (127.0.0.1:6379, or E2E_REDIS_URL) across three application instances on one
 * database, as three replicas would be; and what a replica does when Redis is gone.
 */

const REDIS_URL = process.env.E2E_REDIS_URL ?? 'redis://127.0.0.1:6379';
const MODEL: PricedModel = {
  id: '',
  promptPriceUsd: 0.000001,
  completionPriceUsd: 0.000002,
  contextLength: null,
  maxCompletionTokens: null,
};

async function limitedOrg(
  t: TestApp,
  limits: Record<string, unknown>,
  memberLimits: Record<string, number> = {},
): Promise<{ org: string; users: string[]; model: string }> {
  const w = new World(t);
  const org = await w.org(uniqueId('limited'));
  const users = [await w.user(uniqueId('limited/u')), await w.user(uniqueId('limited/u'))];
  const model = await w.model(uniqueId('vendor/limited'));
  for (const u of users) {
    await w.member(org, u);
  }
  await w.grant(org, model);
  expect((await t.patch(`/api/v1/organizations/${enc(org)}/budget`, limits)).status).toBe(200);
  if (Object.keys(memberLimits).length > 0) {
    const res = await t.patch(
      `/api/v1/organizations/${enc(org)}/members/${enc(users[0])}/budget`,
      memberLimits,
    );
    expect(res.status).toBe(200);
  }
  return { org, users, model };
}

function call(t: TestApp, org: string, user: string, model: string) {
  return t.app
    .get(BudgetAdmissionService)
    .admit({
      userId: user,
      organizationId: org,
      model: { ...MODEL, id: model },
      promptTokens: 10,
      maxTokens: 10,
    })
    .then(
      (admission) => ({ admission, refusal: null }),
      (refusal: unknown) => {
        if (!(refusal instanceof AdmissionRefusal)) {
          throw refusal;
        }
        return { admission: null, refusal };
      },
    );
}

describe('rate limits', () => {
  describe('in process (no REDIS_URL)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(async () => t.close());

    it('lets L calls a minute through per organization, then 429 with Retry-After', async () => {
      const { org, users, model } = await limitedOrg(t, { rpm_limit: 5 });
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => call(t, org, users[i % 2], model)),
      );
      expect(results.filter((r) => r.admission)).toHaveLength(5);
      const refusals = results.filter((r) => r.refusal).map((r) => r.refusal!);
      expect(refusals).toHaveLength(7);
      for (const refusal of refusals) {
        expect(refusal.status).toBe(429);
        expect(refusal.retryAfterSeconds).toBeGreaterThanOrEqual(1);
        expect(refusal.retryAfterSeconds).toBeLessThanOrEqual(60);
        expect(refusal.toOpenAiError().error).toMatchObject({
          type: 'rate_limit_error',
          code: 'rate_limit_exceeded',
        });
      }
      expect(t.app.get(RateLimiterService).state()).toMatchObject({
        backend: 'memory',
        status: 'up',
      });
    });

    it("holds a member to their own rpm without spending the organization's", async () => {
      const { org, users, model } = await limitedOrg(t, { rpm_limit: 10 }, { rpm_limit: 2 });
      const mine = await Promise.all([0, 1, 2, 3].map(() => call(t, org, users[0], model)));
      expect(mine.filter((r) => r.admission)).toHaveLength(2);
      // the member's refused calls did not count against the organization: 8 left for others
      const others = await Promise.all(
        Array.from({ length: 9 }, () => call(t, org, users[1], model)),
      );
      expect(others.filter((r) => r.admission)).toHaveLength(8);
    });

    it('counts tokens per minute when calls end and refuses once they reach the limit', async () => {
      const { org, users, model } = await limitedOrg(t, { tpm_limit: 100 });
      const first = await call(t, org, users[0], model);
      const second = await call(t, org, users[1], model); // in flight: tokens not known yet
      expect(first.admission && second.admission).toBeTruthy();
      await first.admission!.settle({ costUsd: null, promptTokens: 60, completionTokens: 10 });
      expect((await call(t, org, users[0], model)).admission).toBeTruthy();
      await second.admission!.settle({ costUsd: null, promptTokens: 20, completionTokens: 10 });
      const refused = await call(t, org, users[0], model);
      expect(refused.refusal).toMatchObject({ status: 429, code: 'rate_limit_exceeded' });
    });
  });

  describe('in Redis, three instances', () => {
    const prefix = `mas-test-${randomBytes(4).toString('hex')}:`;
    const apps: TestApp[] = [];
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const database = await createTestDatabase();
      drop = database.drop;
      for (let i = 0; i < 3; i++) {
        apps.push(
          await startTestApp(
            { REDIS_URL, REDIS_KEY_PREFIX: prefix, DATABASE_POOL_SIZE: '6' },
            database,
          ),
        );
      }
      for (const app of apps) {
        expect(await app.app.get(RateLimiterService).ready()).toBe(true);
      }
    });
    afterAll(async () => {
      for (const app of apps) {
        await app.app.close();
      }
      await drop();
      const redis = new Redis(REDIS_URL);
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) {
        await redis.del(...keys);
      }
      redis.disconnect();
    });

    it('an rpm limit of L lets through at most L a minute in total, not L per instance', async () => {
      const L = 25;
      const { org, users, model } = await limitedOrg(apps[0], { rpm_limit: L });
      const results = await Promise.all(
        Array.from({ length: 3 * L }, (_, i) => call(apps[i % 3], org, users[i % 2], model)),
      );
      expect(results.filter((r) => r.admission)).toHaveLength(L);
      expect(results.filter((r) => r.refusal?.status === 429)).toHaveLength(2 * L);
      // every instance refuses now, whichever is asked
      for (const app of apps) {
        expect((await call(app, org, users[0], model)).refusal?.status).toBe(429);
      }
      const redis = new Redis(REDIS_URL);
      expect(await redis.zcard(`${prefix}rpm:o:${org}`)).toBe(L);
      redis.disconnect();
      const health = await apps[1].get('/health/detailed');
      expect(health.body.details.rate_limiter).toMatchObject({
        status: 'up',
        backend: 'redis',
        failure_mode: 'closed',
      });
    });

    it('shares tpm counts across instances', async () => {
      const { org, users, model } = await limitedOrg(apps[0], { tpm_limit: 50 });
      const a = await call(apps[0], org, users[0], model);
      await a.admission!.settle({ costUsd: null, promptTokens: 40, completionTokens: 10 });
      expect((await call(apps[2], org, users[1], model)).refusal?.status).toBe(429);
    });
  });

  describe('when Redis cannot be reached', () => {
    // Port 9 (discard) on localhost: nothing listens, connections are refused at once.
    const unreachable = 'redis://127.0.0.1:9';

    it.each([
      ['closed', 'refuses calls under a limit with 503', 503],
      ['open', 'lets calls under a limit through', null],
    ] as const)('%s: %s, and /health/detailed says so', async (mode, _what, status) => {
      const t = await startTestApp({ REDIS_URL: unreachable, REDIS_FAILURE_MODE: mode });
      try {
        const { org, users, model } = await limitedOrg(t, { rpm_limit: 100 });
        const limited = await call(t, org, users[0], model);
        if (status === null) {
          expect(limited.admission).toBeTruthy();
        } else {
          expect(limited.refusal).toMatchObject({ status, code: 'rate_limiter_unavailable' });
          expect(limited.refusal!.retryAfterSeconds).toBe(1);
        }
        // an organization without limits never asks Redis
        const free = await limitedOrg(t, { budget_period: 'daily' });
        expect((await call(t, free.org, free.users[0], free.model)).admission).toBeTruthy();
        const health = await t.get('/health/detailed');
        expect(health.status).toBe(503);
        expect(health.body.details.rate_limiter).toMatchObject({
          status: 'down',
          backend: 'redis',
          failure_mode: mode,
          last_error: expect.any(String),
        });
      } finally {
        await t.close();
      }
    });
  });
});
