import { FAKE_COMPLETION_PRICE, FAKE_PROMPT_PRICE, PROMPT_TOKENS } from './support/fake-openrouter';
import { uniqueId, World } from './support/factories';
import {
  forwarded,
  GatewayFixture,
  GATEWAY_KEY,
  ledger,
  OPENROUTER_KEY,
  startGateway,
} from './support/gateway';
import { ADMIN_KEY, enc, Reply } from './support/test-app';

/** OpenAI's error shape: `{ error: { message, type, code, param } }` as JSON. */
function expectOpenAiError(res: Reply, status: number, code?: string): void {
  if (res.status !== status) {
    throw new Error(`expected ${status}, got ${res.status}: ${res.text}`);
  }
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof res.body.error.type).toBe('string');
  if (code !== undefined) {
    expect(res.body.error.code).toBe(code);
  }
  expect(res.body.error.message.length).toBeGreaterThan(10);
}

const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'Hello' }],
  ...extra,
});

describe('gateway: /v1 model calls forwarded to the upstream', () => {
  let g: GatewayFixture;
  let w: World;
  let org: string;
  let otherOrg: string;
  let user: string;
  let model: string;
  let token: string;

  beforeAll(async () => {
    g = await startGateway({ UPSTREAM_TIMEOUT_MS: '1500', UPSTREAM_IDLE_TIMEOUT_MS: '400' });
    w = new World(g.t);
    org = await w.org('gw-acme', { external_user: 'mai_client_acme' });
    otherOrg = await w.org('gw-beta', { external_user: 'mai_client_beta' });
    user = await w.user('gw-user/1');
    model = await w.model('openai/gpt-4o');
    await w.member(org, user);
    await w.member(otherOrg, user);
    await w.grant(org, model);
    await w.grant(otherOrg, model);
    token = g.t.tokenFor(user);
  });
  afterAll(async () => g.close());

  const post = (path: string, body: unknown, headers: Record<string, string>) =>
    g.t.request('POST', path, { token: null, body, headers });
  const asUser = (path: string, body: unknown) =>
    post(path, body, { authorization: `Bearer ${token}` });

  it('forwards a chat completion with the organization user value and everything else unchanged', async () => {
    const before = g.fake.calls.length;
    const body = chatBody(model, {
      user: 'spoofed-user@example.com',
      temperature: 0.2,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      response_format: { type: 'json_object' },
      provider: { order: ['OpenAI'], allow_fallbacks: false },
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is here?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
          ],
        },
      ],
    });
    const res = await asUser('/v1/chat/completions', body);
    expect(res.status).toBe(200);
    expect(res.body.object).toBe('chat.completion');
    expect(res.body.choices[0].message.content).toBe('word0 word1 word2 ');
    expect(res.body.usage.cost).toBeCloseTo(
      PROMPT_TOKENS * FAKE_PROMPT_PRICE + 3 * FAKE_COMPLETION_PRICE,
    );
    expect(g.fake.calls.length).toBe(before + 1);
    const sent = g.fake.calls[before];
    const check = await g.t.get(`/api/v1/access/check?user_id=${enc(user)}&model_id=${enc(model)}`);
    expect(sent.body).toEqual({ ...body, user: check.body.openrouter_user });
    expect(check.body.organization_id).toBe(org);
    expect(sent.headers.authorization).toBe(`Bearer ${OPENROUTER_KEY}`);
    expect(sent.headers['http-referer']).toBe('https://chat.example.com');
    expect(sent.headers['x-title']).toBe('Example Chat');
    // the caller's own credentials never go upstream
    expect(JSON.stringify(sent.headers)).not.toContain(token);
  });

  it('records one ledger row per call with tokens, cost, status and timings', async () => {
    const res = await asUser('/v1/chat/completions', chatBody(model));
    expect(res.status).toBe(200);
    const rows = (await ledger(g.t)).filter((r) => r.request_id === res.headers['x-request-id']);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      organization_id: org,
      user_id: user,
      model_id: model,
      endpoint: 'chat.completions',
      generation_id: res.body.id,
      status: 'ok',
      http_status: 200,
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: 3,
      streamed: false,
    });
    expect(rows[0].openrouter_user).toMatch(/^mai_client_acme_user_[0-9a-f]{8}$/);
    expect(rows[0].cost_usd).toBeCloseTo(
      PROMPT_TOKENS * FAKE_PROMPT_PRICE + 3 * FAKE_COMPLETION_PRICE,
      12,
    );
    expect(rows[0].latency_ms).toBeGreaterThanOrEqual(0);
    expect(rows[0].ttft_ms).toBeGreaterThanOrEqual(0);
  });

  it('lets X-Organization-Id pick another granting organization, and refuses one that does not grant', async () => {
    const before = g.fake.calls.length;
    const res = await post('/v1/chat/completions', chatBody(model), {
      authorization: `Bearer ${token}`,
      'x-organization-id': otherOrg,
    });
    expect(res.status).toBe(200);
    expect(String(g.fake.calls[before].body.user)).toMatch(/^mai_client_beta_user_/);
    const third = await w.org(uniqueId('gw-third'));
    const refused = await post('/v1/chat/completions', chatBody(model), {
      authorization: `Bearer ${token}`,
      'x-organization-id': third,
    });
    expectOpenAiError(refused, 403, 'organization_not_granting');
    expect(g.fake.calls.length).toBe(before + 1);
  });

  it('refuses a model the rule refuses with 403 model_not_allowed and the reason, and sends nothing upstream', async () => {
    const withheld = await w.model(uniqueId('anthropic/withheld'));
    const before = g.fake.calls.length;
    const rowsBefore = (await ledger(g.t)).length;
    const res = await asUser('/v1/chat/completions', chatBody(withheld));
    expectOpenAiError(res, 403, 'model_not_allowed');
    expect(res.body.error.message).toContain('no_grant');
    expect(res.body.error.param).toBe('model');
    const missing = await asUser('/v1/chat/completions', chatBody('nobody/no-such-model'));
    expectOpenAiError(missing, 404, 'model_not_found');
    expect(g.fake.calls.length).toBe(before);
    expect((await ledger(g.t)).length).toBe(rowsBefore);
  });

  it('answers bad bodies with 400 in OpenAI shape naming the field', async () => {
    const noMessages = await asUser('/v1/chat/completions', { model });
    expectOpenAiError(noMessages, 400, 'invalid_request');
    expect(noMessages.body.error.param).toBe('messages');
    const badModel = await asUser('/v1/chat/completions', chatBody(''));
    expect(badModel.body.error.param).toBe('model');
    const badStream = await asUser('/v1/chat/completions', chatBody(model, { stream: 'yes' }));
    expect(badStream.body.error.param).toBe('stream');
    const notJson = await g.t.request('POST', '/v1/chat/completions', {
      token,
      rawBody: '{"model":',
    });
    expectOpenAiError(notJson, 400);
    const noPrompt = await asUser('/v1/completions', { model });
    expect(noPrompt.body.error.param).toBe('prompt');
    const noInput = await asUser('/v1/embeddings', { model });
    expect(noInput.body.error.param).toBe('input');
  });

  it('refuses without credentials (401) and with an admin API key (403), in OpenAI shape', async () => {
    expectOpenAiError(await post('/v1/chat/completions', chatBody(model), {}), 401);
    expectOpenAiError(
      await post('/v1/chat/completions', chatBody(model), { authorization: `Bearer ${ADMIN_KEY}` }),
      403,
    );
    expectOpenAiError(await g.t.get('/v1/models', null), 401);
    expectOpenAiError(await g.t.get('/v1/no-such-route', token), 404);
  });

  it('serves completions and embeddings the same way', async () => {
    const completion = await asUser('/v1/completions', { model, prompt: 'Say hi' });
    expect(completion.status).toBe(200);
    expect(completion.body.object).toBe('text_completion');
    const embedding = await asUser('/v1/embeddings', { model, input: ['a', 'b'] });
    expect(embedding.status).toBe(200);
    expect(embedding.body.data[0].embedding).toHaveLength(3);
    const rows = await ledger(g.t);
    const byRequest = (res: Reply) =>
      rows.find((r) => r.request_id === res.headers['x-request-id']);
    expect(byRequest(completion)).toMatchObject({
      endpoint: 'completions',
      status: 'ok',
      completion_tokens: 3,
    });
    expect(byRequest(embedding)).toMatchObject({
      endpoint: 'embeddings',
      status: 'ok',
      prompt_tokens: PROMPT_TOKENS,
    });
  });

  describe('forwarded user headers (gateway key)', () => {
    it('creates the user from the headers, then decides for that user', async () => {
      const id = uniqueId('owui-user');
      const headers = forwarded({ id, name: 'Zażółć Gęślą Jaźń', email: 'zazolc@acme.test' });
      const refused = await post('/v1/chat/completions', chatBody(model), headers);
      expectOpenAiError(refused, 403, 'model_not_allowed');
      expect(refused.body.error.message).toContain('no_membership');
      const created = await g.t.get(`/api/v1/users/${enc(id)}`);
      expect(created.body).toMatchObject({
        name: 'Zażółć Gęślą Jaźń',
        email: 'zazolc@acme.test',
        role: 'user',
      });
      const audit = await g.t.get(`/api/v1/audit?target_type=user&target_id=${enc(id)}`);
      expect(audit.body.data.map((e: { action: string }) => e.action)).toEqual(['user.create']);
      expect(audit.body.data[0].actor).toMatch(/^gateway-key:/);

      await w.member(org, id);
      const before = g.fake.calls.length;
      const allowed = await post('/v1/chat/completions', chatBody(model), headers);
      expect(allowed.status).toBe(200);
      expect(String(g.fake.calls[before].body.user)).toMatch(/^mai_client_acme_user_/);
      // unchanged headers write nothing
      const again = await g.t.get(`/api/v1/audit?target_type=user&target_id=${enc(id)}`);
      expect(again.body.total).toBe(1);
    });

    it('updates a changed email or role, and refuses a pending user', async () => {
      const id = uniqueId('owui-changing');
      await post('/v1/models', undefined, forwarded({ id }));
      await post('/v1/chat/completions', chatBody(model), forwarded({ id }));
      await post(
        '/v1/chat/completions',
        chatBody(model),
        forwarded({ id, email: 'new@acme.test' }),
      );
      expect((await g.t.get(`/api/v1/users/${enc(id)}`)).body.email).toBe('new@acme.test');
      const pending = await post(
        '/v1/chat/completions',
        chatBody(model),
        forwarded({ id, role: 'pending' }),
      );
      expectOpenAiError(pending, 403, 'user_pending');
      expect((await g.t.get(`/api/v1/users/${enc(id)}`)).body.role).toBe('pending');
    });

    it('refuses malformed headers with 400 naming the header, creating nothing', async () => {
      const id = uniqueId('owui-bad');
      const badRole = await post('/v1/chat/completions', chatBody(model), {
        ...forwarded({ id }),
        'x-openwebui-user-role': 'root',
      });
      expectOpenAiError(badRole, 400, 'invalid_user_header');
      expect(badRole.body.error.param).toBe('x-openwebui-user-role');
      const badEmail = await post(
        '/v1/chat/completions',
        chatBody(model),
        forwarded({ id, email: 'nope' }),
      );
      expect(badEmail.body.error.param).toBe('x-openwebui-user-email');
      const badName = await post('/v1/chat/completions', chatBody(model), {
        ...forwarded({ id }),
        'x-openwebui-user-name': '%E0%A4%A',
      });
      expect(badName.body.error.param).toBe('x-openwebui-user-name');
      expect((await g.t.get(`/api/v1/users/${enc(id)}`)).status).toBe(404);
    });

    it('ignores forwarded headers that come with a session token', async () => {
      const id = uniqueId('owui-ignored');
      const res = await post('/v1/chat/completions', chatBody(model), {
        ...forwarded({ id }),
        authorization: `Bearer ${token}`,
      });
      expect(res.status).toBe(200);
      expect((await g.t.get(`/api/v1/users/${enc(id)}`)).status).toBe(404);
    });

    it('lets a gateway key without a user list every granted model, but not call one', async () => {
      const list = await g.t.get('/v1/models', GATEWAY_KEY);
      expect(list.status).toBe(200);
      expect(list.body.data.map((m: { id: string }) => m.id)).toContain(model);
      const one = await g.t.get(`/v1/models/${enc(model)}`, GATEWAY_KEY);
      expect(one.body).toMatchObject({ id: model, object: 'model', owned_by: org });
      const call = await post('/v1/chat/completions', chatBody(model), {
        authorization: `Bearer ${GATEWAY_KEY}`,
      });
      expectOpenAiError(call, 400, 'user_required');
    });
  });

  describe('upstream trouble', () => {
    for (const status of [402, 429, 500]) {
      it(`passes an upstream ${status} on with its message in OpenAI shape and records an error row`, async () => {
        const failing = await w.model(uniqueId(`fail/${status}`));
        await w.grant(org, failing);
        g.fake.behave(failing, {
          status,
          errorMessage: `Upstream says ${status}`,
          headers: status === 429 ? { 'retry-after': '7' } : {},
        });
        const res = await asUser('/v1/chat/completions', chatBody(failing));
        expectOpenAiError(res, status);
        expect(res.body.error.message).toBe(`Upstream says ${status}`);
        if (status === 429) {
          expect(res.headers['retry-after']).toBe('7');
        }
        const rows = (await ledger(g.t)).filter((r) => r.model_id === failing);
        expect(rows).toMatchObject([{ status: 'error', http_status: status }]);
      });
    }

    it('answers 504 when the upstream is slower than UPSTREAM_TIMEOUT_MS to start', async () => {
      const slow = await w.model(uniqueId('slow/first-byte'));
      await w.grant(org, slow);
      g.fake.behave(slow, { firstByteDelayMs: 3000 });
      const res = await asUser('/v1/chat/completions', chatBody(slow));
      expectOpenAiError(res, 504, 'upstream_timeout');
      const rows = (await ledger(g.t)).filter((r) => r.model_id === slow);
      expect(rows).toMatchObject([{ status: 'error', http_status: 504 }]);
    });

    it('answers 502 when the upstream cannot be reached', async () => {
      const down = await startGateway({ OPENROUTER_BASE_URL: 'http://127.0.0.1:9/api/v1' });
      try {
        const dw = new World(down.t);
        const o = await dw.org('down-org');
        const u = await dw.user('down-user');
        const m = await dw.model('down/model');
        await dw.member(o, u);
        await dw.grant(o, m);
        const res = await down.t.request('POST', '/v1/chat/completions', {
          token: down.t.tokenFor(u),
          body: chatBody(m),
        });
        expectOpenAiError(res, 502, 'upstream_unavailable');
      } finally {
        await down.close();
      }
    });
  });
});
