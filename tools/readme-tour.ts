import { ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CONFIG_VARIABLES } from '../src/config/load-config';
import { CommandSpec, formatHelp, parseArgs } from './lib/args';
import { runMain, ToolError } from './lib/cli';
import { freePort } from './lib/perf-process';
import { extractExpectations, extractTourBlocks, jsonContains, TourBlock } from './lib/readme-tour';

const ROOT = resolve(__dirname, '..', '..');

export const COMMAND: CommandSpec = {
  usage: 'npm run readme:tour --',
  summary:
    'Runs the README as a newcomer would: the block marked <!-- tour:server --> starts the server in a fresh directory (its own .env, its own SQLite file), then every block marked <!-- tour --> runs in order in one bash session there, followed by the blocks marked <!-- tour:after --> (sections that say to run them after the tour). Every curl must succeed (2xx) and every "# -> <json>" comment must be contained in the answer of the command before it.',
  options: [
    { name: 'readme', type: 'string', valueName: '<file>', description: 'Default README.md.' },
    {
      name: 'keep',
      type: 'boolean',
      description: 'Keep the scratch directory (its .env, database and server log).',
    },
    { name: 'help', type: 'boolean', alias: 'h', description: 'This help.' },
    // Internal: the tour's bash calls back into this tool to check one answer.
    { name: 'check-output', type: 'string', valueName: '<file>', description: '(internal)' },
    { name: 'expect', type: 'string', valueName: '<base64 json>', description: '(internal)' },
    { name: 'at', type: 'string', valueName: '<line>', description: '(internal)' },
  ],
  sections: [
    {
      title: 'Exit codes',
      lines: [
        '0 the tour ran as written',
        '1 a command failed or an answer differed',
        '2 bad usage',
      ],
    },
  ],
};

/** Entries of the repository the scratch directory must not share. */
const PRIVATE = new Set(['.git', '.env', 'data', 'dist', 'backups', 'coverage']);
/** Small files copied rather than linked, so that paths resolve inside the scratch directory. */
const COPIED = /^(package(-lock)?\.json|tsconfig.*\.json|nest-cli\.json)$/;

/** run-built.js's check of what `npm start` would rebuild (plain JavaScript, outside dist/). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { staleParts } = require(join(ROOT, 'tools', 'run-built.js')) as {
  staleParts: (root: string) => { server: boolean; console: boolean };
};

/**
 * The scratch directory: the repository's sources and node_modules, its own everything else.
 * When the repository's dist/ is up to date, a copy of it goes in too, so the tour's `npm start`
 * finds nothing to rebuild (as on a newcomer's second start); otherwise it builds its own.
 */
function scratchCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'readme-tour-'));
  for (const entry of readdirSync(ROOT)) {
    if (PRIVATE.has(entry)) {
      continue;
    }
    const from = join(ROOT, entry);
    if (COPIED.test(entry) && lstatSync(from).isFile()) {
      copyFileSync(from, join(dir, entry));
    } else {
      symlinkSync(from, join(dir, entry));
    }
  }
  const stale = staleParts(ROOT);
  if (!stale.server && !stale.console) {
    // Last: the copy must be newer than the settings files copied above.
    cpSync(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
    const copied = staleParts(dir);
    if (copied.server || copied.console) {
      throw new ToolError(`the copy of dist/ in ${dir} is not up to date with its sources`, 1);
    }
    process.stdout.write('README tour: dist/ is up to date; npm start will not rebuild it\n');
  }
  return dir;
}

/** The caller's environment without any variable the service reads: only .env configures it. */
function cleanEnvironment(port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const variable of CONFIG_VARIABLES) {
    delete env[variable.name];
  }
  delete env.BASE;
  delete env.KEY;
  env.PORT = String(port);
  return env;
}

/** The tour blocks as one bash script, with a checked curl and a check after each "# ->". */
function tourScript(blocks: TourBlock[]): string {
  const self = join(__dirname, 'readme-tour.js');
  const prelude = [
    'set -euo pipefail',
    'TOUR_OUT="$(mktemp)"',
    `tour_check() { ${JSON.stringify(process.execPath)} ${JSON.stringify(self)} --check-output "$TOUR_OUT" --expect "$1" --at "$2"; }`,
    // Every curl of the tour: print it (bearer tokens hidden), fail on any status >= 400.
    'curl() {',
    `  printf '\\n$ curl %s\\n' "$*" | sed -E 's/Bearer [^ ]+/Bearer ***/g'`,
    '  command curl -sS --fail-with-body "$@" | tee "$TOUR_OUT"',
    '  echo',
    '}',
  ];
  const body: string[] = [];
  for (const block of blocks) {
    const lines = block.code.split('\n');
    const checks = new Map(
      extractExpectations(block.code, block.line).map((e) => [e.afterLine, e] as const),
    );
    body.push(`# README line ${block.line}`);
    lines.forEach((line, i) => {
      body.push(line);
      const check = checks.get(i);
      if (check) {
        const encoded = Buffer.from(check.text, 'utf8').toString('base64');
        body.push(`tour_check ${encoded} ${block.line + i + 1}`);
      }
    });
  }
  return [...prelude, ...body, ''].join('\n');
}

/** `--check-output`: does the last answer contain the stated JSON? */
function checkOutput(file: string, encoded: string, line: string): number {
  const expected: unknown = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  const text = readFileSync(file, 'utf8');
  let actual: unknown;
  try {
    actual = JSON.parse(text);
  } catch {
    process.stderr.write(`README line ${line}: the answer is not JSON:\n${text}\n`);
    return 1;
  }
  if (!jsonContains(actual, expected)) {
    process.stderr.write(
      `README line ${line}: the answer does not contain what the README states.\n  stated:   ${JSON.stringify(expected)}\n  answered: ${text.trim()}\n`,
    );
    return 1;
  }
  process.stdout.write(`  (README line ${line}: answer as stated)\n`);
  return 0;
}

function startServer(block: TourBlock, dir: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn('bash', ['-c', `set -euo pipefail\n${block.code}`], {
    cwd: dir,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves once the server logs that it listens; rejects when it exits first or is too slow. */
function listening(server: ChildProcess, output: string[], timeoutMs: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      reject(new ToolError(`the server did not listen within ${timeoutMs} ms`, 1));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString('utf8'));
      if (output.join('').includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolvePromise();
      }
    };
    server.stdout?.on('data', onData);
    server.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new ToolError(`the server block exited with ${code} before listening`, 1));
    });
  });
}

function runBash(script: string, dir: string, env: NodeJS.ProcessEnv): Promise<number | null> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', ['-c', script], { cwd: dir, env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => resolvePromise(code));
  });
}

async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null || server.pid === undefined) {
    return;
  }
  const exited = new Promise((r) => server.once('exit', r));
  // The block's bash, npm and node share one process group.
  process.kill(-server.pid, 'SIGTERM');
  await exited;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(COMMAND, argv);
  if (args.help) {
    process.stdout.write(formatHelp(COMMAND));
    return 0;
  }
  if (typeof args['check-output'] === 'string') {
    return checkOutput(args['check-output'], String(args.expect), String(args.at));
  }
  const readmePath = resolve(ROOT, typeof args.readme === 'string' ? args.readme : 'README.md');
  const blocks = extractTourBlocks(readFileSync(readmePath, 'utf8'));
  const server = blocks.filter((b) => b.kind === 'server');
  // The blocks the README says to run after the tour go last, in their own order.
  const tour = [
    ...blocks.filter((b) => b.kind === 'tour'),
    ...blocks.filter((b) => b.kind === 'after'),
  ];
  if (server.length !== 1 || !blocks.some((b) => b.kind === 'tour')) {
    throw new ToolError(
      `${readmePath} must mark exactly one <!-- tour:server --> block and at least one <!-- tour --> block (found ${server.length} and ${tour.length})`,
      1,
    );
  }
  const dir = scratchCopy();
  const env = cleanEnvironment(await freePort());
  const output: string[] = [];
  process.stdout.write(`README tour in ${dir} (port ${env.PORT})\n`);
  const child = startServer(server[0], dir, env);
  let code: number | null = 1;
  try {
    await listening(child, output, 180_000);
    const script = tourScript(tour);
    writeFileSync(join(dir, 'tour.sh'), script);
    code = await runBash(script, dir, env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
  } finally {
    await stopServer(child);
    writeFileSync(join(dir, 'server.log'), output.join(''));
    if (code !== 0) {
      process.stderr.write(`\nServer output:\n${output.join('').slice(-8000)}\n`);
    }
    if (args.keep !== true) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const checks = tour.reduce((n, b) => n + extractExpectations(b.code, b.line).length, 0);
  process.stdout.write(
    code === 0
      ? `\nREADME tour passed: ${tour.length} blocks, ${checks} stated answers checked.\n`
      : `\nREADME tour FAILED (exit ${code}).\n`,
  );
  return code === 0 ? 0 : 1;
}

if (require.main === module) {
  runMain('readme-tour', () => main(process.argv.slice(2)));
}
