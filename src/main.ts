import 'reflect-metadata';
import { createApp } from './app';
import { JsonLogger } from './common/json-logger';
import { ConfigError, loadConfig } from './config/load-config';

async function main(): Promise<void> {
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
  const app = await createApp(config, logger);
  await app.listen({ port: config.port, host: config.host });
  logger.log(
    {
      msg: 'listening',
      url: `http://${config.host}:${config.port}`,
      docs: '/docs',
      database: config.databaseKind,
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
