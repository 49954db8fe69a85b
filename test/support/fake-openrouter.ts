import Fastify, { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AddressInfo } from 'node:net';

/** How the fake answers calls for one model (default: a normal answer). */
export interface Behaviour {
  /** Answer this status with OpenRouter's error body instead of a completion. */
  status?: number;
  errorMessage?: string;
  /** Extra headers on an error answer (Retry-After...). */
  headers?: Record<string, string>;
  /** Wait this long before the answer's head (slow first byte). */
  firstByteDelayMs?: number;
  /** Answer only once this resolves: the test holds calls in flight and lets them go together. */
  hold?: Promise<void>;
  /** Content chunks of a streamed answer (default 3). */
  chunks?: number;
  /** Bytes of text in each content chunk (default a short word). */
  chunkBytes?: number;
  /** Streams: after this many content chunks, stop sending and keep the connection open. */
  stallAfterChunks?: number;
  /** Streams: after this many content chunks, drop the connection. */
  dropAfterChunks?: number;
  /** Wait between content chunks. */
  chunkDelayMs?: number;
}

export interface RecordedCall {
  path: string;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

export const PROMPT_TOKENS = 11;
/** Price per token the fake bills (cost = tokens x price), as OpenRouter's usage.cost does. */
export const FAKE_PROMPT_PRICE = 0.000001;
export const FAKE_COMPLETION_PRICE = 0.000002;

export interface FakeModel {
  id: string;
  name: string;
  pricing: { prompt: string; completion: string; request: string; image: string };
  context_length: number;
  top_provider: {
    context_length: number;
    max_completion_tokens: number | null;
    is_moderated: boolean;
  };
}

export function fakeModel(
  id: string,
  name = id,
  prompt = '0.0000025',
  completion = '0.00001',
): FakeModel {
  return {
    id,
    name,
    pricing: { prompt, completion, request: '0', image: '0' },
    context_length: 128000,
    top_provider: { context_length: 128000, max_completion_tokens: 16384, is_moderated: true },
  };
}

/**
 * A small OpenRouter stand-in for the tests and the bench, with the real answer shapes:
 * chat completions as JSON with `usage` (including `cost`) or as Server-Sent Events
 * (a processing comment, a role chunk, content chunks, a finish chunk, a usage chunk with
 * empty choices, `data: [DONE]`), text completions, embeddings, `/models` with pricing,
 * OpenRouter's error body, and injected trouble per model: error statuses, slow first
 * bytes, stalls and dropped connections mid-stream.
 */
export class FakeOpenRouter {
  readonly calls: RecordedCall[] = [];
  models: FakeModel[] = [];
  /** Streamed answers the client closed before their end. */
  clientAborts = 0;
  /** Bytes of streamed answers written so far (all answers). */
  streamedBytes = 0;
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly abortWaiters: (() => void)[] = [];
  private generation = 0;

  private constructor(private readonly app: FastifyInstance) {}

  static async start(port = 0): Promise<FakeOpenRouter> {
    const app = Fastify({ bodyLimit: 64 * 1024 * 1024, keepAliveTimeout: 60_000 });
    const fake = new FakeOpenRouter(app);
    app.get('/api/v1/models', async () => ({ data: fake.models }));
    for (const path of ['chat/completions', 'completions', 'embeddings']) {
      app.post(`/api/v1/${path}`, (request, reply) => fake.answer(path, request, reply));
    }
    await app.listen({ port, host: '127.0.0.1' });
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}/api/v1`;
  }

  behave(model: string, behaviour: Behaviour): void {
    this.behaviours.set(model, behaviour);
  }

  /** Resolves when `count` streamed answers in total have been abandoned by their client. */
  async untilClientAborts(count: number): Promise<void> {
    while (this.clientAborts < count) {
      await new Promise<void>((resolve) => this.abortWaiters.push(resolve));
    }
  }

  async close(): Promise<void> {
    this.app.server.closeAllConnections();
    await this.app.close();
  }

  private async answer(path: string, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const body = (request.body ?? {}) as Record<string, unknown>;
    this.calls.push({ path, body, headers: { ...request.headers } });
    const model = String(body.model);
    const b = this.behaviours.get(model) ?? {};
    if (request.headers.authorization === undefined) {
      return void reply
        .status(401)
        .send({ error: { code: 401, message: 'No auth credentials found' } });
    }
    if (b.hold) {
      await b.hold;
    }
    if (b.firstByteDelayMs) {
      await new Promise((resolve) => setTimeout(resolve, b.firstByteDelayMs).unref());
    }
    if (b.status) {
      return void reply
        .status(b.status)
        .headers(b.headers ?? {})
        .send({
          error: {
            code: b.status,
            message: b.errorMessage ?? `Fake upstream error ${b.status}`,
            metadata: { provider_name: 'Fake' },
          },
        });
    }
    const id = `gen-${Date.now()}-${++this.generation}`;
    void reply.header('x-generation-id', id);
    const chunks = b.chunks ?? 3;
    const text = (i: number) => (b.chunkBytes ? 'x'.repeat(b.chunkBytes) : `word${i} `);
    const usage = {
      prompt_tokens: PROMPT_TOKENS,
      completion_tokens: chunks,
      total_tokens: PROMPT_TOKENS + chunks,
      cost: PROMPT_TOKENS * FAKE_PROMPT_PRICE + chunks * FAKE_COMPLETION_PRICE,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    };
    const created = Math.floor(Date.now() / 1000);
    if (path === 'embeddings') {
      return void reply.send({
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: [0.1, -0.2, 0.3] }],
        model,
        id,
        usage: {
          prompt_tokens: PROMPT_TOKENS,
          total_tokens: PROMPT_TOKENS,
          cost: PROMPT_TOKENS * FAKE_PROMPT_PRICE,
        },
      });
    }
    const chat = path === 'chat/completions';
    if (body.stream !== true) {
      const content = Array.from({ length: chunks }, (_, i) => text(i)).join('');
      return void reply.send({
        id,
        provider: 'Fake',
        model,
        object: chat ? 'chat.completion' : 'text_completion',
        created,
        choices: [
          chat
            ? {
                index: 0,
                logprobs: null,
                finish_reason: 'stop',
                native_finish_reason: 'stop',
                message: { role: 'assistant', content, refusal: null, reasoning: null },
              }
            : { index: 0, text: content, finish_reason: 'stop', logprobs: null },
        ],
        usage,
      });
    }
    reply.raw.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-generation-id': id,
    });
    reply.hijack();
    const raw = reply.raw;
    let done = false;
    raw.on('close', () => {
      if (!done) {
        this.clientAborts++;
        this.abortWaiters.splice(0).forEach((wake) => wake());
      }
    });
    const base = { id, provider: 'Fake', model, object: 'chat.completion.chunk', created };
    const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
    const delta = (content: string | null, finish: string | null, role?: string) =>
      event({
        ...base,
        choices: [
          chat
            ? {
                index: 0,
                delta: { ...(role ? { role } : {}), content },
                finish_reason: finish,
                native_finish_reason: finish,
                logprobs: null,
              }
            : { index: 0, text: content ?? '', finish_reason: finish, logprobs: null },
        ],
      });
    /** Settles once the last write has left for the socket (its callback). */
    let lastWrite: Promise<void> = Promise.resolve();
    const write = async (text: string) => {
      this.streamedBytes += Buffer.byteLength(text);
      let written!: () => void;
      lastWrite = new Promise((resolve) => (written = resolve));
      if (!raw.write(text, () => written())) {
        await new Promise((resolve) => raw.once('drain', resolve));
      }
    };
    await write(': OPENROUTER PROCESSING\n\n');
    await write(delta('', null, 'assistant'));
    for (let i = 0; i < chunks; i++) {
      if (b.stallAfterChunks === i) {
        return; // keep the connection open, send nothing more
      }
      if (b.dropAfterChunks === i) {
        // what was written reaches the client, then the connection is cut mid-answer. The
        // writes must have left first: on Node 24 a socket ended right after a response's
        // writes drops what the response still holds back (Node 20 sent it).
        await lastWrite;
        raw.socket?.end();
        return;
      }
      if (b.chunkDelayMs) {
        await new Promise((resolve) => setTimeout(resolve, b.chunkDelayMs));
      }
      if (raw.destroyed) {
        return;
      }
      await write(delta(text(i), null));
    }
    await write(delta('', 'stop'));
    await write(event({ ...base, choices: [], usage }));
    done = true;
    raw.end('data: [DONE]\n\n');
  }
}
