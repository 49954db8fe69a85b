import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { Clock } from '../../src/budgets/clock';

/** A clock the test moves by hand. */
export class FakeClock implements Clock {
  private at: Date;

  constructor(iso: string) {
    this.at = new Date(iso);
  }

  now(): Date {
    return this.at;
  }

  set(iso: string): void {
    this.at = new Date(iso);
  }
}

export interface ReceivedWebhook {
  headers: IncomingMessage['headers'];
  body: string;
  /** The status this receiver answered. */
  status: number;
}

/**
 * An HTTP server standing in for the operator's webhook endpoint. It records every POST and
 * answers with the next status of `statuses` (then 200), so failures and retries can be staged.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];
  private server: Server | null = null;

  constructor(private readonly statuses: number[] = []) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.statuses.shift() ?? 200;
        this.received.push({
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          status,
        });
        res.statusCode = status;
        res.end();
        for (const w of [...this.waiters]) {
          if (this.received.length >= w.count) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/budget`;
  }

  /** Resolves once `count` requests have arrived. */
  async waitFor(count: number): Promise<void> {
    if (this.received.length >= count) {
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) =>
      this.server ? this.server.close(() => resolve()) : resolve(),
    );
  }
}
