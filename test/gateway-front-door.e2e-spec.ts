import { Server } from 'node:http';
import { RequestAuthenticator } from '../src/auth/auth.guard';
import { DoorRequest } from '../src/common/front-door';
import { ProblemFilter } from '../src/common/problem.filter';
import { uniqueId, World } from './support/factories';
import { forwarded, GatewayFixture, ledger, startGateway } from './support/gateway';

/**
 * Over HTTP, a model call with a plain JSON body is answered by the gateway's front door on
 * the HTTP server (src/gateway/gateway-fast-path.ts), before Fastify; a query string sends
 * the same call on to Fastify's route. Both entrances must answer alike, header for header
 * and byte for byte, but for what differs between any two calls (request and generation
 * ids, dates, creation times, the access revision's number).
 */
describe('gateway: the front door', () => {
  let g: GatewayFixture;
  let w: World;
  let org: string;
  let user: string;
  let token: string;
  let model: string;
  let decide: jest.SpyInstance;
  let problem: jest.SpyInstance;

  beforeAll(async () => {
    g = await startGateway();
    w = new World(g.t);
    org = await w.org(uniqueId('door-org'), { external_user: 'mai_door' });
    user = await w.user(uniqueId('door-user'));
    await w.member(org, user);
    model = await w.model(uniqueId('door/model'));
    await w.grant(org, model);
    token = g.t.tokenFor(user);
    decide = jest.spyOn(RequestAuthenticator.prototype, 'decide');
    problem = jest.spyOn(ProblemFilter.prototype, 'send');
  });
  afterAll(async () => {
    decide.mockRestore();
    problem.mockRestore();
    (g.t.app.getHttpServer() as Server).closeAllConnections();
    await g.close();
  });

  /**
   * Whether the last call was answered by the front door: the request the guard's
   * authenticator saw or, for a body refused before authentication, the one ProblemFilter
   * answered.
   */
  const byFrontDoor = (): boolean =>
    (decide.mock.lastCall ?? problem.mock.lastCall)?.[1] instanceof DoorRequest;
  const forget = () => {
    decide.mockClear();
    problem.mockClear();
  };

  interface Call {
    path?: string;
    body: string;
    headers?: Record<string, string>;
  }

  async function send(call: Call, query: string): Promise<Response> {
    return fetch(`${g.base}${call.path ?? '/v1/chat/completions'}${query}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...call.headers,
      },
      body: call.body,
    });
  }

  /** The parts of an answer both entrances must agree on. */
  async function comparable(response: Response) {
    const headers = Object.fromEntries(response.headers.entries());
    const { date, 'x-request-id': id, 'x-generation-id': generation, ...rest } = headers;
    expect(typeof id).toBe('string');
    expect(date).toBeDefined();
    if (rest['x-access-revision'] !== undefined) {
      expect(rest['x-access-revision']).toMatch(/^\d+$/);
      rest['x-access-revision'] = '<revision>';
    }
    const text = (await response.text())
      .replaceAll(id, '<id>')
      .replace(/gen-\d+-\d+/g, '<generation>')
      .replace(/"created":\d+/g, '"created":<time>');
    return {
      status: response.status,
      generation: generation === undefined ? 'none' : 'sent',
      headers: rest,
      text,
    };
  }

  it('answers each kind of call as Fastify would, successes and errors alike', async () => {
    const forbidden = await w.model(uniqueId('door/forbidden'));
    const limited = await w.model(uniqueId('door/limited'));
    await w.grant(org, limited);
    g.fake.behave(limited, { status: 429, headers: { 'retry-after': '7' } });
    const chat = (m: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({ model: m, messages: [{ role: 'user', content: 'Hi' }], ...extra });
    const cases: [string, (n: number) => Call][] = [
      ['a non-streamed answer', () => ({ body: chat(model) })],
      ['a streamed answer', () => ({ body: chat(model, { stream: true }) })],
      [
        'an embedding',
        () => ({ path: '/v1/embeddings', body: `{"model":"${model}","input":"x"}` }),
      ],
      ['a body that is not JSON', () => ({ body: '{"model": ' })],
      ['a poisoned body', () => ({ body: `{"model":"${model}","__proto__":{"x":1}}` })],
      ['no model', () => ({ body: '{"messages":[]}' })],
      ['an unknown model', () => ({ body: chat('nobody/nothing') })],
      ['a model not granted', () => ({ body: chat(forbidden) })],
      ['an upstream refusal', () => ({ body: chat(limited) })],
      ['no credentials', () => ({ body: chat(model), headers: { authorization: '' } })],
      [
        'a gateway key without the user',
        () => ({
          body: chat(model),
          headers: { authorization: forwarded({ id: 'x' }).authorization },
        }),
      ],
      [
        'a gateway key naming a new member (a write)',
        (n) => {
          const id = uniqueId(`door-new-${n}`);
          return { body: chat('nobody/nothing'), headers: forwarded({ id }) };
        },
      ],
    ];
    for (const [what, call] of cases) {
      forget();
      const door = await comparable(await send(call(1), ''));
      expect({ what, door: byFrontDoor() }).toEqual({ what, door: true });
      forget();
      const fastify = await comparable(await send(call(2), '?entrance=fastify'));
      expect({ what, door: byFrontDoor() }).toEqual({ what, door: false });
      expect({ what, ...door }).toEqual({ what, ...fastify });
    }
  });

  it('meters the calls it answers, and counts them in /metrics', async () => {
    const count = async (): Promise<number> => {
      const text = (await g.t.get('/metrics')).text;
      return Number(
        /http_request_duration_seconds_count\{method="POST",route="\/v1\/chat\/completions",status_class="2xx"\} (\d+)/.exec(
          text,
        )?.[1] ?? 0,
      );
    };
    const metered = await w.model(uniqueId('door/metered'));
    await w.grant(org, metered);
    const before = await count();
    const body = JSON.stringify({ model: metered, messages: [{ role: 'user', content: 'Hi' }] });
    const answers = await Promise.all([1, 2, 3].map(() => send({ body }, '')));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(byFrontDoor()).toBe(true);
    await Promise.all(answers.map((a) => a.text()));
    expect(await count()).toBe(before + 3);
    const rows = (await ledger(g.t)).filter((r) => r.model_id === metered);
    expect(rows.map((r) => [r.status, r.organization_id])).toEqual([
      ['ok', org],
      ['ok', org],
      ['ok', org],
    ]);
  });

  it('sends on to Fastify what it does not read itself', async () => {
    const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'Hi' }] });
    const others: [string, Call][] = [
      ['another media type', { body, headers: { 'content-type': 'text/plain' } }],
      [
        'a JSON type with another charset',
        { body, headers: { 'content-type': 'application/json; charset=latin1' } },
      ],
    ];
    for (const [what, call] of others) {
      forget();
      const answer = await send(call, '');
      await answer.text();
      expect({ what, door: byFrontDoor() }).toEqual({ what, door: false });
    }
    // A chunked upload: no declared length.
    forget();
    const chunked = await fetch(`${g.base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(200);
    await chunked.text();
    expect(byFrontDoor()).toBe(false);
  });
});
