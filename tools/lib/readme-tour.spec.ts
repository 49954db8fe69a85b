import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { curlCommands, extractExpectations, extractTourBlocks, jsonContains } from './readme-tour';

const FENCE = '```';

describe('extractTourBlocks', () => {
  it('returns the marked bash blocks in order and ignores unmarked ones', () => {
    const readme = [
      '# Title',
      `${FENCE}bash`,
      'echo unmarked',
      FENCE,
      '<!-- tour:server -->',
      `${FENCE}bash`,
      'npm start',
      FENCE,
      'text',
      '<!-- tour -->',
      '',
      `${FENCE}bash`,
      'curl "$BASE/health"',
      'curl "$BASE/metrics"',
      FENCE,
    ].join('\n');
    const sut = extractTourBlocks(readme);
    expect(sut).toEqual([
      { kind: 'server', line: 6, code: 'npm start' },
      { kind: 'tour', line: 12, code: 'curl "$BASE/health"\ncurl "$BASE/metrics"' },
    ]);
  });

  it('marks the blocks to run after the tour', () => {
    const readme = ['<!-- tour:after -->', `${FENCE}bash`, 'curl "$BASE/late"', FENCE].join('\n');
    expect(extractTourBlocks(readme)).toEqual([
      { kind: 'after', line: 2, code: 'curl "$BASE/late"' },
    ]);
  });

  it('refuses a marker that is not followed by a bash block', () => {
    expect(() =>
      extractTourBlocks(['<!-- tour -->', `${FENCE}json`, '{}', FENCE].join('\n')),
    ).toThrow(/line 1: <!-- tour --> is not followed by a ```bash block/);
  });

  it('finds the server block and tour blocks in the README itself', () => {
    const blocks = extractTourBlocks(
      readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8'),
    );
    expect(blocks.filter((b) => b.kind === 'server')).toHaveLength(1);
    expect(blocks.filter((b) => b.kind === 'tour').length).toBeGreaterThan(0);
    for (const block of blocks) {
      expect(() => extractExpectations(block.code, block.line)).not.toThrow();
    }
  });
});

describe('curlCommands', () => {
  const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');

  it('joins continuation lines and reads every bash block, marked or not', () => {
    const sut = curlCommands(
      [
        'text curl x',
        `${FENCE}bash`,
        'curl -X PUT "$BASE/a" \\',
        "  --json '{}'",
        'echo',
        FENCE,
      ].join('\n'),
    );
    expect(sut).toEqual([{ line: 3, command: `curl -X PUT "$BASE/a"  --json '{}'` }]);
  });

  it('sends every JSON body of the README with --json (a bare -d is form-encoded: 415)', () => {
    const commands = curlCommands(readme);
    expect(commands.length).toBeGreaterThan(20);
    // Only curl's own arguments count: a pipe into `tr -d` is not a request body.
    const curlPart = (command: string): string =>
      command.slice(command.indexOf('curl')).split('|')[0];
    const formEncoded = commands.filter(
      (c) =>
        /\s(-d|--data(-raw|-binary)?)\s/.test(curlPart(c.command)) &&
        !/content-type/i.test(c.command),
    );
    expect(formEncoded).toEqual([]);
  });
});

describe('extractExpectations', () => {
  it('joins a stated answer continued on indented comment lines', () => {
    const code = ['curl a', '# -> {"a":1,', '#    "b":[2]}', '# a plain comment', 'curl b'].join(
      '\n',
    );
    expect(extractExpectations(code)).toEqual([
      { afterLine: 2, json: { a: 1, b: [2] }, text: '{"a":1,"b":[2]}' },
    ]);
  });

  it('names the README line of a stated answer that is not JSON', () => {
    expect(() => extractExpectations('curl a\n# -> {"a":', 10)).toThrow(/README line 13/);
  });
});

describe('jsonContains', () => {
  it('accepts an answer with more fields and more elements than stated', () => {
    expect(
      jsonContains(
        {
          data: [
            { id: 'b', x: 1 },
            { id: 'a', y: 2 },
          ],
          total: 2,
        },
        { data: [{ id: 'a' }] },
      ),
    ).toBe(true);
  });

  it('refuses a different value, a missing key or a missing element', () => {
    expect(jsonContains({ reason: 'no_grant' }, { reason: 'granted' })).toBe(false);
    expect(jsonContains({}, { reason: null })).toBe(false);
    expect(jsonContains({ data: [{ id: 'a' }] }, { data: [{ id: 'a' }, { id: 'a' }] })).toBe(false);
    expect(jsonContains([1], { 0: 1 })).toBe(false);
    expect(jsonContains('1', 1)).toBe(false);
  });
});
