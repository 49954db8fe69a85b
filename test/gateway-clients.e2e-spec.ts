import OpenAI from 'openai';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { fakeModel, PROMPT_TOKENS } from './support/fake-openrouter';
import { uniqueId, World } from './support/factories';
import {
  flushUsage,
  forwarded,
  GatewayFixture,
  GATEWAY_KEY,
  startGateway,
} from './support/gateway';
import { enc } from './support/test-app';

describe('gateway: the OpenAI Node SDK as a client, usage reads, metrics and catalog sync', () => {
  let g: GatewayFixture;
  let w: World;
  let org: string;
  let user: string;
  let model: string;
  let sdk: OpenAI;

  beforeAll(async () => {
    g = await startGateway();
    w = new World(g.t);
    org = await w.org('sdk-org', { external_user: 'mai_client_sdk' });
    user = await w.user('sdk-user');
    model = await w.model('openai/gpt-4o-mini');
    await w.member(org, user);
    await w.grant(org, model);
    sdk = new OpenAI({ baseURL: `${g.base}/v1`, apiKey: g.t.tokenFor(user), maxRetries: 0 });
  });
  afterAll(async () => g.close());

  describe('OpenAI SDK', () => {
    it('lists and retrieves models', async () => {
      const ids: string[] = [];
      for await (const m of sdk.models.list()) {
        ids.push(m.id);
      }
      expect(ids).toEqual([model]);
      const one = await sdk.models.retrieve(model);
      expect(one).toMatchObject({ id: model, object: 'model', owned_by: org });
    });

    it('completes a chat, streamed and not', async () => {
      const answer = await sdk.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hi' }],
      });
      expect(answer.choices[0].message.content).toBe('word0 word1 word2 ');
      expect(answer.usage?.prompt_tokens).toBe(PROMPT_TOKENS);

      const stream = await sdk.chat.completions.create({
        model,
        messages: [{ role: 'user', content: 'Hi' }],
        stream: true,
      });
      let text = '';
      let completionTokens: number | undefined;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta?.content ?? '';
        completionTokens = chunk.usage?.completion_tokens ?? completionTokens;
      }
      expect(text).toBe('word0 word1 word2 ');
      expect(completionTokens).toBe(3);
    });

    it("raises the gateway's own message on a refusal", async () => {
      const withheld = await w.model(uniqueId('anthropic/claude'));
      const error = await sdk.chat.completions
        .create({ model: withheld, messages: [{ role: 'user', content: 'Hi' }] })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.PermissionDeniedError);
      const apiError = error as InstanceType<typeof OpenAI.APIError>;
      expect(apiError.status).toBe(403);
      expect(apiError.code).toBe('model_not_allowed');
      expect(apiError.message).toBe(
        `403 You may not use the model "${withheld}": none of your organizations has been granted it (no_grant).`,
      );
    });

    it('raises an error event in the middle of a stream', async () => {
      const dropping = await w.model(uniqueId('drop/model'));
      await w.grant(org, dropping);
      g.fake.behave(dropping, { chunks: 4, dropAfterChunks: 1 });
      const stream = await sdk.chat.completions.create({
        model: dropping,
        messages: [{ role: 'user', content: 'Hi' }],
        stream: true,
      });
      const consume = async () => {
        for await (const chunk of stream) {
          void chunk;
        }
      };
      await expect(consume()).rejects.toThrow(/upstream answer was interrupted/);
    });
  });

  describe('usage reads', () => {
    let reader: string;
    beforeAll(async () => {
      reader = uniqueId('usage-reader');
      await w.member(org, (await w.user(reader)) as string);
      for (let i = 0; i < 3; i++) {
        const res = await g.t.request('POST', '/v1/chat/completions', {
          token: null,
          headers: forwarded({ id: reader }),
          body: { model, messages: [{ role: 'user', content: 'Hi' }] },
        });
        expect(res.status).toBe(200);
      }
      await g.t.request('POST', '/v1/embeddings', {
        token: g.t.tokenFor(reader),
        body: { model, input: 'x' },
      });
      // reads see the ledger as last written (every USAGE_FLUSH_INTERVAL_MS): write it now
      await flushUsage(g.t);
    });

    it("answers a user's own usage, grouped by model and by day, as JSON and CSV", async () => {
      const byModel = await g.t.get('/api/v1/me/usage?group_by=model', g.t.tokenFor(reader));
      expect(byModel.status).toBe(200);
      expect(byModel.body.data).toEqual([
        {
          key: model,
          requests: 4,
          prompt_tokens: 4 * PROMPT_TOKENS,
          completion_tokens: 9,
          cost_usd: expect.any(Number),
        },
      ]);
      expect(byModel.body.totals.requests).toBe(4);
      const byDay = await g.t.get('/api/v1/me/usage', g.t.tokenFor(reader));
      expect(byDay.body.group_by).toBe('day');
      expect(byDay.body.data.map((r: { key: string }) => r.key)).toEqual([
        new Date().toISOString().slice(0, 10),
      ]);
      const csv = await g.t.get('/api/v1/me/usage?group_by=model&format=csv', g.t.tokenFor(reader));
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      const lines = csv.text.trim().split('\r\n');
      expect(lines[0]).toBe('model,requests,prompt_tokens,completion_tokens,cost_usd');
      expect(lines[1]).toMatch(new RegExp(`^${model},4,${4 * PROMPT_TOKENS},9,`));
      expect(lines[2]).toMatch(/^total,4,/);
    });

    it("answers an organization's usage by user to its admins, and 404 to outsiders", async () => {
      const admin = await w.user(uniqueId('usage-admin'));
      await w.member(org, admin, { role: 'admin' });
      const res = await g.t.get(
        `/api/v1/organizations/${org}/usage?group_by=user`,
        g.t.tokenFor(admin),
      );
      expect(res.status).toBe(200);
      expect(res.body.data.find((r: { key: string }) => r.key === reader)).toMatchObject({
        requests: 4,
      });
      const outsiderOrg = await w.org(uniqueId('usage-other'));
      const outsider = await w.user(uniqueId('usage-outsider'));
      await w.member(outsiderOrg, outsider, { role: 'admin' });
      expect(
        (await g.t.get(`/api/v1/organizations/${org}/usage`, g.t.tokenFor(outsider))).status,
      ).toBe(404);
      const empty = await g.t.get(
        `/api/v1/organizations/${org}/usage?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z`,
      );
      expect(empty.body).toMatchObject({ data: [], totals: { requests: 0, cost_usd: 0 } });
    });

    it('refuses bad ranges and groupings with 400 naming the field', async () => {
      for (const [query, field] of [
        ['from=yesterday', 'from'],
        ['to=2026-13-01', 'to'],
        ['group_by=week', 'group_by'],
        ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
      ]) {
        const res = await g.t.get(`/api/v1/organizations/${org}/usage?${query}`);
        expect(res.status).toBe(400);
        expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      }
    });

    it('counts requests, tokens and cost by organization in /metrics', async () => {
      const text = (await g.t.get('/metrics', null)).text;
      const families = parsePrometheusTextFormat(text);
      const value = (name: string, labels: Record<string, string>) =>
        families
          .find((f) => f.name === name)
          ?.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
          .reduce((sum, m) => sum + Number(m.value), 0) ?? 0;
      expect(
        value('gateway_requests_total', { organization: org, status: 'ok' }),
      ).toBeGreaterThanOrEqual(4);
      expect(
        value('gateway_tokens_total', { organization: org, kind: 'prompt' }),
      ).toBeGreaterThanOrEqual(4 * PROMPT_TOKENS);
      expect(value('gateway_cost_usd_total', { organization: org })).toBeGreaterThan(0);
    });
  });

  describe('catalog sync', () => {
    it('adds new models (auto-grant applies), updates names and prices, deactivates vanished ones, and audits the counts', async () => {
      const vanishing = await w.model(uniqueId('old/vanishing'));
      const custom = await w.model(uniqueId('custom/mine'), { base_model_id: model });
      const auto = await w.org(uniqueId('sync-auto'), { auto_grant_new_models: true });
      g.fake.models = [
        fakeModel(model, 'GPT-4o mini (renamed)', '0.00000015', '0.0000006'),
        fakeModel('newvendor/new-model:free', 'New model', '0', '0'),
        {
          ...fakeModel('odd/price'),
          pricing: { prompt: '-1', completion: 'x', request: '0', image: '0' },
        },
        { ...fakeModel(''), name: 'no id' },
      ];
      const res = await g.t.post('/api/v1/models/sync', {});
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        upstream_models: 3,
        created: 2,
        updated: 1,
        auto_granted: 2,
      });
      expect(res.body.deactivated).toBeGreaterThanOrEqual(1);
      const renamed = await g.t.get(`/api/v1/models/${enc(model)}`);
      expect(renamed.body).toMatchObject({
        name: 'GPT-4o mini (renamed)',
        prompt_price_usd: 0.00000015,
        completion_price_usd: 0.0000006,
        context_length: 128000,
        max_completion_tokens: 16384,
        is_active: true,
      });
      expect((await g.t.get(`/api/v1/models/${enc('odd/price')}`)).body).toMatchObject({
        prompt_price_usd: null,
        completion_price_usd: null,
      });
      expect((await g.t.get(`/api/v1/models/${enc(vanishing)}`)).body.is_active).toBe(false);
      expect((await g.t.get(`/api/v1/models/${enc(custom)}`)).body.is_active).toBe(true);
      const grants = await g.t.get(`/api/v1/organizations/${auto}/models`);
      expect(grants.body.data.map((x: { model_id: string }) => x.model_id).sort()).toEqual([
        'newvendor/new-model:free',
        'odd/price',
      ]);
      const audit = await g.t.get('/api/v1/audit?action=model.sync');
      expect(audit.body.data[0].after).toMatchObject({ created: 2, updated: 1 });

      const again = await g.t.post('/api/v1/models/sync', {});
      expect(again.body).toMatchObject({ created: 0, updated: 0, unchanged: 3, deactivated: 0 });
    });

    it('keeps prices set through PUT /api/v1/models/:id when a later PUT omits them', async () => {
      const id = uniqueId('priced/model');
      const created = await g.t.put(`/api/v1/models/${enc(id)}`, {
        name: 'Priced',
        prompt_price_usd: 0.000003,
        completion_price_usd: 0.000015,
        max_completion_tokens: 4096,
      });
      expect(created.body).toMatchObject({
        prompt_price_usd: 0.000003,
        max_completion_tokens: 4096,
      });
      const renamed = await g.t.put(`/api/v1/models/${enc(id)}`, { name: 'Priced 2' });
      expect(renamed.body).toMatchObject({ name: 'Priced 2', prompt_price_usd: 0.000003 });
      const cleared = await g.t.put(`/api/v1/models/${enc(id)}`, {
        name: 'Priced 2',
        prompt_price_usd: null,
      });
      expect(cleared.body.prompt_price_usd).toBeNull();
      const bad = await g.t.put(`/api/v1/models/${enc(id)}`, { name: 'x', prompt_price_usd: -1 });
      expect(bad.status).toBe(400);
    });

    it('refuses an empty upstream list instead of deactivating the whole catalog', async () => {
      g.fake.models = [];
      const res = await g.t.post('/api/v1/models/sync', {});
      expect(res.status).toBe(502);
      expect(res.body.detail).toMatch(/listed no models/);
      expect((await g.t.get(`/api/v1/models/${enc(model)}`)).body.is_active).toBe(true);
    });

    it('is refused to a gateway key', async () => {
      expect((await g.t.post('/api/v1/models/sync', {}, GATEWAY_KEY)).status).toBe(403);
    });
  });
});
