import { Logger } from '@nestjs/common';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { currentRequestId, inRequestContext } from '../common/request-context';
import { loadConfig } from '../config/load-config';
import { inWriteContext } from '../database/revisions';
import { OpenRouterClient, UpstreamCancel } from './openrouter.client';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A local upstream answering every call with a small JSON body, connections kept alive. */
let server: Server;
let baseUrl: string;
let connections = 0;

beforeAll(async () => {
  Logger.overrideLogger(false);
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A client of its own (its own pool of connections), closed after `use`. */
async function withClient<T>(use: (client: OpenRouterClient) => Promise<T>): Promise<T> {
  const client = new OpenRouterClient(
    loadConfig({
      OPENROUTER_BASE_URL: baseUrl,
      OPENROUTER_API_KEY: 'upstream-key-0123456789abcdef-0123456789',
    }),
  );
  try {
    return await use(client);
  } finally {
    await client.onApplicationShutdown();
  }
}

/**
 * One call made from inside a request's contexts (its id, and `reply` as the reply its
 * writes would mark); resolves with the request id the caller sees after the call.
 */
function callInRequest(
  client: OpenRouterClient,
  requestId: string,
  reply: { header(): void },
): Promise<string | undefined> {
  return inRequestContext(requestId, () =>
    inWriteContext(reply, async () => {
      const cancel = new UpstreamCancel();
      const answer = await client.send('POST', '/chat/completions', Buffer.from('{}'), cancel);
      for await (const _chunk of answer.body) {
        // read to the end, so that the connection goes back to the pool
      }
      return currentRequestId();
    }),
  );
}

describe('OpenRouterClient', () => {
  it('leaves the caller in its own request context after the call', async () => {
    const seen = await withClient((client) =>
      callInRequest(client, 'request-7', { header: () => undefined }),
    );
    expect(seen).toBe('request-7');
  });

  it('does not keep the request that opened a pooled connection alive', async () => {
    await withClient(async (client) => {
      const before = connections;
      let reply: { header(): void } | null = { header: () => undefined };
      const collected = new WeakRef(reply);
      await callInRequest(client, 'request-8', reply);
      reply = null;
      // the call opened a connection, and the pool keeps it open after the call
      expect(connections).toBe(before + 1);
      const open = await new Promise<number>((resolve, reject) =>
        server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
      );
      expect(open).toBeGreaterThan(0);
      for (let i = 0; i < 3 && collected.deref() !== undefined; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
      }
      expect(collected.deref()).toBeUndefined();
    });
  });
});
