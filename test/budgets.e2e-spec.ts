import { createHmac } from 'node:crypto';
import {
  Admission,
  AdmissionRefusal,
  BudgetAdmissionService,
  PricedModel,
  worstCaseNanos,
} from '../src/budgets/budget-admission.service';
import { BudgetAlertsService } from '../src/budgets/budget-alerts.service';
import { BudgetLedgerService } from '../src/budgets/budget-ledger.service';
import { DatabaseService } from '../src/database/database.service';
import { FakeClock, WebhookReceiver } from './support/budget-fixtures';
import { uniqueId, World } from './support/factories';
import { expectProblem } from './support/problems';
import { enc, startTestApp, TestApp } from './support/test-app';
import { createTestDatabase, onPostgres } from './support/test-database';

/**
 * Budgets driven through the admission service the gateway calls (reserve before, settle or
 * release after), with the rule, listings and /access/check read over HTTP. Runs on SQLite
 * in one process, and on PostgreSQL with E2E_DATABASE_URL (where the concurrency case uses
 * three application instances on one database, as three replicas would).
 */

const SECRET = 'budget-webhook-secret-0123456789abcdef';
/** 1 USD per 1,000 prompt tokens and 2 USD per 1,000 completion tokens. */
const PRICED: PricedModel = {
  id: '',
  promptPriceUsd: 0.001,
  completionPriceUsd: 0.002,
  contextLength: 8192,
  maxCompletionTokens: 4096,
};

function admission(t: TestApp): BudgetAdmissionService {
  return t.app.get(BudgetAdmissionService);
}

/** A call whose worst case at PRICED is 2 USD: 1,000 prompt tokens (1 USD) and max_tokens 500 (1 USD). */
function admitTwoUsd(
  t: TestApp,
  user: string,
  org: string,
  priced: PricedModel,
): Promise<Admission> {
  return admission(t).admit({
    userId: user,
    organizationId: org,
    model: priced,
    promptTokens: 1000,
    maxTokens: 500,
  });
}

async function spendRow(
  t: TestApp,
  orgId: string,
  userId = '',
): Promise<{ spent: number; reserved: number; periods: number }> {
  // Spend and reservations as the service holds them (on SQLite reservations live in its
  // memory, not in the table), for the current period; periods: the rows in the table.
  const db = t.app.get(DatabaseService);
  const p = db.kind === 'postgres' ? ['$1', '$2'] : ['?', '?'];
  const rows = await db.read((m) =>
    m.query<Record<string, unknown>[]>(
      `SELECT period_start FROM budget_spend WHERE organization_id = ${p[0]} AND user_id = ${p[1]}`,
      [orgId, userId],
    ),
  );
  const path =
    userId === ''
      ? `/api/v1/organizations/${enc(orgId)}/budget`
      : `/api/v1/organizations/${enc(orgId)}/members/${enc(userId)}/budget`;
  const res = await t.get(path);
  expect(res.status).toBe(200);
  const current = res.body.current as { spent_usd: number; reserved_usd: number };
  return {
    spent: Math.round(current.spent_usd * 1e9),
    reserved: Math.round(current.reserved_usd * 1e9),
    periods: rows.length,
  };
}

async function deliveries(
  t: TestApp,
  orgId: string,
): Promise<{ threshold: string; attempts: number; delivered: boolean }[]> {
  const db = t.app.get(DatabaseService);
  const rows = await db.read((m) =>
    m.query<Record<string, unknown>[]>(
      `SELECT threshold, attempts, delivered_at FROM budget_alerts WHERE organization_id = ${db.kind === 'postgres' ? '$1' : '?'} ORDER BY threshold`,
      [orgId],
    ),
  );
  return rows.map((r) => ({
    threshold: String(r.threshold),
    attempts: Number(r.attempts),
    delivered: r.delivered_at !== null,
  }));
}

describe('budgets', () => {
  const clock = new FakeClock('2026-03-11T10:00:00.000Z'); // a Wednesday
  const hooks = new WebhookReceiver([500]);
  let t: TestApp;
  let w: World;
  let hookUrl: string;

  beforeAll(async () => {
    const url = await hooks.start();
    hookUrl = url;
    t = await startTestApp(
      {
        BUDGET_WEBHOOK_URL: url,
        BUDGET_WEBHOOK_SECRET: SECRET,
        BUDGET_WEBHOOK_RETRY_BASE_MS: '20',
      },
      undefined,
      { clock },
    );
    w = new World(t);
  });
  afterAll(async () => {
    await t.close();
    await hooks.stop();
  });

  /** An organization granting one model to one member. */
  async function setup(budget: Record<string, unknown> | null = null) {
    const org = await w.org(uniqueId('budget-org'));
    const user = await w.user(uniqueId('budget/user'));
    const model = await w.model(uniqueId('vendor/model'));
    await w.member(org, user);
    await w.grant(org, model);
    if (budget) {
      const res = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, budget);
      expect(res.status).toBe(200);
    }
    return { org, user, model, priced: { ...PRICED, id: model } };
  }

  describe('settings', () => {
    it('lets a site admin set them, audited in the same transaction, and organization admins read them', async () => {
      const { org, user } = await setup();
      const admin = await w.user(uniqueId('budget-admin'));
      await w.member(org, admin, { role: 'admin' });
      const res = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, {
        budget_usd: 100,
        budget_period: 'weekly',
        alert_thresholds: [1, 0.5],
        rpm_limit: 60,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        organization_id: org,
        budget_usd: 100,
        budget_period: 'weekly',
        alert_thresholds: [0.5, 1],
        allow_unpriced_models: false,
        rpm_limit: 60,
        tpm_limit: null,
        current: {
          period_start: '2026-03-09T00:00:00.000Z',
          resets_at: '2026-03-16T00:00:00.000Z',
          spent_usd: 0,
          remaining_usd: 100,
        },
      });
      const audit = await t.get(
        `/api/v1/audit?target_type=organization&target_id=${enc(org)}&action=organization.budget_update`,
      );
      expect(audit.body.data).toHaveLength(1);
      expect(audit.body.data[0].after).toMatchObject({ budget_usd: 100, budget_period: 'weekly' });
      expect(audit.body.data[0].before).toMatchObject({
        budget_usd: null,
        budget_period: 'monthly',
      });

      const read = await t.get(`/api/v1/organizations/${enc(org)}/budget`, t.tokenFor(admin));
      expect(read.status).toBe(200);
      expect(read.body.budget_usd).toBe(100);
      const refused = await t.patch(
        `/api/v1/organizations/${enc(org)}/budget`,
        { budget_usd: 1 },
        t.tokenFor(admin),
      );
      expectProblem(refused, 403);

      const member = await t.patch(
        `/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`,
        { budget_usd: 10, tpm_limit: 1000 },
      );
      expect(member.status).toBe(200);
      expect(member.body).toMatchObject({
        budget_usd: 10,
        tpm_limit: 1000,
        rpm_limit: null,
        budget_period: 'weekly',
      });
      const memberRead = await t.get(
        `/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`,
        t.tokenFor(admin),
      );
      expect(memberRead.body).toMatchObject({ user_id: user, budget_usd: 10 });
    });

    it('refuses bad values field by field and changes nothing', async () => {
      const { org, user } = await setup({ budget_usd: 50 });
      const bad = await t.patch(`/api/v1/organizations/${enc(org)}/budget`, {
        budget_usd: -1,
        budget_period: 'yearly',
        alert_thresholds: [0.8, 1.5],
        rpm_limit: 0,
        tpm_limit: 1.5,
        allow_unpriced_models: 'yes',
      });
      expectProblem(bad, 400, [
        'budget_usd',
        'budget_period',
        'alert_thresholds',
        'rpm_limit',
        'tpm_limit',
        'allow_unpriced_models',
      ]);
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_period: null }),
        400,
        ['budget_period'],
      );
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_usd: 'ten' }),
        400,
        ['budget_usd'],
      );
      expectProblem(await t.patch(`/api/v1/organizations/${enc(org)}/budget`, {}), 400);
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { surprise: 1 }),
        400,
      );
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { alert_thresholds: [0.5, 0.5] }),
        400,
        ['alert_thresholds'],
      );
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`, {
          budget_usd: 51,
        }),
        400,
        ['budget_usd'],
      );
      expectProblem(
        await t.patch(`/api/v1/organizations/no-such-org/budget`, { budget_usd: 1 }),
        404,
      );
      expectProblem(
        await t.patch(`/api/v1/organizations/${enc(org)}/members/nobody/budget`, { budget_usd: 1 }),
        404,
      );
      const after = await t.get(`/api/v1/organizations/${enc(org)}/budget`);
      expect(after.body).toMatchObject({
        budget_usd: 50,
        budget_period: 'monthly',
        alert_thresholds: [],
        rpm_limit: null,
      });
    });
  });

  describe('the rule', () => {
    it('an exhausted budget refuses with budget_exhausted and removes the model from every listing', async () => {
      const { org, user, model } = await setup({ budget_usd: 0 });
      const check = await w.check(user, model);
      expect(check).toMatchObject({
        allowed: false,
        reason: 'budget_exhausted',
        organization_id: null,
        budget_remaining_usd: 0,
        budget_resets_at: '2026-04-01T00:00:00.000Z',
      });
      expect(await w.modelsOf(user)).toEqual([]);
      expect((await t.get('/v1/models', t.tokenFor(user))).body.data).toEqual([]);
      expect((await t.get('/api/v1/me/models', t.tokenFor(user))).body.data).toEqual([]);
      expect((await t.get(`/health/model-access/${enc(user)}`)).body.status).toBe('no_models');

      // Another organization granting the same model still grants it.
      const other = await w.org(uniqueId('budget-other'));
      await w.member(other, user);
      await w.grant(other, model);
      expect(await w.check(user, model)).toMatchObject({
        allowed: true,
        organization_id: other,
        budget_remaining_usd: null,
        budget_resets_at: null,
      });
      expect(await w.modelsOf(user)).toEqual([model]);
      const listed = await t.get(`/api/v1/users/${enc(user)}/models`);
      expect(listed.body.data[0].organizations.map((o: { id: string }) => o.id)).toEqual([other]);

      // Budget raised: the organization grants again, at once.
      await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_usd: 5 });
      const [first] = [org, other].sort();
      expect(await w.check(user, model)).toMatchObject({ allowed: true, organization_id: first });
    });

    it('keeps no_grant ahead of budget_exhausted when no organization would grant anyway', async () => {
      const { user } = await setup({ budget_usd: 0 });
      const ungranted = await w.model(uniqueId('vendor/ungranted'));
      expect((await w.check(user, ungranted)).reason).toBe('no_grant');
    });

    it('reports the remaining budget and when it resets', async () => {
      const { org, user, model, priced } = await setup({ budget_usd: 10, budget_period: 'daily' });
      await t.patch(`/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`, {
        budget_usd: 4,
      });
      const a = await admitTwoUsd(t, user, org, priced);
      // reserved: 1 + 1 = 2 USD on both the organization's and the member's budget
      expect(await w.check(user, model)).toMatchObject({
        allowed: true,
        budget_remaining_usd: 2,
        budget_resets_at: '2026-03-12T00:00:00.000Z',
      });
      await a.settle({ costUsd: 1.25, promptTokens: 1000, completionTokens: 125 });
      expect(await w.check(user, model)).toMatchObject({ budget_remaining_usd: 2.75 });
      const read = await t.get(`/api/v1/organizations/${enc(org)}/budget`);
      expect(read.body.current).toMatchObject({
        spent_usd: 1.25,
        reserved_usd: 0,
        remaining_usd: 8.75,
      });
    });
  });

  describe('reservations', () => {
    it('reserves the worst case, settles to the actual cost and releases on error', async () => {
      const { org, user, priced } = await setup({ budget_usd: 3 });
      const worst = worstCaseNanos(priced, 1000, null); // 1 USD prompt + 4096 x 0.002 > 3 USD
      expect(worst).toBe(1_000_000_000 + 8_192_000_000);
      await expect(
        admission(t).admit({
          userId: user,
          organizationId: org,
          model: priced,
          promptTokens: 1000,
          maxTokens: null,
        }),
      ).rejects.toMatchObject({ status: 402, code: 'budget_exceeded' });
      expect(await spendRow(t, org)).toMatchObject({ spent: 0, reserved: 0 });

      const a = await admitTwoUsd(t, user, org, priced);
      expect(await spendRow(t, org)).toMatchObject({ spent: 0, reserved: 2_000_000_000 });
      await expect(admitTwoUsd(t, user, org, priced)).rejects.toBeInstanceOf(AdmissionRefusal);
      await a.release();
      await a.release(); // once only
      expect(await spendRow(t, org)).toMatchObject({ spent: 0, reserved: 0 });

      const b = await admitTwoUsd(t, user, org, priced);
      await b.settle({ costUsd: null, promptTokens: 900, completionTokens: 100 }); // 0.9 + 0.2
      await b.settle({ costUsd: 5, promptTokens: 1, completionTokens: 1 }); // ignored: settled already
      expect(await spendRow(t, org)).toMatchObject({ spent: 1_100_000_000, reserved: 0 });
    });

    /** The organization's rows in the table, as committed (no memory of the service's). */
    async function tableSpend(orgId: string): Promise<{ spent: number; reserved: number }[]> {
      const db = t.app.get(DatabaseService);
      const rows = await db.read((m) =>
        m.query<Record<string, unknown>[]>(
          `SELECT spent_nanos, reserved_nanos FROM budget_spend WHERE organization_id = ${db.kind === 'postgres' ? '$1' : '?'}`,
          [orgId],
        ),
      );
      return rows.map((r) => ({
        spent: Number(r.spent_nanos),
        reserved: Number(r.reserved_nanos),
      }));
    }

    (onPostgres() ? it.skip : it)(
      'SQLite: counts a settlement at once, and writes it with a later attempt when the first write fails',
      async () => {
        const { org, user, priced } = await setup({ budget_usd: 3 });
        const db = t.app.get(DatabaseService);
        const a = await admitTwoUsd(t, user, org, priced);
        expect(await tableSpend(org)).toEqual([]); // held in memory, not in the table
        const original = db.appendStatements.bind(db);
        let failures = 0;
        const spy = jest.spyOn(db, 'appendStatements').mockImplementation((steps, allOrNone) => {
          if (failures === 0 && steps[0]?.[0]?.[0].includes('budget_spend')) {
            failures++;
            return Promise.reject(new Error('disk I/O error'));
          }
          return original(steps, allOrNone);
        });
        try {
          const settled = a.settle({ costUsd: 1.5, promptTokens: 1, completionTokens: 1 });
          expect(await spendRow(t, org)).toMatchObject({ spent: 1_500_000_000, reserved: 0 });
          await settled;
        } finally {
          spy.mockRestore();
        }
        expect(failures).toBe(1);
        expect(await tableSpend(org)).toEqual([{ spent: 1_500_000_000, reserved: 0 }]);
        expect(await spendRow(t, org)).toMatchObject({ spent: 1_500_000_000, reserved: 0 });
      },
    );

    (onPostgres() ? it.skip : it)(
      'SQLite: reservations left in the table by a stopped process are cleared at boot',
      async () => {
        const { org, user, priced } = await setup({ budget_usd: 3 });
        const db = t.app.get(DatabaseService);
        const periodStart = (await t.get(`/api/v1/organizations/${enc(org)}/budget`)).body.current
          .period_start as string;
        await db.appendStatements(
          [
            [
              [
                'INSERT INTO budget_spend (organization_id, user_id, period_start, spent_nanos, reserved_nanos, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
                [org, '', periodStart, 100_000_000, 2_900_000_000, new Date().toISOString()],
              ],
            ],
          ],
          false,
        );
        // 0.1 spent and 2.9 reserved by a process that is gone: shown until the next boot
        expect(await spendRow(t, org)).toMatchObject({
          spent: 100_000_000,
          reserved: 2_900_000_000,
        });
        await t.app.get(BudgetLedgerService).onApplicationBootstrap();
        expect(await tableSpend(org)).toEqual([{ spent: 100_000_000, reserved: 0 }]);
        expect(await spendRow(t, org)).toMatchObject({ spent: 100_000_000, reserved: 0 });
        // what this process holds is checked against the spend: 0.1 + 2 fits 3
        const a = await admitTwoUsd(t, user, org, priced);
        await a.release();
      },
    );

    it('refuses an unpriced model under a budget unless the organization allows it', async () => {
      const { org, user, model } = await setup({ budget_usd: 3 });
      const unpriced: PricedModel = {
        id: model,
        promptPriceUsd: null,
        completionPriceUsd: null,
        contextLength: null,
        maxCompletionTokens: null,
      };
      const refusal = await admission(t)
        .admit({
          userId: user,
          organizationId: org,
          model: unpriced,
          promptTokens: 10,
          maxTokens: 10,
        })
        .catch((e: unknown) => e);
      expect(refusal).toBeInstanceOf(AdmissionRefusal);
      expect((refusal as AdmissionRefusal).toOpenAiError()).toEqual({
        error: {
          message: expect.stringContaining('allow_unpriced_models'),
          type: 'insufficient_quota',
          code: 'unpriced_model',
          param: null,
        },
      });
      await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { allow_unpriced_models: true });
      const a = await admission(t).admit({
        userId: user,
        organizationId: org,
        model: unpriced,
        promptTokens: 10,
        maxTokens: 10,
      });
      await a.settle({ costUsd: 0.5, promptTokens: 10, completionTokens: 10 });
      expect(await spendRow(t, org)).toMatchObject({ spent: 500_000_000 });
    });

    it('holds a member to their own budget within the organization one', async () => {
      const { org, user, priced } = await setup({ budget_usd: 100 });
      await t.patch(`/api/v1/organizations/${enc(org)}/members/${enc(user)}/budget`, {
        budget_usd: 2,
      });
      const a = await admitTwoUsd(t, user, org, priced);
      const refusal = await admission(t)
        .admit({
          userId: user,
          organizationId: org,
          model: priced,
          promptTokens: 1000,
          maxTokens: 500,
        })
        .then(
          () => null,
          (e: AdmissionRefusal) => e,
        );
      expect(refusal).toMatchObject({ status: 402, code: 'budget_exceeded' });
      expect(refusal?.message).toMatch(/your membership/);
      // the organization's row was rolled back with the member's refusal
      expect(await spendRow(t, org)).toMatchObject({ reserved: 2_000_000_000 });
      await a.settle({ costUsd: 2, promptTokens: 1000, completionTokens: 500 });
      expect(await spendRow(t, org, user)).toMatchObject({ spent: 2_000_000_000, reserved: 0 });
    });
  });

  describe('periods (fake clock)', () => {
    afterEach(() => clock.set('2026-03-11T10:00:00.000Z'));

    async function exhaust(
      org: string,
      user: string,
      priced: PricedModel,
      usd: number,
    ): Promise<void> {
      const a = await admission(t).admit({
        userId: user,
        organizationId: org,
        model: priced,
        promptTokens: 1,
        maxTokens: 1,
      });
      await a.settle({ costUsd: usd, promptTokens: 1, completionTokens: 1 });
    }

    it.each([
      ['daily', '2026-03-11T23:59:59.999Z', '2026-03-12T00:00:00.000Z'],
      ['weekly', '2026-03-15T23:59:59.999Z', '2026-03-16T00:00:00.000Z'],
      ['monthly', '2026-03-31T23:59:59.999Z', '2026-04-01T00:00:00.000Z'],
    ])(
      'a %s budget spent stays spent until %s, and the next period starts fresh at %s',
      async (period, lastInstant, nextStart) => {
        const { org, user, model, priced } = await setup({ budget_usd: 1, budget_period: period });
        await exhaust(org, user, priced, 1);
        expect((await w.check(user, model)).reason).toBe('budget_exhausted');
        clock.set(lastInstant);
        expect(await w.check(user, model)).toMatchObject({
          reason: 'budget_exhausted',
          budget_resets_at: nextStart,
        });
        clock.set(nextStart);
        expect(await w.check(user, model)).toMatchObject({
          allowed: true,
          budget_remaining_usd: 1,
        });
        expect(await w.modelsOf(user)).toEqual([model]);
        await exhaust(org, user, priced, 0.25);
        // the old period's spend is still there: nothing was reset, a new row was started
        expect(await spendRow(t, org)).toMatchObject({ spent: 250_000_000, periods: 2 });
      },
    );

    it('applies a budget changed mid-period to the spend already made', async () => {
      const { org, user, model, priced } = await setup({
        budget_usd: 10,
        budget_period: 'monthly',
      });
      await exhaust(org, user, priced, 4);
      await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_usd: 4 });
      expect((await w.check(user, model)).reason).toBe('budget_exhausted');
      await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_usd: 5 });
      expect(await w.check(user, model)).toMatchObject({ allowed: true, budget_remaining_usd: 1 });
      await expect(
        admission(t).admit({
          userId: user,
          organizationId: org,
          model: priced,
          promptTokens: 998, // 0.998 + 0.002: exactly the 1 USD left
          maxTokens: 1,
        }),
      ).resolves.toBeDefined();
      await expect(
        admission(t).admit({
          userId: user,
          organizationId: org,
          model: priced,
          promptTokens: 1,
          maxTokens: 1,
        }),
      ).rejects.toMatchObject({ code: 'budget_exceeded' });
      // switching the period moves to that period's spend
      await t.patch(`/api/v1/organizations/${enc(org)}/budget`, { budget_period: 'daily' });
      expect((await t.get(`/api/v1/organizations/${enc(org)}/budget`)).body.current).toMatchObject({
        period_start: '2026-03-11T00:00:00.000Z',
        spent_usd: 0,
      });
    });
  });

  describe('alerts', () => {
    it('fires each threshold once per period: one signed webhook (retried) and one audit event', async () => {
      const { org, user, priced } = await setup({
        budget_usd: 10,
        alert_thresholds: [0.5, 0.8, 1],
      });
      const before = hooks.received.length;
      const spend = async (usd: number) => {
        const a = await admission(t).admit({
          userId: user,
          organizationId: org,
          model: priced,
          promptTokens: 1,
          maxTokens: 1,
        });
        await a.settle({ costUsd: usd, promptTokens: 1, completionTokens: 1 });
      };
      await spend(4); // 40%
      await spend(1); // 50%: 0.5
      await spend(0.5); // 55%
      await spend(3.5); // 90%: 0.8
      await spend(0.5); // 95%
      await t.app.get(BudgetAlertsService).idle();
      // the first delivery got a 500 and was retried
      const mine = hooks.received.slice(before).map((h) => ({ ...h, payload: JSON.parse(h.body) }));
      const delivered = new Map<string, number>();
      for (const h of mine) {
        expect(h.headers['x-budget-signature']).toBe(
          `sha256=${createHmac('sha256', SECRET).update(h.body).digest('hex')}`,
        );
        delivered.set(h.payload.id, (delivered.get(h.payload.id) ?? 0) + 1);
      }
      // two alerts; the first delivery got a 500 and was retried once
      expect(mine.map((h) => h.payload.threshold).sort()).toEqual([0.5, 0.5, 0.8]);
      expect(mine.map((h) => h.headers['x-budget-delivery-attempt']).sort()).toEqual([
        '1',
        '1',
        '2',
      ]);
      expect(await deliveries(t, org)).toEqual([
        { threshold: '0.5', attempts: 2, delivered: true },
        { threshold: '0.8', attempts: 1, delivered: true },
      ]);
      expect(
        mine.every(
          (h) => h.payload.organization_id === org && h.payload.type === 'budget.threshold_crossed',
        ),
      ).toBe(true);
      const audit = await t.get(
        `/api/v1/audit?target_type=organization&target_id=${enc(org)}&action=budget.threshold_crossed`,
      );
      expect(
        audit.body.data.map((e: { after: { threshold: number } }) => e.after.threshold).sort(),
      ).toEqual([0.5, 0.8]);
      expect(audit.body.data.every((e: { actor: string }) => e.actor === 'system:budgets')).toBe(
        true,
      );
      await spend(0.5); // 100%: 1
      await t.app.get(BudgetAlertsService).idle();
      const third = hooks.received
        .slice(before)
        .map((h) => JSON.parse(h.body) as { threshold: number });
      expect(third.filter((p) => p.threshold === 1)).toHaveLength(1);
    });
  });

  describe('1,000 concurrent calls against a budget that fits 100', () => {
    it('never spends past the budget, and refuses exactly what the reservations imply', async () => {
      const replicas = onPostgres() ? 3 : 1;
      const database = onPostgres() ? await createTestDatabase('postgres') : null;
      const apps: TestApp[] = database ? [] : [t];
      try {
        if (database) {
          for (let i = 0; i < replicas; i++) {
            apps.push(
              await startTestApp(
                {
                  DATABASE_POOL_SIZE: '12',
                  BUDGET_WEBHOOK_URL: hookUrl,
                  BUDGET_WEBHOOK_SECRET: SECRET,
                },
                database,
                { clock },
              ),
            );
          }
        }
        const first = apps[0];
        const world = new World(first);
        const org = await world.org(uniqueId('budget-race'));
        const users = await Promise.all([0, 1, 2, 3].map(() => world.user(uniqueId('race/user'))));
        const model = await world.model(uniqueId('vendor/race'));
        for (const u of users) {
          await world.member(org, u);
        }
        await world.grant(org, model);
        const priced = { ...PRICED, id: model };
        const worst = worstCaseNanos(priced, 100, 50); // 0.1 + 0.1 = 0.2 USD
        const budgetUsd = 20.1; // fits 100 worst cases, not 101
        const thresholds = [0.25, 0.5, 0.7, 0.95];
        const patched = await first.patch(`/api/v1/organizations/${enc(org)}/budget`, {
          budget_usd: budgetUsd,
          alert_thresholds: thresholds,
        });
        expect(patched.status).toBe(200);

        const results = await Promise.all(
          Array.from({ length: 1000 }, (_, i) =>
            admission(apps[i % apps.length])
              .admit({
                userId: users[i % users.length],
                organizationId: org,
                model: priced,
                promptTokens: 100,
                maxTokens: 50,
              })
              .then(
                (a) => ({ admitted: a, refused: null }),
                (e: unknown) => ({ admitted: null, refused: e }),
              ),
          ),
        );
        const admitted = results.filter((r) => r.admitted);
        const refused = results.filter((r) => r.refused);
        expect(
          refused.every(
            (r) => r.refused instanceof AdmissionRefusal && r.refused.code === 'budget_exceeded',
          ),
        ).toBe(true);
        expect(admitted.length).toBe(Math.floor((budgetUsd * 1e9) / worst));
        expect(refused.length).toBe(1000 - admitted.length);
        expect(await spendRow(first, org)).toMatchObject({
          spent: 0,
          reserved: admitted.length * worst,
        });

        // settle each at an actual cost up to its reservation, spread over the replicas
        let expected = 0;
        await Promise.all(
          admitted.map((r, i) => {
            const completion = (i * 7) % 51;
            expected += Math.round((100 * 0.001 + completion * 0.002) * 1e9);
            return r.admitted!.settle({
              costUsd: null,
              promptTokens: 100,
              completionTokens: completion,
            });
          }),
        );
        const final = await spendRow(first, org);
        expect(final.periods).toBe(1);
        expect(final.reserved).toBe(0);
        expect(final.spent).toBe(expected);
        expect(final.spent).toBeLessThanOrEqual(budgetUsd * 1e9);

        // every threshold the spend reached: one webhook and one audit event, whichever
        // replica's settlement crossed it
        for (const app of apps) {
          await app.app.get(BudgetAlertsService).idle();
        }
        const reached = thresholds.filter((th) => expected >= Math.ceil(budgetUsd * 1e9 * th));
        expect(reached.length).toBeGreaterThanOrEqual(2);
        const sent = hooks.received
          .map((h) => JSON.parse(h.body) as { organization_id: string; threshold: number })
          .filter((p) => p.organization_id === org)
          .map((p) => p.threshold);
        expect(sent.sort()).toEqual(reached);
        const audit = await first.get(
          `/api/v1/audit?target_id=${enc(org)}&action=budget.threshold_crossed`,
        );
        expect(audit.body.total).toBe(reached.length);
      } finally {
        for (const app of apps.filter((a) => a !== t)) {
          await app.app.close();
        }
        await database?.drop();
      }
    });
  });
});
