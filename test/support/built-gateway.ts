import { join } from 'node:path';
import { FakeOpenRouter } from './fake-openrouter';
import { HttpApi } from './http-api';
import { ServerProcess } from './server-process';
import { ADMIN_KEY, enc, Reply, WEBUI_SECRET, webUiToken } from './test-app';
import { TestDatabase } from './test-database';

/** How long replicas may take to boot together; the hooks that start them allow more. */
export const BOOT_TIMEOUT_MS = 90_000;
export const START_HOOK_TIMEOUT_MS = BOOT_TIMEOUT_MS + 30_000;

/** The test-only preload that points the built server's budget clock at FAKE_CLOCK_FILE. */
export const FAKE_CLOCK_PRELOAD = join(__dirname, 'fake-clock-preload.js');

/**
 * Replicas of the built server (dist/src/main.js, one process each) on one database, their
 * gateways forwarding to one fake OpenRouter. `envOf(i)` adds settings per replica.
 */
export class BuiltReplicas {
  private constructor(
    readonly servers: ServerProcess[],
    /** The admin API of each replica (ADMIN_KEY). */
    readonly apis: HttpApi[],
    readonly fake: FakeOpenRouter,
  ) {}

  static async start(
    count: number,
    database: TestDatabase,
    envOf: (i: number) => Record<string, string> = () => ({}),
    nodeArgs: string[] = [],
  ): Promise<BuiltReplicas> {
    const fake = await FakeOpenRouter.start();
    const servers: ServerProcess[] = [];
    try {
      // All boot at once on the empty database (one of them migrates it, as in production).
      for (let i = 0; i < count; i++) {
        const env = {
          DATABASE_URL: database.url,
          ADMIN_API_KEYS: ADMIN_KEY,
          WEBUI_SECRET_KEY: WEBUI_SECRET,
          OPENROUTER_BASE_URL: fake.baseUrl,
          OPENROUTER_API_KEY: 'sk-or-test-upstream-key-0123456789abcdef',
          AUTH_FAILURE_LIMIT: '100000',
          ...envOf(i),
        };
        servers.push(await ServerProcess.start(env, undefined, nodeArgs));
      }
      // generous: several processes booting at once on a loaded CI machine are slow
      await Promise.all(servers.map((s) => s.ready(BOOT_TIMEOUT_MS)));
    } catch (error) {
      await Promise.all(servers.map((s) => s.stop()));
      await fake.close();
      throw error;
    }
    return new BuiltReplicas(
      servers,
      servers.map((s) => new HttpApi(s.url)),
      fake,
    );
  }

  /** A web UI session token for a user (valid for an hour of real time). */
  tokenFor(userId: string): string {
    return webUiToken(userId);
  }

  /** A chat completion through replica `i` (modulo the count) as `userId`. */
  chat(
    i: number,
    userId: string,
    model: string,
    extra: Record<string, unknown> = {},
  ): Promise<Reply> {
    return this.apis[i % this.apis.length].request('POST', '/v1/chat/completions', {
      token: this.tokenFor(userId),
      body: { model, messages: [{ role: 'user', content: 'Hello' }], ...extra },
    });
  }

  /** A catalog model with the fake upstream's prices (so reservations and costs are known). */
  async pricedModel(id: string, prices: { prompt: number; completion: number }): Promise<void> {
    const res = await this.apis[0].put(`/api/v1/models/${enc(id)}`, {
      name: id,
      prompt_price_usd: prices.prompt,
      completion_price_usd: prices.completion,
      max_completion_tokens: 1000,
    });
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`PUT model ${id} answered ${res.status}: ${res.text}`);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()));
    await this.fake.close();
  }
}
