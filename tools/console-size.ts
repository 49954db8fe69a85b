/**
 * `npm run console:size`: the gzipped size of what the admin console loads first (its
 * JavaScript and CSS, from dist/console/index.html), against the 150 KB budget. Exits 1
 * over budget, 2 when the console is not built.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { consoleRoot } from '../src/console/console-static';
import { CONSOLE_BUDGET_BYTES, consoleFirstLoad } from './lib/console-size';

const root = consoleRoot();
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    "Usage: npm run console:size\n\nBuilds the service and the console, then prints the gzipped size of the\nconsole's first load (JS + CSS) against its budget of 150 KB; exits 1 over budget.\n",
  );
  process.exit(0);
}
if (!existsSync(join(root, 'index.html'))) {
  process.stderr.write(
    `The console is not built (${root}/index.html is missing): run npm run build.\n`,
  );
  process.exit(2);
}
const assets = consoleFirstLoad(root);
const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
for (const a of assets) {
  process.stdout.write(
    `${a.path.padEnd(40)} ${kb(a.bytes).padStart(10)} ${kb(a.gzipBytes).padStart(10)} gzip\n`,
  );
}
const total = assets.reduce((sum, a) => sum + a.gzipBytes, 0);
process.stdout.write(
  `first load (JS + CSS), gzipped: ${kb(total)} of ${kb(CONSOLE_BUDGET_BYTES)} budget\n`,
);
process.exit(total > CONSOLE_BUDGET_BYTES ? 1 : 0);
