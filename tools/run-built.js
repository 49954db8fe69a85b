#!/usr/bin/env node
// Runs a built tool (dist/tools/<name>.js), compiling first only when dist/ is older than the
// sources: `npm run monitor -- --help` answers at once instead of after an 8 s build.
// Plain JavaScript on purpose: it must run before anything is compiled.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
/** What the build reads: the compiled folders (and their directory entries, for deletions) and its settings. */
const SOURCES = ['src', 'tools', 'migrations'];
const SETTINGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];

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

/** True when dist/tools/<name>.js is missing or older than any source or build setting. */
function isStale(root, name) {
  const built = join(root, 'dist', 'tools', `${name}.js`);
  if (!existsSync(built)) {
    return true;
  }
  const builtAt = statSync(built).mtimeMs;
  const inputs = [...SOURCES, ...SETTINGS].map((p) => join(root, p)).filter((p) => existsSync(p));
  return inputs.some((p) => newest(p) > builtAt);
}

function main(argv) {
  const [name, ...args] = argv;
  if (!name || !/^[a-z][a-z0-9-]*$/.test(name)) {
    process.stderr.write('usage: node tools/run-built.js <tool> [arguments]\n');
    return 2;
  }
  if (isStale(ROOT, name)) {
    process.stderr.write(`run-built: sources changed since dist/ was built; building first\n`);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) {
      return build.status ?? 1;
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

module.exports = { isStale };

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
