import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isStale } = require('../run-built.js') as {
  isStale: (root: string, name: string) => boolean;
};

describe('run-built isStale', () => {
  let root: string;
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'run-built-'));
    mkdirSync(join(root, 'src'));
    mkdirSync(join(root, 'dist', 'tools'), { recursive: true });
    writeFileSync(join(root, 'src', 'a.ts'), '');
    writeFileSync(join(root, 'src', 'b.ts'), '');
    writeFileSync(join(root, 'dist', 'tools', 'monitor.js'), '');
    at(join(root, 'src', 'a.ts'), 1000);
    at(join(root, 'src', 'b.ts'), 1000);
    at(join(root, 'src'), 1000);
    at(join(root, 'dist', 'tools', 'monitor.js'), 2000);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('runs the built tool when dist/ is newer than every source', () => {
    expect(isStale(root, 'monitor')).toBe(false);
  });

  it('builds when the tool was never built', () => {
    expect(isStale(root, 'bench')).toBe(true);
  });

  it('builds when a source changed after the build', () => {
    at(join(root, 'src', 'b.ts'), 3000);
    expect(isStale(root, 'monitor')).toBe(true);
  });

  it('builds when a source was deleted after the build', () => {
    unlinkSync(join(root, 'src', 'b.ts'));
    expect(isStale(root, 'monitor')).toBe(true);
  });
});
