import { BudgetLedgerService } from '../src/budgets/budget-ledger.service';
import Sqlite from 'better-sqlite3';
import { Client } from 'pg';
import { BudgetAlertsService } from '../src/budgets/budget-alerts.service';
import { uniqueId, World } from './support/factories';
import { FAKE_COMPLETION_PRICE, FAKE_PROMPT_PRICE, PROMPT_TOKENS } from './support/fake-openrouter';
import { GATEWAY_KEY, GatewayFixture, startGateway } from './support/gateway';
import { enc } from './support/test-app';

/**
 * Budgets and rate limits where they take effect: /v1 calls through the gateway to the fake
 * upstream. The reservation, settlement and refusals below are the same admission the
 * service-level specs (budgets, rate-limits) drive directly.
 */
describe('gateway: budgets and rate limits on /v1 calls', () => {
  let g: GatewayFixture;
  let w: World;

  beforeAll(async () => {
    g = await startGateway();
    w = new World(g.t);
  });
  afterAll(async () => g.close());

  async function setup(budget: Record<string, unknown>, prices = true) {
    const org = await w.org(uniqueId('gw-budget'));
    const user = await w.user(uniqueId('gw-budget/user'));
    const model = uniqueId('openai/budgeted');
    const put = await g.t.put(`/api/v1/models/${enc(model)}`, {
      name: 'Budgeted',
      ...(prices
        ? {
            prompt_price_usd: FAKE_PROMPT_PRICE,
            completion_price_usd: FAKE_COMPLETION_PRICE,
            max_completion_tokens: 1000,
          }
        : {}),
    });
    expect(put.status).toBe(201);
    await w.member(org, user);
    await w.grant(org, model);
    expect((await g.t.patch(`/api/v1/organizations/${enc(org)}/budget`, budget)).status).toBe(200);
    return { org, user, model, token: g.t.tokenFor(user) };
  }

  const chat = (token: string, model: string, extra: Record<string, unknown> = {}) =>
    g.t.request('POST', '/v1/chat/completions', {
      token,
      body: { model, messages: [{ role: 'user', content: 'Hello' }], ...extra },
    });

  const spend = async (org: string) =>
    (await g.t.get(`/api/v1/organizations/${enc(org)}/budget`)).body.current as {
      spent_usd: number;
      reserved_usd: number;
    };

  /** Settlement runs when the answer has been sent: the spend once no call holds a reservation. */
  const settled = async (org: string) => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const current = await spend(org);
      if (current.reserved_usd === 0 || Date.now() > deadline) {
        return current;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('reserves before forwarding and settles to the cost the upstream reported', async () => {
    const { org, model, token } = await setup({ budget_usd: 1 });
    const res = await chat(token, model, { max_tokens: 50 });
    expect(res.status).toBe(200);
    const cost = PROMPT_TOKENS * FAKE_PROMPT_PRICE + 3 * FAKE_COMPLETION_PRICE;
    const current = await settled(org);
    expect(current.reserved_usd).toBe(0);
    expect(current.spent_usd).toBeCloseTo(cost, 12);
  });

  it('refuses a call whose worst case does not fit with 402 budget_exceeded, sending nothing upstream', async () => {
    const { org, model, token } = await setup({ budget_usd: 0.001 });
    const before = g.fake.calls.length;
    const res = await chat(token, model, { max_tokens: 1000 }); // 1000 x 0.000002 = 0.002 USD
    expect(res.status).toBe(402);
    expect(res.body.error).toMatchObject({
      type: 'insufficient_quota',
      code: 'budget_exceeded',
      param: 'max_tokens',
    });
    expect(g.fake.calls.length).toBe(before);
    expect(await spend(org)).toMatchObject({ spent_usd: 0, reserved_usd: 0 });
    // a smaller max_tokens fits
    expect((await chat(token, model, { max_tokens: 100 })).status).toBe(200);
  });

  it('refuses a model without a price under a budget (402 unpriced_model)', async () => {
    const { model, token } = await setup({ budget_usd: 5 }, false);
    const res = await chat(token, model);
    expect(res.status).toBe(402);
    expect(res.body.error.code).toBe('unpriced_model');
  });

  it('hides the models of an exhausted organization and refuses them with budget_exhausted', async () => {
    const { org, user, model, token } = await setup({
      budget_usd: 0.001,
      alert_thresholds: [0.01],
    });
    expect((await chat(token, model, { max_tokens: 3 })).status).toBe(200); // 0.000017: 1.7%
    expect((await chat(token, model, { max_tokens: 3 })).status).toBe(200); // 0.000034
    await g.t.app.get(BudgetAlertsService).idle();
    // the budget lowered under what was spent: exhausted at once
    await g.t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_usd: 0.00003 });
    const res = await chat(token, model, { max_tokens: 3 });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('model_not_allowed');
    expect(res.body.error.message).toMatch(/budget_exhausted/);
    expect((await g.t.get('/v1/models', token)).body.data).toEqual([]);
    const union = await g.t.request('GET', '/v1/models', { token: GATEWAY_KEY });
    expect((union.body.data as { id: string }[]).map((m) => m.id)).not.toContain(model);
    const check = await g.t.get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`);
    expect(check.body).toMatchObject({
      allowed: false,
      reason: 'budget_exhausted',
      budget_remaining_usd: 0,
    });
    // one alert for the one threshold crossed, though two calls settled above it
    const audit = await g.t.get(
      `/api/v1/audit?target_id=${enc(org)}&action=budget.threshold_crossed`,
    );
    expect(audit.body.total).toBe(1);
  });

  it('sees a budget spent by its own settlement at once, and by another process once it hears of it', async () => {
    // Each call reserves 0.000051 (a 45-token prompt estimate, 3 tokens); the upstream
    // reports 50 tokens, 0.000111: settled, that spends the budget of 0.0001.
    const { org, model, token } = await setup({ budget_usd: 0.0001 });
    g.fake.behave(model, { chunks: 50 });
    expect((await chat(token, model, { max_tokens: 3 })).status).toBe(200);
    expect((await settled(org)).spent_usd).toBeCloseTo(0.000111, 12);
    const spent = await chat(token, model, { max_tokens: 3 });
    expect(spent.status).toBe(403);
    expect(spent.body.error.message).toMatch(/budget_exhausted/);

    // Spend written behind the service's back (another process: the migration tool, a
    // second process on the same SQLite file) counts once the change feed hears of it.
    const other = await setup({ budget_usd: 0.0001 });
    expect((await chat(other.token, other.model, { max_tokens: 3 })).status).toBe(200);
    await settled(other.org);
    // written to the table, not only counted (on SQLite a settlement is written at the end
    // of its turn of the event loop, and the row is made by the period's first one)
    await g.t.app.get(BudgetLedgerService).flush();
    await writeFromOutside(
      "UPDATE budget_spend SET spent_nanos = 100000 WHERE organization_id = $1 AND user_id = ''",
      [other.org],
    );
    const deadline = Date.now() + 5000;
    let res = await chat(other.token, other.model, { max_tokens: 3 });
    // Until then a call may still pass the rule. PostgreSQL's reservation reads the row, so
    // it refuses (402); SQLite's is held in this process against the spend it knows, so the
    // call may go through until the change is heard (within a second).
    while (res.status !== 403 && Date.now() < deadline) {
      expect(g.t.database.kind === 'postgres' ? [402] : [200, 402]).toContain(res.status);
      await new Promise((resolve) => setTimeout(resolve, 50));
      res = await chat(other.token, other.model, { max_tokens: 3 });
    }
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/budget_exhausted/);
  });

  /** Runs one statement on a connection of its own, as another process would. */
  async function writeFromOutside(sql: string, params: unknown[]): Promise<void> {
    const database = g.t.database;
    if (database.kind === 'postgres') {
      const client = new Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(sql, params);
      } finally {
        await client.end();
      }
      return;
    }
    const connection = new Sqlite(database.url.replace(/^sqlite:/, ''));
    try {
      connection.pragma('busy_timeout = 5000');
      connection.prepare(sql.replace(/\$\d+/g, '?')).run(...params);
    } finally {
      connection.close();
    }
  }

  it('answers 429 with Retry-After in OpenAI shape past a member rpm limit', async () => {
    const { org, user, model, token } = await setup({ budget_usd: null });
    await g.t.patch(`/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`, {
      rpm_limit: 2,
    });
    expect((await chat(token, model)).status).toBe(200);
    expect((await chat(token, model)).status).toBe(200);
    const res = await chat(token, model);
    expect(res.status).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(res.body.error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limit_exceeded' });
  });
});
