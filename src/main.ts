import 'reflect-metadata';
import { Server } from 'node:http';
import { createApp } from './app';
import { JsonLogger } from './common/json-logger';
import { listenWithSockets } from './common/listening';
import { EnvFileResult, loadEnvFile } from './config/env-file';
import { ConfigError, loadConfig } from './config/load-config';

async function main(): Promise<void> {
  let envFile: EnvFileResult;
  try {
    envFile = loadEnvFile();
  } catch (error) {
    process.stderr.write(
      `Cannot read .env: ${error instanceof Error ? error.message : String(error)}\n`,
    );
    process.exit(2);
  }
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(
        `${error.message}\nSee .env.example for every variable and its default.\n`,
      );
      process.exit(2);
    }
    throw error;
  }
  const logger = new JsonLogger(config.logLevel);
  logger.log(
    envFile.file === null
      ? { msg: 'no .env file in the working directory; configuration from the environment only' }
      : { msg: 'loaded .env', file: envFile.file, variables: envFile.variables },
    'Bootstrap',
  );
  if (config.adminApiKeys.length === 0 && config.webuiSecretKey === '') {
    logger.warn(
      {
        msg: 'neither ADMIN_API_KEYS nor WEBUI_SECRET_KEY is set: nobody can sign in; every API call answers 401 (/health, /metrics, /docs and the console sign-in page stay open)',
      },
      'Bootstrap',
    );
  }
  const app = await createApp(config, logger);
  // On SIGTERM/SIGINT: stop accepting connections, drain in-flight requests, close the
  // database (Nest's shutdown hooks), then exit 0; the timer bounds how long that may take.
  let closing = false;
  let stopAccepting = () => {};
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) {
        return;
      }
      closing = true;
      logger.log(
        { msg: 'shutting down', signal, timeout_ms: config.shutdownTimeoutMs },
        'Bootstrap',
      );
      setTimeout(() => {
        logger.error({ msg: 'shutdown timed out; exiting' }, 'Bootstrap');
        process.exit(1);
      }, config.shutdownTimeoutMs).unref();
      // Keep-alive connections whose last request finished after close began would stay
      // open until the client drops them; close each as soon as it is idle.
      const server = app.getHttpServer() as Server;
      setInterval(() => server.closeIdleConnections(), 50).unref();
      stopAccepting();
      app.close().then(
        () => {
          logger.log({ msg: 'stopped' }, 'Bootstrap');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ msg: 'shutdown failed', error: String(error) }, 'Bootstrap');
          process.exit(1);
        },
      );
    });
  }
  const listening = await listenWithSockets(
    app,
    config.port,
    config.host,
    config.listenSockets,
    (error) =>
      logger.error({ msg: 'a listening socket failed', error: error.message }, 'Bootstrap'),
  );
  stopAccepting = listening.stopAccepting;
  logger.log(
    {
      msg: 'listening',
      url: `http://${config.host}:${config.port}`,
      docs: '/docs',
      database: config.databaseKind,
      listen_sockets: listening.sockets,
      ...(listening.note === null ? {} : { listen_sockets_note: listening.note }),
    },
    'Bootstrap',
  );
}

main().catch((error: unknown) => {
  process.stderr.write(
    `fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
