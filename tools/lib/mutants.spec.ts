import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MUTANTS } from './mutants';

const ROOT = join(__dirname, '..', '..');

describe('MUTANTS', () => {
  it('each names text that occurs exactly once in its file, and specs that exist', () => {
    const problems: string[] = [];
    for (const m of MUTANTS) {
      const text = readFileSync(join(ROOT, m.file), 'utf8');
      const count = text.split(m.find).length - 1;
      if (count !== 1) {
        problems.push(`${m.id}: "${m.find}" occurs ${count} times in ${m.file}`);
      }
      if (m.find === m.replace) {
        problems.push(`${m.id}: changes nothing`);
      }
      for (const spec of m.specs) {
        if (!existsSync(join(ROOT, 'test', spec))) {
          problems.push(`${m.id}: no spec test/${spec}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(new Set(MUTANTS.map((m) => m.id)).size).toBe(MUTANTS.length);
  });
});
