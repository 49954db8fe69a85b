import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, serviceNodeFlags } from './perf-process';

describe('serviceNodeFlags', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'perf-process-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const withStart = (start: string | undefined) =>
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ scripts: start === undefined ? {} : { start } }),
    );

  it("reads this checkout's npm start: the flags the image runs the service with", () => {
    expect(serviceNodeFlags(ROOT)).toEqual([]);
  });

  it('gives none for a folder without package.json (a build copied as dist/ alone)', () => {
    expect(serviceNodeFlags(dir)).toEqual([]);
  });

  it('gives the words between node and the script, none for a plain start', () => {
    withStart('node --a --b=1 dist/src/main.js');
    expect(serviceNodeFlags(dir)).toEqual(['--a', '--b=1']);
    withStart('node dist/src/main.js');
    expect(serviceNodeFlags(dir)).toEqual([]);
  });

  it('refuses a start it cannot read, naming the file', () => {
    withStart('nest start');
    expect(() => serviceNodeFlags(dir)).toThrow(`${dir}/package.json`);
    withStart(undefined);
    expect(() => serviceNodeFlags(dir)).toThrow('"start" is not');
  });
});
