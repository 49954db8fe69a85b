import { CommandSpec, formatHelp, parseArgs, UsageError } from './args';

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
