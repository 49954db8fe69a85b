import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MigrationReport } from '../tools/lib/openwebui/migrate';
import { COMMAND } from '../tools/migrate-organizations';
import { fingerprint, SAMPLE_DEPLOYMENT, tempDir, writeOpenWebUiSqlite } from './support/openwebui';
import { createTestDatabase, TestDatabase } from './support/test-database';

const CLI = join(__dirname, '..', 'dist', 'tools', 'migrate-organizations.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Where the CLI runs (PostgreSQL undo files go to ./backups): the test's temporary directory. */
let tmpCwd = process.cwd();

/** Runs the built CLI (dist/ is built once by the e2e global setup) against the test database. */
function cli(args: string[], databaseUrl: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: tmpCwd,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: databaseUrl, LOG_LEVEL: 'error' },
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

describe('migrate-organizations command line', () => {
  let target: TestDatabase;
  let tmp: ReturnType<typeof tempDir>;
  let source: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) {
      throw new Error(`${CLI} is missing: run npm run build (the e2e global setup does)`);
    }
    target = await createTestDatabase();
    tmp = tempDir();
    tmpCwd = tmp.dir;
    source = writeOpenWebUiSqlite(join(tmp.dir, 'webui.db'), SAMPLE_DEPLOYMENT);
  });
  afterAll(async () => {
    await target.drop();
    tmp.remove();
  });

  it('documents every flag, the exit codes and examples in --help', async () => {
    const sut = await cli(['--help'], target.url);
    expect(sut.code).toBe(0);
    for (const option of COMMAND.options) {
      expect(sut.stdout).toContain(`--${option.name}`);
    }
    expect(sut.stdout).toMatch(/Exit codes:\n\s+0 /);
    expect(sut.stdout).toContain('Examples:');
    expect(sut.stdout).not.toContain('failAfter');
  });

  it('exits 2 with the reason on a bad command line, before touching any database', async () => {
    const before = await fingerprint(target);
    const missing = await cli(['--source', source], target.url);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing required options --external-user, --name');
    const bad = await cli(
      ['--source', source, '--external-user', 'no spaces allowed', '--name', 'X'],
      target.url,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--external-user "no spaces allowed" must be 1-64 letters');
    const empty = await cli(
      ['--source', source, '--external-user', 'ok', '--name', ''],
      target.url,
    );
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('--name must not be empty');
    expect(await fingerprint(target)).toEqual(before);
  });

  it('exits 3 for a missing source file and writes the failure into the report', async () => {
    const report = join(tmp.dir, 'failed.json');
    const sut = await cli(
      [
        '--source',
        join(tmp.dir, 'nope.db'),
        '--external-user',
        'acme',
        '--name',
        'A',
        '--report',
        report,
      ],
      target.url,
    );
    expect(sut.code).toBe(3);
    expect(sut.stderr).toContain('does not exist');
    const json = JSON.parse(readFileSync(report, 'utf8')) as MigrationReport;
    expect(json).toMatchObject({ status: 'failed', error: { exit_code: 3 } });
  });

  it('migrates, prints a summary table and progress, and writes the JSON report', async () => {
    const report = join(tmp.dir, 'report.json');
    const sut = await cli(
      [
        '--source',
        source,
        '--external-user',
        'mai_client_cli',
        '--name',
        'CLI Client',
        '--report',
        report,
        '--progress',
      ],
      target.url,
    );
    expect(sut.stderr).toContain('users 0/4 (0%)');
    expect(sut.code).toBe(0);
    expect(sut.stdout).toMatch(/source\s+created\s+updated\s+unchanged\s+skipped/);
    expect(sut.stdout).toMatch(/users\s+8\s+4\s+0\s+0\s+4/);
    expect(sut.stdout).toContain(`Report: ${report}`);
    const json = JSON.parse(readFileSync(report, 'utf8')) as MigrationReport;
    expect(json.status).toBe('migrated');
    expect(json.counts.grants.created).toBe(3);
    expect(json.skipped).toHaveLength(7);
    expect(typeof json.duration_ms).toBe('number');
    // SQLite: the target did not exist before, nothing to back up; PostgreSQL: the undo file.
    expect(json.backup_path).toEqual(
      target.kind === 'sqlite' ? null : expect.stringMatching(/undo-mai_client_cli-.*\.json$/),
    );
    if (target.kind === 'sqlite') {
      expect(sut.stdout).toContain(
        'Backup: the target database did not exist before this run: there was nothing to back up',
      );
    }

    const again = await cli(
      ['--source', source, '--external-user', 'mai_client_cli', '--name', 'CLI Client'],
      target.url,
    );
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing changed: 0 created, 0 updated, 14 unchanged.');
    // A run that changes nothing leaves no backup (SQLite) and no undo file (PostgreSQL).
    expect(again.stdout).toContain(
      target.kind === 'sqlite'
        ? 'Backup: nothing changed: the backup taken before the run was removed'
        : 'Backup: nothing changed: no undo file written',
    );
    const backupDir =
      target.kind === 'sqlite' ? join(dirname(target.file), 'backups') : join(tmp.dir, 'backups');
    const kept = existsSync(backupDir) ? readdirSync(backupDir) : [];
    // SQLite: the first run had nothing to back up, the second removed its own; PostgreSQL:
    // the first run's undo file only.
    expect(kept).toEqual(
      target.kind === 'sqlite' ? [] : [expect.stringMatching(/^undo-mai_client_cli-.*\.json$/)],
    );
  });
  it('two processes at once do not interleave: one migrates, the other changes nothing', async () => {
    const args = ['--source', source, '--external-user', 'mai_client_twice', '--name', 'Twice'];
    const both = await Promise.all([cli(args, target.url), cli(args, target.url)]);
    expect(both.map((r) => r.code)).toEqual([0, 0]);
    const outputs = both.map((r) => r.stdout);
    expect(outputs.filter((o) => o.includes('Nothing changed: 0 created, 0 updated'))).toHaveLength(
      1,
    );
    expect(outputs.filter((o) => /Done: \d+ created/.test(o))).toHaveLength(1);
  });
});
