import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerProcess } from './support/server-process';
import { createTestDatabase, TestDatabase } from './support/test-database';

const FILE_KEY = 'key-from-dot-env-0123456789abcdefghij';

/** Parsed JSON log lines of a server process. */
function logLines(server: ServerProcess): Record<string, unknown>[] {
  return server.output
    .join('')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The built server (`npm start`): `.env` in its working directory, and the sign-in warning. */
describe('boot from .env', () => {
  let db: TestDatabase;
  let cwd: string;
  let server: ServerProcess | undefined;

  beforeEach(async () => {
    db = await createTestDatabase();
    cwd = mkdtempSync(join(tmpdir(), 'boot-env-'));
  });

  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await db.drop();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('loads .env from the working directory, says so, and lets the environment win', async () => {
    writeFileSync(
      join(cwd, '.env'),
      [
        `ADMIN_API_KEYS=${FILE_KEY}`,
        'OPENROUTER_EXTERNAL_USER=mai_client_from_file',
        'ORGANIZATION_NAME="From the file"',
        'LOG_LEVEL=error',
      ].join('\n'),
    );
    server = await ServerProcess.start({ DATABASE_URL: db.url, LOG_LEVEL: 'info' }, cwd);
    await server.ready();
    const loaded = logLines(server).find((l) => l.msg === 'loaded .env');
    expect(loaded).toMatchObject({ level: 'info', file: join(cwd, '.env') });
    expect(loaded?.variables).toEqual(
      expect.arrayContaining(['ADMIN_API_KEYS', 'OPENROUTER_EXTERNAL_USER', 'ORGANIZATION_NAME']),
    );
    // LOG_LEVEL came from the environment (info), so the file's LOG_LEVEL=error was ignored.
    expect(loaded?.variables).not.toContain('LOG_LEVEL');
    const res = await fetch(`${server.url}/api/v1/organizations/mai_client_from_file`, {
      headers: { authorization: `Bearer ${FILE_KEY}` },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'From the file' });
    expect(logLines(server).some((l) => l.level === 'warn')).toBe(false);
  });

  it('without a key or a secret, warns that nobody can sign in and refuses keys without blaming WEBUI_SECRET_KEY', async () => {
    server = await ServerProcess.start({ DATABASE_URL: db.url }, cwd);
    await server.ready();
    const lines = logLines(server);
    expect(lines.some((l) => String(l.msg).startsWith('no .env file'))).toBe(true);
    const warning = lines.find((l) => l.level === 'warn');
    expect(warning?.msg).toMatch(
      /neither ADMIN_API_KEYS nor WEBUI_SECRET_KEY is set: nobody can sign in/,
    );
    const res = await fetch(`${server.url}/api/v1/organizations`, {
      headers: { authorization: `Bearer ${FILE_KEY}` },
    });
    expect(res.status).toBe(401);
    const problem = (await res.json()) as { detail: string };
    expect(problem.detail).toMatch(
      /unknown API key \(neither ADMIN_API_KEYS nor GATEWAY_API_KEYS is set/,
    );
    expect(problem.detail).not.toMatch(/WEBUI_SECRET_KEY/);
  });
});
