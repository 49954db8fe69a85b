// Builds dist/ (the service, the tools and the admin console) once before any test file
// runs, so specs that start the built server or tools as child processes never race each
// other rebuilding it.
const { execFileSync } = require('node:child_process');
const { join } = require('node:path');

module.exports = async function globalSetup() {
  if (process.env.SKIP_TEST_BUILD === '1') {
    return;
  }
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'console/vite.config.mts'],
    { cwd: root, stdio: 'inherit' },
  );
};
