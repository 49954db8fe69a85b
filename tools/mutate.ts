import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandSpec, formatHelp, numberArg, parseArgs, stringArg } from './lib/args';
import { runMain, ToolError } from './lib/cli';
import { Mutant, MUTANTS } from './lib/mutants';
import { formatTable } from './lib/table';

/**
 * The mutation check: applies each mutant of tools/lib/mutants.ts, one at a time, to a copy of
 * the repository (the working tree is never touched), runs the specs named for it, and prints
 * whether they caught it and how many tests failed. Exit 0 only when every mutant was caught.
 */

const ROOT = join(__dirname, '..', '..');
/** Specs that start the built server as a child process: the mutant must be built into dist/. */
const NEEDS_BUILD = ['shutdown.e2e-spec.ts', 'replicas.e2e-spec.ts', 'crash-sqlite.e2e-spec.ts'];

const SPEC: CommandSpec = {
  usage: 'npm run mutate --',
  summary:
    'Applies small deliberate bugs to src/ one at a time (in a copy of the repository) and reports which the specs catch.',
  options: [
    {
      name: 'only',
      type: 'string',
      valueName: '<id,id,...>',
      description: 'Run only these mutants (default: all; --list shows the ids).',
    },
    {
      name: 'list',
      type: 'boolean',
      description: 'List the mutants and their specs, run nothing.',
    },
    {
      name: 'property-runs',
      type: 'string',
      valueName: '<n>',
      description: 'PROPERTY_RUNS for the property spec (default 40: ten worlds per seed).',
    },
    {
      name: 'postgres',
      type: 'string',
      valueName: '<url>',
      description: 'Run the specs on PostgreSQL (E2E_DATABASE_URL) instead of SQLite.',
    },
    {
      name: 'timeout-minutes',
      type: 'string',
      valueName: '<n>',
      description: 'A spec run taking longer is stopped and counts as caught (default 20).',
    },
    {
      name: 'no-baseline',
      type: 'boolean',
      description: 'Skip the first run without mutants (which proves the specs pass as they are).',
    },
    { name: 'help', type: 'boolean', alias: 'h', description: 'Show this help.' },
  ],
  sections: [
    {
      title: 'Exit codes',
      lines: [
        '0  every mutant was caught',
        '1  a mutant was not caught, a mutant is stale (its text is gone), or the baseline failed',
        '2  bad command line',
      ],
    },
  ],
};

interface SpecRun {
  passed: boolean;
  failedTests: string[];
  suiteErrors: string[];
  timedOut: boolean;
  seconds: number;
}

/** A copy of the repository to mutate: sources copied, node_modules linked. */
function makeWorkdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mutate-'));
  cpSync(ROOT, dir, {
    recursive: true,
    filter: (source) => {
      const rel = source.slice(ROOT.length + 1).split('/')[0];
      return !['node_modules', '.git', 'dist', 'coverage'].includes(rel);
    },
  });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

function runSpecs(
  dir: string,
  specs: string[],
  env: Record<string, string>,
  timeoutMs: number,
): Promise<SpecRun> {
  const started = Date.now();
  const output = join(dir, `jest-${started}.json`);
  const child = spawn(
    process.execPath,
    [
      join(dir, 'node_modules', 'jest', 'bin', 'jest.js'),
      '--config',
      'jest.config.js',
      '--json',
      '--outputFile',
      output,
      ...specs.map((s) => `test/${s}`),
    ],
    {
      cwd: dir,
      env: {
        ...process.env,
        ...env,
        SKIP_TEST_BUILD: specs.some((s) => NEEDS_BUILD.includes(s)) ? '0' : '1',
      },
      stdio: 'ignore',
      detached: true,
    },
  );
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid !== undefined) {
      process.kill(-child.pid, 'SIGKILL');
    }
  }, timeoutMs);
  return new Promise((resolve) => {
    child.on('exit', (code) => {
      clearTimeout(timer);
      const run: SpecRun = {
        passed: code === 0 && !timedOut,
        failedTests: [],
        suiteErrors: [],
        timedOut,
        seconds: Math.round((Date.now() - started) / 1000),
      };
      try {
        const report = JSON.parse(readFileSync(output, 'utf8')) as {
          testResults: {
            name: string;
            status: string;
            message: string;
            assertionResults: { status: string; fullName: string }[];
          }[];
        };
        for (const file of report.testResults) {
          const failed = file.assertionResults.filter((a) => a.status === 'failed');
          const short = file.name.slice(file.name.lastIndexOf('/') + 1);
          run.failedTests.push(...failed.map((a) => `${short}: ${a.fullName}`));
          if (file.status === 'failed' && failed.length === 0) {
            run.suiteErrors.push(short);
          }
        }
      } catch {
        if (!timedOut) {
          run.suiteErrors.push('(no jest report)');
        }
      }
      resolve(run);
    });
  });
}

function applyMutant(dir: string, mutant: Mutant): string {
  const path = join(dir, mutant.file);
  const original = readFileSync(path, 'utf8');
  const at = original.indexOf(mutant.find);
  if (at < 0 || original.indexOf(mutant.find, at + 1) >= 0) {
    throw new ToolError(
      `mutant ${mutant.id} is stale: its text ${at < 0 ? 'is no longer in' : 'occurs more than once in'} ${mutant.file}`,
      1,
    );
  }
  writeFileSync(
    path,
    original.slice(0, at) + mutant.replace + original.slice(at + mutant.find.length),
  );
  return original;
}

async function main(): Promise<number> {
  const args = parseArgs(SPEC, process.argv.slice(2));
  if (args.help) {
    process.stdout.write(formatHelp(SPEC));
    return 0;
  }
  const only = stringArg(args, 'only')?.split(',').filter(Boolean);
  const unknown = (only ?? []).filter((id) => !MUTANTS.some((m) => m.id === id));
  if (unknown.length > 0) {
    throw new ToolError(`unknown mutant ${unknown.join(', ')}; --list shows the ids`, 2);
  }
  const chosen = MUTANTS.filter((m) => !only || only.includes(m.id));
  if (args.list) {
    process.stdout.write(
      `${formatTable(
        ['mutant', 'file', 'specs', 'bug'],
        chosen.map((m) => [m.id, m.file, m.specs.join(' '), m.description]),
      )}\n`,
    );
    return 0;
  }
  const env: Record<string, string> = {
    PROPERTY_RUNS: String(numberArg(args, 'property-runs', 40)),
  };
  const postgres = stringArg(args, 'postgres');
  if (postgres) {
    env.E2E_DATABASE_URL = postgres;
  }
  const timeoutMs = numberArg(args, 'timeout-minutes', 20) * 60_000;
  const dir = makeWorkdir();
  try {
    for (const mutant of chosen) {
      // Stale mutants are found before anything runs.
      writeFileSync(join(dir, mutant.file), applyMutant(dir, mutant));
    }
    if (!args['no-baseline']) {
      const specs = [...new Set(chosen.flatMap((m) => m.specs))];
      process.stdout.write(`baseline: ${specs.join(' ')} without mutants ...\n`);
      const base = await runSpecs(dir, specs, env, timeoutMs);
      if (!base.passed) {
        process.stderr.write(
          `baseline failed (${base.seconds} s): ${[...base.failedTests, ...base.suiteErrors].join('\n  ') || 'timed out'}\n`,
        );
        return 1;
      }
      process.stdout.write(`baseline passed in ${base.seconds} s\n`);
    }
    const rows: (string | number)[][] = [];
    let missed = 0;
    for (const mutant of chosen) {
      const original = applyMutant(dir, mutant);
      let run: SpecRun;
      try {
        run = await runSpecs(dir, mutant.specs, env, timeoutMs);
      } finally {
        writeFileSync(join(dir, mutant.file), original);
      }
      const caught = !run.passed;
      missed += caught ? 0 : 1;
      const failing = run.failedTests.length + run.suiteErrors.length;
      const specsFailing = [
        ...new Set([...run.failedTests.map((t) => t.split(':')[0]), ...run.suiteErrors]),
      ];
      rows.push([
        mutant.id,
        caught ? (run.timedOut ? 'caught (timeout)' : 'caught') : 'NOT CAUGHT',
        failing,
        specsFailing.join(' ') || '-',
        run.seconds,
      ]);
      process.stdout.write(
        `${mutant.id}: ${caught ? 'caught' : 'NOT CAUGHT'} by ${failing} failing test(s) in ${run.seconds} s\n` +
          run.failedTests.map((t) => `    ${t}\n`).join(''),
      );
    }
    process.stdout.write(
      `\n${formatTable(['mutant', 'result', 'failing tests', 'failing specs', 'seconds'], rows)}\n` +
        `caught ${chosen.length - missed} of ${chosen.length}\n`,
    );
    return missed === 0 ? 0 : 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

runMain('mutate', main);
