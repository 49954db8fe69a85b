import { createHmac } from 'node:crypto';
import { BudgetAdmissionService } from '../src/budgets/budget-admission.service';
import { BudgetAlertsService } from '../src/budgets/budget-alerts.service';
import { DatabaseService } from '../src/database/database.service';
import { WebhookReceiver } from './support/budget-fixtures';
import { BuiltReplicas, START_HOOK_TIMEOUT_MS } from './support/built-gateway';
import { uniqueId, World } from './support/factories';
import { FAKE_COMPLETION_PRICE, FAKE_PROMPT_PRICE } from './support/fake-openrouter';
import { enc, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, TestDatabase } from './support/test-database';

/**
 * A budget alert whose delivery failed is not lost when the replica that claimed it stops
 * while waiting to retry (a rolling deploy): it hands the alert over, and another replica
 * (here a second application instance on the same database) sends the same body, with the
 * same id and signature, as the next attempt. Runs on SQLite, and on PostgreSQL with
 * E2E_DATABASE_URL. Nor when that replica is killed: a built server SIGKILLed while its alert
 * waits for a retry leaves it due, and another replica sends it (on PostgreSQL in both passes:
 * two processes on one database).
 */
const SECRET = 'budget-webhook-secret-0123456789abcdef';

/** Webhook settings of a replica: the receiver's URL, the secret, the first retry's wait. */
const webhookEnv = (url: string, retryBaseMs: number) => ({
  BUDGET_WEBHOOK_URL: url,
  BUDGET_WEBHOOK_SECRET: SECRET,
  BUDGET_WEBHOOK_RETRY_BASE_MS: String(retryBaseMs),
});

describe('budget alert delivery across replicas', () => {
  const hooks = new WebhookReceiver([500]); // the first attempt fails
  let db: TestDatabase;
  let leaving: TestApp;
  let staying: TestApp;

  beforeAll(async () => {
    const url = await hooks.start();
    db = await createTestDatabase();
    const env = (retryBaseMs: number) => webhookEnv(url, retryBaseMs);
    // the leaving replica would retry in a minute; the staying one sweeps every 100 ms
    leaving = await startTestApp(env(60_000), db);
    staying = await startTestApp(env(20), db);
  });
  afterAll(async () => {
    await staying.app.close();
    await db.drop();
    await hooks.stop();
  });

  async function alertRow(org: string) {
    const database = staying.app.get(DatabaseService);
    const [row] = await database.read((m) =>
      m.query<Record<string, unknown>[]>(
        `SELECT attempts, delivered_at, next_attempt_at FROM budget_alerts WHERE organization_id = ${database.kind === 'postgres' ? '$1' : '?'}`,
        [org],
      ),
    );
    return row;
  }

  it('a replica that stops while an alert waits for its retry hands it over, and another sends it once', async () => {
    const w = new World(leaving);
    const org = await w.org(uniqueId('handover'));
    const user = await w.user(uniqueId('handover/u'));
    const model = await w.model(uniqueId('vendor/handover'));
    await w.member(org, user);
    await w.grant(org, model);
    const patched = await leaving.patch(`/api/v1/organizations/${enc(org)}/budget`, {
      budget_usd: 10,
      alert_thresholds: [0.5],
    });
    expect(patched.status).toBe(200);

    const admission = await leaving.app.get(BudgetAdmissionService).admit({
      userId: user,
      organizationId: org,
      model: {
        id: model,
        promptPriceUsd: 0.001,
        completionPriceUsd: 0.002,
        contextLength: null,
        maxCompletionTokens: 100,
      },
      promptTokens: 1,
      maxTokens: 1,
    });
    await admission.settle({ costUsd: 6, promptTokens: 1, completionTokens: 1 }); // 60%
    await hooks.waitFor(1);
    expect(hooks.received[0].status).toBe(500);

    // While the leaving replica is up, its retry is not due: nobody else sends it.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks.received).toHaveLength(1);
    expect(await alertRow(org)).toMatchObject({ attempts: 1, delivered_at: null });

    await leaving.app.close(); // stops its retry and hands the alert over
    await hooks.waitFor(2);
    await staying.app.get(BudgetAlertsService).idle();
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a wrong third send
    expect(hooks.received).toHaveLength(2);
    const [first, second] = hooks.received;
    expect(second.status).toBe(200);
    expect(second.body).toBe(first.body);
    expect(second.headers['x-budget-alert-id']).toBe(first.headers['x-budget-alert-id']);
    expect(second.headers['x-budget-signature']).toBe(
      `sha256=${createHmac('sha256', SECRET).update(second.body).digest('hex')}`,
    );
    expect([first, second].map((h) => h.headers['x-budget-delivery-attempt'])).toEqual(['1', '2']);
    expect(await alertRow(org)).toMatchObject({ attempts: 2, next_attempt_at: null });
    expect((await alertRow(org)).delivered_at).not.toBeNull();
    const audit = await staying.get(
      `/api/v1/audit?target_id=${enc(org)}&action=budget.threshold_crossed`,
    );
    expect(audit.body.total).toBe(1);
  });
});

describe('budget alert delivery when the replica that claimed it is killed', () => {
  const hooks = new WebhookReceiver([500]); // the first attempt fails
  let db: TestDatabase;
  let killed: BuiltReplicas;
  let staying: TestApp;

  beforeAll(async () => {
    const url = await hooks.start();
    db = await createTestDatabase('postgres');
    const env = (retryBaseMs: number) => webhookEnv(url, retryBaseMs);
    // the built server retries after 2 s; the in-process replica sweeps every 100 ms
    killed = await BuiltReplicas.start(1, db, () => env(2000));
    staying = await startTestApp(env(20), db);
  }, START_HOOK_TIMEOUT_MS);
  afterAll(async () => {
    await killed?.stop();
    await staying?.app.close();
    await db?.drop();
    await hooks.stop();
  });

  it('another replica sends the alert when its retry falls due, once', async () => {
    const w = new World(killed.apis[0]);
    const org = await w.org(uniqueId('killed'));
    const user = await w.user(uniqueId('killed/u'));
    const model = uniqueId('openai/killed');
    await killed.pricedModel(model, {
      prompt: FAKE_PROMPT_PRICE,
      completion: FAKE_COMPLETION_PRICE,
    });
    await w.member(org, user);
    await w.grant(org, model);
    const patched = await killed.apis[0].patch(`/api/v1/organizations/${enc(org)}/budget`, {
      budget_usd: 0.001,
      alert_thresholds: [0.01], // one call (0.000017 USD) crosses it
    });
    expect(patched.status).toBe(200);
    expect((await killed.chat(0, user, model, { max_tokens: 10 })).status).toBe(200);
    await hooks.waitFor(1);
    expect(hooks.received[0].status).toBe(500);
    // once the failed attempt is recorded (its retry due in 2 s), kill the server
    const database = staying.app.get(DatabaseService);
    const due = async () => {
      const [row] = await database.read((m) =>
        m.query<Record<string, unknown>[]>(
          'SELECT next_attempt_at FROM budget_alerts WHERE organization_id = $1',
          [org],
        ),
      );
      return String(row?.next_attempt_at ?? '');
    };
    const deadline = Date.now() + 10_000;
    while (!((await due()) < new Date(Date.now() + 5000).toISOString()) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await killed.servers[0].stop('SIGKILL');

    await hooks.waitFor(2);
    await staying.app.get(BudgetAlertsService).idle();
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a wrong third send
    expect(hooks.received).toHaveLength(2);
    const [first, second] = hooks.received;
    expect(second).toMatchObject({ status: 200, body: first.body });
    expect(second.headers['x-budget-alert-id']).toBe(first.headers['x-budget-alert-id']);
    expect(second.headers['x-budget-delivery-attempt']).toBe('2');
  });
});
