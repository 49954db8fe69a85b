/**
 * The reference point of `npm run bench`: a bare Fastify server (no framework, no
 * auth, no database) answering every GET with a fixed JSON body shaped like an
 * access-check answer. Started as a child process: `node perf-bare-server.js <port>`.
 * `GET /loop-delay` answers its event loop's longest delay since the previous such call, as
 * the service's /metrics does (nodejs_eventloop_lag_max_seconds, same 10 ms resolution), so
 * the bench can tell a stall of the machine from one of the service.
 */
import Fastify from 'fastify';
import { LOOP_DELAY_PATH, loopDelayReader } from './perf-served';

const BODY = {
  user_id: 'user-0000001',
  model_id: 'provider-001/model-00001-v1.5',
  allowed: true,
  organization_id: 'org-00001',
  openrouter_user: 'mai_client_org_00001_user_1a2b3c4d',
  reason: 'granted',
};

async function main(): Promise<void> {
  const port = Number(process.argv[2] ?? '0');
  const app = Fastify({ logger: false });
  const loopDelay = loopDelayReader();
  app.get(LOOP_DELAY_PATH, async () => loopDelay());
  app.get('/*', async () => BODY);
  await app.listen({ port, host: '127.0.0.1' });
  process.stdout.write(`listening ${port}\n`);
  const close = (): void => {
    void app.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
}

main().catch((error: unknown) => {
  process.stderr.write(`bare server failed: ${String(error)}\n`);
  process.exit(1);
});
