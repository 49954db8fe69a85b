import { displayWidth, formatTable } from './table';

describe(formatTable.name, () => {
  it('aligns text left and numbers right under a rule, with - for empty cells', () => {
    const sut = formatTable(
      ['', 'source', 'created'],
      [
        ['users', 50000, 3],
        ['grants', null, 12],
      ],
    );
    expect(sut.split('\n')).toEqual([
      '        source  created',
      '------  ------  -------',
      'users   50,000        3',
      'grants       -       12',
    ]);
  });

  it('measures wide characters as two columns', () => {
    expect(displayWidth('組織')).toBe(4);
    expect(displayWidth('Zażółć')).toBe(6);
    const lines = formatTable(
      ['name', 'n'],
      [
        ['組織', 1],
        ['ab', 22],
      ],
    ).split('\n');
    expect(lines[2]).toBe('組織   1');
    expect(lines[3]).toBe('ab    22');
  });
});
