import {
  FakeOpenRouter,
  FAKE_COMPLETION_PRICE,
  FAKE_PROMPT_PRICE,
  PROMPT_TOKENS,
} from './support/fake-openrouter';
import { uniqueId, World } from './support/factories';
import { GatewayFixture, ledger, LedgerRow, startGateway } from './support/gateway';
import { createTestDatabase } from './support/test-database';

const chat = (model: string, stream = true) => ({
  model,
  stream,
  messages: [{ role: 'user', content: 'Hello' }],
});

/** The `data:` payloads of an SSE text. */
function events(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => l.slice(6));
}

describe('gateway: streamed answers', () => {
  let g: GatewayFixture;
  let w: World;
  let org: string;
  let user: string;
  let token: string;

  beforeAll(async () => {
    g = await startGateway({ UPSTREAM_IDLE_TIMEOUT_MS: '500' });
    w = new World(g.t);
    org = await w.org('stream-org', { external_user: 'mai_client_stream' });
    user = await w.user('stream-user');
    await w.member(org, user);
    token = g.t.tokenFor(user);
  });
  afterAll(async () => g.close());

  async function grantedModel(prefix: string): Promise<string> {
    const model = await w.model(uniqueId(prefix));
    await w.grant(org, model);
    return model;
  }

  const call = (body: unknown, signal?: AbortSignal) =>
    fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });

  async function rowOf(model: string): Promise<LedgerRow> {
    const rows = (await ledger(g.t)).filter((r) => r.model_id === model);
    expect(rows).toHaveLength(1);
    return rows[0];
  }

  it('passes the SSE answer through unchanged, ending with the usage chunk and [DONE], and meters it', async () => {
    const model = await grantedModel('stream/full');
    const res = await call(chat(model));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await res.text();
    expect(text.startsWith(': OPENROUTER PROCESSING\n\n')).toBe(true);
    const data = events(text);
    expect(data[data.length - 1]).toBe('[DONE]');
    const usage = JSON.parse(data[data.length - 2]);
    expect(usage.choices).toEqual([]);
    expect(usage.usage.completion_tokens).toBe(3);
    const content = data
      .slice(0, -2)
      .map((d) => JSON.parse(d).choices[0].delta.content)
      .join('');
    expect(content).toBe('word0 word1 word2 ');
    const row = await rowOf(model);
    expect(row).toMatchObject({
      status: 'ok',
      streamed: true,
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: 3,
      generation_id: usage.id,
    });
    expect(row.cost_usd).toBeCloseTo(
      PROMPT_TOKENS * FAKE_PROMPT_PRICE + 3 * FAKE_COMPLETION_PRICE,
      12,
    );
    expect(row.ttft_ms).not.toBeNull();
    expect(row.ttft_ms!).toBeLessThanOrEqual(row.latency_ms);
  });

  it('delivers chunks before the upstream has finished, and ends a stalled stream with an SSE error event', async () => {
    const model = await grantedModel('stream/stall');
    g.fake.behave(model, { chunks: 5, stallAfterChunks: 1 });
    const res = await call(chat(model));
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The first content chunk arrives while the upstream is still holding the answer open.
    while (!text.includes('word0')) {
      const { value, done } = await reader.read();
      expect(done).toBe(false);
      text += decoder.decode(value, { stream: true });
    }
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      text += decoder.decode(value, { stream: true });
    }
    const last = JSON.parse(events(text).pop()!);
    expect(last.error).toMatchObject({ code: 'upstream_interrupted', type: 'api_error' });
    expect(last.error.message).toMatch(/no data from the upstream for 500 ms/);
    expect(await rowOf(model)).toMatchObject({
      status: 'error',
      streamed: true,
      completion_tokens: null,
    });
  });

  it('ends a stream whose upstream connection drops with an SSE error event', async () => {
    const model = await grantedModel('stream/drop');
    g.fake.behave(model, { chunks: 5, dropAfterChunks: 2 });
    const res = await call(chat(model));
    const text = await res.text();
    expect(text).toContain('word1');
    const last = JSON.parse(events(text).pop()!);
    expect(last.error.code).toBe('upstream_interrupted');
    expect(await rowOf(model)).toMatchObject({ status: 'error', streamed: true });
  });

  it('cancels the upstream request when the client goes away, and records the call as aborted', async () => {
    const model = await grantedModel('stream/abort');
    g.fake.behave(model, { chunks: 50, chunkDelayMs: 20 });
    const aborts = g.fake.clientAborts;
    const controller = new AbortController();
    const res = await call(chat(model), controller.signal);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    controller.abort();
    await g.fake.untilClientAborts(aborts + 1);
    expect(await rowOf(model)).toMatchObject({
      status: 'aborted',
      http_status: 499,
      streamed: true,
    });
  });

  it('cancels the upstream request when the client goes away before the first byte', async () => {
    const model = await grantedModel('stream/abort-early');
    g.fake.behave(model, { firstByteDelayMs: 300 });
    const calls = g.fake.calls.length;
    const controller = new AbortController();
    const pending = call(chat(model), controller.signal).catch((error: unknown) => error);
    while (g.fake.calls.length === calls) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    controller.abort();
    expect(await pending).toHaveProperty('name', 'AbortError');
    // the ledger row is written once the gateway has seen the client go
    for (;;) {
      const rows = (await ledger(g.t)).filter((r) => r.model_id === model);
      if (rows.length > 0) {
        expect(rows).toMatchObject([{ status: 'aborted', http_status: 499 }]);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('holds the upstream back while the client does not read (backpressure), then delivers everything', async () => {
    const model = await grantedModel('stream/backpressure');
    const chunks = 2000;
    const chunkBytes = 64 * 1024;
    g.fake.behave(model, { chunks, chunkBytes });
    const startBytes = g.fake.streamedBytes;
    const res = await call(chat(model));
    const reader = res.body!.getReader();
    // Read nothing until the upstream has stopped sending (its writes wait for the gateway).
    let last = -1;
    let stable = 0;
    while (stable < 10) {
      await new Promise((resolve) => setTimeout(resolve, 30));
      const sent = g.fake.streamedBytes - startBytes;
      stable = sent === last ? stable + 1 : 0;
      last = sent;
    }
    const total = chunks * chunkBytes;
    expect(last).toBeLessThan(total / 4);
    // Stay a slow reader for longer than UPSTREAM_IDLE_TIMEOUT_MS (500 ms here): silence the
    // gateway itself imposes by holding the upstream back is not an upstream stall.
    await new Promise((resolve) => setTimeout(resolve, 800));
    let received = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      received += value.length;
    }
    expect(received).toBeGreaterThan(total);
    expect(await rowOf(model)).toMatchObject({ status: 'ok', completion_tokens: chunks });
  });

  it('records exactly one row per call under concurrent load (N calls, N rows)', async () => {
    const model = await grantedModel('stream/load');
    const n = 200;
    const answers = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const res = await call(chat(model, i % 2 === 0));
        await res.text();
        return res.status;
      }),
    );
    expect(answers.filter((s) => s === 200)).toHaveLength(n);
    const rows = (await ledger(g.t)).filter((r) => r.model_id === model);
    expect(rows).toHaveLength(n);
    expect(new Set(rows.map((r) => r.request_id)).size).toBe(n);
    expect(rows.filter((r) => r.streamed)).toHaveLength(n / 2);
    expect(rows.every((r) => r.status === 'ok' && r.completion_tokens === 3)).toBe(true);
  });
});

describe('gateway: ledger rows survive a graceful shutdown', () => {
  it('writes every queued row before the database closes', async () => {
    const fake = await FakeOpenRouter.start();
    const database = await createTestDatabase();
    try {
      // a flush interval far beyond the test: only the shutdown can write the rows
      const first = await startGateway({ USAGE_FLUSH_INTERVAL_MS: '60000' }, database, fake);
      const w = new World(first.t);
      const org = await w.org('shutdown-org');
      const user = await w.user('shutdown-user');
      const model = await w.model('shutdown/model');
      await w.member(org, user);
      await w.grant(org, model);
      const n = 30;
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const res = await fetch(`${first.base}/v1/chat/completions`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${first.t.tokenFor(user)}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify(chat(model, i % 2 === 0)),
          });
          expect(res.status).toBe(200);
          await res.text();
        }),
      );
      await first.t.app.close();
      const second = await startGateway({}, database, fake);
      try {
        const usage = await second.t.get(`/api/v1/organizations/${org}/usage?group_by=model`);
        expect(usage.body.totals.requests).toBe(n);
      } finally {
        await second.t.app.close();
      }
    } finally {
      await database.drop();
      await fake.close();
    }
  });
});
