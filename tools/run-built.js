#!/usr/bin/env node
// Runs a built tool (dist/tools/<name>.js), compiling first only when dist/ is older than the
// sources: `npm run monitor -- --help` answers at once instead of after an 8 s build.
// `--build-if-stale` (npm start's prestart) builds the service and the console the same way:
// each only when its output is older than its sources, so a second `npm start` starts at once.
// Plain JavaScript on purpose: it must run before anything is compiled.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, rmSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
/** What the build reads: the compiled folders (and their directory entries, for deletions) and its settings. */
const SOURCES = ['src', 'tools', 'migrations'];
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** What the console build (Vite) reads: its folder (sources, config, index.html) and the lockfile. */
const CONSOLE_INPUTS = ['console', 'package-lock.json'];

/** Newest modification time (ms) under `path`: files and directories, so a deletion counts. */
function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) {
    return stat.mtimeMs;
  }
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) {
    latest = Math.max(latest, newest(join(path, entry)));
  }
  return latest;
}

/** True when `output` (relative to root) is missing or older than any of `inputs`. */
function isOlder(root, output, inputs) {
  const built = join(root, output);
  if (!existsSync(built)) {
    return true;
  }
  const builtAt = statSync(built).mtimeMs;
  return inputs
    .map((p) => join(root, p))
    .filter((p) => existsSync(p))
    .some((p) => newest(p) > builtAt);
}

/** True when dist/tools/<name>.js is missing or older than any source or build setting. */
function isStale(root, name) {
  return isOlder(root, join('dist', 'tools', `${name}.js`), [...SOURCES, ...SETTINGS]);
}

/** Which parts of `npm run build` are out of date: the TypeScript build, the console, both or none. */
function staleParts(root) {
  return {
    server: isOlder(root, join('dist', 'src', 'main.js'), [...SOURCES, ...SETTINGS]),
    console: isOlder(root, join('dist', 'console', 'index.html'), CONSOLE_INPUTS),
  };
}

/**
 * Runs the build `node <script> ...args` in `root`; answers its exit status. A failed build
 * removes `output` (tsc writes its files even on type errors), so the next run builds again
 * instead of taking a broken dist/ for an up-to-date one.
 */
function runBuild(root, output, script, args) {
  const run = spawnSync(process.execPath, [join(root, script), ...args], {
    cwd: root,
    stdio: 'inherit',
  });
  const status = run.status ?? 1;
  if (status !== 0) {
    rmSync(join(root, output), { force: true });
  }
  return status;
}

const TSC = ['node_modules/typescript/bin/tsc', ['-p', 'tsconfig.build.json']];

/**
 * npm start's prestart: the parts of `npm run build` whose output is older than their sources,
 * in `root`: npm's working directory, the package's own (not this file's, whose path may lead
 * elsewhere through a symbolic link, as in the README tour's scratch directory).
 */
function buildIfStale(root) {
  const stale = staleParts(root);
  if (!stale.server && !stale.console) {
    process.stderr.write('run-built: dist/ is up to date with the sources; not rebuilding\n');
    return 0;
  }
  if (stale.server) {
    process.stderr.write('run-built: building the service (tsc)\n');
    const status = runBuild(root, join('dist', 'src', 'main.js'), ...TSC);
    if (status !== 0) {
      return status;
    }
  }
  if (stale.console) {
    process.stderr.write('run-built: building the admin console (vite)\n');
    return runBuild(root, join('dist', 'console', 'index.html'), 'node_modules/vite/bin/vite.js', [
      'build',
      '--config',
      'console/vite.config.mts',
      '--logLevel',
      'warn',
    ]);
  }
  return 0;
}

function main(argv) {
  if (argv.length === 1 && argv[0] === '--build-if-stale') {
    return buildIfStale(process.cwd());
  }
  const [name, ...args] = argv;
  if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
    process.stderr.write(
      'usage: node tools/run-built.js <tool> [arguments] | node tools/run-built.js --build-if-stale\n',
    );
    return 2;
  }
  if (isStale(ROOT, name)) {
    process.stderr.write(`run-built: sources changed since dist/ was built; building first\n`);
    const status = runBuild(ROOT, join('dist', 'tools', `${name}.js`), ...TSC);
    if (status !== 0) {
      return status;
    }
  }
  const tool = join(ROOT, 'dist', 'tools', `${name}.js`);
  if (!existsSync(tool)) {
    process.stderr.write(`run-built: no tool named ${name} (dist/tools/${name}.js)\n`);
    return 2;
  }
  const run = spawnSync(process.execPath, [tool, ...args], { stdio: 'inherit' });
  if (run.signal) {
    process.kill(process.pid, run.signal);
  }
  return run.status ?? 1;
}

module.exports = { isStale, staleParts };

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
