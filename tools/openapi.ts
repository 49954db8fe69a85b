import { Logger } from '@nestjs/common';
import { writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app';
import { JsonLogger } from '../src/common/json-logger';
import { loadConfig } from '../src/config/load-config';
import { CommandSpec, formatHelp, parseArgs } from './lib/args';
import { runMain } from './lib/cli';

export const COMMAND: CommandSpec = {
  usage: 'npm run openapi --',
  summary:
    'Writes the OpenAPI document the server serves at /docs-json (built from the controllers, on a throw-away SQLite database), for linters and client generators.',
  options: [
    {
      name: 'out',
      type: 'string',
      valueName: '<file>',
      description: 'Where to write it (default: standard output).',
    },
    { name: 'help', type: 'boolean', alias: 'h', description: 'This help.' },
  ],
};

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(COMMAND, argv);
  if (args.help) {
    process.stdout.write(formatHelp(COMMAND));
    return 0;
  }
  const dir = mkdtempSync(join(tmpdir(), 'openapi-'));
  try {
    const config = loadConfig({
      DATABASE_URL: `sqlite:${join(dir, 'app.db')}`,
      LOG_LEVEL: 'error',
    });
    const logger = new JsonLogger(config.logLevel, (line) => process.stderr.write(line));
    Logger.overrideLogger(logger);
    const app = await createApp(config, logger);
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const res = await app.inject({ method: 'GET', url: '/docs-json' });
    await app.close();
    const text = `${JSON.stringify(JSON.parse(res.body), null, 2)}\n`;
    if (typeof args.out === 'string') {
      writeFileSync(args.out, text);
    } else {
      process.stdout.write(text);
    }
    return res.statusCode === 200 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  runMain('openapi', () => main(process.argv.slice(2)));
}
