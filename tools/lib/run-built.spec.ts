import { mkdirSync, mkdtempSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isStale, staleParts } = require('../run-built.js') as {
  isStale: (root: string, name: string) => boolean;
  staleParts: (root: string) => { server: boolean; console: boolean };
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

describe('run-built staleParts (npm start builds only what is out of date)', () => {
  let root: string;
  const at = (path: string, seconds: number) => utimesSync(path, seconds, seconds);

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'run-built-'));
    for (const dir of ['src', 'console/src', 'dist/src', 'dist/console']) {
      mkdirSync(join(root, dir), { recursive: true });
    }
    const files: [string, number][] = [
      ['src/main.ts', 1000],
      ['console/src/App.svelte', 1000],
      ['package-lock.json', 1000],
      ['dist/src/main.js', 2000],
      ['dist/console/index.html', 2000],
    ];
    for (const [file, seconds] of files) {
      writeFileSync(join(root, file), '');
      at(join(root, file), seconds);
    }
    for (const dir of ['src', 'console/src', 'console']) {
      at(join(root, dir), 1000);
    }
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('rebuilds nothing when both outputs are newer than their sources', () => {
    expect(staleParts(root)).toEqual({ server: false, console: false });
  });

  it('rebuilds only the service after a change under src/', () => {
    at(join(root, 'src', 'main.ts'), 3000);
    expect(staleParts(root)).toEqual({ server: true, console: false });
  });

  it('rebuilds only the console after a change under console/', () => {
    at(join(root, 'console', 'src', 'App.svelte'), 3000);
    expect(staleParts(root)).toEqual({ server: false, console: true });
  });

  it('rebuilds both after npm ci changed the lockfile, and on a fresh clone', () => {
    at(join(root, 'package-lock.json'), 3000);
    expect(staleParts(root)).toEqual({ server: true, console: true });
    rmSync(join(root, 'dist'), { recursive: true });
    expect(staleParts(root)).toEqual({ server: true, console: true });
  });
});
