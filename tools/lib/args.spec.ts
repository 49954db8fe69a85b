import {
  ArgsSpec,
  CommandSpec,
  formatHelp,
  numberArg,
  parseArgs,
  secondsArg,
  stringArg,
  UsageError,
} from './args';

const spec: CommandSpec = {
  usage: 'tool --source <file> [options]',
  summary: 'Does a thing.',
  options: [
    { name: 'source', type: 'string', valueName: '<file>', required: true, description: 'Input.' },
    { name: 'dry-run', type: 'boolean', description: 'Write nothing.' },
    { name: 'report', type: 'string', alias: 'r', description: 'Report file.' },
  ],
  sections: [{ title: 'Exit codes', lines: ['0  fine', '2  usage'] }],
};

describe(parseArgs.name, () => {
  it('reads values given as separate words or with =', () => {
    expect(parseArgs(spec, ['--source', 'a.db', '--report=out.json', '--dry-run'])).toEqual({
      source: 'a.db',
      report: 'out.json',
      'dry-run': true,
    });
  });

  it('keeps values that contain spaces, = and Unicode', () => {
    expect(parseArgs(spec, ['--source=x=y z', '-r', 'Zażółć.json'])).toEqual({
      source: 'x=y z',
      report: 'Zażółć.json',
    });
  });

  it('refuses a missing required option, naming it', () => {
    expect(() => parseArgs(spec, ['--dry-run'])).toThrow(/missing required option --source/);
  });

  it('refuses unknown options, stray words, repeats and missing values', () => {
    expect(() => parseArgs(spec, ['--source', 'a', '--nope'])).toThrow(UsageError);
    expect(() => parseArgs(spec, ['--source', 'a', 'stray'])).toThrow(/unexpected argument/);
    expect(() => parseArgs(spec, ['--source', 'a', '--source', 'b'])).toThrow(/more than once/);
    expect(() => parseArgs(spec, ['--source'])).toThrow(/needs a value/);
    expect(() => parseArgs(spec, ['--source', '--dry-run'])).toThrow(/needs a value/);
    expect(() => parseArgs(spec, ['--source', 'a', '--dry-run=yes'])).toThrow(/takes no value/);
  });

  it('accepts an empty value given with = (the tool decides whether it is valid)', () => {
    expect(parseArgs(spec, ['--source='])).toEqual({ source: '' });
  });

  it('answers help without enforcing required options', () => {
    expect(parseArgs(spec, ['-h'])).toEqual({ help: true });
    expect(parseArgs(spec, ['--dry-run', '--help'])).toEqual({ 'dry-run': true, help: true });
  });
});

describe(`${parseArgs.name} with a positional word`, () => {
  const withCommand: ArgsSpec = {
    positional: 'command',
    options: [{ name: 'json', type: 'boolean' }],
  };

  it('returns one word under the positional name, before or after the options', () => {
    expect(parseArgs(withCommand, ['report', '--json'])).toEqual({ command: 'report', json: true });
    expect(parseArgs(withCommand, ['--json', 'report'])).toEqual({ command: 'report', json: true });
    expect(parseArgs(withCommand, [])).toEqual({});
  });

  it('refuses a second word', () => {
    expect(() => parseArgs(withCommand, ['report', 'extra'])).toThrow(
      /unexpected argument "extra"/,
    );
  });
});

describe(stringArg.name, () => {
  it('gives string values and undefined for absent options and switches', () => {
    const args = parseArgs(spec, ['--source', 'a.db', '--dry-run']);
    expect(stringArg(args, 'source')).toBe('a.db');
    expect(stringArg(args, 'report')).toBeUndefined();
    expect(stringArg(args, 'dry-run')).toBeUndefined();
  });
});

describe(numberArg.name, () => {
  it('reads non-negative numbers and falls back when absent', () => {
    expect(numberArg({ n: '300' }, 'n', 1)).toBe(300);
    expect(numberArg({ n: '0.03' }, 'n', 1)).toBe(0.03);
    expect(numberArg({ n: '0' }, 'n', 1)).toBe(0);
    expect(numberArg({}, 'n', 7)).toBe(7);
  });

  it('refuses negative and non-numeric values, naming the flag and the value', () => {
    expect(() => numberArg({ n: '-3' }, 'n', 1)).toThrow(UsageError);
    expect(() => numberArg({ n: '-3' }, 'n', 1)).toThrow(
      '--n must be a non-negative number (got "-3")',
    );
    expect(() => numberArg({ n: 'x' }, 'n', 1)).toThrow(/--n must be a non-negative number/);
    expect(() => numberArg({ n: 'Infinity' }, 'n', 1)).toThrow(UsageError);
  });
});

describe(secondsArg.name, () => {
  it('reads plain seconds, s, m and ms, and falls back when absent', () => {
    expect(secondsArg({ d: '60' }, 'd', 1)).toBe(60);
    expect(secondsArg({ d: '60s' }, 'd', 1)).toBe(60);
    expect(secondsArg({ d: '2m' }, 'd', 1)).toBe(120);
    expect(secondsArg({ d: '500ms' }, 'd', 1)).toBe(0.5);
    expect(secondsArg({ d: '1.5s' }, 'd', 1)).toBe(1.5);
    expect(secondsArg({}, 'd', 10)).toBe(10);
  });

  it('refuses other units and words, naming the flag and the value', () => {
    expect(() => secondsArg({ d: '3h' }, 'd', 1)).toThrow(
      '--d must be a duration such as 60s, 2m or 500ms (got "3h")',
    );
    expect(() => secondsArg({ d: 'abc' }, 'd', 1)).toThrow(UsageError);
    expect(() => secondsArg({ d: '-1s' }, 'd', 1)).toThrow(UsageError);
  });
});

describe(formatHelp.name, () => {
  it('lists every option, marks required ones, and prints the extra sections', () => {
    const sut = formatHelp(spec);
    expect(sut).toContain('Usage: tool --source <file> [options]');
    expect(sut).toMatch(/--source <file>\s+Input\. \(required\)/);
    expect(sut).toMatch(/--dry-run\s+Write nothing\./);
    expect(sut).toMatch(/-r, --report <value>\s+Report file\./);
    expect(sut).toMatch(/-h, --help\s+Show this help/);
    expect(sut).toContain('Exit codes:\n  0  fine\n  2  usage');
  });
});
