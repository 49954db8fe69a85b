import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SAMPLE_DEPLOYMENT, tempDir, writeOpenWebUiSqlite } from './support/openwebui';

const ROOT = join(__dirname, '..');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface LockPackage {
  dev?: boolean;
  devOptional?: boolean;
}

/**
 * The packages a production install (`npm ci --omit=dev`) puts at the top of node_modules,
 * read from package-lock.json: every top-level entry not marked dev.
 */
function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockPackage>;
  };
  return Object.entries(lock.packages)
    .filter(([path, pkg]) => path.startsWith('node_modules/') && !pkg.dev)
    .map(([path]) => path.slice('node_modules/'.length))
    .filter((name) => !name.includes('/node_modules/'));
}

function run(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env },
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

/**
 * The built tools run where only the production dependencies are installed, as in the Docker
 * image (`npm ci --omit=dev`): a copy of dist/ beside a node_modules holding exactly the
 * lockfile's non-dev top-level packages (linked from this checkout, no network needed).
 */
describe('tools in a production install (no development dependencies)', () => {
  let tmp: ReturnType<typeof tempDir>;
  let app: string;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'tools', 'monitor.js'))) {
      throw new Error('dist/ is missing: run npm run build (the e2e global setup does)');
    }
    tmp = tempDir('prod-install-');
    app = join(tmp.dir, 'app');
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
    for (const name of productionPackages()) {
      const link = join(app, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), link, 'dir');
    }
  });
  afterAll(() => tmp.remove());

  it('has no development dependency to resolve (the setup is honest)', async () => {
    const sut = await run(app, ['-e', "require.resolve('autocannon')"]);
    expect(sut.code).not.toBe(0);
    expect(sut.stderr).toContain("Cannot find module 'autocannon'");
    const prod = await run(app, ['-e', "require.resolve('better-sqlite3')"]);
    expect(prod.code).toBe(0);
  });

  it('migrate-organizations, monitor report and loadtest run; benchmark explains what it needs', async () => {
    const source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), SAMPLE_DEPLOYMENT);
    const env = { DATABASE_URL: `sqlite:${join(tmp.dir, 'app.db')}` };
    const migrate = await run(
      app,
      [
        'dist/tools/migrate-organizations.js',
        '--source',
        source,
        '--external-user',
        'mai_prod',
        '--name',
        'Prod',
      ],
      env,
    );
    expect(migrate.stderr).not.toContain('Cannot find module');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/Done: \d+ created/);

    const report = await run(app, ['dist/tools/monitor.js', 'report', '--runs', '5'], env);
    expect(report.stderr).not.toContain('Cannot find module');
    expect(report.code).toBe(0);
    expect(report.stdout).toMatch(/Grade: (A\+|A|B|C)/);

    const loadtest = await run(app, ['dist/tools/loadtest.js', '--help']);
    expect(loadtest.code).toBe(0);

    const bench = await run(app, [
      'dist/tools/monitor.js',
      'benchmark',
      '--url',
      'http://127.0.0.1:1',
      '--api-key',
      'k'.repeat(40),
    ]);
    expect(bench.code).not.toBe(0);
    expect(bench.stderr).toContain('needs the autocannon package, a development dependency');
  });
});
