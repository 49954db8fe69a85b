import { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { UsageWriter } from '../../src/usage/usage-writer.service';
import { FakeOpenRouter } from './fake-openrouter';
import { startTestApp, TestApp } from './test-app';
import { TestDatabase } from './test-database';

export const GATEWAY_KEY = 'test-gateway-key-0123456789abcdef0123456789';
export const OPENROUTER_KEY = 'sk-or-test-upstream-key-0123456789abcdef';

/** A service whose gateway forwards to a fake OpenRouter, listening on a real port. */
export interface GatewayFixture {
  t: TestApp;
  fake: FakeOpenRouter;
  /** http://127.0.0.1:<port> of the service. */
  base: string;
  close(): Promise<void>;
}

export async function startGateway(
  env: Record<string, string> = {},
  database?: TestDatabase,
  fake?: FakeOpenRouter,
): Promise<GatewayFixture> {
  const upstream = fake ?? (await FakeOpenRouter.start());
  const t = await startTestApp(
    {
      GATEWAY_API_KEYS: GATEWAY_KEY,
      OPENROUTER_BASE_URL: upstream.baseUrl,
      OPENROUTER_API_KEY: OPENROUTER_KEY,
      OPENROUTER_HTTP_REFERER: 'https://chat.example.com',
      OPENROUTER_X_TITLE: 'Example Chat',
      USAGE_FLUSH_INTERVAL_MS: '50',
      ...env,
    },
    database,
  );
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const port = (t.app.getHttpServer().address() as AddressInfo).port;
  return {
    t,
    fake: upstream,
    base: `http://127.0.0.1:${port}`,
    close: async () => {
      await t.close();
      if (!fake) {
        await upstream.close();
      }
    },
  };
}

/** Writes every queued ledger row now (the test then reads the table). */
export async function flushUsage(t: TestApp): Promise<void> {
  await t.app.get(UsageWriter).flush();
}

export interface LedgerRow {
  organization_id: string;
  user_id: string;
  model_id: string;
  openrouter_user: string;
  endpoint: string;
  generation_id: string | null;
  status: string;
  http_status: number;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  cost_usd: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  streamed: boolean | number;
  request_id: string;
}

/** Every ledger row (after a flush), oldest first. */
export async function ledger(t: TestApp): Promise<LedgerRow[]> {
  await flushUsage(t);
  const rows = await t.app
    .get(DataSource)
    .query<LedgerRow[]>('SELECT * FROM usage_events ORDER BY created_at, id');
  return rows.map((r) => ({
    ...r,
    streamed: r.streamed === true || r.streamed === 1,
    cost_usd: r.cost_usd === null ? null : Number(r.cost_usd),
  }));
}

/** Headers Open WebUI sends with ENABLE_FORWARD_USER_INFO_HEADERS=true. */
export function forwarded(user: {
  id: string;
  name?: string;
  email?: string;
  role?: string;
}): Record<string, string> {
  return {
    authorization: `Bearer ${GATEWAY_KEY}`,
    'x-openwebui-user-id': user.id,
    'x-openwebui-user-name': encodeURIComponent(user.name ?? `User ${user.id}`).replace(
      /%20/g,
      ' ',
    ),
    'x-openwebui-user-email': user.email ?? `${user.id.replace(/[^A-Za-z0-9]/g, '')}@example.com`,
    'x-openwebui-user-role': user.role ?? 'user',
  };
}

/** Reads a streamed answer as text, chunk by chunk. */
export async function readAll(response: Response): Promise<string> {
  return response.text();
}
