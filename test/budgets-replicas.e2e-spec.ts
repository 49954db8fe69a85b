import { createHmac } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { estimatePromptTokens, worstCaseNanos } from '../src/budgets/budget-admission.service';
import { BudgetAlertPayload } from '../src/budgets/budget-alerts.service';
import { WebhookReceiver } from './support/budget-fixtures';
import { BuiltReplicas, FAKE_CLOCK_PRELOAD, START_HOOK_TIMEOUT_MS } from './support/built-gateway';
import { uniqueId, World } from './support/factories';
import { FAKE_COMPLETION_PRICE, FAKE_PROMPT_PRICE, PROMPT_TOKENS } from './support/fake-openrouter';
import { HttpApi } from './support/http-api';
import { enc, Reply } from './support/test-app';
import { createTestDatabase, onPostgres, TestDatabase } from './support/test-database';

/**
 * The budget proofs on the BUILT server, through the gateway (/v1) to a fake upstream:
 * with E2E_DATABASE_URL, three replicas (three `node dist/src/main.js` processes) on one
 * fresh PostgreSQL database; without it, the single-process case, one built server on SQLite.
 *
 * Budget time comes from a fake clock: each server runs with a test-only preload
 * (test/support/fake-clock-preload.js) that makes the product's budget clock read the
 * instant written in one file, so the test moves every replica across a period boundary at
 * once by rewriting that file. The product itself has no way to fake its time.
 */
const REPLICAS = onPostgres() ? 3 : 1;
const SECRET = 'budget-webhook-secret-0123456789abcdef';
const PRICES = { prompt: FAKE_PROMPT_PRICE, completion: FAKE_COMPLETION_PRICE };
/** Every call below sends the same body: its worst case and actual cost are known. */
const MAX_TOKENS = 50;
const BODY = { messages: [{ role: 'user', content: 'Hello' }], max_tokens: MAX_TOKENS };
const WORST_NANOS = worstCaseNanos(
  {
    id: '',
    promptPriceUsd: PRICES.prompt,
    completionPriceUsd: PRICES.completion,
    contextLength: null,
    maxCompletionTokens: 1000,
  },
  estimatePromptTokens(BODY),
  MAX_TOKENS,
);
/** What the fake upstream reports as usage.cost for one call (11 prompt, 3 completion tokens). */
const ACTUAL_NANOS = Math.round(
  (PROMPT_TOKENS * FAKE_PROMPT_PRICE + 3 * FAKE_COMPLETION_PRICE) * 1e9,
);
const nanos = (usd: number) => Math.round(usd * 1e9);
const usd = (n: number) => n / 1e9;

describe(
  REPLICAS === 3
    ? 'budgets on three built replicas sharing one PostgreSQL database'
    : 'budgets on one built server on SQLite (the single-process case)',
  () => {
    const clockDir = mkdtempSync(join(tmpdir(), 'fake-clock-'));
    const clockFile = join(clockDir, 'now');
    // written aside, then renamed over: a server reading the clock mid-write never sees it empty
    const setClock = (iso: string) => {
      writeFileSync(`${clockFile}.next`, iso);
      renameSync(`${clockFile}.next`, clockFile);
    };
    const hooks = new WebhookReceiver([500]); // the first delivery fails and is retried
    let db: TestDatabase;
    let r: BuiltReplicas;
    let w: World<HttpApi>;

    beforeAll(async () => {
      setClock('2026-03-11T10:00:00.000Z'); // a Wednesday
      const hookUrl = await hooks.start();
      db = await createTestDatabase();
      r = await BuiltReplicas.start(
        REPLICAS,
        db,
        () => ({
          FAKE_CLOCK_FILE: clockFile,
          BUDGET_WEBHOOK_URL: hookUrl,
          BUDGET_WEBHOOK_SECRET: SECRET,
          BUDGET_WEBHOOK_RETRY_BASE_MS: '50',
          DATABASE_POOL_SIZE: '12',
        }),
        ['--require', FAKE_CLOCK_PRELOAD],
      );
      w = new World(r.apis[0]);
    }, START_HOOK_TIMEOUT_MS);
    afterAll(async () => {
      await r?.stop();
      await db?.drop();
      await hooks.stop();
      rmSync(clockDir, { recursive: true, force: true });
    });

    /** An organization with a budget, four members and one priced model granted. */
    async function setup(budget: Record<string, unknown>, members = 1) {
      const org = await w.org(uniqueId('rb-org'));
      const users: string[] = [];
      for (let i = 0; i < members; i++) {
        users.push(await w.user(uniqueId('rb/user')));
        await w.member(org, users[i]);
      }
      const model = uniqueId('openai/rb-model');
      await r.pricedModel(model, PRICES);
      await w.grant(org, model);
      const res = await r.apis[0].patch(`/api/v1/organizations/${enc(org)}/budget`, budget);
      expect(res.status).toBe(200);
      return { org, users, model };
    }

    /** This period's spend and reservations of an organization, in nano-dollars, as replica i reads them. */
    async function current(org: string, i = 0) {
      const res = await r.apis[i % REPLICAS].get(`/api/v1/organizations/${enc(org)}/budget`);
      expect(res.status).toBe(200);
      const c = res.body.current;
      return {
        spent: nanos(c.spent_usd),
        reserved: nanos(c.reserved_usd),
        periodStart: c.period_start as string,
      };
    }

    /** Settlement runs after the answer is sent: the spend once nothing is reserved any more. */
    async function settled(org: string) {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const c = await current(org);
        if (c.reserved === 0 || Date.now() > deadline) {
          return c;
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }

    /** Polls `probe` on every replica until it holds (a settings change reaches every cache). */
    async function everywhere(probe: (api: HttpApi) => Promise<boolean>, what: string) {
      const deadline = Date.now() + 5000;
      for (const api of r.apis) {
        while (!(await probe(api))) {
          if (Date.now() > deadline) {
            throw new Error(`${api.base} never saw: ${what}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }

    const check = (api: HttpApi, user: string, model: string) =>
      api
        .get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`)
        .then((res) => res.body as Record<string, unknown>);

    const expectBudgetExceeded = (res: Reply) => {
      expect(res.status).toBe(402);
      expect(res.body).toEqual({
        error: {
          message: expect.stringContaining('budget'),
          type: 'insufficient_quota',
          code: 'budget_exceeded',
          param: 'max_tokens',
        },
      });
    };

    describe('1,000 concurrent calls against a budget that fits 100', () => {
      const thresholds = [0.05, 0.1, 0.5];
      let org: string;
      let admitted = 0;
      let budgetNanos = 0;

      it('never spends past the budget, and refuses exactly the calls the reservations leave no room for', async () => {
        budgetNanos = Math.floor(100.5 * WORST_NANOS); // 100 worst cases fit, 101 do not
        const s = await setup({ budget_usd: usd(budgetNanos), alert_thresholds: thresholds }, 4);
        org = s.org;
        // The upstream holds every forwarded call until all 1,000 are answered or held, so
        // no settlement gives money back while others are still being admitted.
        let release!: () => void;
        r.fake.behave(s.model, { hold: new Promise<void>((resolve) => (release = resolve)) });
        const forwarded = () => r.fake.calls.filter((c) => c.body.model === s.model).length;
        let answered = 0;
        const calls = Array.from({ length: 1000 }, (_, i) =>
          r.chat(i, s.users[i % 4], s.model, { max_tokens: MAX_TOKENS }).finally(() => answered++),
        );
        const deadline = Date.now() + 30_000;
        while (answered + forwarded() < 1000 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        const held = forwarded();
        // While they are held: what is reserved fits the budget, as every replica reads it.
        for (let i = 0; i < REPLICAS; i++) {
          const c = await current(org, i);
          expect(c).toMatchObject({ spent: 0, reserved: held * WORST_NANOS });
          expect(c.spent + c.reserved).toBeLessThanOrEqual(budgetNanos);
        }
        release();
        const replies = await Promise.all(calls);
        const ok = replies.filter((res) => res.status === 200);
        const refused = replies.filter((res) => res.status !== 200);
        refused.forEach(expectBudgetExceeded);
        admitted = ok.length;
        expect(held).toBe(admitted);
        expect(admitted).toBe(Math.floor(budgetNanos / WORST_NANOS));
        expect(admitted).toBe(100);
        expect(refused).toHaveLength(1000 - admitted);

        const final = await settled(org);
        expect(final.reserved).toBe(0);
        expect(final.spent).toBe(admitted * ACTUAL_NANOS);
        expect(final.spent).toBeLessThanOrEqual(budgetNanos);
      }, 120_000); // about 15 s on two idle cores; room for a loaded CI machine

      it('sends every threshold webhook exactly once, signed, whichever replica settled past it', async () => {
        expect(admitted).toBe(100); // the spend of the test above
        const spent = admitted * ACTUAL_NANOS;
        const reached = thresholds.filter((t) => spent >= Math.ceil(budgetNanos * t));
        expect(reached).toEqual([0.05, 0.1]);
        const mine = () =>
          hooks.received
            .map((h) => ({ ...h, payload: JSON.parse(h.body) as BudgetAlertPayload }))
            .filter((h) => h.payload.organization_id === org);
        const deadline = Date.now() + 10_000;
        while (mine().filter((h) => h.status === 200).length < reached.length) {
          if (Date.now() > deadline) {
            throw new Error(`deliveries so far: ${JSON.stringify(mine().map((h) => h.payload))}`);
          }
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        // room for a second (wrong) delivery to arrive before counting
        await new Promise((resolve) => setTimeout(resolve, 500));
        const deliveries = mine();
        for (const h of deliveries) {
          expect(h.headers['x-budget-signature']).toBe(
            `sha256=${createHmac('sha256', SECRET).update(h.body).digest('hex')}`,
          );
          expect(h.headers['x-budget-alert-id']).toBe(h.payload.id);
        }
        const delivered = deliveries.filter((h) => h.status === 200);
        expect(delivered.map((h) => h.payload.threshold).sort()).toEqual(reached);
        expect(new Set(delivered.map((h) => h.payload.id)).size).toBe(reached.length);
        // the one failed attempt (500) was retried with the same id, and not counted twice
        const failed = deliveries.filter((h) => h.status !== 200);
        expect(failed).toHaveLength(1);
        expect(delivered.map((h) => h.payload.id)).toContain(failed[0].payload.id);
        expect(deliveries).toHaveLength(reached.length + 1);
        const audit = await r.apis[REPLICAS - 1].get(
          `/api/v1/audit?target_id=${enc(org)}&action=budget.threshold_crossed`,
        );
        expect(audit.body.total).toBe(reached.length);
      });
    });

    it('reserves every completion a call asks for: n choices, and the larger of max_tokens and max_completion_tokens', async () => {
      const { org, users, model } = await setup({ budget_usd: usd(WORST_NANOS) });
      const [user] = users;
      const before = r.fake.calls.length;
      expectBudgetExceeded(await r.chat(0, user, model, { max_tokens: MAX_TOKENS, n: 2 }));
      expectBudgetExceeded(
        await r.chat(REPLICAS - 1, user, model, {
          max_tokens: MAX_TOKENS,
          max_completion_tokens: MAX_TOKENS + 1,
        }),
      );
      expect(r.fake.calls.length).toBe(before);
      expect(await current(org)).toMatchObject({ spent: 0, reserved: 0 });
      expect((await r.chat(0, user, model, { max_tokens: MAX_TOKENS, n: 1 })).status).toBe(200);
    });

    describe('a fake clock across period boundaries', () => {
      afterEach(() => setClock('2026-03-11T10:00:00.000Z'));

      it.each([
        [
          'daily',
          '2026-03-11T23:59:59.999Z',
          '2026-03-12T00:00:00.000Z',
          '2026-03-13T00:00:00.000Z',
        ],
        [
          'weekly',
          '2026-03-15T23:59:59.999Z',
          '2026-03-16T00:00:00.000Z',
          '2026-03-23T00:00:00.000Z',
        ],
        [
          'monthly',
          '2026-03-31T23:59:59.999Z',
          '2026-04-01T00:00:00.000Z',
          '2026-05-01T00:00:00.000Z',
        ],
      ])(
        'a %s budget used up at %s stays used up, and the next period starts fresh at %s',
        async (period, lastInstant, nextStart, nextEnd) => {
          // room for exactly one call: once it is reserved or settled, the next does not fit
          const { org, users, model } = await setup({
            budget_usd: usd(WORST_NANOS),
            budget_period: period,
          });
          const [user] = users;
          setClock(lastInstant);
          expect((await r.chat(0, user, model, { max_tokens: MAX_TOKENS })).status).toBe(200);
          expect(await settled(org)).toMatchObject({ spent: ACTUAL_NANOS, reserved: 0 });
          expectBudgetExceeded(await r.chat(1, user, model, { max_tokens: MAX_TOKENS }));
          for (const api of r.apis) {
            expect(await check(api, user, model)).toMatchObject({
              allowed: true,
              budget_remaining_usd: usd(WORST_NANOS - ACTUAL_NANOS),
              budget_resets_at: nextStart,
            });
          }

          setClock(nextStart); // every replica at once
          expect(await check(r.apis[REPLICAS - 1], user, model)).toMatchObject({
            budget_remaining_usd: usd(WORST_NANOS),
            budget_resets_at: nextEnd,
          });
          expect((await r.chat(2, user, model, { max_tokens: MAX_TOKENS })).status).toBe(200);
          expect(await settled(org)).toEqual({
            spent: ACTUAL_NANOS,
            reserved: 0,
            periodStart: nextStart,
          });
          expectBudgetExceeded(await r.chat(0, user, model, { max_tokens: MAX_TOKENS }));

          // Nothing was wiped: back in the old period, its spend is still there.
          setClock(lastInstant);
          expect(await current(org, 1)).toMatchObject({ spent: ACTUAL_NANOS, reserved: 0 });
        },
      );

      it('applies a budget changed mid-period, through any replica, to the spend already made', async () => {
        setClock('2026-03-18T12:00:00.000Z');
        const { org, users, model } = await setup({
          budget_usd: usd(10 * WORST_NANOS),
          budget_period: 'monthly',
          alert_thresholds: [1],
        });
        const [user] = users;
        for (let i = 0; i < 2; i++) {
          expect((await r.chat(i, user, model, { max_tokens: MAX_TOKENS })).status).toBe(200);
        }
        expect(await settled(org)).toMatchObject({ spent: 2 * ACTUAL_NANOS });

        // lowered under what was spent: exhausted at once, on every replica
        const lower = await r.apis[REPLICAS - 1].patch(`/api/v1/organizations/${enc(org)}/budget`, {
          budget_usd: usd(ACTUAL_NANOS),
        });
        expect(lower.status).toBe(200);
        await everywhere(
          async (api) => (await check(api, user, model)).reason === 'budget_exhausted',
          'budget_exhausted',
        );
        for (const api of r.apis) {
          expect((await api.get('/v1/models', r.tokenFor(user))).body.data).toEqual([]);
        }
        const refused = await r.chat(1, user, model, { max_tokens: MAX_TOKENS });
        expect(refused.status).toBe(403);
        expect(refused.body.error.message).toMatch(/budget_exhausted/);
        // the lowered budget is crossed by the spend already made: its 100 % alert goes out now
        const alertsOf = () =>
          hooks.received
            .map((h) => JSON.parse(h.body) as BudgetAlertPayload)
            .filter((p) => p.organization_id === org);
        const deadline = Date.now() + 10_000;
        while (alertsOf().length === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        expect(alertsOf()).toMatchObject([
          { threshold: 1, budget_usd: usd(ACTUAL_NANOS), spent_usd: usd(2 * ACTUAL_NANOS) },
        ]);

        // raised: what is left is the new budget minus the spend of this period
        const raised = await r.apis[0].patch(`/api/v1/organizations/${enc(org)}/budget`, {
          budget_usd: usd(2 * ACTUAL_NANOS + WORST_NANOS),
        });
        expect(raised.status).toBe(200);
        await everywhere(
          async (api) => (await check(api, user, model)).budget_remaining_usd === usd(WORST_NANOS),
          `${usd(WORST_NANOS)} USD left`,
        );
        expect((await r.chat(2, user, model, { max_tokens: MAX_TOKENS })).status).toBe(200);
        expectBudgetExceeded(await r.chat(0, user, model, { max_tokens: MAX_TOKENS }));
        expect(await settled(org)).toMatchObject({ spent: 3 * ACTUAL_NANOS, reserved: 0 });
        // once per period: raising and lowering again sends no second one
        await r.apis[1 % REPLICAS].patch(`/api/v1/organizations/${enc(org)}/budget`, {
          budget_usd: usd(ACTUAL_NANOS),
        });
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect(alertsOf()).toHaveLength(1);
      });
    });
  },
);
