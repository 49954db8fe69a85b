import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SAMPLE_DEPLOYMENT, tempDir, writeOpenWebUiSqlite } from './support/openwebui';
import { createTestDatabase, TestDatabase } from './support/test-database';

const ROOT = join(__dirname, '..');

function run(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The npm scripts of the tools: built tools run directly, and log only JSON. */
describe('tools from dist/', () => {
  let target: TestDatabase;
  let tmp: ReturnType<typeof tempDir>;

  beforeAll(async () => {
    target = await createTestDatabase();
    tmp = tempDir('tools-output-');
  });
  afterAll(async () => {
    await target.drop();
    tmp.remove();
  });

  it('answers --help from the built tool without compiling when dist/ is current', async () => {
    // the e2e global setup has just built dist/
    const res = await run([join(ROOT, 'tools', 'run-built.js'), 'monitor', '--help'], {}, ROOT);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/report/);
    expect(res.stderr).not.toMatch(/building first/);
  });

  it('logs only JSON lines (no ANSI colours) from the migration tool, at LOG_LEVEL', async () => {
    const source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), SAMPLE_DEPLOYMENT);
    const res = await run(
      [
        join(ROOT, 'dist', 'tools', 'migrate-organizations.js'),
        '--source',
        source,
        '--external-user',
        'mai_client_tools',
        '--name',
        'Tools',
      ],
      { DATABASE_URL: target.url, LOG_LEVEL: 'info' },
      tmp.dir,
    );
    expect(res.code).toBe(0);
    expect(res.stderr).not.toContain('\u001b[');
    const lines = res.stderr.split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(() => JSON.parse(line) as unknown).not.toThrow();
    }
    expect(
      lines.some((l) => (JSON.parse(l) as { context?: string }).context === 'Migrations'),
    ).toBe(true);
  });
});
